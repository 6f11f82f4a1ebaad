"""Your own model and images (config folder.*): a torchvision architecture, a factory or a
TorchScript file, and an ImageFolder tree or a CSV, with optional masks (rules/sources/
folder.smk; the model in assets/folder_model.py, the images in assets/folder_images.py).

The images are listed while the DAG is built (their stems name the jobs); their content hashes
are the asset rule's params, so an edited image or weights file reruns what depends on it.
"""

from __future__ import annotations

import functools
import json

from workflow_scripts.core import paths as P

NAME = "folder"
HOMEWORK = False


def _key(config) -> str:
    return json.dumps(config["folder"]["images"], sort_keys=True)


@functools.cache
def _listing(images_json: str) -> tuple:
    from workflow_scripts.assets.folder_images import listing

    return listing(json.loads(images_json))


def rows(config) -> list[dict]:
    return _listing(_key(config))[0]


def classes(config) -> list[str]:
    return _listing(_key(config))[1]


def model_file(root) -> str:
    return P.model_spec(root)


def observed_input(root) -> dict:
    return {"manifest": P.manifest(root), "spec": P.model_spec(root)}


def observed_candidates(config) -> list[str]:
    from workflow_scripts.assets.folder_images import observed_rows

    per = config["folder"]["images"]["observed_per_class"]
    return [r["name"] for r in observed_rows(rows(config), per)]


def layers(config) -> tuple:
    """ "auto" resolved on the model itself (built without its weights: only its modules count)."""
    layer = config["cnn"]["gradcam"]["layer"]
    pairs = config["cnn"]["filters"]["pairs"]
    if (layer != "auto" and pairs != "auto") or not limits(config)["hooks"]:
        return layer, pairs
    from workflow_scripts.assets.folder_model import build
    from workflow_scripts.cnn.layers import auto_filter_layers, auto_gradcam

    net = build({**config["folder"]["model"], "weights": ""}, len(classes(config)))
    if layer == "auto":
        layer = auto_gradcam(net)
    if pairs == "auto":
        pairs = [[p, 0] for p in auto_filter_layers(net)]
    return layer, pairs


def quality_rows(config) -> list[dict]:
    """The stage's images: the first quality.images_per_class of each class (class order, then
    listing order), then the first quality.images of those."""
    from workflow_scripts.assets.folder_images import observed_rows

    q = config["quality"]
    return observed_rows(rows(config), q["images_per_class"])[: q["images"]]


def limits(config) -> dict:
    """A TorchScript model has no hookable modules and no layers to re-initialise."""
    if config["folder"]["model"]["torchscript"]:
        why = (
            "a TorchScript model cannot be hooked or re-initialised (give the architecture or a "
            "factory with the state dict to get them)"
        )
        return {"hooks": False, "sanity": False, "why": why}
    return {"hooks": True, "sanity": True, "why": ""}


def quality_count(config, observed) -> int:
    return len(quality_rows(config))


def quality_input(root, observed) -> dict:
    return {"manifest": P.manifest(root), "spec": P.model_spec(root)}


def has_masks(config) -> bool:
    chosen = quality_rows(config)
    return bool(chosen) and all(r["mask"] for r in chosen)


def fingerprint(config) -> dict:
    """What the asset rule's outputs depend on: the config block and every file's content."""
    from pathlib import Path

    from workflow_scripts.assets.folder_images import _file_sha256, fingerprint
    from workflow_scripts.core.errors import UserError

    m = config["folder"]["model"]
    for k in ("weights", "torchscript"):
        if m[k] and not Path(m[k]).is_file():
            raise UserError(f"config key folder.model.{k}: {m[k]} does not exist; fix the path")
    files = {k: _file_sha256(m[k]) for k in ("weights", "torchscript") if m[k]}
    return {"images": fingerprint(rows(config)), "model_files": files}


# ---------------------------------------------------------------- jobs


def _spec(path) -> dict:
    return json.loads(open(path, encoding="utf-8").read())


def observed_image(smk) -> None:
    from workflow_scripts.assets.folder_images import load_row, read_manifest
    from workflow_scripts.core.io import write_npz

    spec = _spec(smk.input.spec)
    row = next(r for r in read_manifest(smk.input.manifest) if r["name"] == smk.wildcards.image)
    write_npz(smk.output.npz, load_row(row, spec["preprocess"], spec["classes"]))


def quality_images(smk, positions) -> tuple:
    """The stage's images at `positions`, read from their files (a job holds only its own)."""
    import numpy as np
    import torch

    from workflow_scripts.assets.folder_images import load_row, observed_rows, read_manifest

    spec = _spec(smk.input.spec)
    q = smk.params.quality
    chosen = observed_rows(read_manifest(smk.input.manifest), q["images_per_class"])
    loaded = [load_row(chosen[p], spec["preprocess"], spec["classes"]) for p in positions]
    images = torch.from_numpy(np.stack([a["image"] for a in loaded]))
    masks = None
    if all("mask" in a for a in loaded):
        masks = np.stack([a["mask"] for a in loaded]).astype(bool)
    labels = np.asarray([int(a["label"]) for a in loaded], dtype=np.int64)
    return images, masks, labels, [str(a["name"]) for a in loaded]


def load_model(path, device="cpu"):
    from workflow_scripts.assets.folder_model import load_model as load

    return load(path, device)


def model_summary(smk) -> None:
    _summary(smk.input.checkpoint, smk.output.json, dict(smk.params.layers))


def _summary(spec_json, out_json, layers: dict) -> dict:
    """A folder set's model, loaded as every method will: its descriptor's facts and the layers
    Grad-CAM and the filters hook (auto resolved), with each module's type."""
    import logging

    from workflow_scripts.assets.folder_model import load_model
    from workflow_scripts.cnn.layers import label, module_at
    from workflow_scripts.core.io import read_json, write_json

    spec = read_json(spec_json)
    model = load_model(spec_json)
    gradcam = layers.get("gradcam")
    summary = {
        "architecture": spec["architecture"],
        "parameters": spec["parameters"],
        "classes": spec["classes"],
        "preprocess": spec["preprocess"],
        "model": spec["model"],
        "files_sha256": spec["files_sha256"],
        "torch": spec["torch"],
    }
    if layers:  # methods that hook a layer run on this model
        summary["gradcam_layer"] = label(gradcam)
        summary["gradcam_module"] = type(module_at(model, gradcam)).__name__
        summary["filter_layers"] = [label(layer) for layer, _ in layers["filters"]]
    write_json(out_json, summary)
    logging.getLogger("xai").info(
        "model: %s, %d parameters, %d classes; Grad-CAM on %s",
        spec["architecture"],
        spec["parameters"],
        len(spec["classes"]),
        summary.get("gradcam_layer", "(not run)"),
    )
    return summary
