"""Atomic file writing: outputs appear complete or not at all."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files; outputs are meant to be shared and read
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; it replaces `path` only if the block succeeds, so a
    reader never sees a half-written folder (an existing one stays until the new one is
    complete)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp makes 0700
        old = None
        if path.exists() or path.is_symlink():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            if old is not None:
                os.replace(old, path)
            raise
        if old is not None:
            shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_named_path(path: str | os.PathLike) -> Iterator[Path]:
    """Like atomic_path, but the temporary file has `path`'s own name, in a temporary folder
    beside it: for writers that record the file name in the bytes (torch.save names the zip's
    root folder after it), so that identical content gives identical bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    tmp = tmp_dir / path.name
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


# The temporary names this project's writers give beside an output `name` (a killed job leaves
# them behind): atomic_path / atomic_dir / atomic_named_path `.<name>.<8 random chars><suffix>`,
# atomic_dir's `.<name>.old-<pid>`, the `.<name>.partial` folders and files of the asset
# installers and downloads, and hw9_bert's `.<name>.unpack`.
_TEMP_SUFFIX = re.compile(r"\.(?:[a-z0-9_]{8}\.[^./]+|old-\d+|partial|unpack)")


def is_stale_temp(name: str, output_name: str) -> bool:
    """Is `name` one of the project's temporary names for the output named `output_name`?"""
    prefix = f".{output_name}"
    return name.startswith(prefix) and bool(_TEMP_SUFFIX.fullmatch(name[len(prefix) :]))


def remove_stale_temps(outputs) -> list[Path]:
    """Remove the temporary files and folders an interrupted run of a job left beside its
    `outputs` (only the names is_stale_temp matches); return what was removed.

    Called when the job starts: Snakemake runs one job per output at a time, so nothing live
    writes them."""
    removed = []
    for out in map(Path, outputs):
        parent = out.parent
        if not parent.is_dir():
            continue
        for p in parent.iterdir():
            if not is_stale_temp(p.name, out.name):
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            logging.getLogger("xai").info("removed %s (left by an interrupted run)", p)
            removed.append(p)
    return removed


def write_npz(path: str | os.PathLike, arrays: dict, compressed: bool = False) -> None:
    """An .npz of `arrays`, written atomically."""
    import numpy as np

    save = np.savez_compressed if compressed else np.savez
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            save(f, **{k: np.asarray(v) for k, v in arrays.items()})


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(
            json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
        )


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
