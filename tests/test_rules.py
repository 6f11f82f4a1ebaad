"""cnn/rules.rewired: the shared node of DeepLIFT's and LRP's modified backward passes."""

import pytest
import torch

from workflow_scripts.cnn.rules import rewired


def test_rewired_keeps_the_values_and_sends_its_own_gradient_to_the_input():
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    out = torch.relu(x * 3).detach()
    multiplier = torch.arange(5, dtype=torch.float64)
    y = rewired(x, out, lambda g, m: g * m, multiplier)
    assert y.data_ptr() == out.data_ptr()  # no copy of the output
    (g,) = torch.autograd.grad((y * 2).sum(), x)
    assert torch.equal(g, 2 * multiplier)  # the rule's gradient, not ReLU's or the 3


def test_rewired_raises_when_a_saved_tensor_changed_before_the_backward():
    x = torch.randn(4, requires_grad=True)
    saved = torch.ones(4)
    y = rewired(x, x.detach() * 1, lambda g, s: g * s, saved)
    saved.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        torch.autograd.grad(y.sum(), x)
