"""Downloads and extraction against a loopback HTTP server: every failure is one clear error
and leaves nothing behind."""

import hashlib
import io
import logging
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from workflow_scripts.core.errors import UserError
from workflow_scripts.core.fetch import download, safe_extract

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes
BIG = bytes(range(256)) * 8192  # 2,097,152 bytes: above progress.QUIET_BELOW


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


class Handler(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}

    def log_message(self, *args):  # keep the test output quiet
        pass

    def _send(self, data: bytes, cut: int | None = None):
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:cut] if cut is not None else body)
        self.wfile.flush()

    def do_GET(self):
        n = Handler.hits[self.path] = Handler.hits.get(self.path, 0) + 1
        if self.path == "/ok.bin":
            self._send(PAYLOAD)
        elif (
            self.path == "/drop-once.bin"
        ):  # the first transfer dies half way, the resume completes it
            self._send(PAYLOAD, cut=len(PAYLOAD) // 2 if n == 1 else None)
            if n == 1:
                self.close_connection = True
        elif self.path == "/big.bin":
            self._send(BIG)
        elif self.path == "/big-drop-once.bin":  # dies at 55 %, the resume completes it
            self._send(BIG, cut=len(BIG) * 55 // 100 if n == 1 else None)
            if n == 1:
                self.close_connection = True
        elif self.path == "/drop-always.bin":
            self._send(PAYLOAD, cut=1000)
            self.close_connection = True
        elif self.path == "/flaky.bin":
            if n == 1:
                self.send_error(503)
            else:
                self._send(PAYLOAD)
        elif self.path == "/good.zip":
            self._send(make_zip({"food/0_0.jpg": b"jpeg", "checkpoint.pth": b"weights"}))
        elif self.path == "/slip.zip":
            self._send(make_zip({"ok.txt": b"fine", "../evil.txt": b"escape"}))
        elif self.path == "/corrupt.zip":
            self._send(b"PK\x03\x04 this is not really a zip" * 10)
        else:
            self.send_error(404)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_success_verifies_size_and_sha256(server, tmp_path):
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    out = download(f"{server}/ok.bin", tmp_path / "ok.bin", size=len(PAYLOAD), sha256=digest)
    assert out.read_bytes() == PAYLOAD and leftovers(tmp_path) == ["ok.bin"]


def test_404_is_one_clear_error_and_leaves_nothing(server, tmp_path):
    with pytest.raises(UserError, match=r"missing\.bin: HTTP 404") as err:
        download(f"{server}/missing.bin", tmp_path / "missing.bin", backoff=0)
    assert "\n" not in str(err.value) and leftovers(tmp_path) == []


def test_dropped_connection_resumes_with_range(server, tmp_path):
    out = download(f"{server}/drop-once.bin", tmp_path / "d.bin", size=len(PAYLOAD), backoff=0)
    assert out.read_bytes() == PAYLOAD and Handler.hits["/drop-once.bin"] == 2


def test_transient_http_error_is_retried(server, tmp_path):
    assert download(f"{server}/flaky.bin", tmp_path / "f.bin", backoff=0).read_bytes() == PAYLOAD


def test_connection_that_keeps_dropping_fails_cleanly(server, tmp_path):
    with pytest.raises(UserError, match="download failed after 3 attempts"):
        download(f"{server}/drop-always.bin", tmp_path / "x.bin", retries=2, backoff=0, timeout=5)
    assert leftovers(tmp_path) == []


def test_a_host_that_does_not_resolve_fails_at_once_without_retries(tmp_path, caplog, monkeypatch):
    """No name resolution (no network here): one error naming the host, no retry, no wait."""
    import socket

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    caplog.set_level("WARNING", logger="xai")
    with pytest.raises(UserError, match=r"cannot resolve files\.example\.org \(no network") as err:
        download("https://files.example.org/b.zip", tmp_path / "b.zip", retries=5, backoff=10)
    assert "\n" not in str(err.value) and leftovers(tmp_path) == []
    assert not [r for r in caplog.records if "retry" in r.getMessage()]


def test_wrong_size_and_wrong_hash_are_refused(server, tmp_path):
    with pytest.raises(UserError, match="expected 127,524,956"):
        download(f"{server}/ok.bin", tmp_path / "bundle.zip", size=127_524_956)
    with pytest.raises(UserError, match="sha256"):
        download(f"{server}/ok.bin", tmp_path / "bundle.zip", sha256="0" * 64)
    assert leftovers(tmp_path) == []


def test_good_zip_extracts(server, tmp_path):
    z = download(f"{server}/good.zip", tmp_path / "good.zip")
    files = safe_extract(z, tmp_path / "out")
    assert (tmp_path / "out/food/0_0.jpg").read_bytes() == b"jpeg" and len(files) == 2


def test_zip_slip_is_refused_and_nothing_written(server, tmp_path):
    z = download(f"{server}/slip.zip", tmp_path / "slip.zip")
    with pytest.raises(UserError, match=r"refusing member '\.\./evil\.txt': a '\.\.' path"):
        safe_extract(z, tmp_path / "sub" / "out")
    assert not (tmp_path / "sub").exists() and not (tmp_path / "evil.txt").exists()


def test_corrupt_zip_is_refused(server, tmp_path):
    z = download(f"{server}/corrupt.zip", tmp_path / "c.zip")
    with pytest.raises(UserError, match="not a valid zip"):
        safe_extract(z, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_absolute_links_and_bombs_are_refused(tmp_path):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("/etc/passwd", b"x")
    with pytest.raises(UserError, match="an absolute path"):
        safe_extract(path, tmp_path / "o1")
    with zipfile.ZipFile(path, "w") as z:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        z.writestr(info, "/etc/passwd")
    with pytest.raises(UserError, match="a symbolic link"):
        safe_extract(path, tmp_path / "o2")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", b"\0" * 5_000_000)
    with pytest.raises(UserError, match="zip bomb|limit"):
        safe_extract(path, tmp_path / "o3", max_member_bytes=1_000_000)
    assert leftovers(tmp_path) == ["bad.zip"]


class NotATerminal(io.StringIO):
    def isatty(self):
        return False


def percent_lines(caplog, name):
    got = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"{name}: ")]
    return [int(re.match(rf"{re.escape(name)}: (\d+) % \(", m).group(1)) for m in got], got


def test_progress_logs_each_tenth_once_in_order(server, tmp_path, caplog):
    stream = NotATerminal()
    with caplog.at_level(logging.INFO, logger="xai"):
        download(f"{server}/big.bin", tmp_path / "big.bin", size=len(BIG), progress_stream=stream)
    pcts, lines = percent_lines(caplog, "big.bin")
    assert pcts == list(range(10, 101, 10)), lines
    assert re.fullmatch(r"big\.bin: 30 % \(0\.6 of 2\.1 MB, [\d.]+ MB/s\)", lines[2]), lines[2]
    assert stream.getvalue() == ""  # no tqdm bar into a log


def test_progress_after_a_resume_never_goes_back(server, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="xai"):
        out = download(
            f"{server}/big-drop-once.bin",
            tmp_path / "r.bin",
            backoff=0,
            progress_stream=NotATerminal(),
        )
    assert out.read_bytes() == BIG and Handler.hits["/big-drop-once.bin"] == 2
    pcts, lines = percent_lines(caplog, "r.bin")
    assert pcts == list(range(10, 101, 10)), (
        lines
    )  # the size came from Content-Length; 10..50, then 60..100
    assert any("resuming at 1153433 bytes" in r.getMessage() for r in caplog.records)


def test_progress_unknown_size_and_small_files(tmp_path, caplog):
    from workflow_scripts.core.progress import Progress

    with caplog.at_level(logging.INFO, logger="xai"):
        with Progress("stream.bin", stream=NotATerminal(), every_mb=1) as p:
            for _ in range(25):
                p.update(100_000)
        with Progress("small.bin", total=1000, stream=NotATerminal()) as p:
            p.update(1000)
    msgs = [r.getMessage() for r in caplog.records]
    assert [m.split(" (")[0] for m in msgs] == [
        "stream.bin: 1.0 MB so far",
        "stream.bin: 2.0 MB so far",
        "stream.bin: done, 2.5 MB",
    ]


def test_progress_on_a_terminal_is_a_tqdm_bar(tmp_path, caplog):
    from workflow_scripts.core.progress import Progress

    stream = io.StringIO()
    with (
        caplog.at_level(logging.INFO, logger="xai"),
        Progress("bar.bin", total=4_000_000, stream=stream, terminal=True) as p,
    ):
        p.update(2_000_000)
        p.moveto(4_000_000)
    assert "bar.bin" in stream.getvalue() and "100%" in stream.getvalue() and not caplog.records


def test_a_jobs_loop_logs_each_tenth_once_even_while_its_items_are_quiet(caplog):
    """Steps: one line per 10 % passed (22 items: 10 lines, counts in order, 100 % last), on
    xai.progress, which logs while the job holds the `xai` logger at ERROR."""
    import logging

    from workflow_scripts.core.progress import Steps

    caplog.set_level(logging.INFO)
    xai = logging.getLogger("xai")
    level = xai.level
    xai.setLevel(logging.ERROR)
    try:
        steps = Steps("quality", 22)
        for _ in range(22):
            logging.getLogger("xai").info("per-image line (quiet)")
            steps.update()
    finally:
        xai.setLevel(level)
    lines = [r.getMessage() for r in caplog.records if r.name == "xai.progress"]
    assert len(lines) == 10 and not any("quiet" in r.getMessage() for r in caplog.records)
    counts = [int(ln.split(": ")[1].split("/")[0]) for ln in lines]
    assert (
        counts == sorted(counts)
        and counts[0] == 3
        and lines[-1].startswith("quality: 22/22 images (100 %)")
    )
    assert all("s left" in ln for ln in lines)
