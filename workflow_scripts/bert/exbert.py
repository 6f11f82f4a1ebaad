"""exBERT-style probes of one sentence (quiz 21-24).

- Attention behaviour per (layer, head): each key position of a query token gets one category,
  by priority same > previous > next > period > special > other, so the six shares of a query
  token's attention sum to 1; the head's share is the mean over non-special query tokens.
- Coreference per head: attention from the pronoun ("she") to the antecedent ("officer").
- Masked words (needs an MLM head): predictions for the masked pronoun, with and without the
  antecedent masked too (the change of P(he)); and a layer-wise probe of the masked antecedent,
  the MLM head applied to every layer's hidden state (a local stand-in for exBERT's corpus search).
"""

from __future__ import annotations

import numpy as np

from workflow_scripts.bert.tokens import word_token

CATEGORIES = ("same", "previous", "next", "period", "special", "other")


def key_categories(tokens: list[str], special: np.ndarray) -> np.ndarray:
    """[query, key] category index (into CATEGORIES) by the priority above."""
    n = len(tokens)
    cat = np.full((n, n), CATEGORIES.index("other"), dtype=np.int64)
    period = np.array([t.lstrip("▁") == "." for t in tokens])
    cat[:, special] = CATEGORIES.index("special")
    cat[:, period & ~special] = CATEGORIES.index("period")
    idx = np.arange(n)
    cat[idx[:-1], idx[1:]] = CATEGORIES.index("next")
    cat[idx[1:], idx[:-1]] = CATEGORIES.index("previous")
    cat[idx, idx] = CATEGORIES.index("same")
    return cat


def attention_shares(attn: np.ndarray, cat: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """[layers, heads, categories, query] attention mass per category; sums to 1 over categories."""
    L, H, n, _ = attn.shape
    out = np.zeros((L, H, len(CATEGORIES), n))
    for c in range(len(CATEGORIES)):
        out[:, :, c] = (attn * (cat == c)[None, None]).sum(-1)
    return out[..., queries]


def run_attention(model, tokenizer, sentence: str, pronoun: str, antecedent: str):
    import torch

    enc = tokenizer(sentence, return_tensors="pt")
    e0 = enc.encodings[0]
    with torch.no_grad():
        out = model(
            input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], output_attentions=True
        )
    attn = np.stack([a[0].double().numpy() for a in out.attentions])  # [L, H, n, n]
    special = np.array(e0.special_tokens_mask, dtype=bool)
    cat = key_categories(e0.tokens, special)
    queries = np.flatnonzero(~special)
    shares = attention_shares(attn, cat, queries)
    p, a = word_token(e0, sentence, pronoun), word_token(e0, sentence, antecedent)
    return {
        "tokens": np.array(e0.tokens),
        "attention": attn.astype(np.float32),
        "categories": np.array(CATEGORIES),
        "shares": shares,  # [L, H, C, queries]
        "mean_shares": shares.mean(-1),  # [L, H, C]
        "coreference": attn[:, :, p, a],  # [L, H]
        "pronoun_index": np.array(p),
        "antecedent_index": np.array(a),
    }


def _masked(tokenizer, sentence: str, words: list[str]):
    """The sentence with each whole word of `words` replaced by the mask token."""
    import re

    for w in words:
        sentence = re.sub(rf"(?<!\w){re.escape(w)}(?!\w)", tokenizer.mask_token, sentence, count=1)
    return sentence


def _probs(model, tokenizer, text: str, layer_probe: bool = False):
    import torch

    enc = tokenizer(text, return_tensors="pt")
    pos = (enc["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten().tolist()
    with torch.no_grad():
        out = model(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            output_hidden_states=True,
        )
        probs = out.logits[0].softmax(-1).double().numpy()
        per_layer = None
        if layer_probe:
            # BERT's MLM head (transform + decoder); on the last layer it gives out.logits
            per_layer = np.stack(
                [model.cls(h)[0].softmax(-1).double().numpy() for h in out.hidden_states]
            )
    return pos, probs, per_layer


def _top(tokenizer, p: np.ndarray, k: int) -> list[dict]:
    idx = np.argsort(-p)[:k]
    return [{"token": tokenizer.convert_ids_to_tokens(int(i)), "p": float(p[i])} for i in idx]


def masked_words(
    model,
    tokenizer,
    sentence: str,
    pronoun: str,
    antecedent: str,
    top_k: int,
    candidates=("she", "he", "it"),
) -> tuple[dict, dict]:
    """(arrays, summary) of the masked-word probes."""
    from workflow_scripts.core.errors import UserError

    if not hasattr(model, "cls") or tokenizer.mask_token is None:
        raise UserError(
            f"{type(model).__name__} has no BERT masked-LM head; config bert.mlm must name a "
            "BertForMaskedLM (e.g. bert-base-cased)"
        )
    cand = {c: tokenizer.convert_tokens_to_ids(c) for c in candidates}
    summary, arrays = {"candidates": {}}, {}
    for name, words in (("pronoun_masked", [pronoun]), ("both_masked", [pronoun, antecedent])):
        text = _masked(tokenizer, sentence, words)
        pos, probs, _ = _probs(model, tokenizer, text)
        # the pronoun is the later of the two masks
        p = probs[max(pos)]
        summary[name] = {
            "text": text,
            "top": _top(tokenizer, p, top_k),
            "p": {c: float(p[i]) for c, i in cand.items()},
        }
    summary["p_he_drop"] = summary["pronoun_masked"]["p"]["he"] - summary["both_masked"]["p"]["he"]
    text = _masked(tokenizer, sentence, [antecedent])
    pos, _, per_layer = _probs(model, tokenizer, text, layer_probe=True)
    layer_p = per_layer[:, pos[0]]
    arrays["antecedent_layer_probs_top"] = np.stack([np.sort(p)[::-1][:top_k] for p in layer_p])
    summary["antecedent_by_layer"] = [
        {"layer": layer, "top": _top(tokenizer, p, top_k)} for layer, p in enumerate(layer_p)
    ]
    return arrays, summary
