"""Naming a model's layers for the methods that hook one (Grad-CAM, filters), on any model.

A layer is an int (an index into model.cnn: the homework Classifier's own naming, cnn[36]) or a
module path as torch names it (`layer4`, `layer4.1.conv2`, `cnn.36`). A model wrapped with its
preprocessing (assets/folder_model.Preprocessed) is addressed by its inner model's paths, so the
names a user reads in `print(model)` are the ones the config takes.
"""

from __future__ import annotations

from workflow_scripts.core.errors import UserError

# The homework Classifier's defaults (config "auto" on offline/hw9; their quiz names them).
HOMEWORK_GRADCAM = 36
HOMEWORK_FILTERS = [[6, 0], [15, 0], [21, 0], [23, 0]]
POOLING = ("MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Dropout")


def homework_layers(config) -> tuple:
    """(gradcam layer, filter pairs) with "auto" as the homework names them on its Classifier:
    the last conv block's ReLU, the homework's 4 pairs."""
    layer = config["cnn"]["gradcam"]["layer"]
    pairs = config["cnn"]["filters"]["pairs"]
    return (
        HOMEWORK_GRADCAM if layer == "auto" else layer,
        [list(p) for p in HOMEWORK_FILTERS] if pairs == "auto" else pairs,
    )


def resolve_auto(config, cam, pairs) -> None:
    """Set, in place, what a method block leaves to others: every one-layer method's "auto" layer
    (LAYER_KEY: Grad-CAM and the CAM family) to `cam`, the filters' pairs to `pairs` (what a
    source resolved "auto" to), then the wrappers' inner settings (methods.resolve_inner: after
    the layers, so a wrapped CAM gets its resolved layer)."""
    from workflow_scripts.cnn.methods import layer_methods, resolve_inner

    cnn = config["cnn"]
    for method, key in layer_methods().items():
        if method in cnn and cnn[method][key] == "auto":
            cnn[method][key] = cam
    cnn["filters"]["pairs"] = pairs
    resolve_inner(cnn)


def with_homework_layers(config):
    """The config with every "auto" layer as the workflow resolves it on the homework Classifier
    (in place; returned for convenience)."""
    cnn = config["cnn"]
    auto = {**cnn, "gradcam": {**cnn["gradcam"], "layer": "auto"}}
    cam, _ = homework_layers({**config, "cnn": auto})
    _, pairs = homework_layers(config)
    resolve_auto(config, cam, pairs)
    return config


def inner(model):
    """The model the user gave (a preprocessing wrapper's `net`), whose paths the config names."""
    return model.net if getattr(model, "XAI_WRAPPER", False) else model


def label(layer) -> str:
    """How the report and figures name a layer: cnn[36] for an index, the path otherwise."""
    return f"cnn[{layer}]" if isinstance(layer, int) else str(layer)


def module_at(model, layer, key: str = "cnn.gradcam.layer"):
    """The module a layer names, or a UserError naming the config key and what exists."""
    net = inner(model)
    if isinstance(layer, bool):
        raise UserError(f"config key {key} is {layer!r}; give an index into model.cnn or a path")
    if isinstance(layer, int):
        cnn = getattr(net, "cnn", None)
        if cnn is None or not 0 <= layer < len(cnn):
            n = len(cnn) if cnn is not None else 0
            raise UserError(
                f"config key {key} is {layer}: "
                + (
                    f"an index into model.cnn must be 0 to {n - 1}"
                    if cnn is not None
                    else f"{type(net).__name__} has no model.cnn; name the layer by its module "
                    "path (e.g. layer4) or use auto"
                )
            )
        return cnn[layer]
    try:
        return net.get_submodule(str(layer))
    except AttributeError:
        tops = [n for n, _ in net.named_children()]
        raise UserError(
            f"config key {key} is {layer!r}: {type(net).__name__} has no such module; its "
            f"top-level modules are {', '.join(tops)} (paths as print(model) shows them)"
        ) from None


def _convs(module) -> list[str]:
    from torch import nn

    return [n for n, m in module.named_modules() if isinstance(m, nn.Conv2d)]


def auto_gradcam(model):
    """The last convolutional block, Grad-CAM's usual choice: the last top-level module holding a
    Conv2d (ResNet: layer4). When that module is a flat stack of layers (the homework Classifier's
    cnn, VGG's features) the block is the rectified output of its last conv: the module after the
    conv's BatchNorm/ReLU, before pooling (Classifier: cnn[36], an int as the homework names it).
    """
    net = inner(model)
    children = [(n, m) for n, m in net.named_children() if _convs(m)]
    if not children:
        raise UserError(
            f"{type(net).__name__} has no Conv2d layer: Grad-CAM and filters need one; set "
            "cnn.gradcam.layer and cnn.filters.pairs to module paths, or exclude them"
        )
    name, block = children[-1]
    leaves = list(block.named_children())
    if leaves and all(not list(m.children()) for _, m in leaves):  # a flat stack
        kinds = [type(m).__name__ for _, m in leaves]
        last = max(i for i, k in enumerate(kinds) if k == "Conv2d")
        pick = last
        while pick + 1 < len(kinds) and kinds[pick + 1] not in POOLING + ("Conv2d",):
            pick += 1
        path = f"{name}.{leaves[pick][0]}"
        return int(leaves[pick][0]) if name == "cnn" else path
    return name


def auto_filter_layers(model, count: int = 4) -> list:
    """`count` evenly spaced Conv2d layers, first to last (paths); the homework Classifier: the
    homework's own four (cnn[6], cnn[15], cnn[21], cnn[23]), as on offline and hw9 sets."""
    from workflow_scripts.assets.models import Classifier

    net = inner(model)
    if isinstance(net, Classifier):
        return [layer for layer, _ in HOMEWORK_FILTERS]
    convs = _convs(net)
    if not convs:
        auto_gradcam(model)  # raises the no-conv error
    if len(convs) <= count:
        chosen = convs
    else:
        step = (len(convs) - 1) / (count - 1)
        chosen = [convs[round(i * step)] for i in range(count)]
    return [int(p.split(".")[1]) if _is_cnn_index(net, p) else p for p in chosen]


def _is_cnn_index(net, path: str) -> bool:
    parts = path.split(".")
    return len(parts) == 2 and parts[0] == "cnn" and parts[1].isdigit()
