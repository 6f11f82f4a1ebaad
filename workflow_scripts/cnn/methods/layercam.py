"""LayerCAM (Jiang et al. 2021) on one layer, for the true label's logit.

Each position's activation is weighted by its own positive gradient: CAM = ReLU(sum_k ReLU(g^k)
* A^k) with g = dy/dA (y: the target logit), no spatial averaging, which is what lets it explain
shallow layers where Grad-CAM's averaged weights blur. pytorch-grad-cam's LayerCAM computes the
same sum (tests/test_cam_family.py compares). Upsampled to the input like Grad-CAM.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from workflow_scripts.cnn.cam import activations_gradients, artifacts

NAME = "layercam"
ORDER = 8
PREPARE = "hooks"  # hooks the module `layer` names
HOOKS = True
LAYER_KEY = "layer"
VARIANT_KEYS = ("layer",)
REFERENCE = "pytorch-grad-cam LayerCAM"  # what benchmarks/bench_methods.py times it against
CHECK = {"compared": ("cam_layer_res",)}
FIGURE = {
    "title": "LayerCAM",
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "heat", "key": "map", "label": "LayerCAM (true label's logit, normalised)"},
    ],
}


def explain(model, x: torch.Tensor, target: torch.Tensor, *, image: str, device, layer) -> dict:
    """The artifact arrays of one image (x: 1 x 3 x H x W)."""
    acts, grads, _, module = activations_gradients(model, x, target, layer, "cnn.layercam.layer")
    cam = F.relu((F.relu(grads) * acts).sum(1))
    return artifacts(cam, None, x, layer, module)


def passes(cfg: dict, model=None) -> dict:
    return {"gradient": 1}


def reference(model, x, target, cfg: dict):
    from workflow_scripts.cnn.methods.gradcam import _grad_cam_package

    return _grad_cam_package("LayerCAM", model, x, target, cfg["layer"])
