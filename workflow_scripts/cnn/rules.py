"""Modified backward passes per module call (DeepLIFT's and LRP's rules), torch-only.

A rule is attached where a module's output comes out: the output keeps its values but is a new
node whose backward is the rule's. Hooks hold no state on the module, so a module used twice in
one forward (ResNet's ReLU) gets its rule at each call.
"""

from __future__ import annotations

import contextlib

import torch


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


class _Rewired(torch.autograd.Function):
    """`out`'s values as a node on `inp` whose backward is `backward(grad, *saved)`. `out` comes
    in a list: not an input of the node, it leaves as the node's output without a copy (its own
    graph is never used); `saved` go through save_for_backward, so an in-place change of one
    before the backward raises instead of feeding the rule other values."""

    @staticmethod
    def forward(ctx, inp, backward, out, *saved):
        ctx.backward_fn = backward
        ctx.save_for_backward(*saved)
        return out[0]

    @staticmethod
    def backward(ctx, grad):
        saved = ctx.saved_tensors
        return (ctx.backward_fn(grad, *saved), None, None) + (None,) * len(saved)


def rewired(inp, out, backward, *saved):
    """A module's output `out` (detached: its values, no copy) continued from its input `inp`,
    with backward(grad, *saved) as the gradient that reaches `inp`. A rule that reads `out` in
    its backward passes a copy as `out` and the original among `saved`."""
    return _Rewired.apply(inp, backward, [out], *saved)
