"""Grad-CAM++ (Chattopadhyay et al. 2018) on one layer, for the true label's logit.

With A the layer's output, g = dy/dA (y: the target logit) and S_k = sum over positions of A^k,
the per-position weights of channel k are a = g^2 / (2 g^2 + S_k g^3 + 1e-6) (zero where g = 0),
alpha_k = sum over positions of a * ReLU(g), and the CAM is ReLU(sum_k alpha_k A^k): the
closed form of the paper's eq. 19 with the exponential's derivatives replaced by the logit's,
which is what pytorch-grad-cam's GradCAMPlusPlus computes (tests/test_cam_family.py compares).
Upsampled to the input like Grad-CAM. Layer: as Grad-CAM's (`auto`: the last conv block).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from workflow_scripts.cnn.cam import activations_gradients, artifacts

NAME = "gradcam_pp"
ORDER = 7
PREPARE = "hooks"  # hooks the module `layer` names
HOOKS = True
LAYER_KEY = "layer"
VARIANT_KEYS = ("layer",)
REFERENCE = "pytorch-grad-cam GradCAMPlusPlus"  # what benchmarks/bench_methods.py times it against
CHECK = {"compared": ("cam_layer_res",)}
FIGURE = {
    "title": "Grad-CAM++",
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "heat", "key": "map", "label": "Grad-CAM++ (true label's logit, normalised)"},
    ],
}
EPS = 1e-6


def weights(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """alpha (N x C) from A and dy/dA (N x C x h x w)."""
    g2 = grads**2
    s = acts.sum(dim=(2, 3), keepdim=True)
    a = g2 / (2 * g2 + s * g2 * grads + EPS)
    a = torch.where(grads != 0, a, torch.zeros_like(a))
    return (F.relu(grads) * a).sum(dim=(2, 3))


def explain(model, x: torch.Tensor, target: torch.Tensor, *, image: str, device, layer) -> dict:
    """The artifact arrays of one image (x: 1 x 3 x H x W)."""
    acts, grads, _, module = activations_gradients(model, x, target, layer, "cnn.gradcam_pp.layer")
    alpha = weights(acts, grads)
    cam = F.relu((alpha[:, :, None, None] * acts).sum(1))
    return artifacts(cam, alpha, x, layer, module)


def passes(cfg: dict, model=None) -> dict:
    return {"gradient": 1}


def reference(model, x, target, cfg: dict):
    from workflow_scripts.cnn.methods.gradcam import _grad_cam_package

    return _grad_cam_package("GradCAMPlusPlus", model, x, target, cfg["layer"])
