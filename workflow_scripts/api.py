"""The Python API: explain one image with any registered method, outside Snakemake, with the
workflow's own defaults (config/config.yaml) and code, so the arrays equal what the workflow's
artifact of the same image holds (its timing aside).

    import torch
    from workflow_scripts import api

    model = torch.load("model.pt", weights_only=False)   # any torch image classifier
    image = torch.rand(3, 128, 128)                      # 3 x H x W in [0, 1], as the model wants
    arrays = api.explain("smoothgrad", model, image, target=3, samples=50)
    arrays["map"]                                        # H x W, normalised
    api.methods()                                        # the registered method names
    api.defaults("lime")                                 # cnn.lime as config/config.yaml sets it

"auto" layers (Grad-CAM and the CAM family, filters) are resolved on the model itself as the
workflow resolves them: its last conv block, four evenly spaced convs (the homework Classifier:
the homework's).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


@functools.cache
def _config() -> dict:
    import yaml

    if not CONFIG.is_file():
        raise FileNotFoundError(
            f"{CONFIG}: the workflow's defaults are not there; install the package from a checkout "
            "(pip install -e <checkout>), which keeps config/ beside it"
        )
    return yaml.safe_load(CONFIG.read_text(encoding="utf-8"))


def methods() -> list[str]:
    """The registered CNN methods, in the report's order."""
    from workflow_scripts.cnn.methods import names

    return names()


def defaults(method: str, model=None) -> dict:
    """cnn.<method> as config/config.yaml sets it; with a model, its "auto" layers resolved."""
    from workflow_scripts.cnn.methods import registry

    if method not in registry():
        raise KeyError(f"unknown method {method!r}; registered: {', '.join(registry())}")
    config = copy.deepcopy(_config())
    if model is not None:
        from workflow_scripts.cnn.layers import auto_filter_layers, auto_gradcam, resolve_auto
        from workflow_scripts.cnn.methods import inner_methods, layer_methods

        cnn = config["cnn"]
        wrapped = cnn[method].get(inner_methods().get(method, ""), method)
        cam = cnn["gradcam"]["layer"]
        if cam == "auto" and {method, wrapped} & set(layer_methods()):  # only where it is used
            cam = auto_gradcam(model)
        pairs = cnn["filters"]["pairs"]
        if pairs == "auto" and method == "filters":
            pairs = [[layer, 0] for layer in auto_filter_layers(model)]
        resolve_auto(config, cam, pairs)
    return config["cnn"][method]


def settings(method: str, model=None, **overrides) -> dict:
    """The method's settings as a workflow job gets them: the defaults with `overrides` over them,
    checked against config/schema.yaml (a wrong key or value is a ValueError naming it) and typed
    as the workflow types them (an integer for a `number` key becomes a float)."""
    from workflow_scripts.core.config import canonical, config_error, load_schema
    from workflow_scripts.core.overrides import coerce
    from workflow_scripts.quality.plan import merged

    config = copy.deepcopy(_config())
    config["cnn"][method] = merged(defaults(method, model), overrides)
    schema = load_schema(CONFIG.with_name("schema.yaml"))
    config = coerce(config, schema)
    problem = config_error(config, schema)
    if problem:
        raise ValueError(problem)
    return canonical(coerce(config, schema, floats=True)["cnn"][method])


def explain(method: str, model, image, target: int, *, device="cpu", name="image", **overrides):
    """The artifact arrays of `method` on one image (3 x H x W tensor in [0, 1], or H x W x 3
    uint8 array) for class `target`; keyword arguments override the method's defaults (checked:
    a wrong key or value is a ValueError naming it)."""
    import numpy as np
    import torch

    from workflow_scripts.cnn.attribute import explain_image

    if not isinstance(image, torch.Tensor):
        image = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
    params = settings(method, model, **overrides)
    return explain_image(method, model, image, int(target), name, params, torch.device(device))
