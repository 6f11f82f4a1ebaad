"""Two architectures the new attribution methods are compared on, in float64 and eval mode: the
homework Classifier (random weights, width 1/8, non-trivial BatchNorm statistics) and a
torchvision ResNet-18 with 11 classes (in-place ReLUs reused within a block, module-path layers,
64 x 64 inputs). Shared by the per-method reference tests."""

from __future__ import annotations

import copy

import torch

from workflow_scripts.assets.models import Classifier


def _busy_batchnorm(model):
    with torch.no_grad():  # so conv and BN outputs differ
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.1, 0.1)
    return model


def classifier():
    torch.manual_seed(0)
    return _busy_batchnorm(Classifier(width=0.125).double().eval())


def resnet():
    from torchvision.models import resnet18

    torch.manual_seed(0)
    return _busy_batchnorm(resnet18(num_classes=11).double().eval())


def without_inplace(model):
    """A copy whose ReLUs are not in place (Captum's backward hooks refuse in-place ones)."""
    model = copy.deepcopy(model)
    for m in model.modules():
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False
    return model


# (name, model factory, image size, CAM layer)
ARCHITECTURES = [("classifier", classifier, 128, 36), ("resnet18", resnet, 64, "layer4")]


def images(size: int, n: int = 2):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, size, size, generator=g, dtype=torch.float64)
