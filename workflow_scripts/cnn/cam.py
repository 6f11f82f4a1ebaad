"""What the CAM family shares: one layer's activations and the target logit's gradients at it,
and the upsampling of a layer-resolution map to the input (cnn/methods/gradcam.py explains why
bilinear with half-pixel centres). Each CAM method combines activations and gradients its way."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from workflow_scripts.cnn.layers import label, module_at
from workflow_scripts.core.errors import UserError


def activations_gradients(model, x: torch.Tensor, target: torch.Tensor, layer, key: str):
    """(A, dy/dA, logits, module): the output A (N x C x h x w) of the module `layer` names (config
    `key`), the gradient of each image's target logit y with respect to it, and the logits."""
    module = module_at(model, layer, key)
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
            f"config key {key} is {layer!r}: "
            f"{f'model.cnn[{layer}]' if isinstance(layer, int) else label(layer)} "
            f"({type(module).__name__}) gave {got}; a CAM needs one N x C x h x w output "
            "per forward pass"
        )
    acts = captured[0]
    # one image's gradient never depends on the batch (eval mode): summing target logits is
    # per image
    score = logits.gather(1, target.reshape(-1, 1)).sum()
    (grads,) = torch.autograd.grad(score, acts)
    return acts.detach(), grads.detach(), logits.detach(), module


def upsample(cam: torch.Tensor, size) -> torch.Tensor:
    """N x h x w -> N x H x W, bilinear, half-pixel centres (cv2.resize INTER_LINEAR's)."""
    return F.interpolate(cam[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def artifacts(cam: torch.Tensor, weights, x: torch.Tensor, layer, module) -> dict:
    """The artifact arrays of one image from its layer-resolution CAM (1 x h x w)."""
    import numpy as np

    up = upsample(cam, x.shape[-2:])[0].cpu().numpy()
    out = {
        "attribution": up,
        "map_raw": up.copy(),
        "cam_layer_res": cam[0].cpu().numpy(),
        "layer": layer if isinstance(layer, int) else np.asarray(str(layer)),
        "module": type(module).__name__,
    }
    if weights is not None:
        out["weights"] = weights[0].cpu().numpy()
    return out
