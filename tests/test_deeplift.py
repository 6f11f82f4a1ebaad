"""DeepLIFT (rescale) against Captum 0.9's DeepLift on the same float64 models, inputs and
targets (to 1e-9 of the largest value), the max-pool rule both ways, and the summation-to-delta
property on the architectures where Captum cannot go: ResNet-18 reuses one ReLU module twice per
block (Captum's hooks refuse that; it gets an equivalent copy with one ReLU per call) and its
3x3/2 max-pool overlaps."""

import types

import numpy as np
import pytest
import torch
from attribution_models import ARCHITECTURES, images, without_inplace
from torch import nn

from workflow_scripts.cnn.attribute import explain_images, prepared_model
from workflow_scripts.cnn.methods import deeplift

captum = pytest.importorskip("captum.attr")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Captum's hook notices


def _block_forward(self, x):
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    identity = x if self.downsample is None else self.downsample(x)
    return self.relu2(out + identity)


def one_relu_per_call(model):
    """A copy of a torchvision ResNet whose blocks call two ReLU modules instead of one twice."""
    model = without_inplace(model)
    for block in model.modules():
        if type(block).__name__ == "BasicBlock":
            block.relu2 = nn.ReLU()
            block.forward = types.MethodType(_block_forward, block)
    return model


def captum_deeplift(model, x, targets, baseline=0.0):
    return (
        captum.DeepLift(model)
        .attribute(
            x.clone().requires_grad_(True),
            baselines=torch.full_like(x, baseline),
            target=torch.tensor(targets),
        )
        .detach()
        .numpy()
    )


def ours(model, x, targets, **cfg):
    items = [(x[i], t, f"{t}_{i}") for i, t in enumerate(targets)]
    cfg = {"baseline": 0.0, "maxpool": "gradient", **cfg}
    return explain_images("deeplift", model, items, cfg, torch.device("cpu"))


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_deeplift_equals_captum(arch):
    name, make, size, _ = arch
    model, x, targets = make(), images(size), [0, 10]
    out = ours(model, x, targets, baseline=0.1)
    mine = np.stack([a["attribution"] for a in out])
    other = one_relu_per_call(model) if name == "resnet18" else model
    ref = captum_deeplift(other, x, targets, baseline=0.1)
    assert np.abs(ref).max() > 0 and out[0]["rescaled_modules"] > 0
    np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-9 * np.abs(ref).max())
    np.testing.assert_array_equal(out[0]["map_raw"], np.abs(mine[0]).max(axis=0))
    for a in out:  # the reported delta is the attributions' sum minus f(x) - f(x0)
        assert a["completeness_delta"] == pytest.approx(
            a["attribution"].sum() - (a["f_x"] - a["f_baseline"]), abs=1e-12
        )


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_an_image_gets_the_same_numbers_in_any_job(arch):
    """A job records the baseline's activations once (its prepared model keeps them); each image
    still gets, bit for bit, what it gets in a job of its own (cnn.images_per_job changes
    nothing), and the float32 model's recording is made once for the job's images."""
    name, make, size, _ = arch
    model, x, targets = make().float(), images(size, 3).float(), [3, 7, 3]
    together = ours(model, x, targets)
    for i, t in enumerate(targets):
        (alone,) = ours(model, x[i : i + 1], [t])
        np.testing.assert_array_equal(alone["attribution"], together[i]["attribution"])
        assert alone["f_baseline"] == together[i]["f_baseline"]
    prepared = prepared_model("deeplift", {"maxpool": "gradient"}, model, torch.device("cpu"))
    for i, t in enumerate(targets):
        deeplift.explain(prepared, x[i : i + 1], torch.tensor([t]), image="a", device="cpu",
                         baseline=0.0, maxpool="gradient")  # fmt: skip
    assert len(prepared.deeplift_baselines) == 1


class ConvPool(nn.Module):
    """conv -> max-pool -> conv -> ReLU -> linear: the pool touches no other hooked module, so
    Captum's maxpool rule is what it computes (next to a ReLU, Captum's hooks read each other's
    gradients before the other changes them)."""

    def __init__(self):
        super().__init__()
        self.conv, self.pool = nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2, 2)
        self.conv2, self.relu = nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(self.relu(self.conv2(self.pool(self.conv(x)))).flatten(1))


def test_the_rescale_pool_rule_equals_captums_where_it_applies():
    torch.manual_seed(0)
    model = ConvPool().double().eval()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    out = ours(model, x, [0, 2], maxpool="rescale")
    mine = np.stack([a["attribution"] for a in out])
    ref = captum_deeplift(model, x, [0, 2])
    np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-9 * np.abs(ref).max())
    gradient = np.stack([a["attribution"] for a in ours(model, x, [0, 2])])
    assert np.abs(gradient - ref).max() > 1e-6 * np.abs(ref).max()  # the modes differ here


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_rescale_attributions_sum_to_the_logit_difference(arch):
    """Summation-to-delta with the rescale pool rule, overlapping pools and reused ReLUs too;
    on the Classifier the gradient rule misses it measurably (so the check can fail; ResNet-18's
    one pool sees a constant baseline as a constant plane, where both rules agree)."""
    name, make, size, _ = arch
    model, x = make(), images(size)
    for a in ours(model, x, [3, 7], maxpool="rescale"):
        diff = a["f_x"] - a["f_baseline"]
        assert abs(diff) > 1e-8
        assert abs(a["completeness_delta"]) <= 1e-9 * max(1.0, abs(diff))
    if name == "classifier":
        deltas = [a["completeness_delta"] for a in ours(model, x, [3, 7])]
        assert max(map(abs, deltas)) > 1e-9


def test_a_linear_model_gets_input_minus_baseline_times_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5)).double()
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    a = deeplift.deeplift(model, x, 2, baseline=0.25)
    expected = (x[0] - 0.25) * model[1].weight[2].reshape(3, 4, 4)
    torch.testing.assert_close(a["attribution"], expected.detach(), rtol=1e-12, atol=1e-14)
    assert a["rescaled_modules"] == 0


def test_one_relu_passes_back_its_secant_slope():
    """y = v . ReLU(W x + b): each hidden unit passes back (ReLU(h) - ReLU(h0)) / (h - h0), the
    secant of the ReLU between baseline and input, not its derivative at the input."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 1)).double()
    x = torch.randn(1, 6, dtype=torch.float64)
    x0 = torch.zeros_like(x)
    h, h0 = net[0](x)[0], net[0](x0)[0]
    slope = (torch.relu(h) - torch.relu(h0)) / (h - h0)
    expected = (x - x0)[0] * ((net[2].weight[0] * slope) @ net[0].weight)
    got = deeplift.deeplift(net, x, 0)["attribution"]
    torch.testing.assert_close(got, expected.detach(), rtol=1e-12, atol=1e-14)
    crossing = (h > 0) != (h0 > 0)
    assert crossing.any()  # a unit that switches: its secant is neither 0 nor 1
    assert ((slope[crossing] > 0) & (slope[crossing] < 1)).all()


@pytest.mark.parametrize("maxpool", deeplift.MAXPOOL)
def test_a_relu_whose_input_does_not_move_passes_back_its_derivative(maxpool):
    """Unit 0's input is the same for the image and the baseline (x1 - x2 = 0): the secant is
    undefined there, and the rule takes the ReLU's derivative at the input (1: h = 0.4 > 0), so
    the unit still attributes +-0.3 * 2 to the two pixels (summing to 0); unit 1 moves and
    passes back its secant. Both paths: the image against the recorded baseline (gradient pool
    rule) and the batch of two (rescale)."""
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1, bias=False)).double()
    f64 = {"dtype": torch.float64}
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 0.2]], **f64))
        net[0].bias.copy_(torch.tensor([0.4, -0.1], **f64))
        net[2].weight.copy_(torch.tensor([[2.0, 3.0]], **f64))
        x = torch.tensor([[0.3, 0.3]], **f64)
        h, h0 = net[0](x)[0], net[0](torch.zeros_like(x))[0]
    assert h[0] == h0[0] and h[1] != h0[1]
    slope = (torch.relu(h[1]) - torch.relu(h0[1])) / (h[1] - h0[1])
    expected = x[0] * (2.0 * net[0].weight[0] + 3.0 * slope * net[0].weight[1])
    got = deeplift.deeplift(net, x, 0, maxpool=maxpool)["attribution"]
    torch.testing.assert_close(got, expected.detach(), rtol=1e-12, atol=1e-14)


class BranchesOnItsInput(nn.Module):
    """Two ReLUs for a bright image, one for a dark one (the baseline)."""

    def __init__(self):
        super().__init__()
        self.fc, self.relu1, self.relu2 = nn.Linear(4, 4), nn.ReLU(), nn.ReLU()

    def forward(self, x):
        h = self.relu1(self.fc(x))
        return self.relu2(h - 0.1) if bool(x.mean() > 0.5) else h


def test_a_forward_that_branches_on_its_input_is_refused():
    """The image's calls are matched with the baseline's one by one: a model that takes
    another path for the image gets one clear error, not multipliers of the wrong layer."""
    model = BranchesOnItsInput().double()
    x = torch.full((1, 4), 0.9, dtype=torch.float64)
    for image, baseline in ((x, 0.0), (x * 0.1, 0.9)):  # a call more, a call fewer
        with pytest.raises(ValueError, match="calls its nonlinearity modules in another order"):
            deeplift.deeplift(model, image, 0, baseline=baseline)
    assert deeplift.deeplift(model, x * 0.1, 0)["rescaled_modules"] == 2  # the same path: fine


def test_an_unknown_pool_rule_is_refused():
    with pytest.raises(ValueError, match="maxpool must be one of"):
        deeplift.deeplift(nn.Linear(2, 2), torch.zeros(1, 2), 0, maxpool="max")
