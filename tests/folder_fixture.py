"""A folder set built by a test: a few coloured squares on noise in an ImageFolder tree (class
per folder), their masks, and a random-initialised torchvision ResNet-18 saved as a state dict
(and as TorchScript). Small images and sample counts keep a whole DAG run to about a minute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

CLASSES = ["cat", "dog", "fox"]
PER_CLASS = 3
# a run's settings: small samples, 2 quality jobs, the sanity cascade on 2 images
SMALL = {
    "cnn": {
        "lime": {"num_samples": 40},
        "smoothgrad": {"samples": 4},
        "filters": {"iterations": 2},
        "integrated_gradients": {"steps": 4},
        "occlusion": {"window": 16, "stride": 16},
        "rise": {"masks": 20},
        "kernel_shap": {"samples": 30},
        "gradient_shap": {"samples": 4},
        "noise_tunnel": {"samples": 2},
    },
    "quality": {
        "images": 6,
        "images_per_class": 2,
        "images_per_job": 3,
        "methods": {
            "lime": {"num_samples": 20},
            "smoothgrad": {"samples": 2},
            "occlusion": {"window": 16, "stride": 16},
            "rise": {"masks": 10},
            "kernel_shap": {"samples": 20},
        },
        "faithfulness": {"steps": 4},
        "sanity_images": 2,
        "sanity_layers": "conv_linear",
        "sanity_methods": {
            "lime": {"num_samples": 10},
            "smoothgrad": {"samples": 2},
            "occlusion": {"window": 16, "stride": 16},
            "rise": {"masks": 10},
            "kernel_shap": {"samples": 10},
            "gradient_shap": {"samples": 2},
        },
        "bootstrap": {"n": 50},
    },
}


def images(root: Path, masks: Path | None = None, size=(40, 48), seed: int = 0) -> list[Path]:
    """PER_CLASS images per class under root/<class>/, a coloured square on noise; masks (the
    square) under `masks` with the images' stems."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(PER_CLASS):
            h, w = size
            arr = (rng.random((h, w, 3)) * 255).astype(np.uint8)
            m = np.zeros((h, w), np.uint8)
            m[h // 4 : 3 * h // 4, w // 3 : 2 * w // 3] = 255
            arr[m > 0] = np.eye(3, dtype=np.uint8)[c] * 255
            path = root / name / f"{name}{k}.png"
            Image.fromarray(arr).save(path)
            out.append(path)
            if masks is not None:
                masks.mkdir(parents=True, exist_ok=True)
                Image.fromarray(m).save(masks / f"{name}{k}.png")
    return out


def resnet18(path: Path, num_classes: int = len(CLASSES), seed: int = 0):
    """A random-initialised ResNet-18's state dict at `path`; returns the model."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    net = torchvision.models.resnet18(num_classes=num_classes).eval()
    torch.save(net.state_dict(), path)
    return net


def torchscript(net, path: Path) -> None:
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(net), str(path))


def config(path: Path, results: Path, model: dict, imgs: dict, **extra) -> Path:
    """A folder-set config file (the run's small settings, source folder)."""
    body = {
        "asset_set": "mine",
        "source": "folder",
        "results": str(results),
        "folder": {"model": model, "images": imgs, "preprocess": {"resize": 32, "crop": 32}},
        **SMALL,
    }
    for key, value in extra.items():
        body[key] = {**body.get(key, {}), **value} if isinstance(value, dict) else value
    path.write_text(yaml.safe_dump(body))
    return path
