"""Asset sources: where a set's model and images come from, one module per source behind one
interface, found by one registry (like the CNN methods'). Rules, checks and steps ask the
configured source; nothing else branches on its name.

A source module declares NAME (its config value `source: NAME`) and HOMEWORK (True: the model is
the homework Classifier, so the quiz, the BERT part that feeds it and the homework's layer
defaults apply), and defines, torch-free at import:

    model_file(root)                 the file every method loads the model from
    observed_input(root)             the observed_image rule's input
    observed_candidates(config)      stems of the images that can be observed, in order
    layers(config)                   (gradcam layer, filter pairs) with "auto" resolved
    limits(config)                   {hooks, sanity, why}: what the model allows
    quality_count(config, observed)  how many images the quality stage scores
    quality_input(root, observed)    the quality jobs' input (given the observed files)
    has_masks(config)                whether the scored images have ground-truth masks
    observed_image(smk)              (job) write the observed-image arrays of one stem
    quality_images(smk, positions)   (job) (images, masks, labels, names) of the stage's positions
    load_model(path, device)         (job) the model every method explains
    model_summary(smk)               (job) assets/model.json: what the model is

A step asks `sources.load(smk.config["source"])`, and its rule declares the source's module in
its `rule_code` (so a source's code reruns only its own sets' jobs).

Its asset rules live in rules/sources/<NAME>.smk. Adding a source touches its module, its rules
file, its config block + schema entry and its test.
"""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path


def _name(path: Path) -> str | None:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == [
            "NAME"
        ]:
            return ast.literal_eval(node.value)
    return None


@functools.cache
def registry() -> list[str]:
    """The registered sources' names (modules of this package that declare NAME)."""
    return sorted(n for p in Path(__file__).parent.glob("*.py") if (n := _name(p)))


def load(name: str):
    """The module of a registered source."""
    if name not in registry():
        raise KeyError(f"unknown asset source {name!r}; registered: {', '.join(registry())}")
    return importlib.import_module(f"{__name__}.{name}")
