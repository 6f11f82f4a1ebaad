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

The hook needs the model's own modules (PREPARE "hooks": unfolded, unwrapped, only its memory
format changed): the gradient fast path folds each BatchNorm into its conv (a conv index would
then hook the conv+BN output) and wraps the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from workflow_scripts.cnn.cam import activations_gradients, artifacts, upsample

KEY = "cnn.gradcam.layer"

NAME = "gradcam"
ORDER = 6
PREPARE = "hooks"  # hooks the module `layer` names
HOOKS = True
VARIANT_KEYS = ("layer",)
REFERENCE = "pytorch-grad-cam GradCAM"  # what benchmarks/bench_methods.py times it against
LAYER_KEY = "layer"
CHECK = {"compared": ("cam_layer_res",)}
FIGURE = {
    "title": "Grad-CAM",
    "rows": [
        {"show": "image", "label": "image"},
        {"show": "heat", "key": "map", "label": "Grad-CAM (true label's logit, normalised)"},
    ],
}


def gradcam(model, x: torch.Tensor, target: torch.Tensor, layer) -> dict:
    """Grad-CAM of each image of the batch x (N x 3 x H x W) for the logits `target` (N labels).

    Returns tensors: activations A (N x C x h x w), weights alpha (N x C), cam (N x h x w, after
    the ReLU), upsampled (N x H x W, cam resized to the input) and logits (N x 11).
    """
    acts, grads, logits, module = activations_gradients(model, x, target, layer, KEY)
    alpha = grads.mean(dim=(2, 3))
    cam = F.relu((alpha[:, :, None, None] * acts).sum(1))
    return {
        "activations": acts,
        "weights": alpha,
        "cam": cam,
        "upsampled": upsample(cam, x.shape[-2:]),
        "logits": logits,
        "module": module,
    }


def explain(model, x: torch.Tensor, target: torch.Tensor, *, image: str, device, layer) -> dict:
    """The artifact arrays of one image (x: 1 x 3 x H x W)."""
    out = gradcam(model, x, target, layer)
    return {
        **artifacts(out["cam"], out["weights"], x, layer, out["module"]),
        "target": int(target[0]),
    }


def passes(cfg: dict, model=None) -> dict:
    return {"gradient": 1}


def reference(model, x, target, cfg: dict):
    return _grad_cam_package("GradCAM", model, x, target, cfg["layer"])


def _grad_cam_package(cls: str, model, x, target, layer):
    """pytorch-grad-cam's `cls` on the same layer and targets (shared by the CAM family)."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from workflow_scripts.cnn.layers import module_at

    module = module_at(model, layer)
    with getattr(pytorch_grad_cam, cls)(model=model, target_layers=[module]) as cam:
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in target])
