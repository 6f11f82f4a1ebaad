"""Contextual embeddings of one character (蘋 or 果) across the 10 sentences (quiz 28-30).

For every layer 0-12 the selected character's vector in each sentence, then both of the
homework's metrics between every pair of sentences: Euclidean distance and cosine similarity.
Sentences 0-4 use 蘋果 as the fruit, 5-9 as the company; the group averages per layer say how
well context separates the two meanings. Layer 0 (embeddings) gets a controlled experiment. With
two characters the word (the mean of their vectors) gets its matrices too (`<metric>_word`), for
the report's comparison with the lecture slide.
"""

from __future__ import annotations

import numpy as np

from workflow_scripts.bert.tokens import char_token

FRUIT, COMPANY = range(0, 5), range(5, 10)


def euclidean_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances between the rows of a and b."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(d, 0.0))


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return an @ bn.T


METRICS = {"euclidean": euclidean_distance, "cosine": cosine_similarity}


def hidden_states(model, tokenizer, text: str) -> tuple[np.ndarray, object]:
    """[layers, seq, hidden] for one sentence, and its encoding."""
    import torch

    enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        out = model(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            output_hidden_states=True,
        )
    return np.stack([h[0].double().numpy() for h in out.hidden_states]), enc.encodings[0]


def select_vectors(model, tokenizer, sentences, indices) -> tuple[np.ndarray, list[dict]]:
    """[sentences, layers, hidden] vectors of the character at `indices[i]` of sentence i."""
    vecs, picked = [], []
    for text, ci in zip(sentences, indices):
        states, enc = hidden_states(model, tokenizer, text)
        t = char_token(enc, ci, text)
        a, b = enc.offsets[t]
        vecs.append(states[:, t])
        picked.append(
            {
                "char": text[ci],
                "char_index": ci,
                "token_index": t,
                "token": enc.tokens[t],
                "token_text": text[a:b],
                "merged": (b - a) > 1,
            }
        )
    return np.stack(vecs), picked


def pair_stack(vectors: np.ndarray) -> dict:
    """{metric: [layers, n, n]} from [n, layers, hidden]."""
    return {
        m: np.stack([fn(vectors[:, layer], vectors[:, layer]) for layer in range(vectors.shape[1])])
        for m, fn in METRICS.items()
    }


def word_vectors(by_char: list[np.ndarray]) -> np.ndarray:
    """The word's vector in each sentence and layer: the mean of its characters' [n, layers, hidden]
    vectors. When the tokenizer keeps the word as one piece, the characters select the same token
    and all three are one vector (`merged` in the summary)."""
    return np.mean(np.stack(by_char), axis=0)


def group_means(mat: np.ndarray, groups=(FRUIT, COMPANY)) -> dict:
    """Mean over distinct pairs within each group and between the two groups, for one [n, n]
    matrix."""
    g1, g2 = (list(g) for g in groups)

    def within(g):
        return float(np.mean([mat[i, j] for i in g for j in g if i < j]))

    return {
        "within_fruit": within(g1),
        "within_company": within(g2),
        "between": float(np.mean([mat[i, j] for i in g1 for j in g2])),
    }


def _layer0(model, ids: list[int]) -> np.ndarray:
    import torch

    x = torch.tensor([ids])
    with torch.no_grad():
        out = model(input_ids=x, attention_mask=torch.ones_like(x), output_hidden_states=True)
    return out.hidden_states[0][0].double().numpy()


def layer0_experiment(model, tokenizer, sentence: str, char_index: int, filler: str = "的") -> dict:
    """What changes a character's layer-0 vector? Its distance to the original when only one thing
    changes, edited at the token level so the token itself stays the same: its position (3 filler
    tokens prepended), the sentence length (3 appended), its context (every other token replaced by
    the filler), how often it occurs (3 more copies appended)."""
    enc = tokenizer(sentence).encodings[0]
    t = char_token(enc, char_index, sentence)
    ids = list(enc.ids)
    special = np.array(enc.special_tokens_mask, bool)
    fill = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(filler))[:1] or [
        tokenizer.unk_token_id
    ]
    body_end = len(ids) - 1 if special[-1] else len(ids)  # insert before a closing special token
    variants = {
        "position_shift_3": (ids[:1] + fill * 3 + ids[1:], t + 3)
        if special[0]
        else (fill * 3 + ids, t + 3),
        "longer_sentence": (ids[:body_end] + fill * 3 + ids[body_end:], t),
        "other_context": ([i if (k == t or special[k]) else fill[0] for k, i in enumerate(ids)], t),
        "more_occurrences": (ids[:body_end] + [ids[t]] * 3 + ids[body_end:], t),
    }
    base = _layer0(model, ids)[t]
    out = {}
    for name, (new_ids, pos) in variants.items():
        v = _layer0(model, new_ids)[pos]
        assert new_ids[pos] == ids[t]
        out[name] = {
            "tokens": tokenizer.convert_ids_to_tokens(new_ids),
            "token_index": pos,
            "euclidean": float(np.linalg.norm(v - base)),
            "cosine": float(cosine_similarity(v[None], base[None])[0, 0]),
        }
    return out


def analyse(model, tokenizer, sentences, index_lists: dict) -> tuple[dict, dict]:
    """(arrays, summary) for every selected character (e.g. {"蘋": [...], "果": [...]})."""
    arrays, summary = (
        {},
        {
            "characters": {},
            "metrics": list(METRICS),
            "groups": {"fruit": list(FRUIT), "company": list(COMPANY)},
        },
    )
    by_char = []
    for key, (name, indices) in enumerate(index_lists.items()):
        vectors, picked = select_vectors(model, tokenizer, sentences, indices)
        by_char.append(vectors)
        stack = pair_stack(vectors)
        arrays[f"vectors_{key}"] = vectors.astype(np.float32)
        for m, s in stack.items():
            arrays[f"{m}_{key}"] = s
        summary["characters"][name] = {
            "key": key,
            "indices": list(indices),
            "picked": picked,
            "group_means": {
                m: [group_means(s[layer]) for layer in range(s.shape[0])] for m, s in stack.items()
            },
            "layer0": layer0_experiment(model, tokenizer, sentences[0], indices[0]),
        }
    if len(by_char) == 2:  # the two characters of one word (蘋果): the word's own matrices too
        for m, st in pair_stack(word_vectors(by_char)).items():
            arrays[f"{m}_word"] = st
        summary["word"] = {"text": "".join(index_lists), "merged": bool(np.array_equal(*by_char))}
    arrays["sentences"] = np.array(sentences)
    arrays["characters"] = np.array(list(index_lists))
    return arrays, summary
