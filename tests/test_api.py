"""The Python API (workflow_scripts/api.py): every registered method on an image of the test
build gives the arrays of the workflow's own artifact (timing aside); defaults come from
config/config.yaml with "auto" layers resolved on the model; `pip install -e .` makes it
importable outside the checkout."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from workflow_scripts import api
from workflow_scripts.assets.models import load_checkpoint

from conftest import ROOT


def test_every_method_equals_the_workflows_artifact(test_build):
    from threadpoolctl import threadpool_limits

    out = test_build.out
    model = load_checkpoint(out / "assets/checkpoint.pth")
    test = yaml.safe_load((ROOT / "config/test.yaml").read_text())["cnn"]
    with np.load(out / "assets/observed/1_1.npz") as z:
        image, label = torch.from_numpy(z["image"]), int(z["label"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the jobs ran (threads: 1): float sums in the same order
    try:
        with threadpool_limits(1):  # BLAS too (LIME's ridge regression)
            for method in api.methods():
                arrays = api.explain(
                    method, model, image, label, name="1_1", **test.get(method, {})
                )
                with np.load(out / f"attributions/{method}/1_1.npz") as z:
                    for key in z.files:
                        if key != "seconds":
                            assert np.array_equal(np.asarray(arrays[key]), z[key]), (method, key)
    finally:
        torch.set_num_threads(threads)


def test_defaults_are_the_config_files_with_auto_layers_resolved():
    from torchvision.models import resnet18

    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    assert api.defaults("lime") == config["cnn"]["lime"]
    assert api.defaults("gradcam")["layer"] == "auto"
    assert api.defaults("gradcam", resnet18(num_classes=3))["layer"] == "layer4"
    nt = api.defaults("noise_tunnel", resnet18(num_classes=3))
    assert nt["inner_settings"]["steps"] == 10 and nt["inner_settings"]["variant"] == "ig"
    with pytest.raises(KeyError, match="unknown method 'nope'"):
        api.defaults("nope")


def test_a_wrong_setting_fails_loudly():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    with pytest.raises(
        ValueError, match=r"config key cnn.saliency: unknown key\(s\) \['objektive'\]"
    ):
        api.explain("saliency", model, torch.rand(3, 8, 8), 1, objektive="logit")
    with pytest.raises(ValueError, match="config key cnn.smoothgrad.samples"):
        api.explain("smoothgrad", model, torch.rand(3, 8, 8), 1, samples=-3)
    a = api.explain("saliency", model, (np.random.rand(8, 8, 3) * 255).astype(np.uint8), 1)
    assert a["map"].shape == (8, 8)


def test_an_editable_install_imports_outside_the_checkout(tmp_path):
    """A fresh environment that sees this one's packages (a .pth file) but not the checkout:
    `pip install -e` of the checkout makes the API importable from any folder."""
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = subprocess.run(
        [
            str(venv / "bin/python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    before = subprocess.run(
        [str(venv / "bin/python"), "-c", "import workflow_scripts"],
        cwd=tmp_path,
        capture_output=True,
    )
    assert before.returncode != 0  # not importable before the install
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin/python")]
    proc = subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    code = (
        "from workflow_scripts import api; print(len(api.methods()), api.defaults('lime')['seed'])"
    )
    run = subprocess.run(
        [str(venv / "bin/python"), "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == [str(len(api.methods())), "16"]


def test_the_docs_example_runs_as_written(tmp_path):
    """docs/api.md's Python block, run from another folder with the package importable."""
    import os
    import re

    text = (ROOT / "docs/api.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert lines[0] == "gradcam (112, 112)"
    assert "samples" in lines[1] and lines[2].startswith("['lime', 'saliency'")
