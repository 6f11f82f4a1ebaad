"""Grad-CAM (Selvaraju et al. 2017) on one module of the model, for the true label's logit.

With A^k the k-th channel of model.cnn[layer]'s output (h x w) and y the target logit:
alpha_k = mean over the h x w positions of dy/dA^k, and the CAM is ReLU(sum_k alpha_k A^k) at the
layer's resolution (`cam_layer_res`). It is upsampled to the input's H x W bilinearly with
half-pixel centres (torch's align_corners=False, which is what cv2.resize's INTER_LINEAR that the
grad-cam package uses computes when enlarging) and saved as `map_raw` and `attribution`; the run
layer adds `map`, its min-max normalisation, which is what pytorch-grad-cam's GradCAM returns
(up to its 1e-7 guard and float32 output; tests/test_gradcam.py compares both quantities).

Default layer: cnn[36], the ReLU of the last conv block (cnn[34] Conv2d, cnn[35] BatchNorm2d,
cnn[36] ReLU, then the last MaxPool cnn[37]): the rectified output of the last convolution, the
paper's choice (VGG-16's relu5_3); 8 x 8 for a 128 x 128 input. cnn[25] is the ReLU of the block
of cnn[23] (the deepest conv of the homework's filter questions, stage 3, 32 x 32); cnn[37] is the
final MaxPool (what pytorch-grad-cam's README suggests for VGG, `features[-1]`, 4 x 4).
Any index of model.cnn works: every module there outputs N x C x h x w. Any other model names
its layer by module path (`layer4`); "auto" (resolved when the DAG is built, cnn/layers.py) is
cnn[36] on the Classifier and the last conv block elsewhere (ResNet: layer4).

The hook needs the model as loaded (PREPARE "raw"): the gradient fast path folds each
BatchNorm into its conv (a conv index would then hook the conv+BN output) and wraps the model.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from workflow_scripts.cnn.layers import label, module_at
from workflow_scripts.core.errors import UserError

NAME = "gradcam"
ORDER = 6
PREPARE = "raw"  # hooks the module `layer` names: the model as loaded
HOOKS = True
VARIANT_KEYS = ("layer",)
FIGURE = {
    "title": "Grad-CAM",
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "heat", "key": "map", "label": "Grad-CAM (true label's logit, normalised)"},
    ],
}


def _module(model, layer):
    """The module `layer` names (an index into model.cnn or a module path, cnn/layers.py), or a
    UserError naming the config key."""
    return module_at(model, layer, "cnn.gradcam.layer")


def gradcam(model, x: torch.Tensor, target: torch.Tensor, layer) -> dict:
    """Grad-CAM of each image of the batch x (N x 3 x H x W) for the logits `target` (N labels).

    Returns tensors: activations A (N x C x h x w), weights alpha (N x C), cam (N x h x w, after
    the ReLU), upsampled (N x H x W, cam resized to the input) and logits (N x 11).
    """
    module = _module(model, layer)
    captured = []
    handle = module.register_forward_hook(lambda m, inputs, output: captured.append(output))
    try:
        with torch.enable_grad():
            # the input requires grad so the activations do even when the parameters do not
            logits = model(x.detach().clone().requires_grad_(True))
    finally:
        handle.remove()
    if len(captured) != 1 or not torch.is_tensor(captured[0]) or captured[0].dim() != 4:
        got = (
            "no output"
            if not captured
            else f"{len(captured)} outputs"
            if len(captured) > 1
            else f"output of shape {tuple(getattr(captured[0], 'shape', ()))}"
        )
        raise UserError(
            f"config key cnn.gradcam.layer is {layer!r}: "
            f"{f'model.cnn[{layer}]' if isinstance(layer, int) else label(layer)} "
            f"({type(module).__name__}) gave {got}; Grad-CAM needs one N x C x h x w output "
            "per forward pass"
        )
    acts = captured[0]
    # one image's gradient never depends on the batch (eval mode): summing target logits is
    # per image
    score = logits.gather(1, target.reshape(-1, 1)).sum()
    (grads,) = torch.autograd.grad(score, acts)
    alpha = grads.mean(dim=(2, 3))
    cam = F.relu((alpha[:, :, None, None] * acts).sum(1))
    upsampled = F.interpolate(
        cam[:, None], size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False
    )[:, 0]
    return {
        "activations": acts.detach(),
        "weights": alpha.detach(),
        "cam": cam.detach(),
        "upsampled": upsampled.detach(),
        "logits": logits.detach(),
    }


def explain(model, x: torch.Tensor, target: torch.Tensor, *, image: str, device, layer) -> dict:
    """The artifact arrays of one image (x: 1 x 3 x H x W)."""
    out = gradcam(model, x, target, layer)
    up = out["upsampled"][0].cpu().numpy()
    return {
        "attribution": up,
        "map_raw": up.copy(),
        "cam_layer_res": out["cam"][0].cpu().numpy(),
        "weights": out["weights"][0].cpu().numpy(),
        "layer": layer if isinstance(layer, int) else np.asarray(str(layer)),
        "target": int(target[0]),
        "module": type(_module(model, layer)).__name__,
    }
