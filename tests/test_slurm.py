"""The workflow on a live single-node Slurm through profiles/slurm (started by
scripts/local_slurm.sh).

Skipped, with the reason, where a cluster cannot be started here (not root, or no apt-get and no
Slurm installed). The cluster this test starts is stopped afterwards by its own pid files.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from workflow_scripts.cnn.methods import names
from workflow_scripts.core import paths

from conftest import ROOT, copy_workflow, jobs_of, snakemake

SCRIPT = ROOT / "scripts" / "local_slurm.sh"
# the test node: 2 CPUs; packing limits for the grouped jobs
NODE = ["--cores", "2", "--resources", "mem_mb=8000", "gpu=1"]
# the quality stage scores two methods here (where its jobs run is the point; every method is
# scored in the test build elsewhere): one sanity job each on the test config's one chunk
SCORED = ["saliency", "gradcam"]
TWO_SCORED = "quality: {exclude: [%s]}\n" % ", ".join(m for m in names() if m not in SCORED)
# the workflow's job groups (group: in rules/), by the rules in them
GROUPED = ("observed_image", "quality_sanity", *(f"{m}_" for m in (*names(), "ig_steps")))


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return (
            "starting a local Slurm needs root "
            "(it installs slurmctld/slurmd/munge and starts daemons)"
        )
    if not shutil.which("apt-get") and not shutil.which("slurmctld"):
        return "no apt-get to install Slurm and no slurmctld on PATH"
    return None


@pytest.fixture(scope="module")
def cluster():
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    start = subprocess.run(
        ["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=600
    )
    if start.returncode != 0:
        pytest.fail(f"local Slurm did not start:\n{start.stdout[-2000:]}\n{start.stderr[-3000:]}")
    yield
    subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, text=True, timeout=120)


def submissions(log: str) -> dict[str, str]:
    """{slurm job id: job name} from the executor's 'has been submitted' lines."""
    return {
        m.group(1): m.group(2)
        for m in re.finditer(
            r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/(\S+)/\d+\.log\)", log
        )
    }


def slurm_job(job_id: str) -> str:
    return subprocess.run(
        ["scontrol", "show", "job", job_id], capture_output=True, text=True
    ).stdout


def test_pipeline_on_slurm_and_exact_resubmission(cluster, tmp_path):
    wf = copy_workflow(tmp_path / "wf")
    two = tmp_path / "two_scored.yaml"
    two.write_text(TWO_SCORED)
    planned = jobs_of(snakemake("-n", "--configfile", "config/test.yaml", two, cwd=wf).stdout)
    proc = snakemake(
        "--profile",
        "profiles/slurm",
        "--configfile",
        "config/test.yaml",
        two,
        *NODE,
        cwd=wf,
        timeout=1500,
    )
    log = proc.stdout + proc.stderr
    out = wf / "results" / "test"
    assert (out / "assets/checkpoint.pth").is_file() and (out / "assets/model.json").is_file()
    for method in names():
        assert sorted(p.name for p in (out / "attributions" / method).glob("*.npz")) == [
            "0_0.npz",
            "1_1.npz",
            "2_2.npz",
        ]
    jobs = submissions(log)
    # every ungrouped job that is not a local rule is one submission of its own; the grouped ones
    # (per-image loads, method chunks, sanity cascades) share fewer submissions than they are jobs
    # the local rules as Snakemake ran them (its log file keeps the job blocks the terminal drops)
    full_log = max((wf / ".snakemake/log").glob("*.snakemake.log"), key=lambda p: p.stat().st_mtime)
    local = set(re.findall(r"^localrule (\w+):", full_log.read_text(), re.M))
    assert {"quiz_report", "bert_model"} <= local and "train_classifier" not in local, local
    grouped = {r: n for r, n in planned.items() if r.startswith(GROUPED)}
    alone = sorted(
        r for r, n in planned.items() for _ in range(n) if r not in local and r not in grouped
    )
    assert (
        sorted(
            n.split("/")[0].removeprefix("rule_")
            for n in jobs.values()
            if not n.startswith("group_")
        )
        == alone
    ), jobs
    groups = [n for n in jobs.values() if n.startswith("group_")]
    assert 0 < len(groups) < sum(grouped.values()), (groups, grouped)
    sanity = sum(name.startswith("group_sanity") for name in jobs.values())
    assert 0 < sanity < len(SCORED), jobs
    assert not any(
        n.startswith(("rule_quiz", "rule_lime_figure", "rule_bert_model")) for n in jobs.values()
    ), jobs
    assert (out / "report/quiz.html").is_file()
    assert any(name.startswith("group_attributions") for name in jobs.values())
    by_name = {name: jid for jid, name in jobs.items()}
    assert "gres:gpu:1" in slurm_job(by_name["rule_train_classifier"])  # a GPU rule asks for a GPU
    assert "gpu" not in slurm_job(by_name["rule_offline_dataset"])  # a CPU rule does not
    # the fake GPU is no CUDA device: the GPU rule ran on the CPU
    assert "device cpu" in Path(paths.log(out, "train_classifier")).read_text()

    override = tmp_path / "override.yaml"
    override.write_text("cnn: {saliency: {objective: logit}}\n")
    again = snakemake(
        "--profile",
        "profiles/slurm",
        "--configfile",
        "config/test.yaml",
        two,
        override,
        *NODE,
        cwd=wf,
        timeout=900,
    )
    log2 = again.stdout + again.stderr
    # saliency's own sanity job (one per scored method)
    quality = {"quality_chunk": 2, "quality_sanity": 1, "quality_merge": 1, "quality_figures": 1}
    assert jobs_of(log2) == {  # the test config's two chunks of images (cnn.images_per_job)
        "saliency_0": 1,
        "saliency_1": 1,
        "saliency_figure": 1,
        **quality,  # saliency is scored by the quality stage
        "quiz_answers": 1,
        "quiz_report": 1,
        "all": 1,
    }
    # both saliency chunks in one group submission, its sanity job in a sanity group; one
    # submission per quality chunk (their log folders are rule_<rule>/<wildcards>)
    folders = sorted(name.split("/")[0] for name in submissions(log2).values())
    assert [n for n in folders if not n.startswith("group_")] == [
        "rule_quality_chunk",
        "rule_quality_chunk",
    ]
    assert sum(n.startswith("group_attributions") for n in folders) == 1
    assert sum(n.startswith("group_sanity") for n in folders) == 1


def test_a_folder_set_on_slurm(cluster, tmp_path):
    """Your own model (a ResNet-18 on an ImageFolder with masks) through profiles/slurm: its
    asset, method and quality jobs are Slurm jobs, and the run ends with its report."""
    import folder_fixture as F

    wf = copy_workflow(tmp_path / "wf")
    F.images(tmp_path / "images", tmp_path / "masks")
    F.resnet18(tmp_path / "w.pth")
    cfg = F.config(
        tmp_path / "mine.yaml",
        wf / "results",
        {"arch": "resnet18", "weights": str(tmp_path / "w.pth")},
        {"root": str(tmp_path / "images"), "masks": str(tmp_path / "masks")},
        # two scored methods: the point is where the jobs run (the stage itself is tested on
        # every method elsewhere); all 14 on ResNet-18 took 14 minutes here
        quality={
            "images": 4,
            "images_per_job": 2,
            "sanity_images": 1,
            "exclude": [m for m in names() if m not in ("saliency", "gradcam")],
        },
    )
    proc = snakemake(
        "--profile", "profiles/slurm", "--configfile", cfg, *NODE, cwd=wf, timeout=1500
    )
    folders = [n.split("/")[0] for n in submissions(proc.stdout + proc.stderr).values()]
    assert folders.count("rule_quality_chunk") == 2, folders  # 4 images, 2 per job
    assert "rule_folder_assets" in folders, folders
    assert any(n.startswith("group_sanity") for n in folders), folders
    assert any(n.startswith("group_attributions") for n in folders), folders
    assert (wf / "results" / "mine" / "report" / "report.html").is_file()
