"""Per-layer PCA of a QA model's hidden states for one question/context pair (quiz 25-27).

As in the homework: the pair is encoded together, each of the 13 hidden states (embeddings + 12
layers) is reduced with `PCA(n_components=2, random_state=0)` fitted on all tokens, and tokens are
coloured by role. Three measures per layer decide the quiz (all computed on non-special tokens):

- answer_separation: mean distance of answer tokens to the centroid of the other tokens, divided by
  the other tokens' mean distance to that centroid (1 = an ordinary token; larger = apart). In the
  2-D PCA plane (what the figure shows) and in the full hidden space.
- qc_silhouette: silhouette of the question vs context labels (answer tokens excluded) in the
  PCA plane; high = question and context apart, near 0 or below = mixed ("matching").
- meaning_nn: among tokens whose text occurs more than once, the share whose nearest neighbour
  (cosine, full space) has the same text: clustering by meaning (surface form).
- relation_silhouette: silhouette of the context tokens labelled by the context sentence they
  belong to, full space (cosine): clustering by relation in context.
"""

from __future__ import annotations

import numpy as np

from workflow_scripts.bert.tokens import context_sentence, qa_roles, surface


def _separation(x: np.ndarray, answer: np.ndarray) -> float:
    rest = x[~answer]
    if answer.sum() == 0 or len(rest) < 2:
        return float("nan")
    c = rest.mean(0)
    spread = np.linalg.norm(rest - c, axis=1).mean()
    return float(np.linalg.norm(x[answer] - c, axis=1).mean() / max(spread, 1e-12))


def _silhouette(x: np.ndarray, labels: np.ndarray, metric: str) -> float:
    from sklearn.metrics import silhouette_score

    if len(set(labels.tolist())) < 2 or len(labels) <= len(set(labels.tolist())):
        return float("nan")
    return float(silhouette_score(x, labels, metric=metric))


def _meaning_nn(x: np.ndarray, words: list[str]) -> float:
    words = np.array(words)
    uniq, counts = np.unique(words, return_counts=True)
    repeated = np.isin(words, uniq[counts > 1])
    if repeated.sum() == 0:
        return float("nan")
    n = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sim = n @ n.T
    np.fill_diagonal(sim, -np.inf)
    nn = sim.argmax(1)
    return float((words[nn] == words)[repeated].mean())


def _norm_word(w: str) -> str:
    return w.lower().lstrip("#▁").strip()


def layer_measures(
    state: np.ndarray, coords: np.ndarray, roles: list[str], words: list[str], sentence: list[int]
) -> dict:
    roles = np.array(roles)
    keep = roles != "special"
    ans = roles[keep] == "answer"
    qc = keep & (roles != "answer")
    ctx = np.array(sentence) >= 0
    return {
        "answer_separation_pca": _separation(coords[keep], ans),
        "answer_separation_full": _separation(state[keep], ans),
        "qc_silhouette": _silhouette(coords[qc], roles[qc], "euclidean"),
        "meaning_nn": _meaning_nn(state[keep], [_norm_word(w) for w, k in zip(words, keep) if k]),
        "relation_silhouette": _silhouette(state[ctx], np.array(sentence)[ctx], "cosine"),
    }


def encode_item(tokenizer, item: dict):
    return tokenizer(
        item["question"],
        item["context"],
        return_tensors="pt",
        truncation="only_second",
        max_length=512,
    )


def model_states(model, enc) -> tuple[list[np.ndarray], dict | None]:
    """Hidden states ([seq, hidden] per layer) and, for a QA head, its predicted answer span."""
    import torch

    with torch.no_grad():
        out = model(
            **{k: v for k, v in enc.items() if k != "offset_mapping"}, output_hidden_states=True
        )
    states = [h[0].float().numpy() for h in out.hidden_states]
    span = None
    if getattr(out, "start_logits", None) is not None:
        s, e = out.start_logits[0], out.end_logits[0]
        score = s[:, None] + e[None, :]
        n = score.shape[0]
        valid = torch.triu(torch.ones(n, n, dtype=torch.bool)) & ~torch.triu(
            torch.ones(n, n, dtype=torch.bool), 30
        )
        seq = enc.sequence_ids(0)
        ctx = torch.tensor([x == 1 for x in seq])
        valid &= ctx[:, None] & ctx[None, :]
        score = score.masked_fill(~valid, -torch.inf)
        i, j = divmod(int(score.argmax()), n)
        span = {"start": i, "end": j, "score": float(score[i, j])}
    return states, span


def analyse(
    tokenizer,
    states: list[np.ndarray],
    item: dict,
    rule: str,
    random_state: int,
    span: dict | None = None,
) -> tuple[dict, dict]:
    """(arrays, summary) for one item from its hidden states."""
    from sklearn.decomposition import PCA

    enc = tokenizer(item["question"], item["context"], truncation="only_second", max_length=512)
    ids = enc["input_ids"]
    if len(ids) != states[0].shape[0]:
        raise ValueError(
            f"{len(ids)} tokens but hidden states of length {states[0].shape[0]}: "
            "the tokenizer does not belong to these hidden states"
        )
    enc0 = enc.encodings[0] if hasattr(enc, "encodings") and enc.encodings else enc
    roles = {
        r: qa_roles(tokenizer, enc0, item["context"], item["answer"], r)
        for r in ("homework", "span")
    }
    used = rule
    if rule == "homework" and "answer" not in roles[rule]:
        used = "span"  # e.g. SentencePiece splits '1856' into pieces that are not answer words
    words = [surface(tokenizer, t) for t in ids]
    sentence = context_sentence(enc0, item["context"])
    coords, evr, measures = [], [], []
    for state in states:
        pca = PCA(n_components=2, random_state=random_state)
        c = pca.fit_transform(state.astype(np.float64))
        coords.append(c)
        evr.append(pca.explained_variance_ratio_)
        measures.append(layer_measures(state.astype(np.float64), c, roles[used], words, sentence))
    arrays = {
        "coords": np.stack(coords).astype(np.float32),  # [layers, seq, 2]
        "explained_variance_ratio": np.stack(evr),  # [layers, 2]
        "roles": np.array(roles[used]),
        "roles_homework": np.array(roles["homework"]),
        "roles_span": np.array(roles["span"]),
        "tokens": np.array(words),
        "context_sentence": np.array(sentence),
    }
    summary = {
        "question": item["question"],
        "answer": item["answer"],
        "answer_rule": rule,
        "answer_rule_used": used,
        "tokens": words,
        "n_tokens": len(ids),
        "layers": len(states),
        "answer_tokens": [w for w, r in zip(words, roles[used]) if r == "answer"],
        "measures": {k: [m[k] for m in measures] for k in measures[0]},
        "explained_variance_ratio": [list(map(float, e)) for e in evr],
        "predicted_span": None,
    }
    if span is not None:
        span = dict(span)
        span["text"] = tokenizer.decode(ids[span["start"] : span["end"] + 1]).strip()
        summary["predicted_span"] = span
    return arrays, summary
