"""CNN explanation methods: analytic cases and equality with independent implementations."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from workflow_scripts.assets.models import load_checkpoint
from workflow_scripts.cnn.methods import lime as L
from workflow_scripts.cnn.methods.filters import activation, filter_explanation, visualize
from workflow_scripts.cnn.methods.integrated_gradients import (
    RULES,
    homework_path,
    integrated_gradients,
    linear_path,
    path_alphas,
    path_geometry,
)
from workflow_scripts.cnn.methods.saliency import saliency
from workflow_scripts.cnn.methods.smoothgrad import noise_std, smoothgrad


class Linear(nn.Module):
    """f(x) = W flatten(x) + b: every gradient is known in closed form."""

    def __init__(self, size=8, classes=3, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.fc = nn.Linear(3 * size * size, classes)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(self.fc.weight.shape, generator=g))
            self.fc.bias.copy_(torch.randn(classes, generator=g))

    def forward(self, x):
        return self.fc(x.flatten(1))


def close(a, b, rel=1e-4):
    """Equal up to float32 summation order: the largest difference is tiny next to the largest
    value."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.abs(a - b).max() <= rel * np.abs(b).max()


def agree(a, b):
    """Equal but for the path points: Captum computes its alphas in float32 (0.1 -> 0.0999999940),
    the homework computes x * k / steps. A ReLU / max-pool network's gradient jumps where a path
    point crosses a kink, so the two differ in a few pixels; everything else matches."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return np.abs(a - b).sum() <= 1e-3 * np.abs(b).sum() and np.corrcoef(a, b)[0, 1] > 0.99999


@pytest.fixture(scope="module")
def linear():
    return Linear().double().eval()


@pytest.fixture(scope="module")
def trained(test_build):
    out = test_build.out
    model = load_checkpoint(out / "assets/checkpoint.pth")
    with np.load(out / "assets/dataset/test.npz") as z:
        x = torch.from_numpy(z["images"][:4]).permute(0, 3, 1, 2).float() / 255
    # In float32 a ReLU / max-pool network's input gradient is not stable to rounding (a
    # pre-activation within an ulp of zero, a max-pool near-tie): two correct implementations that
    # round differently disagree in whole regions. In float64 they agree to 1e-15, so equality is
    # tested there.
    x = (x + torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) / 255).clamp(0, 1)
    model, x = model.double(), x.double()
    return model, x, model(x).argmax(1).detach()


def test_linear_saliency_is_abs_w(linear):
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    t = torch.tensor([2, 0])
    out = saliency(linear, x, t, objective="logit")
    w = linear.fc.weight.detach().view(3, 3, 8, 8)
    for i in range(2):
        assert np.allclose(out["map_raw"][i], w[t[i]].abs().amax(0).numpy())
        assert np.allclose(out["attribution"][i], w[t[i]].numpy())


def test_linear_loss_saliency_is_softmax_weighted_w(linear):
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    out = saliency(linear, x, torch.tensor([1]), objective="loss")
    p = linear(x).softmax(1)[0].detach()
    expected = (
        ((p - torch.eye(3, dtype=p.dtype)[1])[:, None] * linear.fc.weight.detach())
        .sum(0)
        .view(3, 8, 8)
    )
    assert np.allclose(out["attribution"][0], expected.numpy())


def test_true_ig_is_complete_on_linear_model(linear):
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    for rule in ("riemann_left", "riemann_trapezoid", "riemann_middle"):
        out = integrated_gradients(
            linear, x, torch.tensor([0, 2]), steps=7, variant="ig", rule=rule, baseline=0.2
        )
        assert np.abs(out["completeness_delta"]).max() < 1e-10
        w = linear.fc.weight.detach().view(3, 3, 8, 8)
        assert np.allclose(out["attribution"][1], ((x[1] - 0.2) * w[2]).numpy())


def test_homework_path_is_scaled_images():
    x = torch.rand(3, 4, 4)
    path = homework_path(x, 10)
    assert path.shape == (10, 3, 4, 4)
    assert torch.equal(path[0], torch.zeros_like(x)) and torch.equal(path[7], x * 7 / 10)
    assert torch.allclose(linear_path(x, torch.zeros_like(x), np.arange(10) / 10), path)


def test_ig_records_where_its_path_lies(linear):
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64) + 0.1
    out = integrated_gradients(linear, x, torch.tensor([0, 2]), steps=10, variant="homework")
    assert (
        np.allclose(out["path_factors"], np.arange(10) / 10, atol=1e-12)
        and out["path_off_line"].max() < 1e-12
    )
    out = integrated_gradients(
        linear, x, torch.tensor([0, 2]), steps=5, variant="ig", rule="riemann_middle", baseline=0.2
    )
    assert (
        np.allclose(out["path_factors"], (np.arange(5) + 0.5) / 5)
        and out["path_off_line"].max() < 1e-12
    )
    # a path that leaves the line is measured as such
    bent = homework_path(x[0], 4).clone()
    bent[2, 0, 0, 0] += 0.5
    alphas, off = path_geometry(bent, x[0], torch.zeros_like(x[0]))
    assert off > 0.4 and np.allclose(alphas[[0, 1, 3]], [0, 0.25, 0.75])


def _toy_lime():
    rng = np.random.default_rng(0)
    image = rng.random((8, 8, 3))
    segments = np.repeat(np.repeat(np.arange(4).reshape(2, 2), 4, 0), 4, 1)
    return image, segments


def test_lime_perturbation_facts_on_its_own_samples():
    image, segments = _toy_lime()
    data = np.array([[1, 1, 1, 1], [1, 0, 1, 0], [0, 1, 1, 1]])
    f = L.perturbation_facts(image, segments, "segments", data)
    assert f["perturbation_on_unchanged"] and f["perturbation_off_mean_colour"]
    assert f["perturbation_off_superpixels"] == 3 and f["perturbation_samples"].tolist() == [1, 2]
    # lime's feature map: feature 0 covers no pixel (segments start at 1), so switching it off
    # changes nothing
    f = L.perturbation_facts(image, segments + 1, "lime", np.array([[1] * 4, [0, 1, 1, 1]]))
    assert f["perturbation_off_superpixels"] == 0 and f["perturbation_samples"].tolist() == [1]


def test_lime_overlay_channels_read_lime_s_own_overlay():
    from lime.lime_image import ImageExplanation

    image = np.full((4, 6, 3), 0.25)
    image[:, 4:] = 1.0  # a third, unexplained superpixel holds the image maximum
    segments = np.zeros((4, 6), int)
    segments[:, 2:4] = 1
    segments[:, 4:] = 2
    exp = ImageExplanation(image, segments)
    exp.local_exp = {0: [(0, 1.0), (1, -1.0)]}
    overlay, mask = exp.get_image_and_mask(
        0, positive_only=False, hide_rest=False, num_features=2, min_weight=0.0
    )
    ch = L.overlay_channels(image, overlay, mask)
    assert ch["positive"].tolist() == [0, 1, 0] and ch["negative"].tolist() == [1, 0, 0]
    _, only_pos = exp.get_image_and_mask(
        0, positive_only=True, hide_rest=False, num_features=2, min_weight=0.0
    )
    assert np.isnan(L.overlay_channels(image, overlay, only_pos)["negative"]).all()


def test_zero_noise_smoothgrad_is_saliency(trained):
    model, x, t = trained
    sal = saliency(model, x[:2], t[:2])
    for noise in ("homework", "paper"):
        sg = smoothgrad(model, x[:2], t[:2], samples=3, multiplier=0.0, noise=noise, batch_size=2)
        assert np.allclose(sg["attribution"], np.abs(sal["attribution"]), atol=1e-6)


def test_homework_noise_formula():
    x = torch.tensor([0.0, 0.5])
    assert noise_std(x, 0.4, "homework") == pytest.approx((0.4 / 0.5) ** 2)
    assert noise_std(x, 0.4, "paper") == pytest.approx(0.4 * 0.5)


def test_smoothgrad_is_seeded_and_batch_independent(trained):
    model, x, t = trained
    a = smoothgrad(
        model, x[:1], t[:1], 12, 0.4, batch_size=12, generator=torch.Generator().manual_seed(3)
    )
    b = smoothgrad(
        model, x[:1], t[:1], 12, 0.4, batch_size=12, generator=torch.Generator().manual_seed(3)
    )
    assert np.array_equal(a["attribution"], b["attribution"])
    c = smoothgrad(
        model, x[:1], t[:1], 12, 0.4, batch_size=5, generator=torch.Generator().manual_seed(3)
    )
    assert np.allclose(a["attribution"], c["attribution"], rtol=1e-4, atol=1e-7)


def test_logit_saliency_equals_captum(trained):
    from captum.attr import Saliency

    model, x, t = trained
    ours = saliency(model, x, t, objective="logit")
    theirs = Saliency(model).attribute(x.clone(), target=t, abs=True)
    assert close(np.abs(ours["attribution"]), theirs.numpy(), rel=1e-12)


def test_homework_ig_equals_captum_left_riemann_without_inputs(trained):
    from captum.attr import IntegratedGradients

    model, x, t = trained
    ours = integrated_gradients(model, x, t, steps=10, variant="homework")
    theirs = (
        IntegratedGradients(model, multiply_by_inputs=False)
        .attribute(x, baselines=torch.zeros_like(x), target=t, n_steps=10, method="riemann_left")
        .detach()
        .numpy()
    )
    for i in range(len(x)):
        assert agree(ours["attribution"][i], theirs[i])


def test_quadrature_weights_sum_to_one():
    # (Captum's riemann_trapezoid weights sum to (n-1)/n, so its trapezoid is not compared below.)
    for rule in RULES:
        alphas, weights = path_alphas(9, rule)
        assert weights.sum() == pytest.approx(1.0) and 0 <= alphas.min() and alphas.max() <= 1


@pytest.mark.parametrize("rule", ["riemann_right", "riemann_middle"])
def test_true_ig_equals_captum(trained, rule):
    from captum.attr import IntegratedGradients

    model, x, t = trained
    ours = integrated_gradients(
        model, x[:2], t[:2], steps=16, variant="ig", rule=rule, baseline=0.1
    )
    theirs, delta = IntegratedGradients(model).attribute(
        x[:2],
        baselines=torch.full_like(x[:2], 0.1),
        target=t[:2],
        n_steps=16,
        method=rule,
        return_convergence_delta=True,
    )
    for i in range(2):
        assert agree(ours["attribution"][i], theirs[i].detach().numpy())
    assert np.allclose(ours["completeness_delta"], delta.detach().numpy(), atol=1e-2)


@pytest.mark.parametrize("layer", [6, 15, 21, 23])
def test_activation_hook_equals_captum_layer_activation(trained, layer):
    from captum.attr import LayerActivation

    model, x, _ = trained
    theirs = LayerActivation(model, model.cnn[layer]).attribute(x)
    assert torch.allclose(activation(model, x, layer), theirs)


@pytest.mark.parametrize("start", ["homework", "noise"])
def test_filter_visualisation_increases_activation(trained, start):
    model, x, _ = trained
    out = visualize(
        model,
        x[:1],
        15,
        0,
        iterations=15,
        lr=0.1,
        start=start,
        generator=torch.Generator().manual_seed(0),
    )
    assert out["objective"][-1] > out["objective"][0]
    if start == "noise":
        assert out["image"].min() >= 0 and out["image"].max() <= 1


def test_filter_explanation_records_module_types(trained):
    model, x, _ = trained
    out = filter_explanation(model, x[:1], [(21, 0), (23, 1)], iterations=2)
    assert str(out["module_21_0"]) == "BatchNorm2d" and str(out["module_23_1"]) == "Conv2d"
    assert out["activation_23_1"].shape == (1, 32, 32)


def _lime_inputs(trained):
    model, x, _ = trained
    model = copy.deepcopy(model).float()  # the homework's classifier: float32 (torch.FloatTensor)
    image = x[0].float().permute(1, 2, 0).numpy().astype(np.float64)
    segments = L.segment(image)

    @torch.no_grad()
    def predict(batch):
        return model(torch.FloatTensor(batch).permute(0, 3, 1, 2)).numpy()

    return image, segments, predict


def test_lime_weights_equal_lime_package(trained):
    from lime.lime_image import LimeImageExplainer

    image, segments, predict = _lime_inputs(trained)
    ref = LimeImageExplainer(random_state=16).explain_instance(
        image,
        predict,
        segmentation_fn=lambda im: L.segment(im),
        num_samples=120,
        batch_size=10,
    )
    ours, _ = L.lime_image(image, predict, segments, seed=16, num_samples=120, batch_size=64)
    assert ours.top_labels == ref.top_labels
    for label in ref.top_labels:
        a, b = dict(ref.local_exp[label]), dict(ours.local_exp[label])
        assert a.keys() == b.keys()
        assert np.allclose(
            [a[k] for k in sorted(a)], [b[k] for k in sorted(a)], rtol=1e-5, atol=1e-6
        )
        assert ours.intercept[label] == pytest.approx(ref.intercept[label], rel=1e-5, abs=1e-6)
    lab = ref.top_labels[0]
    for got, want in zip(
        ours.get_image_and_mask(lab, positive_only=False, num_features=11, min_weight=0.05),
        ref.get_image_and_mask(lab, positive_only=False, num_features=11, min_weight=0.05),
    ):
        assert np.array_equal(got, want)


def test_lime_feature_map_defect_and_fix(trained):
    image, segments, predict = _lime_inputs(trained)
    assert segments.min() == 1
    _, raw = L.lime_image(image, predict, segments, seed=16, num_samples=40, feature_map="lime")
    pix, n = L.pixel_features(segments, "lime")
    assert not (pix == 0).any()  # feature 0 covers no pixel
    assert (pix[segments == segments.max()] == n).all()  # the last superpixel is never switched off
    pix2, n2 = L.pixel_features(segments, "segments")
    assert n2 == n and set(np.unique(pix2)) == set(range(n))
    fudged = L.fudged_image(image, segments)
    rows = np.zeros((1, n), int)
    changed = (L.perturb(image, fudged, pix2, rows)[0] != image).any(axis=2)
    assert changed[segments == segments.max()].any()


def test_fast_paths_compute_the_same_function(trained):
    from workflow_scripts.cnn.fastpath import fold_batchnorm, for_gradients, for_inference

    model, x, t = trained
    cpu = torch.device("cpu")
    with torch.no_grad():
        ref = model(x)
        for fast in (fold_batchnorm(model), for_gradients(model, cpu)):
            assert close(fast(x), ref, rel=1e-12)
        model32 = copy.deepcopy(model).float()  # TorchScript's oneDNN path is float32-only
        assert close(for_inference(model32, cpu)(x.float()), model32(x.float()), rel=1e-5)
    folded = fold_batchnorm(model)
    assert len(folded.cnn) == len(model.cnn) and isinstance(folded.cnn[21], nn.Identity)
    a = saliency(model, x, t, "logit")["attribution"]
    b = saliency(for_gradients(model, cpu), x, t, "logit")["attribution"]
    assert close(b, a, rel=1e-10)


def test_a_job_of_several_images_logs_its_progress_with_each(caplog):
    """Each image's line in a chunk job's log ends with k/n and the time left (no silent job)."""
    from attribution_models import ARCHITECTURES, images

    from workflow_scripts.cnn.attribute import explain_images

    _, make, size, layer = ARCHITECTURES[0]
    x = images(size, 3)
    items = [(x[i], 1, f"img{i}") for i in range(3)]
    with caplog.at_level("INFO", logger="xai"):
        explain_images("gradcam_pp", make(), items, {"layer": layer}, torch.device("cpu"))
        explain_images("gradcam_pp", make(), items[:1], {"layer": layer}, torch.device("cpu"))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("gradcam_pp on")]
    assert len(lines) == 4
    for k, line in enumerate(lines[:3], 1):
        assert f"; {k}/3 images, about " in line and line.endswith(" s left"), line
    assert lines[3].endswith(" s") and "images" not in lines[3]  # one image: no count
