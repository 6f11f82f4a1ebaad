"""`./xai help` and `./xai list ...`: every command is described, and each list is what its
registry holds (method modules, config/quiz.yaml, the config files, config/schema.yaml)."""

import subprocess

import pytest
import yaml

from workflow_scripts.cnn.methods import registry
from workflow_scripts.core import catalog

from conftest import ROOT


def xai(*args):
    return subprocess.run(
        ["bash", str(ROOT / "xai"), *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("flag", ["help", "--help", "-h"])
def test_help_names_every_command_and_set(flag):
    proc = xai(flag)
    assert proc.returncode == 0 and proc.stderr == ""
    for command in ("./xai run", "./xai why", "./xai list", "./xai test", "./xai setup"):
        assert command in proc.stdout
    assert "--set" in proc.stdout and "--set cnn.smoothgrad.samples=100" in proc.stdout


def test_an_unknown_command_prints_the_help_and_fails():
    proc = xai("bogus")
    assert proc.returncode == 2 and "./xai list" in proc.stderr


def test_list_methods_is_the_registry_in_order():
    proc = xai("list", "methods")
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert names == list(registry())
    assert any("deeplift" in ln and "captum DeepLift" in ln for ln in proc.stdout.splitlines())


def test_list_questions_sets_and_keys():
    bank = yaml.safe_load((ROOT / "config/quiz.yaml").read_text())["questions"]
    lines = catalog.questions()
    assert [int(ln.split()[0]) for ln in lines] == [q["id"] for q in bank] == list(range(1, 31))
    sets = {ln.split()[0]: ln for ln in catalog.sets()}
    assert set(sets) == {
        f"config/{p.name}"
        for p in (ROOT / "config").glob("*.yaml")
        if p.name not in catalog.NOT_SETS
    }
    assert "results/hw9, source hw9" in sets["config/hw9.yaml"]
    keys = {ln.split()[0]: ln for ln in catalog.keys()}
    assert {"seed", "cnn.lime.num_samples", "quality.method_images", "cnn.deeplift.maxpool"} <= set(
        keys
    )
    assert keys["cnn.lime.num_samples"].split()[1] == "1000"


def test_an_unknown_list_is_refused_in_one_line(capsys):
    assert catalog.main(["nope"]) == 2
    assert capsys.readouterr().err.strip() == "usage: ./xai list methods|questions|sets|keys"
