"""RISE, checked as its estimator (no reference library implements the paper's masks):
1. the map equals a plain loop over the same masks (one image at a time, f = softmax of the
   logits) to 1e-12;
2. on a linear score with cell-size-1 masks (independent pixels kept with probability p), the
   expectation is E[S(u)] = (1 - p) w_u x_u + p w.x + b: with many masks the estimate is within
   its Monte-Carlo error of it, on the ResNet-18 too the map is seed-reproducible;
3. the masks: values in [0, 1], mean close to p, not aligned to the grid (shifted)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from attribution_models import ARCHITECTURES, images

from workflow_scripts.cnn.attribute import explain_images
from workflow_scripts.cnn.methods import image_seed, rise


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_rise_equals_a_plain_loop_over_the_same_masks(arch):
    _, make, size, _ = arch
    model, x = make(), images(size, 1)
    cfg = {"seed": 4, "masks": 40, "cells": 4, "p": 0.4, "batch_size": 16}
    out = explain_images("rise", model, [(x[0], 3, "3_0")], cfg, torch.device("cpu"))[0]
    g = torch.Generator().manual_seed(image_seed(4, "3_0"))
    masks = torch.cat(
        [rise.make_masks(n, (size, size), 4, 0.4, g, torch.float64) for n in (16, 16, 8)]
    )
    total = torch.zeros(size, size, dtype=torch.float64)
    with torch.no_grad():
        for m in masks:
            total += F.softmax(model(x * m), dim=1)[0, 3] * m
    np.testing.assert_allclose(out["map_raw"], (total / (40 * 0.4)).numpy(), rtol=1e-12)
    again = explain_images("rise", model, [(x[0], 3, "3_0")], cfg, torch.device("cpu"))[0]
    np.testing.assert_array_equal(out["map_raw"], again["map_raw"])


class LinearScore(torch.nn.Module):
    """Outputs (s, 0) with s = w.x + b: the softmax is replaced by the score itself below."""

    def __init__(self, w, b):
        super().__init__()
        self.w, self.b = w, b

    def forward(self, x):
        s = (x * self.w).flatten(1).sum(1) + self.b
        return torch.stack([s, torch.zeros_like(s)], 1)


def test_rise_of_a_linear_score_matches_its_expectation(monkeypatch):
    size, p, n = 8, 0.5, 20000
    torch.manual_seed(0)
    w = torch.randn(1, 3, size, size, dtype=torch.float64)
    x = torch.rand(1, 3, size, size, dtype=torch.float64)
    model = LinearScore(w, 0.3)
    monkeypatch.setattr(rise.F, "softmax", lambda logits, dim: logits)  # f = the score
    s = rise.rise(model, x, 0, n, cells=size, p=p, seed=1, batch=5000)
    # cells = size: one cell per pixel, but the bilinear upsampling and shift blur the masks;
    # compare with the expectation computed from the masks' own first and second moments
    g = torch.Generator().manual_seed(1)
    m = rise.make_masks(4000, (size, size), size, p, g, torch.float64).reshape(4000, -1)
    mean = m.mean(0)
    second = (m.T @ m) / len(m)  # E[M(v) M(u)]
    wx = (w * x).sum(1).reshape(-1)
    expected = (second @ wx + 0.3 * mean) / p
    err = (s.reshape(-1) - expected).abs().max() / expected.abs().max()
    assert err < 0.05, err
    corr = np.corrcoef(s.reshape(-1).numpy(), wx.numpy())[0, 1]
    assert corr > 0.3  # the weights show through


def test_masks_are_smooth_shifted_and_keep_p():
    g = torch.Generator().manual_seed(0)
    m = rise.make_masks(500, (32, 32), 4, 0.3, g)
    assert m.min() >= 0 and m.max() <= 1 + 1e-6
    assert abs(float(m.mean()) - 0.3) < 0.03
    # not aligned to the 8-px grid: cell borders move between masks
    assert len({tuple(mk[0, :].numpy().round(6)) for mk in m[:50]}) > 30
