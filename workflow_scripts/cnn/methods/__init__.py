"""CNN explanation methods: one module per method behind one interface, found by one registry.

A method module (any module of this package that defines NAME) declares, as module-level
literals, what the rest of the workflow needs to know about it:

    NAME          the method's name: its rule, its config block `cnn.<NAME>`, its artifact folder
    ORDER         its place in figures and the report (the homework's order)
    PREPARE       the model it needs: "inference" (forward only: scripted and fused),
                  "gradients" (input gradients: BatchNorm folded), "hooks" (the same modules,
                  frozen, in the fast memory format: to hook them by path) or "raw" (the model
                  as loaded)
    VARIANT_KEYS  the config keys that name the variant it computes
    FIGURE        its figure layout (read by workflow_scripts/figures/cnn.py)
    HOOKS         (optional, False) True when it hooks a module of the model: a model without
                  hookable modules (TorchScript) leaves it out
    LAYER_KEY     (optional, None) the key of its config block naming the one layer it hooks;
                  "auto" there is resolved when the DAG is built, as Grad-CAM's (cnn/layers.py),
                  and the homework Classifier's index range is checked before any job
    CHECK         (optional) how benchmarks/gpu_check.py compares its CPU and device artifacts:
                  {"compared": artifact keys (or prefixes), "tolerance": largest relative
                  difference, "float32_only": bool, "equality"/"dry": config overrides}

and two functions: `passes(cfg, model=None) -> {pass kind: count}`, its unavoidable passes per
image for the compute bound (benchmarks/bound.py: "forward", "gradient", or "stack<layer>", a
forward+backward of model.cnn up to that layer), and `explain(model, x, target, *, image, device,
**cfg) -> dict` of artifact arrays for one image (x: 1 x 3 x H x W, target: the label as a
1-element tensor), with its config keys keyword-only: a renamed key fails loudly instead of binding
a wrong value. Optionally `prepare(model) -> model`: what it does once per job to its PREPARE'd
model (LRP canonises; DeepLIFT keeps its baseline's activations there), so that explain need
not per image: a prepared model's weights never change (a randomised copy is prepared anew).
The literals are read without importing the module (`ast`), so building the DAG never imports
torch; `load` imports it.
Adding a method is adding a module here, its config block, its schema entry and its test: rules,
figures, report and the parametrised tests read this registry.
"""

from __future__ import annotations

import ast
import functools
import importlib
import zlib
from pathlib import Path

import numpy as np

from workflow_scripts.core.arrays import minmax

METADATA = ("NAME", "ORDER", "PREPARE", "VARIANT_KEYS", "FIGURE")
# HOOKS: hooks a module of the model (not possible in TorchScript); LAYER_KEY: the config key of
# the layer it hooks; CHECK: its CPU/device comparison (benchmarks/gpu_check.py)
CHECK_DEFAULTS = {
    "compared": ("map_raw",),
    "tolerance": 1e-6,
    "float32_only": False,
    "equality": {},
    "dry": {},
}
# INNER_KEY: the config key naming another method it wraps, whose block is resolved into its own
# `inner_settings` when the DAG is built (noise_tunnel)
# REFERENCE: the library implementation benchmarks/bench_methods.py times it against (the module's
# `reference(model, x, target, cfg)` runs it)
OPTIONAL = {"HOOKS": False, "LAYER_KEY": None, "INNER_KEY": None, "CHECK": {}, "REFERENCE": None}
PREPARATIONS = ("inference", "gradients", "hooks", "raw")


def _declared(path: Path) -> dict | None:
    """The module-level literal assignments of METADATA in a method module (None: not a method)."""
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            name = node.targets[0].id
            if name in METADATA or name in OPTIONAL:
                found[name] = ast.literal_eval(node.value)
    if "NAME" not in found:
        return None
    missing = [k for k in METADATA if k not in found]
    if missing or found["PREPARE"] not in PREPARATIONS or found["NAME"] != path.stem:
        raise ValueError(
            f"{path}: a method module declares {', '.join(METADATA)} as literals, NAME equal to "
            f"the file name and PREPARE one of {PREPARATIONS} (missing: {missing})"
        )
    found["VARIANT_KEYS"] = tuple(found["VARIANT_KEYS"])
    found = {**OPTIONAL, **found}
    found["CHECK"] = {**CHECK_DEFAULTS, **found["CHECK"]}
    found["CHECK"]["compared"] = tuple(found["CHECK"]["compared"])
    return found


@functools.cache
def registry() -> dict[str, dict]:
    """{name: metadata} of every method module, in ORDER."""
    found = [m for p in sorted(Path(__file__).parent.glob("*.py")) if (m := _declared(p))]
    return {m["NAME"]: m for m in sorted(found, key=lambda m: (m["ORDER"], m["NAME"]))}


def names() -> list[str]:
    return list(registry())


def load(name: str):
    """The imported module of a registered method."""
    if name not in registry():
        raise KeyError(f"unknown CNN method {name!r}; registered: {', '.join(registry())}")
    return importlib.import_module(f"{__name__}.{name}")


def layer_methods() -> dict[str, str]:
    """{method: its config key naming the one layer it hooks} (Grad-CAM and the CAM family)."""
    return {n: m["LAYER_KEY"] for n, m in registry().items() if m["LAYER_KEY"]}


def inner_methods() -> dict[str, str]:
    """{method: its config key naming the method it wraps}."""
    return {n: m["INNER_KEY"] for n, m in registry().items() if m["INNER_KEY"]}


def resolve_inner(cnn: dict) -> None:
    """Set, in place, each wrapper's `inner_settings` (INNER_KEY) to the wrapped method's block
    with the wrapper's overrides over it, so a change in the inner block reruns the wrapper."""
    for method, key in inner_methods().items():
        if method in cnn:
            block = cnn[method]
            # the inner batch size is a speed setting, never a rerun trigger: left out (the
            # wrapper runs its inner method at the device's auto batch size)
            inner = {k: v for k, v in cnn[block[key]].items() if k != "batch_size"}
            block["inner_settings"] = {**inner, **block.get("inner_settings", {})}


def variant_name(name: str, params: dict) -> str:
    """A name for what the configured variant computes, e.g. 'feature_map=lime,output=logits'."""
    return ",".join(f"{k}={params[k]}" for k in registry()[name]["VARIANT_KEYS"])


def image_seed(seed: int, name: str) -> int:
    """A per-image seed: an image's random draws never depend on which images came before it."""
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**63 - 1)


def normalize(a: np.ndarray) -> np.ndarray:
    """The homework's normalize: (a - min) / (max - min) over the whole array (one image), computed
    in float64 and stored as float32 (what artifacts hold)."""
    return minmax(np.asarray(a, dtype=np.float64)).astype(np.float32)
