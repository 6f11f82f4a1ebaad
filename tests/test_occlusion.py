"""Occlusion against Captum 0.9's Occlusion on the same float64 model, window, stride and scalar
baseline (Captum returns float32 after dividing by the window counts: compared to 1e-6 of the
largest value), including a stride that leaves a cut window at the border; and its definition
on a linear model, where hiding a window lowers the logit by the window's w . x exactly."""

import numpy as np
import pytest
import torch
from attribution_models import ARCHITECTURES, images

from workflow_scripts.cnn.attribute import explain_images
from workflow_scripts.cnn.methods import occlusion

CPU = torch.device("cpu")

captum = pytest.importorskip("captum.attr")


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
@pytest.mark.parametrize("window,stride", [(32, 16), (24, 20)])
def test_occlusion_equals_captum(arch, window, stride):
    _, make, size, _ = arch
    model, x, targets = make(), images(size), [1, 5]
    cfg = {"window": window, "stride": stride, "baseline": 0.25, "batch_size": 7}
    items = [(x[i], t, f"{t}_{i}") for i, t in enumerate(targets)]
    ours = np.stack([a["attribution"] for a in explain_images("occlusion", model, items, cfg, CPU)])
    ref = captum.Occlusion(model).attribute(
        x,
        sliding_window_shapes=(3, window, window),
        strides=(3, stride, stride),
        baselines=0.25,
        target=torch.tensor(targets),
    )
    ref = ref.double().numpy()
    assert np.abs(ref).max() > 0 and np.all(ref[:, 0] == ref[:, 2])  # channels move together
    np.testing.assert_allclose(ours, ref[:, 0], rtol=0, atol=1e-6 * np.abs(ref).max())


def test_occlusion_of_a_linear_model_is_the_windows_mean_w_dot_x():
    torch.manual_seed(3)
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 2)).double()
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64)
    attr, n = occlusion.occlusion(lin, x, 1, window=4, stride=4, baseline=0.0, batch=5)
    assert n == 16
    contrib = (lin[1].weight[1].reshape(3, 16, 16) * x[0]).sum(0)  # w . x per pixel
    blocks = contrib.reshape(4, 4, 4, 4).sum(dim=(1, 3))  # per 4 x 4 window
    expected = blocks.repeat_interleave(4, 0).repeat_interleave(4, 1)
    torch.testing.assert_close(attr, expected.detach(), rtol=1e-12, atol=1e-12)
