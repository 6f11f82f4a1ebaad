"""A folder set's model: a torchvision architecture + state dict, a TorchScript file, or
`package.module:factory` (+ state dict), with the set's mean/std as its first step.

Every check is one line naming the file or config key: an unknown architecture, weights that do
not fit (the first mismatching key and its shapes), a class count that disagrees, a file that is
not TorchScript, a factory that raises. `describe` writes the model descriptor (assets/
model_spec.json) the methods load the model from, holding the weights' sha256, so a replaced
weights file is refused until the assets are rebuilt.
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
import sys
from pathlib import Path

import torch
from torch import nn

from workflow_scripts.core.errors import UserError

KEY = "config key folder.model"


class Preprocessed(nn.Module):
    """net((x - mean) / std): every method and figure works on the [0, 1] pixels; the user's net
    sees what it was trained on. Layer paths name modules of `net` (cnn/layers.inner)."""

    XAI_WRAPPER = True

    def __init__(self, net: nn.Module, mean, std):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1))

    def forward(self, x):
        return self.net((x - self.mean) / self.std)


def _factory(spec: str, kwargs: dict):
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UserError(f"{KEY}.factory is {spec!r}; write package.module:function")
    for folder in (os.getcwd(), str(Path(__file__).resolve().parents[2])):
        if folder not in sys.path:
            sys.path.append(folder)
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UserError(
            f"{KEY}.factory: cannot import {spec} ({type(exc).__name__}: {exc}); put the module "
            "on PYTHONPATH or in the working directory"
        ) from None
    try:
        net = fn(**kwargs)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UserError(
            f"{KEY}.factory: {spec}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}) raised "
            f"{type(exc).__name__}: {first}"
        ) from None
    if not isinstance(net, nn.Module):
        raise UserError(f"{KEY}.factory: {spec} returned {type(net).__name__}, not an nn.Module")
    return net


def _architecture(arch: str, num_classes: int):
    import torchvision

    known = torchvision.models.list_models(module=torchvision.models)
    if arch not in known:
        near = difflib.get_close_matches(arch, known, n=3)
        raise UserError(
            f"{KEY}.arch: {arch!r} is not a torchvision classification architecture"
            + (f"; did you mean {', '.join(near)}?" if near else "")
            + " (torchvision.models.list_models() lists them)"
        )
    return torchvision.models.get_model(arch, weights=None, num_classes=num_classes)


def _state_dict(path: Path) -> dict:
    from workflow_scripts.assets.models import _load_payload

    payload = _load_payload(path)
    for key in ("model_state_dict", "state_dict"):
        if isinstance(payload, dict) and isinstance(payload.get(key), dict):
            payload = payload[key]
    if not isinstance(payload, dict) or not all(torch.is_tensor(v) for v in payload.values()):
        raise UserError(f"{path}: not a state dict (a dict of tensors); save model.state_dict()")
    return {k.removeprefix("module."): v for k, v in payload.items()}


def _fit(net: nn.Module, state: dict, path: Path, what: str) -> None:
    expected = net.state_dict()
    for k, t in expected.items():
        if k not in state:
            raise UserError(f"{path}: weights lack {k} {tuple(t.shape)} that {what} has")
        if tuple(state[k].shape) != tuple(t.shape):
            raise UserError(
                f"{path}: weights do not fit {what}: {k} is {tuple(state[k].shape)} in the file, "
                f"{tuple(t.shape)} in the model"
            )
    extra = sorted(set(state) - set(expected))
    if extra:
        raise UserError(f"{path}: weights hold {extra[0]} that {what} does not have")
    net.load_state_dict(state, strict=True)


def build(m: dict, num_classes: int) -> nn.Module:
    """The user's network (no preprocessing), weights loaded, eval mode, on the CPU."""
    if m["torchscript"]:
        path = Path(m["torchscript"])
        if not path.is_file():
            raise UserError(f"{KEY}.torchscript: {path} does not exist")
        try:
            scripted = torch.jit.load(str(path), map_location="cpu").eval()
        except Exception as exc:
            raise UserError(
                f"{path}: not a TorchScript file ({type(exc).__name__}); save it with "
                "torch.jit.save(torch.jit.script(model), path), or give a state dict as "
                "folder.model.weights"
            ) from None
        # only input gradients are ever needed (no sanity cascade on TorchScript): frozen here,
        # a copy's parameters stay leaves (torch's deepcopy of a ScriptModule makes them non-leaf
        # while they require grad)
        for p in scripted.parameters():
            p.requires_grad_(False)
        return scripted
    if m["factory"]:
        net, what = _factory(m["factory"], dict(m["kwargs"])), m["factory"]
    elif m["arch"]:
        net, what = _architecture(m["arch"], num_classes), f"{m['arch']} ({num_classes} classes)"
    else:
        raise UserError(f"{KEY}: set one of arch, factory or torchscript")
    if m["weights"]:
        path = Path(m["weights"])
        if not path.is_file():
            raise UserError(f"{KEY}.weights: {path} does not exist")
        _fit(net, _state_dict(path), path, what)
    return net.eval()


def wrap(net: nn.Module, prep: dict) -> nn.Module:
    """The model every method gets: `net` itself when mean 0 / std 1 (the homework Classifier
    keeps its model.cnn), else Preprocessed."""
    if all(v == 0 for v in prep["mean"]) and all(v == 1 for v in prep["std"]):
        return net
    return Preprocessed(net, prep["mean"], prep["std"])


def check_outputs(model: nn.Module, spec: dict, classes: list[str]) -> int:
    """Run one zero image through the model: its logits must number the classes."""
    size = spec["preprocess"]["crop"] or spec["preprocess"]["resize"]
    hw = tuple(size) if isinstance(size, list) else (size, size)
    with torch.no_grad():
        try:
            out = model(torch.zeros(1, 3, *hw))
        except Exception as exc:
            raise UserError(
                f"{KEY}: a 3 x {hw[0]} x {hw[1]} image fails in the model ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}); check folder.preprocess"
            ) from None
    if not torch.is_tensor(out) or out.dim() != 2 or out.shape[1] != len(classes):
        shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        raise UserError(
            f"{KEY}: the model gives {shape} logits for one image but the images have "
            f"{len(classes)} classes; the class count disagrees (fix folder.images or the model)"
        )
    return int(out.shape[1])


def file_sha256(path) -> str:
    from workflow_scripts.core.io import sha256_file

    return sha256_file(path)


def describe(spec: dict, classes: list[str], out_json) -> dict:
    """Build, check and describe the model: the descriptor the methods load it from."""
    from workflow_scripts.assets.models import count_parameters
    from workflow_scripts.core.io import write_json

    net = build(spec["model"], len(classes))
    model = wrap(net, spec["preprocess"])
    check_outputs(model, spec, classes)
    files = {k: spec["model"][k] for k in ("weights", "torchscript") if spec["model"][k]}
    record = {
        "model": spec["model"],
        "preprocess": spec["preprocess"],
        "classes": classes,
        "files_sha256": {k: file_sha256(v) for k, v in files.items()},
        "architecture": type(net).__name__,
        "parameters": count_parameters(net),
        "torch": torch.__version__,
    }
    write_json(out_json, record)
    return record


def load_model(descriptor, device="cpu") -> nn.Module:
    """The model a descriptor describes, its files checked against the recorded hashes."""
    record = json.loads(Path(descriptor).read_text(encoding="utf-8"))
    for key, sha in record["files_sha256"].items():
        path = record["model"][key]
        if not Path(path).is_file() or file_sha256(path) != sha:
            raise UserError(
                f"{path}: changed or gone since the assets were built ({descriptor}); rerun the "
                "pipeline (./xai run) to rebuild them"
            )
    net = build(record["model"], len(record["classes"]))
    return wrap(net, record["preprocess"]).to(device).eval()
