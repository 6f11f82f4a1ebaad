"""Guided Grad-CAM against Captum 0.9's GuidedGradCam on the same float64 model, layer and
targets (nearest upsampling, Captum's default: equal to 1e-9 of the largest value), and the
bilinear variant as the product of our own Guided Backprop and Grad-CAM artifacts."""

import numpy as np
import pytest
import torch
from attribution_models import ARCHITECTURES, images, without_inplace

from workflow_scripts.cnn.attribute import explain_images

CPU = torch.device("cpu")

captum = pytest.importorskip("captum.attr")


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_guided_gradcam_equals_captum(arch):
    _, make, size, layer = arch
    model, x, targets = make(), images(size), [6, 2]
    items = [(x[i], t, f"{t}_{i}") for i, t in enumerate(targets)]
    cfg = {"layer": layer, "interpolate": "nearest"}
    ours = np.stack(
        [a["attribution"] for a in explain_images("guided_gradcam", model, items, cfg, CPU)]
    )
    ref_model = without_inplace(model)
    module = ref_model.cnn[layer] if isinstance(layer, int) else ref_model.get_submodule(layer)
    ref = captum.GuidedGradCam(ref_model, module).attribute(
        x.clone().requires_grad_(True), target=torch.tensor(targets)
    )
    ref = ref.detach().numpy()
    assert np.abs(ref).max() > 0
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9 * np.abs(ref).max())


def test_bilinear_guided_gradcam_is_guided_backprop_times_gradcam():
    from attribution_models import classifier

    model, x = classifier(), images(128, 1)
    items = [(x[0], 8, "8_0")]
    cfg = {"layer": 36, "interpolate": "bilinear"}
    ggc = explain_images("guided_gradcam", model, items, cfg, CPU)[0]
    gb = explain_images("guided_backprop", model, items, {}, CPU)[0]
    gc = explain_images("gradcam", model, items, {"layer": 36}, CPU)[0]
    product = gb["attribution"] * gc["map_raw"][None]
    # guided backprop alone runs on the BatchNorm-folded model, guided Grad-CAM on the model's
    # own modules: the same function, float64 rounding apart
    tolerance = 1e-9 * np.abs(product).max()
    np.testing.assert_allclose(ggc["attribution"], product, rtol=0, atol=tolerance)
