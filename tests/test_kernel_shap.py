"""KernelSHAP on superpixels:
1. with every coalition evaluated (2^M - 2 <= samples) the values are the exact Shapley values of
   the logit game (superpixels kept or set to the baseline), equal to the subset formula to 1e-9,
   on the Classifier and a ResNet-18;
2. Captum 0.9's KernelShap (its own kernel sampling, endpoints weighted 1e6, linear regression)
   on the same segments converges to the same values: within 5 % of the largest at 2000 samples;
   our sampling mode (fewer samples than coalitions) within 10 % at 250, efficiency exact;
3. the run layer: the map is each pixel's superpixel value, seeded per image."""

import itertools
import math

import numpy as np
import pytest
import torch
from attribution_models import ARCHITECTURES, images

from workflow_scripts.cnn.attribute import explain_images
from workflow_scripts.cnn.methods import kernel_shap as ks

captum = pytest.importorskip("captum.attr")


def grid_segments(size: int, rows: int = 2, cols: int = 3) -> np.ndarray:
    r = np.arange(size)[:, None] * rows // size
    c = np.arange(size)[None, :] * cols // size
    return (r * cols + c + 1).astype(np.int64)  # labels 1..rows*cols, as SLIC's start_label 1


def shapley(model, x, target, segments, baseline):
    ids = np.unique(segments)
    m = len(ids)

    def v(coalition):
        keep = torch.as_tensor(np.isin(segments, [ids[i] for i in coalition]), dtype=x.dtype)
        with torch.no_grad():
            return float(model(x * keep + baseline * (1 - keep))[0, target])

    values = {s: v(s) for k in range(m + 1) for s in itertools.combinations(range(m), k)}
    phi = np.zeros(m)
    for i in range(m):
        for s, vs in values.items():
            if i in s:
                continue
            w = math.factorial(len(s)) * math.factorial(m - len(s) - 1) / math.factorial(m)
            phi[i] += w * (values[tuple(sorted((*s, i)))] - vs)
    return phi


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_all_coalitions_give_the_exact_shapley_values(arch):
    _, make, size, _ = arch
    model, x = make(), images(size, 1)
    seg = grid_segments(size)
    z, w = ks.coalitions(6, 62, np.random.default_rng(0))
    assert len(z) == 62  # every proper coalition
    phi, _ = ks.shap_values(model, x, 4, seg, 0.2, z, w, batch=16)
    exact = shapley(model, x, 4, seg, 0.2)
    np.testing.assert_allclose(phi, exact, rtol=0, atol=1e-9 * np.abs(exact).max())


def small_cnn():
    """Captum's KernelShap builds each perturbation in Python: a small float64 CNN on 32 x 32
    keeps its 2000 samples affordable (the exact values are checked on both architectures)."""
    torch.manual_seed(2)
    return (
        torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(4),
            torch.nn.Flatten(),
            torch.nn.Linear(8 * 8 * 8, 11),
        )
        .double()
        .eval()
    )


def test_captum_and_our_sampling_converge_to_them():
    size = 32
    model, x = small_cnn(), images(size, 1)
    seg = grid_segments(size, 2, 4)  # 8 features: 254 proper coalitions
    exact = shapley(model, x, 7, seg, 0.0)
    torch.manual_seed(0)
    ref = captum.KernelShap(model).attribute(
        x,
        target=7,
        baselines=0.0,
        feature_mask=torch.as_tensor(seg - 1)[None, None].expand(1, 3, size, size),
        n_samples=2000,
        perturbations_per_eval=100,
    )
    ref_phi = np.array([float(ref[0, 0][torch.as_tensor(seg) == k][0]) for k in range(1, 9)])
    scale = np.abs(exact).max()
    assert np.abs(ref_phi - exact).max() < 0.05 * scale, (ref_phi, exact)
    z, w = ks.coalitions(8, 250, np.random.default_rng(1))  # 250 < 254: drawn from the kernel
    assert len(z) == 250 and (w == 1).all()
    phi, _ = ks.shap_values(model, x, 7, seg, 0.0, z, w, batch=50)
    assert np.abs(phi - exact).max() < 0.1 * scale, (phi, exact)
    assert sum(phi) == pytest.approx(sum(exact), rel=1e-9)  # efficiency holds exactly


def test_run_layer_maps_superpixels_and_is_seeded():
    _, make, size, _ = ARCHITECTURES[0]
    model, x = make(), images(size, 1)
    cfg = {
        "segmentation": {"n_segments": 100, "compactness": 10, "sigma": 1, "start_label": 1},
        "baseline": 0.0,
        "samples": 40,
        "seed": 0,
        "batch_size": 0,
    }
    cpu = torch.device("cpu")
    a = explain_images("kernel_shap", model, [(x[0], 2, "2_0")], cfg, cpu)[0]
    b = explain_images("kernel_shap", model, [(x[0], 2, "2_0")], cfg, cpu)[0]
    np.testing.assert_array_equal(a["values"], b["values"])
    seg = a["segments"]
    for k, value in zip(np.unique(seg), a["values"]):
        assert np.all(a["map_raw"][seg == k] == np.float32(value))
    assert not bool(a["exact"])
