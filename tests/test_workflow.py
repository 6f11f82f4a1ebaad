"""The DAG as Snakemake itself sees it: dry runs of every shipped config, and lint."""
from conftest import jobs_of
from workflow_scripts.models import Classifier, save_checkpoint


def test_default_dag(run_snakemake, tmp_path):
    out = run_snakemake("-n", "--config", f"results={tmp_path}").stdout
    methods = {m: 11 for m in ("lime", "saliency", "smoothgrad", "filters", "integrated_gradients")}
    assert jobs_of(out) == {"offline_dataset": 1, "train_classifier": 1, "observed_image": 11,
                            "model_summary": 1, "all": 1, **methods}


def test_test_config_dag(run_snakemake, tmp_path):
    out = run_snakemake("-n", "--configfile", "config/test.yaml", "--config", f"results={tmp_path}").stdout
    assert f"{tmp_path}/test/assets/checkpoint.pth" in out
    assert jobs_of(out)["train_classifier"] == 1


def hw9_fixture(folder):
    """The homework's file names with small stand-in contents."""
    food = folder / "food"
    food.mkdir()
    from PIL import Image
    for stem in ["0_0", "1_1", "1_2", "2_3", "2_4", "3_5", "5_6", "6_7", "8_8", "9_9"]:
        Image.new("RGB", (512, 384), (int(stem[0]) * 20, 90, 120)).save(food / f"{stem}.jpg")
    save_checkpoint(folder / "checkpoint.pth", Classifier(0.0625))
    return food, folder / "checkpoint.pth"


def test_hw9_dag_runs_without_training(run_snakemake, tmp_path):
    food, ckpt = hw9_fixture(tmp_path)
    cfg = tmp_path / "paths.yaml"
    cfg.write_text(f"results: {tmp_path / 'results'}\nhw9:\n  food_dir: {food}\n  checkpoint: {ckpt}\n")
    out = run_snakemake("-n", "--configfile", "config/hw9.yaml", cfg).stdout
    methods = {m: 10 for m in ("lime", "saliency", "smoothgrad", "filters", "integrated_gradients")}
    assert jobs_of(out) == {"observed_image": 10, "model_summary": 1, "all": 1, **methods}
    small = tmp_path / "small.yaml"
    small.write_text("observed: {count: 2}\ncnn: {lime: {num_samples: 20}, smoothgrad: {samples: 4}, "
                     "filters: {iterations: 2}}\n")
    run_snakemake("--cores", "2", "--configfile", "config/hw9.yaml", cfg, small)
    import json
    import numpy as np
    summary = json.loads((tmp_path / "results/hw9/assets/model.json").read_text())
    assert summary["cnn_modules"][21] == "BatchNorm2d" and summary["width"] == 0.0625
    with np.load(tmp_path / "results/hw9/assets/observed/1_1.npz") as z:
        assert z["image"].shape == (3, 128, 128) and int(z["label"]) == 1 and "mask" not in z
    for method in ("lime", "saliency", "smoothgrad", "filters", "integrated_gradients"):
        with np.load(tmp_path / f"results/hw9/attributions/{method}/0_0.npz") as z:
            assert str(z["method"]) == method and str(z["image"]) == "0_0" and int(z["label"]) == 0


def test_hw9_missing_checkpoint_fails_clearly(run_snakemake, tmp_path):
    food, ckpt = hw9_fixture(tmp_path)
    ckpt.write_bytes(b"PK\x03\x04 truncated")
    cfg = tmp_path / "paths.yaml"
    cfg.write_text(f"results: {tmp_path / 'results'}\nhw9:\n  food_dir: {food}\n  checkpoint: {ckpt}\n")
    proc = run_snakemake("model_summary", "--cores", "1", "--configfile", "config/hw9.yaml", cfg, check=False)
    assert proc.returncode != 0
    assert f"ERROR: {ckpt}: not a readable torch checkpoint" in proc.stderr
    assert not (tmp_path / "results/hw9/assets/model.json").exists()


def test_lint_is_clean(run_snakemake):
    proc = run_snakemake("--lint")
    out = proc.stdout + proc.stderr
    assert "Congratulations, your workflow is in a good condition!" in out
