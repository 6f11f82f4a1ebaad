"""Score-CAM (Wang et al. 2020): each channel of a layer weighted by how much the true label's
logit rises when the image is masked by that channel, no gradients.

Each channel A^k of the layer's output is upsampled to the image (bilinear, align_corners=True:
torch's UpsamplingBilinear2d), min-max scaled to [0, 1] (1e-8 guard), and multiplied into the
image; the target logits of the C masked images, softmaxed over the channels, are the weights, and
the CAM is ReLU(sum_k w_k A^k) at the layer's resolution, upsampled to the input like Grad-CAM.
pytorch-grad-cam's ScoreCAM computes the same (it keeps the logits in float32:
tests/test_scorecam.py compares to 1e-5). One forward pass per channel: `layer` decides the cost.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from workflow_scripts.cnn.cam import activations_gradients, artifacts
from workflow_scripts.cnn.fastpath import auto_batch
from workflow_scripts.cnn.layers import module_at

NAME = "scorecam"
ORDER = 14
PREPARE = "hooks"  # hooks the module `layer` names
HOOKS = True
LAYER_KEY = "layer"
VARIANT_KEYS = ("layer",)
REFERENCE = "pytorch-grad-cam ScoreCAM"  # what benchmarks/bench_methods.py times it against
CHECK = {"compared": ("cam_layer_res",), "tolerance": 1e-5}
FIGURE = {
    "title": "Score-CAM",
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "heat", "key": "map", "label": "Score-CAM (true label's logit, normalised)"},
    ],
}
KEY = "cnn.scorecam.layer"


def channel_masks(acts: torch.Tensor, size) -> torch.Tensor:
    """C x H x W masks in [0, 1] from one image's activations (C x h x w)."""
    up = F.interpolate(acts[None], size=tuple(size), mode="bilinear", align_corners=True)[0]
    flat = up.flatten(1)
    lo, hi = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
    return (up - lo) / (hi - lo + 1e-8)


def scorecam(model, x: torch.Tensor, target: torch.Tensor, layer, batch: int):
    """(cam 1 x h x w, weights 1 x C, module) for one image x (1 x 3 x H x W)."""
    acts, _, _, module = activations_gradients(model, x, target, layer, KEY)
    masks = channel_masks(acts[0], x.shape[-2:])
    t = int(target[0])
    with torch.no_grad():
        scores = torch.cat(
            [model(x * masks[i : i + batch, None])[:, t] for i in range(0, len(masks), batch)]
        )
    w = F.softmax(scores, dim=0)[None]
    return F.relu((w[:, :, None, None] * acts).sum(1)), w, module


def explain(
    model, x: torch.Tensor, target: torch.Tensor, *, image: str, device, layer, batch_size: int
) -> dict:
    """The artifact arrays of one image (x: 1 x 3 x H x W)."""
    batch = auto_batch(batch_size, torch.device(device))
    cam, w, module = scorecam(model, x, target, layer, batch)
    return artifacts(cam, w, x, layer, module)


def passes(cfg: dict, model=None) -> dict:
    """One forward per channel of the layer (and one with its gradient for the activations)."""
    channels = 512
    if model is not None and not isinstance(cfg["layer"], str):
        channels = _channels(module_at(model, cfg["layer"], KEY), model)
    return {"forward": channels, "gradient": 1}


def _channels(module, model) -> int:
    captured = []
    h = module.register_forward_hook(lambda m, i, out: captured.append(out.shape[1]))
    try:
        p = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros(1, 3, 128, 128, dtype=p.dtype, device=p.device))
    finally:
        h.remove()
    return captured[0]


def reference(model, x, target, cfg: dict):
    import contextlib
    import io

    from workflow_scripts.cnn.methods.gradcam import _grad_cam_package

    with contextlib.redirect_stderr(io.StringIO()):  # its progress bars
        return _grad_cam_package("ScoreCAM", model, x, target, cfg["layer"])
