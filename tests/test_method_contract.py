"""The contract every registered CNN method meets (parametrised over the registry, as
scikit-learn's parametrize_with_checks runs its checks on every estimator): a method added as a
module of workflow_scripts/cnn/methods is checked here without touching this file."""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest
import torch
import yaml

from workflow_scripts.assets.models import Classifier
from workflow_scripts.cnn import methods
from workflow_scripts.cnn.attribute import explain_image
from workflow_scripts.cnn.layers import with_homework_layers
from workflow_scripts.cnn.methods import METADATA, registry

from conftest import ROOT

CONFIG = yaml.safe_load((ROOT / "config/config.yaml").read_text(encoding="utf-8"))
# "auto" layers as rules/common.smk resolves them on the homework Classifier
with_homework_layers(CONFIG)
TEST = yaml.safe_load((ROOT / "config/test.yaml").read_text(encoding="utf-8"))
NAMES = list(registry())


def _cfg(name: str) -> dict:
    """The method's config block with the test config's (cheaper) values over the defaults."""
    return {**CONFIG["cnn"][name], **TEST.get("cnn", {}).get(name, {})}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Classifier(width=1 / 16).eval()


@pytest.fixture(scope="module")
def image():
    return torch.rand(3, 128, 128, generator=torch.Generator().manual_seed(1))


def test_the_registry_holds_the_homework_methods_in_order():
    assert NAMES[:5] == ["lime", "saliency", "smoothgrad", "filters", "integrated_gradients"]


@pytest.mark.parametrize("name", NAMES)
def test_declared_literals_are_the_modules_attributes(name):
    module = methods.load(name)
    for key in METADATA:
        value = getattr(module, key)
        assert (tuple(value) if key == "VARIANT_KEYS" else value) == registry()[name][key], key


@pytest.mark.parametrize("name", NAMES)
def test_explain_takes_exactly_its_config_block_keyword_only(name):
    params = inspect.signature(methods.load(name).explain).parameters.values()
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keyword = {p.name for p in params if p.kind == p.KEYWORD_ONLY}
    assert positional == ["model", "x", "target"]
    assert keyword == {"image", "device", *CONFIG["cnn"][name]}, (
        "explain's keywords must be cnn.<name>'s keys"
    )
    assert set(registry()[name]["VARIANT_KEYS"]) <= set(CONFIG["cnn"][name])


@pytest.mark.parametrize("name", NAMES)
def test_a_renamed_config_key_fails_loudly(name, model, image):
    cfg = _cfg(name)
    if cfg:
        key = sorted(cfg)[0]
        cfg[key + "_renamed"] = cfg.pop(key)
    else:  # a method without settings refuses any
        cfg["unexpected"] = 1
    with pytest.raises(TypeError, match="keyword argument"):
        explain_image(name, model, image, 3, "3_0", cfg, torch.device("cpu"))


@pytest.mark.parametrize("name", NAMES)
def test_explain_gives_the_artifact_its_figure_needs_and_repeats_itself(name, model, image):
    cpu = torch.device("cpu")
    a = explain_image(name, model, image, 3, "3_0", _cfg(name), cpu)
    b = explain_image(name, model, image, 3, "3_0", _cfg(name), cpu)
    fig = registry()[name]["FIGURE"]
    keys = [r["key"] for r in fig.get("rows", []) if "key" in r] + [
        f["key"] for f in fig.get("facts", [])
    ]
    keys += [r["key"] for x in fig.get("extra", []) for r in x["rows"] if "key" in r]
    assert all(k in a for k in keys), [k for k in keys if k not in a]
    assert (
        str(a["method"]) == name
        and a["label"] == 3
        and a["variant"] == methods.variant_name(name, _cfg(name))
    )
    if "map_raw" in a:
        assert a["map"].shape == (128, 128) and a["map"].min() == 0 and a["map"].max() == 1
    for k in a:
        if k != "seconds":  # same config and seed, same numbers (bytes: NaN markers included)
            x, y = np.asarray(a[k]), np.asarray(b[k])
            assert (x.dtype, x.shape, x.tobytes()) == (y.dtype, y.shape, y.tobytes()), k


def test_a_module_without_literals_is_refused(tmp_path):
    bad = tmp_path / "broken.py"
    bad.write_text('NAME = "broken"\nORDER = 9\nPREPARE = "gpu"\nVARIANT_KEYS = ()\nFIGURE = {}\n')
    with pytest.raises(ValueError, match="PREPARE one of"):
        importlib.import_module("workflow_scripts.cnn.methods")._declared(bad)
