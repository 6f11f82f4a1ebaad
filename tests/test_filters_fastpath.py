"""Filter explanation on the fast path (BatchNorm folded, weights frozen, forward stopped at the
hooked module) against the homework's hooked whole-model reference, and a batch of images against
one image at a time. Activation maximisation runs Adam for many steps, which amplifies rounding
(in float32 two correct implementations drift apart), so the comparison is in float64: objective
curves and optimised images agree to 1e-6 relative there; activation maps are exact in float32."""

import numpy as np
import pytest
import torch

from workflow_scripts.assets.models import Classifier
from workflow_scripts.cnn.fastpath import features_until
from workflow_scripts.cnn.methods import filters

PAIRS = [(6, 0), (15, 3), (21, 1), (23, 2)]  # conv (BN after it), ReLU, BatchNorm, conv


def _model(dtype=torch.float64):
    """A random Classifier whose BatchNorms are not the identity (folding changes weights)."""
    torch.manual_seed(0)
    model = Classifier(0.0625)
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return model.eval().to(dtype)


def _images(n, dtype=torch.float64):
    return torch.rand(n, 3, 128, 128, generator=torch.Generator().manual_seed(2), dtype=dtype)


def rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("layer", [layer for layer, _ in PAIRS])
def test_the_stack_outputs_the_hooked_module_exactly_unfolded_and_closely_folded(layer):
    model, x = _model(torch.float32), _images(2, torch.float32)
    hooked = filters.activation(model, x, layer)
    with torch.no_grad():
        assert torch.equal(features_until(model, layer, fold=False)(x), hooked)
        folded = features_until(model, layer)(x)
    assert rel(folded, hooked) < 1e-5
    assert all(not p.requires_grad for p in features_until(model, layer).parameters())


@pytest.mark.parametrize("start", ["homework", "noise"])
def test_fast_visualisation_follows_the_hooked_reference(start):
    model, x = _model(), _images(1)
    for layer, f in PAIRS:
        kw = dict(iterations=6, lr=0.1, start=start)
        ref = visualize_with(model, x, layer, f, fast=False, **kw)
        fast = visualize_with(model, x, layer, f, fast=True, **kw)
        assert rel(fast["objective"], ref["objective"]) < 1e-6, (layer, f)
        assert rel(fast["image"], ref["image"]) < 1e-6, (layer, f)
        assert ref["objective"][-1] > ref["objective"][0]


def visualize_with(model, x, layer, f, **kw):
    gen = torch.Generator().manual_seed(3)
    return filters.visualize(model, x, layer, f, generator=gen, **kw)


@pytest.mark.parametrize("start", ["homework", "noise"])
def test_a_batch_of_images_equals_one_at_a_time(start):
    """explain_many (what a GPU job runs) gives each image what explain gives it alone."""
    model, x = _model(), _images(2)
    names = ["0_0", "1_1"]
    cfg = dict(seed=5, pairs=PAIRS, iterations=4, lr=0.1, start=start)
    target = torch.zeros(2, dtype=torch.long)
    many = filters.explain_many(model, x, target, images=names, device="cpu", **cfg)
    for i, name in enumerate(names):
        one = filters.explain(
            model, x[i : i + 1], target[i : i + 1], image=name, device="cpu", **cfg
        )
        assert sorted(one) == sorted(many[i])
        for key, value in one.items():
            if np.asarray(value).dtype.kind == "f":
                assert rel(many[i][key], value) < 1e-9, (name, key)
            else:
                assert np.array_equal(many[i][key], value), (name, key)


def test_the_written_out_adam_equals_torch_adam_bit_for_bit():
    g = torch.Generator().manual_seed(4)
    a = torch.rand(2, 3, 8, 8, generator=g).requires_grad_(True)
    b = a.detach().clone().requires_grad_(True)
    ours, theirs = filters.Adam(a, lr=0.1), torch.optim.Adam([b], lr=0.1)
    for _ in range(6):
        grad = torch.randn(a.shape, generator=g) * 3
        ours.zero_grad(), theirs.zero_grad()
        a.grad, b.grad = grad.clone(), grad.clone()
        ours.step(), theirs.step()
        assert torch.equal(a, b)
