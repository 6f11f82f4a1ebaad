"""Tiny random BERTs with a real-word vocabulary, saved the way the hub caches them.

Nothing here reaches the network: `hub_cache` lays a model folder out as
`models--<org>--<name>/{refs/<ref>, snapshots/<commit>/...}`, which is what huggingface_hub
resolves offline.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def vocab_for(texts) -> list[str]:
    """Every word, punctuation mark and CJK character of `texts` (BERT's basic split), cased."""
    pieces = set()
    for t in texts:
        for w in re.findall(r"[\u4e00-\u9fff\uff00-\uffef]|\w+|[^\w\s]", t):
            pieces.add(w)
    return SPECIALS + sorted(pieces) + ["he", "it", "they", "the"]


def save_tiny(dest, vocab, head="AutoModel", layers=12, heads=12, hidden=24, seed=0) -> Path:
    """A random BERT (`head` = AutoModel | AutoModelForMaskedLM | AutoModelForQuestionAnswering)."""
    import torch
    import transformers
    from transformers import BertConfig, BertTokenizerFast

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(str(dest / "vocab.txt"), do_lower_case=False)  # positional: see notes
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=512,
    )
    model = getattr(transformers, head).from_config(cfg)
    model.save_pretrained(dest)
    tok.save_pretrained(dest)
    return dest


def hub_cache(
    cache_dir, repo_id: str, model_dir, commit: str = "a" * 40, ref: str = "main"
) -> Path:
    """Install `model_dir` into a hub-layout cache as `repo_id` at `commit` (ref -> commit)."""
    repo = Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / commit
    shutil.copytree(model_dir, snap, dirs_exist_ok=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / ref).write_text(commit)
    return snap


def bert_texts(bert_cfg: dict) -> list[str]:
    i = bert_cfg["inputs"]
    return (
        [q["question"] for q in i["qa_items"]]
        + [q["context"] for q in i["qa_items"]]
        + i["embedding_sentences"]
        + [i["exbert_sentence"]]
    )


def hw9_bert_zip(dest_zip, bert_cfg: dict, work) -> Path:
    """A stand-in hw9_bert.zip: hw9_bert/Tokenizer + output/model_q1..3 (13-tuples of
    [1, seq, hidden])."""
    import zipfile

    import torch
    from transformers import AutoModel, AutoTokenizer

    work = Path(work)
    model_dir = save_tiny(work / "hw9_bert_model", vocab_for(bert_texts(bert_cfg)))
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    root = work / "hw9_bert"
    tok.save_pretrained(root / "Tokenizer")
    (root / "output").mkdir(parents=True)
    for k, item in enumerate(bert_cfg["inputs"]["qa_items"], 1):
        with torch.no_grad():
            out = model(
                **tok(item["question"], item["context"], return_tensors="pt"),
                output_hidden_states=True,
            )
        torch.save(tuple(out.hidden_states), root / "output" / f"model_q{k}")
    with zipfile.ZipFile(dest_zip, "w") as zf:
        for p in sorted(root.rglob("*")):
            zf.write(p, p.relative_to(work))
    return Path(dest_zip)


def hub_fixture(cache_dir, bert_cfg: dict, work) -> dict:
    """Tiny stand-ins of the three hub models in a hub-layout cache; returns a bert.hub config."""
    work = Path(work)
    vocab = vocab_for(bert_texts(bert_cfg))
    hub = {"cache_dir": str(cache_dir), "offline": True}
    for role, head in (
        ("embedding", "AutoModel"),
        ("mlm", "AutoModelForMaskedLM"),
        ("qa", "AutoModelForQuestionAnswering"),
    ):
        name, commit = f"tiny/{role}", {"embedding": "e", "mlm": "a", "qa": "c"}[role] * 40
        hub_cache(cache_dir, name, save_tiny(work / role, vocab, head), commit=commit)
        hub[role] = {"name": name, "revision": commit}
    return hub
