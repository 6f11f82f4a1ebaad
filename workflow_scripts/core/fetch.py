"""Downloading and unpacking the homework's assets safely.

A download streams into a temporary file beside its destination, resumes with an HTTP Range
request after a dropped connection, retries transient errors with exponential backoff, and is
renamed into place only when its size (and sha256, when known) match. Extraction refuses
absolute paths, `..`, links and oversized members before writing anything. Every failure is one
UserError naming the file or URL and the fix, and leaves no partial file behind.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import socket
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from workflow_scripts.core.errors import UserError
from workflow_scripts.core.progress import Progress

log = logging.getLogger("xai")

TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}
CHUNK = 1 << 16


def verify_file(path: Path, size: int | None, sha256: str | None, source: str) -> None:
    """Check a file's size and sha256 (either may be None); `source` names it in the error."""
    got = path.stat().st_size
    if size is not None and got != size:
        raise UserError(
            f"{source}: downloaded {got:,} bytes, expected {size:,}; the file is truncated or "
            "not the homework's: check the URL or download it by hand"
        )
    if sha256:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        if h.hexdigest() != sha256.lower():
            raise UserError(
                f"{source}: sha256 {h.hexdigest()} does not match the expected {sha256}; "
                "the file is corrupt or a different version"
            )


def download(
    url: str,
    dest,
    size: int | None = None,
    sha256: str | None = None,
    retries: int = 3,
    timeout: float = 30.0,
    backoff: float = 1.0,
    headers: dict | None = None,
    progress_stream=None,
    name: str | None = None,
) -> Path:
    """Fetch `url` to `dest` (atomically); resume, retry and verify as described in the module doc.

    Progress (progress.Progress) is a tqdm bar when `progress_stream` (default: stderr) is a
    terminal, else a log line per 10 %, headed `name` (default: dest's file name); it counts on
    from the resumed offset after a drop.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name}.part")
    try:
        with Progress(name or dest.name, total=size, stream=progress_stream) as progress:
            _transfer(url, part, progress, retries, timeout, backoff, headers)
        verify_file(part, size, sha256, url)
        os.replace(part, dest)
        return dest
    finally:
        if part.exists():
            part.unlink()


def _transfer(
    url: str,
    part: Path,
    progress: Progress,
    retries: int,
    timeout: float,
    backoff: float,
    headers: dict | None,
) -> None:
    """Stream `url` into `part`, resuming with Range after a drop; raise one UserError when it
    cannot."""
    attempt = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        req = urllib.request.Request(url, headers=dict(headers or {}))
        if have:
            req.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                append = have > 0 and resp.status == 206
                expected_total = _total_length(resp, have if append else 0)
                progress.set_total(expected_total)
                progress.moveto(have if append else 0)
                with open(part, "ab" if append else "wb") as f:
                    while block := resp.read(CHUNK):
                        f.write(block)
                        progress.update(len(block))
            if expected_total is not None and part.stat().st_size < expected_total:
                raise http.client.IncompleteRead(b"", expected_total - part.stat().st_size)
            break
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # nothing left to fetch: the part file is complete
                break
            if exc.code not in TRANSIENT_HTTP or attempt >= retries:
                raise UserError(
                    f"{url}: HTTP {exc.code} {exc.reason}; the file is not served there "
                    "(dead link?): use another source or download it by hand"
                ) from exc
        except (
            urllib.error.URLError,
            http.client.HTTPException,
            ConnectionError,
            TimeoutError,
            OSError,
        ) as exc:
            host = unresolved_host(url, exc)
            if host:  # no name resolution: no network here, and retrying will not bring one
                raise UserError(
                    f"{url}: cannot resolve {host} (no network or no DNS here); "
                    "download it on a machine with internet"
                ) from exc
            if attempt >= retries:
                reason = getattr(exc, "reason", exc)
                raise UserError(
                    f"{url}: download failed after {retries + 1} attempts ({reason}); "
                    "check the network or download it by hand"
                ) from exc
        attempt += 1
        delay = backoff * 2 ** (attempt - 1)
        log.warning(
            "%s: transfer interrupted, retry %d/%d in %.1f s (resuming at %d bytes)",
            url,
            attempt,
            retries,
            delay,
            part.stat().st_size if part.exists() else 0,
        )
        time.sleep(delay)


def unresolved_host(url: str, exc: BaseException) -> str | None:
    """The host of `url` when `exc` is a failed name lookup (socket.gaierror, also inside
    urllib's URLError), else None: the one network failure that no retry can fix."""
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, socket.gaierror) or isinstance(exc, socket.gaierror):
        return urllib.parse.urlsplit(url).hostname or url
    return None


def _total_length(resp, offset: int) -> int | None:
    length = resp.headers.get("Content-Length")
    return offset + int(length) if length is not None and length.isdigit() else None


def _member_problem(info: zipfile.ZipInfo, max_member_bytes: int) -> str | None:
    name = info.filename
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if ".." in p.parts:
        return "a '..' path that escapes the folder"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if info.file_size > max_member_bytes:
        return f"{info.file_size:,} bytes uncompressed (limit {max_member_bytes:,})"
    if info.compress_size and info.file_size / info.compress_size > 1000:
        return f"a compression ratio of {info.file_size / info.compress_size:.0f}:1 (a zip bomb?)"
    return None


def safe_extract(
    archive, dest, max_member_bytes: int = 1 << 30, max_total_bytes: int = 4 << 30
) -> list[Path]:
    """Unpack a zip into `dest` after checking every member; all-or-nothing."""
    archive, dest = Path(archive), Path(dest)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"{archive}: not a valid zip ({exc}); download it again") from exc
    with zf:
        infos = zf.infolist()
        total = 0
        for info in infos:
            problem = _member_problem(info, max_member_bytes)
            if problem:
                raise UserError(
                    f"{archive}: refusing member {info.filename!r}: {problem}; "
                    "the archive is not the homework's or was tampered with"
                )
            total += info.file_size
        if total > max_total_bytes:
            raise UserError(
                f"{archive}: {total:,} bytes uncompressed (limit {max_total_bytes:,}); "
                "refusing to unpack"
            )
        tmp = dest.with_name(f".{dest.name}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir(parents=True)
            written = []
            for info in infos:
                target = tmp / PurePosixPath(info.filename.replace("\\", "/"))
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    copied = 0
                    while block := src.read(CHUNK):
                        copied += len(block)
                        if copied > info.file_size:  # the header lied about the size
                            raise UserError(
                                f"{archive}: member {info.filename!r} "
                                "is larger than its header says"
                            )
                        out.write(block)
                written.append(info.filename)
            if dest.exists():
                shutil.rmtree(dest)
            tmp.rename(dest)
        except zipfile.BadZipFile as exc:
            raise UserError(f"{archive}: corrupt zip ({exc}); download it again") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return [dest / w for w in written]
