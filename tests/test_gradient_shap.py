"""GradientSHAP against Captum 0.9's GradientShap fed the same draws: Captum picks baselines with
np.random.choice, adds torch.normal noise, then draws alphas with np.random.uniform; re-seeded,
the same calls give the same draws, which go into our given_draws (float64, to 1e-9 of the
largest value), on the Classifier and a ResNet-18, with noise and two baselines. And the
completeness that makes it SHAP-like: without noise and with one baseline, the attribution's sum
is, in expectation over alpha, f(x) - f(b) (checked with many draws on a linear model, exactly)."""

import numpy as np
import pytest
import torch
from attribution_models import ARCHITECTURES, images

from workflow_scripts.cnn.attribute import explain_images
from workflow_scripts.cnn.methods import gradient_shap as gs

captum = pytest.importorskip("captum.attr")


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_gradient_shap_equals_captum_on_the_same_draws(arch):
    _, make, size, _ = arch
    model, x = make(), images(size, 1)
    n, stdev, target = 5, 0.1, 6
    base = torch.stack([torch.zeros(3, size, size), torch.ones(3, size, size)]).double()
    np.random.seed(3)
    torch.manual_seed(4)
    ref = captum.GradientShap(model).attribute(
        x.clone(), baselines=base, n_samples=n, stdevs=stdev, target=target
    )
    np.random.seed(3)
    idx = np.random.choice(2, n).tolist()
    torch.manual_seed(4)
    noise = torch.normal(0, torch.tensor(stdev).repeat(n, *x.shape[1:])).double()
    alphas = torch.tensor(np.random.uniform(0.0, 1.0, n), dtype=torch.float64)
    ours = gs.given_draws(model, x, target, noise, base[idx], alphas, batch=2)
    assert ref.abs().max() > 0
    torch.testing.assert_close(ours, ref[0].detach(), rtol=0, atol=1e-9 * float(ref.abs().max()))


def test_sum_is_the_logit_difference_for_a_linear_model():
    torch.manual_seed(0)
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 3)).double()
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    n = 7
    b = torch.zeros(n, 3, 8, 8, dtype=torch.float64)
    a = gs.given_draws(lin, x, 2, torch.zeros(n, 3, 8, 8).double(), b, torch.rand(n).double(), 3)
    with torch.no_grad():
        expected = float(lin(x)[0, 2] - lin(b[:1])[0, 2])
    assert float(a.sum()) == pytest.approx(expected, rel=1e-10)  # gradient constant: any alpha


def test_run_layer_is_seeded_per_image():
    _, make, size, _ = ARCHITECTURES[0]
    model, x = make(), images(size, 2)
    cfg = {"baselines": [0.0, 1.0], "samples": 4, "stdev": 0.1, "seed": 2, "batch_size": 0}
    cpu = torch.device("cpu")
    both = explain_images("gradient_shap", model, [(x[0], 1, "1_0"), (x[1], 3, "3_1")], cfg, cpu)
    one = explain_images("gradient_shap", model, [(x[1], 3, "3_1")], cfg, cpu)
    np.testing.assert_array_equal(both[1]["attribution"], one[0]["attribution"])
    other = explain_images("gradient_shap", model, [(x[1], 3, "3_1")], {**cfg, "seed": 3}, cpu)
    assert not np.array_equal(other[0]["attribution"], one[0]["attribution"])
