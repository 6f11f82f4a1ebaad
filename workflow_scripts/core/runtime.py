"""Device choice, seeding and thread settings: the only place that decides where tensors live."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from workflow_scripts.core.errors import UserError


def pick_device(preference: str = "auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU; 'cpu' always CPU; 'cuda' requires a GPU."""
    if preference == "cpu":
        return torch.device("cpu")
    if preference in ("auto", "cuda"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if preference == "cuda":
            raise UserError(
                "config device: 'cuda' was requested but torch sees no GPU; set device: auto or cpu"
            )
        return torch.device("cpu")
    raise UserError(f"config device: unknown value {preference!r}; use auto, cpu or cuda")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so that same config + seed -> same numbers."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def set_threads(threads: int) -> None:
    """Use `threads` intra-op threads (0: the job's core count from Snakemake, else torch's
    default)."""
    if threads and threads > 0:
        torch.set_num_threads(threads)
    elif os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def make_deterministic(device: torch.device) -> None:
    """Deterministic kernels on GPU (CPU kernels are deterministic already)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
