"""The HW9 bundle from each source (local zip / folder, Kaggle API, Drive, mirror) on loopback."""

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from workflow_scripts.assets.hw9 import IMAGES, obtain
from workflow_scripts.assets.images import get_paths_labels
from workflow_scripts.assets.models import load_checkpoint
from workflow_scripts.core.errors import UserError

from conftest import ROOT
from hw9_fixture import NO_SIZES, bundle_zip, checkpoint_bytes, food_zip, jpeg

ROUTES: dict[str, bytes] = {}
SEEN_AUTH: list[str] = []
# kagglesdk's request for a competition's files (kagglehub.competition_download, no file path)
KAGGLE_CALL = "/api/v1/competitions.CompetitionApiService/DownloadDataFiles"
KAGGLE_USERS = {"student:secret": 200, "student:wrong": 401, "newcomer:secret": 403}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        SEEN_AUTH.append(self.headers.get("Authorization", ""))
        data = ROUTES.get(self.path)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        """Kaggle's API as kagglesdk calls it: POST JSON {competitionName}, basic auth; errors as
        JSON."""
        import base64

        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        auth = self.headers.get("Authorization", "")
        SEEN_AUTH.append(auth)
        user = (
            base64.b64decode(auth.removeprefix("Basic ")).decode()
            if auth.startswith("Basic ")
            else ""
        )
        code = KAGGLE_USERS.get(user, 401)
        data = ROUTES.get(f"/kaggle/{body.get('competitionName')}")
        if self.path != KAGGLE_CALL or (code == 200 and data is None):
            code = 404
        if code != 200:
            msg = json.dumps({"code": code, "message": f"emulated {code}"}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def cfg(tmp_path):
    base = yaml.safe_load((ROOT / "config/config.yaml").read_text())["hw9"]
    c = copy.deepcopy(base)
    c.update(local=str(tmp_path / "data"), sizes=dict(NO_SIZES), retries=0, timeout=5)
    return c


def installed(tmp_path):
    out = tmp_path / "assets"
    return out / "food", out / "checkpoint.pth"


def check_installed(tmp_path):
    food, ckpt = installed(tmp_path)
    paths, labels = get_paths_labels(food)
    assert [p.stem for p in paths] == IMAGES and labels == [0, 1, 1, 2, 2, 3, 5, 6, 8, 9]
    assert load_checkpoint(ckpt).width == 0.0625


def test_local_kaggle_zip(cfg, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data/ml2022spring-hw9.zip").write_bytes(bundle_zip(tmp_path))
    assert obtain(dict(cfg, sources=["local"]), *installed(tmp_path)) == "local"
    check_installed(tmp_path)


def test_local_food_zip_and_checkpoint(cfg, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data/food.zip").write_bytes(food_zip())
    (tmp_path / "data/checkpoint.pth").write_bytes(checkpoint_bytes(tmp_path))
    obtain(dict(cfg, sources=["local"]), *installed(tmp_path))
    check_installed(tmp_path)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "checkpoint.pth",
        "food.zip",
    ]  # untouched


def test_mirror_after_failing_local(server, cfg, tmp_path):
    ROUTES["/m1/ml2022spring-hw9.zip"] = bundle_zip(tmp_path)
    assert (
        obtain(dict(cfg, sources=["local", "mirror"], mirror=f"{server}/m1"), *installed(tmp_path))
        == "mirror"
    )
    check_installed(tmp_path)


def test_mirror_with_separate_files(server, cfg, tmp_path):
    ROUTES["/m2/food.zip"] = food_zip()
    ROUTES["/m2/checkpoint.pth"] = checkpoint_bytes(tmp_path)
    obtain(dict(cfg, sources=["mirror"], mirror=f"{server}/m2"), *installed(tmp_path))
    check_installed(tmp_path)


@pytest.fixture
def kaggle_env(tmp_path, monkeypatch):
    """No Kaggle credentials of the machine's user leak in: an empty HOME and config folder."""
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_API_ENVIRONMENT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "home/.kaggle"))

    def login(user, key):
        monkeypatch.setenv("KAGGLE_USERNAME", user)
        monkeypatch.setenv("KAGGLE_KEY", key)

    return login


def test_kaggle_through_kagglehub(server, cfg, tmp_path, kaggle_env, caplog, capsys, monkeypatch):
    import logging
    import os

    import kagglehub.clients

    from workflow_scripts.core import progress

    monkeypatch.setattr(
        progress, "QUIET_BELOW", 0
    )  # the test bundle is small: report it all the same
    kaggle_env("student", "secret")
    ROUTES["/kaggle/ml2022spring-hw9"] = bundle_zip(tmp_path)
    SEEN_AUTH.clear()
    tqdm_before = kagglehub.clients.tqdm
    with caplog.at_level(logging.INFO, logger="xai"):
        assert (
            obtain(dict(cfg, sources=["kaggle"], kaggle_api=server), *installed(tmp_path))
            == "kaggle"
        )
    check_installed(tmp_path)
    assert SEEN_AUTH == [
        "Basic c3R1ZGVudDpzZWNyZXQ="
    ]  # base64("student:secret"), sent by kagglesdk
    assert sorted(p.name for p in (tmp_path / "assets").iterdir()) == ["checkpoint.pth", "food"]
    pcts = [m.split(" %")[0] for m in caplog.messages if m.startswith("ml2022spring-hw9.zip: ")]
    assert pcts == [f"ml2022spring-hw9.zip: {p}" for p in range(10, 101, 10)], caplog.messages
    assert "|" not in capsys.readouterr().err  # no tqdm bar in a log
    assert (
        "KAGGLE_API_ENVIRONMENT" not in os.environ and kagglehub.clients.tqdm is tqdm_before
    )  # put back


def test_kaggle_credentials_from_kaggle_json(server, cfg, tmp_path, kaggle_env):
    (tmp_path / "home/.kaggle").mkdir(parents=True)
    (tmp_path / "home/.kaggle/kaggle.json").write_text('{"username": "student", "key": "secret"}')
    ROUTES["/kaggle/ml2022spring-hw9"] = bundle_zip(tmp_path)
    obtain(dict(cfg, sources=["kaggle"], kaggle_api=server), *installed(tmp_path))
    check_installed(tmp_path)


RULES = "https://www.kaggle.com/competitions/ml2022spring-hw9/rules"


@pytest.mark.parametrize(
    "user, key, competition, expect",
    [
        (
            None,
            None,
            "ml2022spring-hw9",
            "kaggle: no Kaggle credentials: "
            "set KAGGLE_USERNAME/KAGGLE_KEY or ~/.kaggle/kaggle.json",
        ),
        (
            "student",
            "wrong",
            "ml2022spring-hw9",
            "kaggle: Kaggle rejected the credentials of student (HTTP 401)",
        ),
        (
            "newcomer",
            "secret",
            "ml2022spring-hw9",
            f"kaggle: Kaggle refused the download (HTTP 403): accept the competition rules at "
            f"{RULES} (logged in as " + "newcomer) and retry",
        ),
        (
            "student",
            "secret",
            "no-such-competition",
            "kaggle: Kaggle has no competition 'no-such-competition' (HTTP 404)",
        ),
    ],
)
def test_kaggle_errors_are_one_line_and_leave_nothing(
    server, cfg, tmp_path, kaggle_env, user, key, competition, expect
):
    if user:
        kaggle_env(user, key)
    ROUTES["/kaggle/ml2022spring-hw9"] = bundle_zip(tmp_path)
    c = dict(cfg, sources=["kaggle"], kaggle_api=server, kaggle_competition=competition)
    with pytest.raises(UserError) as err:
        obtain(c, *installed(tmp_path))
    msg = str(err.value)
    assert expect in msg and "\n" not in msg and "dead link" not in msg, msg
    assert list((tmp_path / "assets").iterdir()) == []


def test_gdrive_ids(server, cfg, tmp_path):
    ROUTES["/uc?id=FOOD"] = food_zip()
    ROUTES["/uc?id=CKPT"] = checkpoint_bytes(tmp_path)
    c = dict(
        cfg,
        sources=["gdrive"],
        gdrive_url=f"{server}/uc?id={{id}}",
        gdrive={"food": "FOOD", "checkpoint": "CKPT", "bert": "BERT"},
    )
    obtain(c, *installed(tmp_path))
    check_installed(tmp_path)


def test_no_source_says_what_to_download_and_leaves_nothing(server, cfg, tmp_path):
    c = dict(
        cfg,
        sources=["local", "mirror", "gdrive"],
        mirror=f"{server}/nothing",
        gdrive_url=f"{server}/dead?id={{id}}",
    )
    with pytest.raises(UserError) as err:
        obtain(c, *installed(tmp_path))
    msg = str(err.value)
    assert "\n" not in msg
    assert (
        "What to do, any one of: (1) download ml2022spring-hw9.zip from "
        "https://www.kaggle.com/competitions/ml2022spring-hw9/data" in msg
    )
    assert "(2) on a machine with internet" in msg and "(3) serve" in msg
    assert f"put it in {tmp_path / 'data'}/" in msg and "mirror: " in msg and "HTTP 404" in msg
    assert sorted(p.name for p in (tmp_path / "assets").iterdir()) == []


@pytest.mark.parametrize(
    "problem, expect",
    [
        ("size", "the homework's checkpoint.pth has 170,002,879"),
        ("keys", "checkpoint keys do not match"),
        (
            "image",
            r"ml2022spring-hw9\.zip: the bundle lacks 9_9\.jpg \(beside the others in food/ in",
        ),
        ("no-images", "the bundle lacks the 10 images"),
        ("zip-size", "expected 127,524,956"),
    ],
)
def test_bad_bundles_are_refused(cfg, tmp_path, problem, expect):
    import torch

    (tmp_path / "data").mkdir()
    images, ckpt = IMAGES, None
    c = dict(cfg, sources=["local"])
    if problem == "size":
        c["sizes"] = dict(NO_SIZES, checkpoint=170_002_879)
    elif problem == "keys":
        path = tmp_path / "bad.pth"
        torch.save({"model_state_dict": {"cnn.0.weight": torch.zeros(8, 3, 3, 3)}}, path)
        ckpt = path.read_bytes()
    elif problem == "image":
        images = IMAGES[:-1]
    elif problem == "no-images":
        images = []
    else:
        c["sizes"] = dict(NO_SIZES, bundle_zip=127_524_956)
    (tmp_path / "data/ml2022spring-hw9.zip").write_bytes(bundle_zip(tmp_path, images, ckpt))
    with pytest.raises(UserError, match=expect):
        obtain(c, *installed(tmp_path))
    assert list((tmp_path / "assets").iterdir()) == []


def test_hw9_bert_from_the_mirror_then_refused_with_every_reason(server, cfg, tmp_path):
    """bert.qa hw9_bert without the local zip: the mirror's hw9_bert.zip; with none, one line,
    nothing left."""
    from workflow_scripts.bert.models import install_hw9_bert

    from hf_fixtures import hw9_bert_zip

    bert_cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text(encoding="utf-8"))["bert"]
    ROUTES["/m/hw9_bert.zip"] = hw9_bert_zip(
        tmp_path / "served.zip", bert_cfg, tmp_path / "work"
    ).read_bytes()
    c = dict(
        cfg, sources=["gdrive", "mirror"], mirror=f"{server}/m", gdrive_url=f"{server}/uc?id={{id}}"
    )
    desc = install_hw9_bert(tmp_path / "absent.zip", tmp_path / "assets/hw9_bert", c)
    assert (tmp_path / "assets/hw9_bert/output/model_q3").is_file() and desc["source"] == "hw9_bert"
    assert sorted(p.name for p in (tmp_path / "assets").iterdir()) == [
        "hw9_bert"
    ]  # the download is gone
    c = dict(c, mirror=f"{server}/nothing-here")
    with pytest.raises(UserError) as err:
        install_hw9_bert(tmp_path / "absent.zip", tmp_path / "again/hw9_bert", c)
    msg = str(err.value)
    assert (
        "\n" not in msg and "local: no such file" in msg and "gdrive:" in msg and "mirror:" in msg
    )
    assert "1h3akaNdouiIGItOqEs6kUZE-hAF0QeDk" in msg
    assert not (tmp_path / "again").exists() or list((tmp_path / "again").iterdir()) == []


def test_a_huge_image_in_a_bundle_folder_is_one_line(cfg, tmp_path, capfd):
    from test_failures import write_png_header

    food = tmp_path / "data/food"
    food.mkdir(parents=True)
    for stem in IMAGES:
        (food / f"{stem}.jpg").write_bytes(jpeg(stem))
    write_png_header(food / "5_6.jpg", 20000, 20000)
    (tmp_path / "data/checkpoint.pth").write_bytes(checkpoint_bytes(tmp_path))
    with pytest.raises(UserError) as err:
        obtain(dict(cfg, sources=["local"]), *installed(tmp_path))
    msg = str(err.value)
    assert "5_6.jpg: image too large to load safely (400,000,000 pixels" in msg and "\n" not in msg
    assert "Traceback" not in capfd.readouterr().err
    assert list((tmp_path / "assets").iterdir()) == []


def test_a_hostile_pickle_in_the_zip_is_named_as_its_member(cfg, tmp_path):
    import io
    import os

    import torch

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo this would run on load",))

    buf = io.BytesIO()
    torch.save({"model_state_dict": Payload()}, buf)
    (tmp_path / "data").mkdir()
    zipped = bundle_zip(tmp_path, checkpoint=buf.getvalue())
    (tmp_path / "data/ml2022spring-hw9.zip").write_bytes(zipped)
    with pytest.raises(UserError) as err:
        obtain(dict(cfg, sources=["local"]), *installed(tmp_path))
    msg = str(err.value)
    assert "checkpoint.pth in ml2022spring-hw9.zip: checkpoint holds objects" in msg, msg
    assert "GLOBAL posix.system" in msg and "weights_only" not in msg and "Re-running" not in msg
    assert "/checkpoint.pth" not in msg  # not the temporary folder it was unpacked into
    assert list((tmp_path / "assets").iterdir()) == []
