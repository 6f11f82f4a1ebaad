"""Guided Backprop against Captum 0.9's GuidedBackprop on the same float64 model and targets
(equal to 1e-9 of the largest value; on ResNet-18 Captum gets a copy without in-place ReLUs,
which its hooks refuse, while ours guides the in-place ones); and the rule itself on a two-layer
network."""

import numpy as np
import pytest
import torch
from attribution_models import ARCHITECTURES, images, without_inplace

from workflow_scripts.cnn.attribute import explain_images
from workflow_scripts.cnn.methods import guided_backprop

captum = pytest.importorskip("captum.attr")


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_guided_backprop_equals_captum(arch):
    _, make, size, _ = arch
    model, x, targets = make(), images(size), [0, 10]
    items = [(x[i], t, f"{t}_{i}") for i, t in enumerate(targets)]
    out = explain_images("guided_backprop", model, items, {}, torch.device("cpu"))
    ours = np.stack([a["attribution"] for a in out])
    ref = captum.GuidedBackprop(without_inplace(model)).attribute(
        x.clone().requires_grad_(True), target=torch.tensor(targets)
    )
    ref = ref.detach().numpy()
    assert np.abs(ref).max() > 0 and out[0]["guided_relus"] > 0
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9 * np.abs(ref).max())
    np.testing.assert_array_equal(out[0]["map_raw"], np.abs(ours[0]).max(axis=0))


def test_guided_relu_passes_back_only_positive_gradients():
    """y = v . ReLU(W x): the plain gradient is W^T (v * [Wx > 0]); guided, W^T (ReLU(v) * [Wx >
    0])."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    net = net.double()
    x = torch.randn(1, 5, dtype=torch.float64)
    grad, n = guided_backprop.guided_gradient(net, x, torch.tensor([0]))
    w, v = net[0].weight, net[2].weight[0]
    on = (net[0](x)[0] > 0).double()
    expected = (torch.relu(v) * on) @ w
    assert n == 1 and (v < 0).any() and (on > 0).any()
    torch.testing.assert_close(grad[0], expected.detach(), rtol=1e-12, atol=1e-12)
    plain = (v * on) @ w
    assert not torch.allclose(grad[0], plain)
