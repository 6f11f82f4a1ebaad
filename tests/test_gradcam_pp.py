"""Grad-CAM++ against pytorch-grad-cam 1.5.7's GradCAMPlusPlus on the same float64 model, layer
and targets (the label's logit): our layer-resolution CAM equals ReLU of what their
get_cam_image returns, to 1e-9 of its largest value; and on a hand-made layer the weights follow
the closed form."""

import numpy as np
import pytest
import torch
from attribution_models import ARCHITECTURES, images

from workflow_scripts.cnn.attribute import explain_images
from workflow_scripts.cnn.methods import gradcam_pp

pgc = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402


def reference_cams(cls, model, module, x, targets):
    raws = []

    class Recording(cls):
        def get_cam_image(self, *args, **kwargs):
            cam = super().get_cam_image(*args, **kwargs)
            raws.append(cam)
            return cam

    with Recording(model=model, target_layers=[module]) as cam:
        cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(t) for t in targets])
    return np.maximum(raws[0], 0)


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_gradcam_pp_equals_pytorch_grad_cam(arch):
    _, make, size, layer = arch
    model, x, targets = make(), images(size), [3, 7]
    items = [(x[i], t, f"{t}_{i}") for i, t in enumerate(targets)]
    ours = explain_images("gradcam_pp", model, items, {"layer": layer}, torch.device("cpu"))
    module = model.cnn[layer] if isinstance(layer, int) else model.get_submodule(layer)
    ref = reference_cams(pgc.GradCAMPlusPlus, model, module, x, targets)
    got = np.stack([a["cam_layer_res"] for a in ours])
    assert ref.max() > 0
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9 * np.abs(ref).max())
    assert got.shape[-2:] != ours[0]["map_raw"].shape  # upsampled to the input
    assert ours[0]["map_raw"].shape == (size, size)


def test_gradcam_pp_weights_closed_form():
    """One channel, two positions: a = g^2 / (2 g^2 + S g^3 + eps), alpha = sum a ReLU(g)."""
    acts = torch.tensor([[[[1.0, 3.0]]]], dtype=torch.float64)
    grads = torch.tensor([[[[0.5, -2.0]]]], dtype=torch.float64)
    s = 4.0
    a0 = 0.25 / (2 * 0.25 + s * 0.125 + gradcam_pp.EPS)
    assert float(gradcam_pp.weights(acts, grads)[0, 0]) == pytest.approx(a0 * 0.5, rel=1e-12)
