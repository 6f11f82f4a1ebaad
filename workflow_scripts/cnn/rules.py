"""Modified backward passes per module call (DeepLIFT's and LRP's rules), torch-only.

A rule is attached where a module's output comes out: the output keeps its values but is a new
node whose backward is the rule's. Hooks hold no state on the module, so a module used twice in
one forward (ResNet's ReLU) gets its rule at each call.
"""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def per_call(modules, replace):
    """For each call of each of `modules` during the block: an in-place module (`inplace=True`, as
    torchvision's ReLUs) computes on a copy of its input, which leaves the input and its graph
    intact, and the forward continues with replace(module, input, output) instead of its
    output."""
    inputs: dict[int, list] = {}

    def pre(module, args):
        inputs.setdefault(id(module), []).append(args[0])
        return (args[0].clone(),) if getattr(module, "inplace", False) else None

    def post(module, args, out):
        return replace(module, inputs[id(module)].pop(), out)

    handles = [
        h
        for m in modules
        for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))
    ]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
