"""LRP against zennit 0.5.1 (its Gradient attributor, its composites and canonizers) on the same
float64 models, inputs and targets, every composite, to 1e-9 of the largest value. zennit folds
a BatchNorm by turning it into x / sqrt(1 + eps) (not quite the identity), ours exactly, so the
comparison runs on the models with BatchNorm eps 0, where both folds are exact; with the usual
eps our canonised model still computes the model's own logits, zennit's a little off."""

import copy

import numpy as np
import pytest
import torch
from attribution_models import ARCHITECTURES, images
from torch import nn

from workflow_scripts.cnn.attribute import explain_images
from workflow_scripts.cnn.methods import lrp

zennit = pytest.importorskip("zennit")


def zennit_lrp(model, x, targets, composite, epsilon):
    """zennit's own objects, configured here (not through lrp.reference)."""
    from zennit.attribution import Gradient
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import EpsilonPlusFlat, LayerMapComposite, layer_map_base
    from zennit.rules import AlphaBeta, Epsilon
    from zennit.torchvision import ResNetCanonizer
    from zennit.types import Convolution

    resnet = hasattr(model, "layer4")
    canonizers = [ResNetCanonizer() if resnet else SequentialMergeBatchNorm()]
    if composite == "epsilon_plus_flat":
        comp = EpsilonPlusFlat(epsilon=epsilon, canonizers=canonizers)
    elif composite == "epsilon":
        rules = [(Convolution, Epsilon(epsilon=epsilon)), (nn.Linear, Epsilon(epsilon=epsilon))]
        comp = LayerMapComposite(layer_map_base() + rules, canonizers=canonizers)
    else:
        rules = [(Convolution, AlphaBeta(1.0, 0.0)), (nn.Linear, AlphaBeta(1.0, 0.0))]
        comp = LayerMapComposite(layer_map_base() + rules, canonizers=canonizers)
    onehot = torch.eye(11, dtype=x.dtype)[targets]
    with Gradient(model=model, composite=comp) as attributor:
        _, relevance = attributor(x, lambda out: out * onehot)
    return relevance.detach().numpy()


def exact_norms(model):
    model = copy.deepcopy(model)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = 0.0
    return model


@pytest.mark.parametrize("composite", lrp.COMPOSITES)
@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_lrp_equals_zennit(arch, composite):
    name, make, size, _ = arch
    model, x, targets = exact_norms(make()), images(size), [0, 10]
    items = [(x[i], t, f"{t}_{i}") for i, t in enumerate(targets)]
    cfg = {"composite": composite, "epsilon": 1e-6}
    out = explain_images("lrp", model, items, cfg, torch.device("cpu"))
    ours = np.stack([a["attribution"] for a in out])
    ref = zennit_lrp(model, x, targets, composite, 1e-6)
    assert np.abs(ref).max() > 0
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9 * np.abs(ref).max())
    np.testing.assert_array_equal(out[0]["map_raw"], ours[0].sum(axis=0))
    assert out[0]["merged_batchnorms"] > 0
    assert out[0]["residual_sums"] == (8 if name == "resnet18" else 0)


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_folding_is_exact_where_zennits_is_not(arch):
    _, make, size, _ = arch
    model, x = make(), images(size)
    with torch.no_grad():
        net, done = lrp.canonised(model)
        torch.testing.assert_close(net(x), model(x), rtol=1e-12, atol=1e-12)
    assert done["merged_batchnorms"] == sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    ref = zennit_lrp(model, x, [0, 10], "epsilon_plus_flat", 1e-6)
    ours = np.stack(
        [
            lrp.lrp(model, x[i : i + 1], t, "epsilon_plus_flat", 1e-6)["relevance"].numpy()
            for i, t in enumerate([0, 10])
        ]
    )
    gap = np.abs(ours - ref).max() / np.abs(ref).max()
    assert 1e-9 < gap < 1e-3  # zennit's x / sqrt(1 + 1e-5) per norm, nothing more


def test_epsilon_rule_on_one_linear_layer():
    """R_i = x_i w_i R / (z + eps sign z), z = w . x + b: with b = 0 the relevance is conserved."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3, bias=False)).double()
    x = torch.rand(1, 4, dtype=torch.float64)
    out = lrp.lrp(net, x, 1, "epsilon", 0.0)
    z = net[0].weight[1] @ x[0]
    torch.testing.assert_close(
        out["relevance"], (x[0] * net[0].weight[1]).detach(), rtol=1e-12, atol=0
    )
    assert float(out["relevance"].sum()) == pytest.approx(float(z.detach()), rel=1e-12)


def test_flat_and_zplus_rules_by_hand():
    """Two linear layers. epsilon_plus_flat: the last is epsilon, the first flat (each input
    gets R_j / n of every output j); alpha1_beta0: both z+ (positive inputs: x_i w_ij^+ /
    sum_i x_i w_ij^+ of R_j)."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(3, 2, bias=False), nn.ReLU(), nn.Linear(2, 2, bias=False))
    net = net.double()
    x = torch.rand(1, 3, dtype=torch.float64) + 0.1
    h = torch.relu(net[0](x))[0]
    r_hidden = h * net[2].weight[0] * net(x)[0, 0] / (net[2].weight[0] @ h)
    flat = lrp.lrp(net, x, 0, "epsilon_plus_flat", 0.0)["relevance"]
    # (the flat rule's z = 3 is stabilised by 1e-6: 3e-7 relative)
    torch.testing.assert_close(flat, (r_hidden.sum() / 3).expand(3).detach(), rtol=1e-6, atol=0)
    wp = net[0].weight.clamp(min=0)
    zp = (x[0] * wp).sum(1) + 1e-6  # z+ of each hidden unit, stabilised as the rule does
    hp = torch.relu(net[0](x))[0]
    r2 = hp.clamp(min=0) * net[2].weight[0].clamp(min=0)
    r2 = r2 * net(x)[0, 0] / stabilise_sum(r2)
    expected = ((x[0] * wp) / zp[:, None] * r2[:, None]).sum(0)
    got = lrp.lrp(net, x, 0, "alpha1_beta0", 0.0)["relevance"]
    torch.testing.assert_close(got, expected.detach(), rtol=1e-12, atol=1e-15)


def stabilise_sum(r):
    return r.sum() + 1e-6


class ShiftedInPlace(nn.Module):
    """conv -> ReLU -> linear -> linear, the first linear's output shifted in place (`+= 0.5`) or
    not: one function, the in-place form changes a hooked layer's output after its rule saw it."""

    def __init__(self, in_place: bool):
        super().__init__()
        self.in_place = in_place
        self.conv, self.relu = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()
        self.fc1, self.fc2 = nn.Linear(4 * 8 * 8, 6), nn.Linear(6, 3)

    def forward(self, x):
        h = self.fc1(self.relu(self.conv(x)).flatten(1))
        if self.in_place:
            h += 0.5
        else:
            h = h + 0.5
        return self.fc2(h)


@pytest.mark.parametrize("composite", lrp.COMPOSITES)
def test_an_output_changed_in_place_downstream_leaves_the_rules_as_they_were(composite):
    """A rule that reads its layer's output (epsilon) keeps it as the forward made it, whatever
    the model does to the output afterwards in place."""
    torch.manual_seed(2)
    plain = ShiftedInPlace(False).double().eval()
    shifted = copy.deepcopy(plain)
    shifted.in_place = True
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64) - 0.3
    want = lrp.lrp(plain, x, 1, composite, 1e-6)["relevance"]
    got = lrp.lrp(shifted, x, 1, composite, 1e-6)["relevance"]
    assert want.abs().max() > 0
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_an_unknown_composite_is_refused():
    with pytest.raises(ValueError, match="composite must be one of"):
        lrp.lrp(nn.Linear(2, 2), torch.zeros(1, 2), 0, "gamma", 1e-6)


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_zplus_with_negative_inputs_equals_zennit(arch):
    """Images shifted to [-0.5, 0.5] (as a normalised input is): the first layer's z+ then has a
    negative half (every later layer's inputs come out of a ReLU or a pool of one)."""
    _, make, size, _ = arch
    model, x, targets = exact_norms(make()), images(size) - 0.5, [0, 10]
    ours = np.stack(
        [
            lrp.lrp(model, x[i : i + 1], t, "alpha1_beta0", 1e-6)["relevance"].numpy()
            for i, t in enumerate(targets)
        ]
    )
    ref = zennit_lrp(model, x, targets, "alpha1_beta0", 1e-6)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9 * np.abs(ref).max())


def test_a_job_canonises_once_and_each_image_is_as_alone():
    """The run layer hands explain the model `prepare`d once per job; image after image, each
    relevance equals the one computed from the model as loaded, bit for bit."""
    _, make, size, _ = ARCHITECTURES[0]
    model, x = make(), images(size, 3)
    net = lrp.prepare(model)
    assert net.lrp_canonised == lrp.canonised(model)[1]
    for i, t in enumerate([4, 0, 7]):
        once = lrp.lrp(net, x[i : i + 1], t, "epsilon_plus_flat", 1e-6)
        alone = lrp.lrp(model, x[i : i + 1], t, "epsilon_plus_flat", 1e-6)
        assert torch.equal(once["relevance"], alone["relevance"])
        assert once["merged_batchnorms"] == alone["merged_batchnorms"] > 0
