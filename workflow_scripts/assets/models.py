"""The homework's food-11 `Classifier`, with its exact module indexing, and checkpoint I/O.

`model.cnn[i]` must mean the same module as in the homework for any width, because the
filter-explanation questions name modules by index (cnn[6], cnn[15], cnn[21], cnn[23]).
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import torch
from torch import nn

from workflow_scripts.core.architecture import STAGES
from workflow_scripts.core.architecture import scaled as _scaled
from workflow_scripts.core.errors import UserError
from workflow_scripts.core.homework import CLASS_NAMES  # noqa: F401  (re-exported)

N_CLASSES = 11
# STAGES: (in, out, blocks) per stage at width 1.0, each ending in MaxPool2d(2, 2, 0); defined
# torch-free in workflow_scripts/core/architecture.py, which the DAG-time checks read.


def _building_block(indim: int, outdim: int) -> list[nn.Module]:
    return [nn.Conv2d(indim, outdim, 3, 1, 1), nn.BatchNorm2d(outdim), nn.ReLU()]


class Classifier(nn.Module):
    """The HW9 CNN: 5 conv stages (13 conv blocks) then
    Linear(512*4*4, 1024)-ReLU-Dropout-Linear(1024, 11).

    `width` scales every channel count and the hidden linear size; 1.0 is the homework
    (14,162,827 parameters). Input: N x 3 x 128 x 128 in [0, 1]; output: 11 logits.
    """

    def __init__(self, width: float = 1.0):
        super().__init__()
        self.width = float(width)
        layers: list[nn.Module] = []
        for indim, outdim, blocks in STAGES:
            i, o = _scaled(indim, width), _scaled(outdim, width)
            layers += _building_block(i, o)
            for _ in range(blocks - 1):
                layers += _building_block(o, o)
            layers.append(nn.MaxPool2d(2, 2, 0))
        self.cnn = nn.Sequential(*layers)
        last = _scaled(STAGES[-1][1], width)
        hidden = _scaled(1024, width)
        self.fc = nn.Sequential(
            nn.Linear(last * 4 * 4, hidden),
            nn.ReLU(),
            nn.Dropout(p=0.3),
            nn.Linear(hidden, N_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.cnn(x)
        out = out.reshape(out.size(0), -1)
        return self.fc(out)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def width_from_state_dict(state: dict) -> float:
    """Infer the width multiplier from the first conv's output channels (128 at width 1)."""
    weight = state.get("cnn.0.weight")
    if weight is None:
        raise KeyError("cnn.0.weight")
    return weight.shape[0] / 128


def save_checkpoint(
    path,
    model: nn.Module,
    epoch: int = 0,
    optimizer: torch.optim.Optimizer | None = None,
    extra: dict | None = None,
) -> None:
    """Write the homework's format: {'model_state_dict', 'epoch', 'optimizer_state_dict'}
    (+ extra)."""
    from workflow_scripts.core.io import atomic_named_path

    payload = {
        "model_state_dict": model.state_dict(),
        "epoch": int(epoch),
        "optimizer_state_dict": optimizer.state_dict() if optimizer is not None else {},
    }
    if extra:
        payload.update(extra)
    # torch.save names the zip's root folder after the file: written under the final name (in a
    # temporary folder), identical weights give identical bytes
    try:
        with atomic_named_path(path) as tmp:
            torch.save(payload, tmp)
    except RuntimeError as exc:  # torch's writer reports a full disk as a RuntimeError
        raise write_error(path, exc) from None


def write_error(path, exc: RuntimeError) -> OSError:
    """torch.save's write failure as the OSError it is (core/step.run makes it one line): ENOSPC
    when the disk is (nearly) full, else EIO with torch's first line."""
    import errno
    import shutil

    try:
        free = shutil.disk_usage(Path(path).parent).free
    except OSError:
        free = 0
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if free < 64 << 20:
        return OSError(errno.ENOSPC, "No space left on device", str(path))
    return OSError(errno.EIO, f"writing the checkpoint failed ({first})", str(path))


def _load_payload(path: Path):
    if not path.is_file():
        raise UserError(
            f"{path}: checkpoint not found; "
            "put the homework's checkpoint.pth there or fix the config path"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UserError(
            f"{path}: checkpoint holds objects that safe (weights-only) loading refuses "
            f"({_refused(exc)}); it may run code when loaded: do not load it otherwise, re-save "
            "the weights as a plain state dict"
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UserError(
            f"{path}: not a readable torch checkpoint (truncated or corrupt: "
            f"{type(exc).__name__}); download it again"
        ) from exc


def _refused(exc: Exception) -> str:
    """What torch's weights-only unpickler refused (e.g. 'GLOBAL posix.system'), without its
    advice to retry unsafely."""
    found = re.search(r"GLOBAL [\w.]+", str(exc))
    if found:
        return found.group(0)
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    safe = [ln for ln in lines if "weights_only" not in ln and "Weights only" not in ln]
    return safe[0] if safe else type(exc).__name__


def load_checkpoint(
    path, width: float | None = None, device: torch.device | str = "cpu"
) -> Classifier:
    """Load a homework-format checkpoint safely (weights_only) with strict key checking.

    `width=None` infers the width from the weights. Any key mismatch is one error naming the
    file and the missing / unexpected keys.
    """
    path = Path(path)
    payload = _load_payload(path)
    if isinstance(payload, dict) and "model_state_dict" in payload:
        state = payload["model_state_dict"]
    elif isinstance(payload, dict) and all(isinstance(v, torch.Tensor) for v in payload.values()):
        state = payload  # a bare state dict
    else:
        raise UserError(
            f"{path}: not a homework checkpoint (no 'model_state_dict'); "
            "expected the HW9 checkpoint.pth"
        )
    if width is None:
        try:
            width = width_from_state_dict(state)
        except KeyError:
            raise UserError(
                f"{path}: checkpoint has no 'cnn.0.weight'; it is not a HW9 Classifier checkpoint"
            ) from None
    model = Classifier(width)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise UserError(
            f"{path}: checkpoint keys do not match Classifier(width={width:g}): "
            f"missing {_abbrev(missing)}, unexpected {_abbrev(unexpected)}"
        )
    wrong = [k for k in expected if tuple(state[k].shape) != tuple(expected[k].shape)]
    if wrong:
        k = wrong[0]
        raise UserError(
            f"{path}: checkpoint shapes do not match Classifier(width={width:g}): {k} is "
            f"{tuple(state[k].shape)}, expected {tuple(expected[k].shape)} "
            f"({len(wrong)} tensors differ)"
        )
    bad = first_non_finite(state)
    if bad:
        k, count = bad
        raise UserError(
            f"{path}: checkpoint tensor {k} holds {count:,} NaN/inf value(s) (the first of the "
            "tensors that do); the weights are broken (diverged training?): retrain or get the "
            "checkpoint again"
        )
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


def first_non_finite(state: dict) -> tuple[str, int] | None:
    """(key, count of NaN/inf values) of the first floating-point tensor of a state dict that is
    not all finite, in the state dict's order; None when all are."""
    for k, t in state.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            finite = torch.isfinite(t)
            if not bool(finite.all()):
                return k, int((~finite).sum())
    return None


def _abbrev(keys: list[str], n: int = 5) -> str:
    if not keys:
        return "[]"
    shown = ", ".join(keys[:n])
    return f"[{shown}{', ...' if len(keys) > n else ''}] ({len(keys)})"


def describe_model(model: Classifier) -> dict:
    """Architecture facts read from the module itself (used by the quiz: layer types by index)."""
    return {
        "width": model.width,
        "parameters": count_parameters(model),
        "cnn_modules": [type(m).__name__ for m in model.cnn],
        "fc_modules": [type(m).__name__ for m in model.fc],
    }
