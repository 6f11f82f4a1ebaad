"""The DAG as Snakemake itself sees it: dry runs of every shipped config, and lint."""
import json

import numpy as np
import yaml

from conftest import jobs_of
from hw9_fixture import NO_SIZES, bundle_zip
from workflow_scripts.hw9_assets import IMAGES


def test_default_dag(run_snakemake, tmp_path):
    out = run_snakemake("-n", "--config", f"results={tmp_path}").stdout
    methods = {m: 11 for m in ("lime", "saliency", "smoothgrad", "filters", "integrated_gradients")}
    assert jobs_of(out) == {"offline_dataset": 1, "train_classifier": 1, "observed_image": 11,
                            "model_summary": 1, "all": 1, **methods}


def test_test_config_dag(run_snakemake, tmp_path):
    out = run_snakemake("-n", "--configfile", "config/test.yaml", "--config", f"results={tmp_path}").stdout
    assert f"{tmp_path}/test/assets/checkpoint.pth" in out
    assert jobs_of(out)["train_classifier"] == 1


def hw9_config(tmp_path, checkpoint: bytes | None = None):
    """A config that finds a stand-in ml2022spring-hw9.zip (real file names, tiny checkpoint) locally."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "ml2022spring-hw9.zip").write_bytes(bundle_zip(tmp_path, checkpoint=checkpoint))
    cfg = tmp_path / "paths.yaml"
    cfg.write_text(yaml.safe_dump({"results": str(tmp_path / "results"),
                                   "hw9": {"local": str(data), "sources": ["local"], "sizes": NO_SIZES}}))
    return cfg


def test_hw9_dag_end_to_end_on_a_fixture_bundle(run_snakemake, tmp_path):
    cfg = hw9_config(tmp_path)
    out = run_snakemake("-n", "--configfile", "config/hw9.yaml", cfg).stdout
    methods = {m: 10 for m in ("lime", "saliency", "smoothgrad", "filters", "integrated_gradients")}
    assert jobs_of(out) == {"hw9_bundle": 1, "observed_image": 10, "model_summary": 1, "all": 1, **methods}
    small = tmp_path / "small.yaml"
    small.write_text("observed: {count: 2}\ncnn: {lime: {num_samples: 20}, smoothgrad: {samples: 4}, "
                     "filters: {iterations: 2}}\n")
    run_snakemake("--cores", "2", "--configfile", "config/hw9.yaml", cfg, small)
    res = tmp_path / "results/hw9"
    summary = json.loads((res / "assets/model.json").read_text())
    assert summary["cnn_modules"][21] == "BatchNorm2d" and summary["width"] == 0.0625
    assert sorted(p.name for p in (res / "assets/food").glob("*.jpg")) == sorted(f"{n}.jpg" for n in IMAGES)
    with np.load(res / "assets/observed/1_1.npz") as z:
        assert z["image"].shape == (3, 128, 128) and int(z["label"]) == 1 and "mask" not in z
    for method in ("lime", "saliency", "smoothgrad", "filters", "integrated_gradients"):
        with np.load(res / f"attributions/{method}/0_0.npz") as z:
            assert str(z["method"]) == method and str(z["image"]) == "0_0" and int(z["label"]) == 0


def test_hw9_corrupt_checkpoint_fails_clearly_leaving_nothing(run_snakemake, tmp_path):
    cfg = hw9_config(tmp_path, checkpoint=b"PK\x03\x04 truncated")
    proc = run_snakemake("hw9_bundle", "--cores", "1", "--configfile", "config/hw9.yaml", cfg, check=False)
    assert proc.returncode != 0
    assert "ERROR: no source gave the HW9 bundle (local: " in proc.stderr
    assert "checkpoint.pth: not a readable torch checkpoint" in proc.stderr
    assets = tmp_path / "results/hw9/assets"
    assert not assets.exists() or sorted(p.name for p in assets.iterdir()) == []


def test_lint_is_clean(run_snakemake):
    proc = run_snakemake("--lint")
    out = proc.stdout + proc.stderr
    assert "Congratulations, your workflow is in a good condition!" in out
