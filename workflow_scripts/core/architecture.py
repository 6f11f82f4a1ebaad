"""The homework Classifier's layer table without torch, for checks while the DAG is built.

workflow_scripts/assets/models.py builds the torch module from the same STAGES and `scaled`, so
the channel counts here are the model's by construction (tests/test_failures.py compares them).
"""

from __future__ import annotations

# (in, out, blocks) per stage at width 1.0; every stage ends in MaxPool2d(2, 2, 0).
STAGES = [(3, 128, 3), (128, 128, 3), (128, 256, 3), (256, 512, 1), (512, 512, 1)]
# Modules of one building block: Conv2d, BatchNorm2d, ReLU.
BLOCK = ("Conv2d", "BatchNorm2d", "ReLU")


def scaled(channels: int, width: float) -> int:
    """A channel count at `width` (the 3 input channels never scale)."""
    return channels if channels == 3 else max(1, int(round(channels * width)))


def cnn_modules() -> list[str]:
    """Type names of model.cnn[0], model.cnn[1], ... (38 modules)."""
    names: list[str] = []
    for _, _, blocks in STAGES:
        names += list(BLOCK) * blocks + ["MaxPool2d"]
    return names


def cnn_channels(width: float) -> list[int]:
    """Output channels of model.cnn[i] for every index i at `width`."""
    channels: list[int] = []
    for _, out, blocks in STAGES:
        channels += [scaled(out, width)] * (len(BLOCK) * blocks + 1)
    return channels
