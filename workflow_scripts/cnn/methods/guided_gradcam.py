"""Guided Grad-CAM (Selvaraju et al. 2017): Guided Backprop times Grad-CAM, the class-sensitive
coarse map sharpened by the fine, class-blind gradient.

The Grad-CAM at `layer` (ReLU of the gradient-weighted channels, at the layer's resolution) is
resized to the input by nearest neighbour (Captum's GuidedGradCam default; `interpolate:
bilinear` is the paper's smooth upsampling) and multiplied into every channel of the guided
gradient. Captum's GuidedGradCam computes the same product (tests/test_guided.py compares).
`map_raw`: max over RGB of |attribution|.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from workflow_scripts.cnn.cam import activations_gradients
from workflow_scripts.cnn.methods.guided_backprop import guided_gradient

NAME = "guided_gradcam"
ORDER = 12
PREPARE = "hooks"  # hooks the layer and the model's nn.ReLU modules
HOOKS = True
LAYER_KEY = "layer"
VARIANT_KEYS = ("layer", "interpolate")
REFERENCE = "captum GuidedGradCam"  # what benchmarks/bench_methods.py times it against
FIGURE = {
    "title": "Guided Grad-CAM",
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "heat", "key": "map", "label": "guided Grad-CAM (max over RGB, normalised)"},
    ],
}


def explain(
    model, x: torch.Tensor, target: torch.Tensor, *, image: str, device, layer, interpolate: str
) -> dict:
    """The artifact arrays of one image (x: 1 x 3 x H x W)."""
    acts, grads, _, _ = activations_gradients(model, x, target, layer, "cnn.guided_gradcam.layer")
    cam = F.relu((grads.mean(dim=(2, 3), keepdim=True) * acts).sum(1, keepdim=True))
    kw = {"align_corners": False} if interpolate == "bilinear" else {}
    cam = F.interpolate(cam, size=tuple(x.shape[-2:]), mode=interpolate, **kw)
    guided, n = guided_gradient(model, x, target)
    a = (guided * cam)[0].cpu().numpy()
    return {
        "attribution": a,
        "map_raw": np.abs(a).max(axis=0),
        "cam_upsampled": cam[0, 0].cpu().numpy(),
        "guided_relus": n,
    }


def passes(cfg: dict, model=None) -> dict:
    return {"gradient": 2}


def reference(model, x, target, cfg: dict):
    from captum.attr import GuidedGradCam

    from workflow_scripts.cnn.layers import module_at

    module = module_at(model, cfg["layer"], "cnn.guided_gradcam.layer")
    return GuidedGradCam(model, module).attribute(x.clone().requires_grad_(True), target=target)
