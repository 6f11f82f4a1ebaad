"""The quality metrics (workflow_scripts/quality): equal to Quantus 0.6.0 on the same maps, masks
and model wherever Quantus has the metric (or differing exactly as documented), and right on
analytic cases. Fast: a tiny random CNN, 16 x 16 images, no pipeline run."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import quantus
import scipy.ndimage
import scipy.stats
import torch
from quantus.functions.perturb_func import noisy_linear_imputation
from quantus.functions.similarity_func import ssim as quantus_ssim
from torch import nn

from workflow_scripts.quality import faithfulness as F
from workflow_scripts.quality import localisation as L
from workflow_scripts.quality import metrics as M
from workflow_scripts.quality import randomisation as R
from workflow_scripts.quality import stats as S

H = W = 16


def blob_mask(rng, area):
    """A connected-ish random region covering about `area` of the image (smoothed noise)."""
    field = scipy.ndimage.gaussian_filter(rng.random((H, W)), 2.5)
    return field > np.quantile(field, 1 - area)


def tiny_cnn(seed=0, size=H):
    torch.manual_seed(seed)
    model = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(3, 4, 3, padding=1),
            relu1=nn.ReLU(),
            conv2=nn.Conv2d(4, 4, 3, padding=1),
            relu2=nn.ReLU(),
            flat=nn.Flatten(),
            fc=nn.Linear(4 * size * size, 3),
        )
    )
    return model.eval()


def softmax_of(model):
    return lambda t: torch.softmax(model(t), dim=1)


def saliency(model, x, target):
    """|gradient| of the target logit, max over channels: H x W."""
    x = x.clone().requires_grad_(True)
    model(x)[0, int(target)].backward()
    return x.grad[0].abs().amax(0).numpy()


@pytest.fixture(scope="module")
def maps_masks():
    """8 tie-free non-negative maps and blob masks of areas 0.1 .. 0.5."""
    rng = np.random.default_rng(1)
    a = rng.random((8, H, W))
    s = np.stack([blob_mask(rng, area) for area in np.linspace(0.1, 0.5, 8)])
    return a, s


def quantus_localisation(cls, a, s, **kwargs):
    n = len(a)
    return np.asarray(
        cls(disable_warnings=True, **kwargs)(
            model=None,
            x_batch=np.zeros((n, 3, H, W), np.float32),
            y_batch=np.zeros(n, int),
            a_batch=a[:, None].astype(np.float64),
            s_batch=s[:, None].astype(np.float64),
        ),
        dtype=np.float64,
    )


# ---------------------------------------------------------------- equality with Quantus


def test_relevance_mass_equals_quantus_on_non_negative_maps(maps_masks):
    a, s = maps_masks
    q = quantus_localisation(quantus.RelevanceMassAccuracy, a, s)
    ours = [L.relevance_mass(ai, si) for ai, si in zip(a, s)]
    np.testing.assert_allclose(ours, q, rtol=1e-6)


def test_relevance_mass_counts_only_positive_attribution_unlike_quantus(maps_masks):
    a, s = maps_masks
    signed = a - 0.4
    q_signed = quantus_localisation(quantus.RelevanceMassAccuracy, signed, s)
    q_clipped = quantus_localisation(quantus.RelevanceMassAccuracy, np.maximum(signed, 0), s)
    ours = np.array([L.relevance_mass(ai, si) for ai, si in zip(signed, s)])
    np.testing.assert_allclose(ours, q_clipped, rtol=1e-6)
    # Quantus keeps the signed sums, ours the positive part: documented, really different here
    expected_signed = [(ai[si].sum() / ai.sum()) for ai, si in zip(signed, s)]
    np.testing.assert_allclose(q_signed, expected_signed, rtol=1e-6)
    assert np.abs(ours - q_signed).max() > 0.05
    assert np.all((ours >= 0) & (ours <= 1))


def test_relevance_rank_equals_quantus(maps_masks):
    a, s = maps_masks
    q = quantus_localisation(quantus.RelevanceRankAccuracy, a, s)
    np.testing.assert_allclose([L.relevance_rank(ai, si) for ai, si in zip(a, s)], q, rtol=1e-12)


def test_pointing_game_equals_quantus_with_a_single_maximum(maps_masks):
    a, s = maps_masks
    # put half of the maxima inside the mask, half outside, so both outcomes are compared
    a = a.copy()
    for i, (ai, si) in enumerate(zip(a, s)):
        inside = si if i % 2 == 0 else ~si
        ai[np.unravel_index(np.flatnonzero(inside.ravel())[0], (H, W))] = 2.0
    q = quantus_localisation(quantus.PointingGame, a, s)
    ours = [L.pointing_game(ai, si) for ai, si in zip(a, s)]
    np.testing.assert_array_equal(ours, q)
    assert set(ours) == {0.0, 1.0}


def test_pointing_game_ties_score_the_share_inside_unlike_quantus():
    mask = np.zeros((H, W), bool)
    mask[:4] = True  # a quarter of the image
    a = np.random.default_rng(15).random((H, W)) * 0.5
    a[3:7, 0] = 1.0  # a plateau of 4 maximal pixels, 1 inside the mask
    q = quantus_localisation(quantus.PointingGame, a[None], mask[None])
    assert q[0] == 1.0  # Quantus: any maximal pixel inside is a hit
    assert L.pointing_game(a, mask) == pytest.approx(0.25)  # ours: a random tie-break
    # so a constant map scores chance (Quantus refuses constant maps)
    assert L.pointing_game(np.ones((H, W)), mask) == M.chance(mask)["pointing_game"] == 0.25


def test_roc_auc_equals_quantus_with_and_without_ties(maps_masks):
    a, s = maps_masks
    for maps in (a, np.round(a * 4) / 4):  # the second has many ties
        q = quantus_localisation(quantus.AUC, maps, s)
        np.testing.assert_allclose([L.roc_auc(ai, si) for ai, si in zip(maps, s)], q, rtol=1e-12)


@pytest.mark.parametrize("fill", ["blur", "mean"])
def test_deletion_curve_equals_quantus_pixel_flipping(fill):
    """PixelFlipping with features_in_step = C * pixels per step and a perturb_func that writes our
    fill image gives the same curve without its step 0. (Quantus's built-in "mean" baseline is
    the mean over all channels of the already perturbed image, recomputed each step; ours is the
    per-channel mean of the original.)"""
    size, steps, target = 12, 18, 1  # Quantus wants features_in_step (3 x 8) to divide 12 x 12
    model = tiny_cnn(size=size)
    with torch.no_grad():
        model.fc.weight *= 30  # a default-initialised net barely reacts; make the curve move
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.random((1, 3, size, size)).astype(np.float32))
    a = rng.random((size, size))
    filled = F.fill_image(x, fill).numpy().reshape(-1)

    def write_fill(arr, indices, **kwargs):
        out = arr.copy()
        out[np.arange(len(arr))[:, None], indices] = filled[indices]
        return out

    q = quantus.PixelFlipping(
        features_in_step=3 * size * size // steps, perturb_func=write_fill, disable_warnings=True
    )(
        model=model,
        x_batch=x.numpy(),
        y_batch=np.array([target]),
        a_batch=a[None, None],
        device="cpu",
    )
    ours = F.perturbation_curve(
        softmax_of(model), x, a, target, mode="deletion", fill=fill, steps=steps
    )
    assert len(ours) == steps + 1
    with torch.no_grad():
        assert ours[0] == pytest.approx(float(softmax_of(model)(x)[0, target]), abs=1e-6)
    np.testing.assert_allclose(ours[1:], np.asarray(q[0]), atol=1e-6)
    assert np.ptp(ours) > 0.05  # the model does react to the deletion


def test_road_imputation_equals_quantus_noisy_linear_imputation():
    rng = np.random.default_rng(3)
    img = rng.random((3, 12, 20))
    for frac in (0.1, 0.6, 0.95):
        unknown = rng.random((12, 20)) < frac
        q = noisy_linear_imputation(img, indices=np.flatnonzero(unknown), noise=0.0)
        np.testing.assert_allclose(F.road_impute(img, unknown, noise=0.0), q, atol=1e-12)
    # known pixels stay, imputed ones lie within the known range (a weighted mean), noise seeded
    unknown = rng.random((12, 20)) < 0.5
    out = F.road_impute(img, unknown, noise=0.0)
    np.testing.assert_array_equal(out[:, ~unknown], img[:, ~unknown])
    assert out.min() >= img.min() and out.max() <= img.max()
    r1 = F.road_impute(img, unknown, rng=np.random.default_rng(7))
    r2 = F.road_impute(img, unknown, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(r1, r2)
    assert np.std(r1 - out) == pytest.approx(0.01 * np.sqrt(unknown.mean()), rel=0.15)


def test_cascading_randomisation_equals_quantus_mprt():
    model = tiny_cnn()
    rng = np.random.default_rng(4)
    x = torch.from_numpy(rng.random((1, 3, H, W)).astype(np.float32))
    target, seed = 2, 10

    def explain_batch(model, inputs, targets, **kwargs):
        maps = [saliency(model, torch.from_numpy(xi[None]), t) for xi, t in zip(inputs, targets)]
        return np.stack(maps)[:, None]

    q = quantus.MPRT(seed=seed - 1, disable_warnings=True)(
        model=model,
        x_batch=x.numpy(),
        y_batch=np.array([target]),
        a_batch=None,
        explain_func=explain_batch,
        device="cpu",
    )
    ours = R.cascading_randomisation(model, saliency, x, target, seed=seed)
    assert [r["layer"] for r in ours] == ["fc", "conv2", "conv1"] == R.cascade_layers(model)
    assert list(q) == ["original", "fc", "conv2", "conv1"]
    assert q["original"][0] == pytest.approx(1.0)
    for row in ours:
        assert row["spearman"] == pytest.approx(q[row["layer"]][0], abs=1e-9)
    assert ours[-1]["spearman"] < 0.9  # randomising everything does change the map


def test_ssim_and_spearman_equal_quantus_and_scipy():
    rng = np.random.default_rng(5)
    a, b = rng.random((H, W)) - 0.5, rng.random((H, W))
    b = 0.5 * b + 0.5 * np.abs(a)  # correlated, so neither number is ~0

    def norm(m):
        m = np.abs(m)
        return (m - m.min()) / (m.max() - m.min())

    assert R.ssim(a, b) == pytest.approx(quantus_ssim(norm(a), norm(b)), abs=1e-12)
    assert R.ssim(a, a) == pytest.approx(1.0)
    assert R.spearman(a, b) == pytest.approx(scipy.stats.spearmanr(a.ravel(), b.ravel())[0])
    tied = np.round(b * 3)
    assert R.spearman(a, tied) == pytest.approx(scipy.stats.spearmanr(a.ravel(), tied.ravel())[0])
    assert np.isnan(R.spearman(a, np.ones((H, W))))


# ---------------------------------------------------------------- analytic cases: localisation


def test_map_equal_to_the_mask_scores_one_and_its_inverse_zero():
    rng = np.random.default_rng(6)
    for area in (0.05, 0.3, 0.7):
        mask = blob_mask(rng, area)
        good = M.localisation(mask.astype(float), mask)
        assert good == {"relevance_mass": 1.0, "relevance_rank": 1.0, "pointing_game": 1.0,
                        "roc_auc": 1.0}  # fmt: skip
        bad = M.localisation((~mask).astype(float), mask)
        k, n = mask.sum(), mask.size
        # the top-k of the inverse hold all n - k background pixels first: mask pixels only
        # when the mask covers more than half the image
        assert bad == {"relevance_mass": 0.0, "relevance_rank": max(0, 2 * k - n) / k,
                       "pointing_game": 0.0, "roc_auc": 0.0}  # fmt: skip
    assert bad["relevance_rank"] > 0  # area 0.7 reached that case


def test_random_maps_score_chance_within_the_bootstrap_ci():
    """Per image score minus its chance level (mask area, 0.5 for AUC): the CI of the mean over
    300 images covers 0 for random maps and lies far above 0 for a noisy copy of the mask."""
    rng = np.random.default_rng(7)
    names = ("relevance_mass", "relevance_rank", "pointing_game", "roc_auc")
    random_gap = {name: [] for name in names}
    good_gap = {name: [] for name in names}
    for area in rng.uniform(0.05, 0.6, 300):
        mask = blob_mask(rng, area)
        level = M.chance(mask)
        random_map = M.localisation(rng.random((H, W)), mask)
        noisy = M.localisation(mask + rng.random((H, W)), mask)  # mask pixels always higher
        for name in names:
            random_gap[name].append(random_map[name] - level[name])
            good_gap[name].append(noisy[name] - level[name])
    for name in names:
        ci = S.bootstrap_ci(random_gap[name], seed=0)
        assert ci["low"] <= 0 <= ci["high"], (name, ci)
        assert ci["high"] - ci["low"] < 0.2
        assert S.bootstrap_ci(good_gap[name], seed=0)["low"] > 0.2, name


def test_pointing_tolerance_dilates_the_mask():
    mask = np.zeros((H, W), bool)
    mask[4:8, 4:8] = True
    a = np.zeros((H, W))
    a[4, 10] = 1.0  # 3 px right of the mask (column 7 is its last)
    assert L.pointing_game(a, mask) == 0.0
    assert L.pointing_game(a, mask, tolerance=2) == 0.0
    assert L.pointing_game(a, mask, tolerance=3) == 1.0
    assert M.chance(mask, tolerance=3)["pointing_game"] > M.chance(mask)["pointing_game"] == 1 / 16


def test_degenerate_inputs_give_nan():
    mask = np.zeros((H, W), bool)
    a = np.random.default_rng(8).random((H, W))
    assert all(np.isnan(v) for v in M.localisation(a, mask).values())
    mask[0, 0] = True
    assert np.isnan(L.relevance_mass(-a, mask))  # no positive attribution
    assert np.isnan(L.roc_auc(a, np.ones((H, W), bool)))
    with pytest.raises(ValueError, match="same H x W"):
        M.localisation(a, mask[:8])


# ---------------------------------------------------------------- analytic cases: faithfulness


def linear_predict(alpha=0.2, beta=1e-3):
    """Column 1 = alpha + beta * (sum of all pixel values), column 0 its complement."""

    def predict(t):
        s = alpha + beta * t.double().sum(dim=(1, 2, 3))
        return torch.stack([1 - s, s], dim=1)

    return predict


@pytest.mark.parametrize("steps", [4, 16, 256])
def test_mean_fill_curves_of_a_linear_model_follow_the_closed_form(steps):
    """Pixel p holds p / N in every channel and a = that value, so the order is p = N-1, N-2, ..
    Deleting the top n pixels into the per-channel mean mu = (N-1) / 2N leaves the sum
    C [(N-1)/2 - n (N-n) / 2N]; inserting them into the mean image gives C [(N-1)/2 + n (N-n) / 2N].
    """
    n_pix, c, alpha, beta = H * W, 3, 0.2, 1e-3
    values = np.arange(n_pix).reshape(H, W) / n_pix
    x = torch.from_numpy(np.broadcast_to(values, (1, c, H, W)).copy())
    n = np.arange(steps + 1) * n_pix // steps
    bump = n * (n_pix - n) / (2 * n_pix)
    for mode, sign in (("deletion", -1), ("insertion", 1)):
        curve = F.perturbation_curve(
            linear_predict(alpha, beta), x, values, 1, mode=mode, fill="mean", steps=steps
        )
        expected = alpha + beta * c * ((n_pix - 1) / 2 + sign * bump)
        np.testing.assert_allclose(curve, expected, rtol=1e-12)
    # AUC of the deletion parabola in closed form (trapezoid of the sampled points)
    assert F.curve_auc(expected) == pytest.approx(
        np.trapezoid(expected, np.linspace(0, 1, steps + 1))
    )


def test_blur_of_a_constant_image_changes_nothing_and_road_ends_at_the_mean():
    x = torch.full((1, 3, H, W), 0.3, dtype=torch.float64)
    a = np.random.default_rng(9).random((H, W))
    for fill in ("blur", "mean", "road"):
        curve = F.perturbation_curve(
            linear_predict(), x, a, 1, mode="deletion", fill=fill, steps=8, road_noise=0.0
        )
        np.testing.assert_allclose(curve, curve[0], rtol=1e-9)


def test_road_curves_are_seeded_and_use_the_imputed_image():
    rng = np.random.default_rng(10)
    x = torch.from_numpy(rng.random((1, 3, H, W)))
    a = rng.random((H, W))
    kw = dict(mode="deletion", fill="road", steps=8)
    c1 = F.perturbation_curve(linear_predict(), x, a, 1, seed=1, **kw)
    c2 = F.perturbation_curve(linear_predict(), x, a, 1, seed=1, **kw)
    c3 = F.perturbation_curve(linear_predict(), x, a, 1, seed=2, **kw)
    np.testing.assert_array_equal(c1, c2)
    assert not np.array_equal(c1, c3)
    # step 4 of 8 (noise off) = the model on x with the top half imputed
    clean = F.perturbation_curve(linear_predict(), x, a, 1, road_noise=0.0, **kw)
    top = np.zeros(H * W, bool)
    top[np.argsort(-a.ravel())[: H * W // 2]] = True
    imputed = F.road_impute(x[0].numpy(), top.reshape(H, W), noise=0.0)
    assert clean[4] == pytest.approx(0.2 + 1e-3 * imputed.sum(), rel=1e-12)
    ins = F.perturbation_curve(linear_predict(), x, a, 1, mode="insertion", fill="road", steps=8)
    assert ins[-1] == pytest.approx(c1[0], rel=1e-12)  # everything inserted = x


def test_faithfulness_normalises_against_the_random_order_in_few_batched_calls():
    model = tiny_cnn()
    rng = np.random.default_rng(11)
    x = torch.from_numpy(rng.random((1, 3, H, W)).astype(np.float32))
    calls = []

    def predict(t):
        calls.append(len(t))
        return softmax_of(model)(t)

    a = saliency(model, x, 0)
    steps, seed = 10, 3
    out = F.faithfulness(predict, x, a, 0, fill="blur", steps=steps, seed=seed, batch_size=16)
    assert calls == [16, 16, 12]  # 4 curves x 11 images
    assert out["deletion_norm"] == out["deletion_auc_random"] - out["deletion_auc"]
    assert out["insertion_norm"] == out["insertion_auc"] - out["insertion_auc_random"]
    for mode in ("deletion", "insertion"):
        method = F.perturbation_curve(
            softmax_of(model), x, a, 0, mode=mode, fill="blur", steps=steps
        )
        rand = F.perturbation_curve(
            softmax_of(model), x, a, 0, mode=mode, fill="blur", steps=steps,
            order=F.random_order(a.shape, seed),
        )  # fmt: skip
        np.testing.assert_allclose(out[f"{mode}_curve"], method, atol=1e-6)
        np.testing.assert_allclose(out[f"{mode}_curve_random"], rand, atol=1e-6)
        assert out[f"{mode}_auc"] == pytest.approx(F.curve_auc(method), abs=1e-6)
    # the per-image random baseline, computed once and shared by every method's map
    calls.clear()
    base = F.random_baseline(predict, x, 0, fill="blur", steps=steps, seed=seed, batch_size=16)
    assert calls == [16, 6]
    calls.clear()
    shared = F.faithfulness(
        predict, x, a, 0, fill="blur", steps=steps, seed=seed, batch_size=16, random=base
    )
    assert calls == [16, 2]  # only the method's 2 x 9 images between the ends
    assert shared.keys() == out.keys()
    for key, value in out.items():
        np.testing.assert_allclose(shared[key], value, atol=1e-6, err_msg=key)
    for mode in ("deletion", "insertion"):  # the ends are the baseline's, the same images
        for end in (0, -1):
            assert shared[f"{mode}_curve"][end] == base[f"{mode}_curve_random"][end]
    # road: the imputation noise follows the steps, so every step of the method's curves is its own
    calls.clear()
    road = dict(fill="road", steps=4, seed=seed, batch_size=16)
    road_base = F.random_baseline(predict, x, 0, **road)
    calls.clear()
    F.faithfulness(predict, x, a, 0, random=road_base, **road)
    assert calls == [10]
    # one step: a curve is its two ends, both known from the baseline: nothing is predicted
    one = dict(fill="mean", steps=1, seed=seed, batch_size=16)
    one_base = F.random_baseline(predict, x, 0, **one)
    calls.clear()
    single = F.faithfulness(predict, x, a, 0, random=one_base, **one)
    assert calls == []
    np.testing.assert_array_equal(single["deletion_curve"], one_base["deletion_curve_random"])
    # a perfect-order map of the linear model: deleting the brightest pixels first beats random
    xs = torch.from_numpy(rng.random((1, 3, H, W)))
    bright = xs[0].sum(0).numpy()
    lin = F.faithfulness(linear_predict(), xs, bright, 1, fill="mean", steps=8, seed=0)
    assert lin["deletion_norm"] > 0 and lin["insertion_norm"] > 0
    flipped = F.faithfulness(linear_predict(), xs, -bright, 1, fill="mean", steps=8, seed=0)
    assert flipped["deletion_norm"] < 0 and flipped["insertion_norm"] < 0


def test_curve_auc_and_random_order():
    assert F.curve_auc([1, 1, 1]) == 1.0
    assert F.curve_auc([1, 0]) == 0.5
    assert F.curve_auc([0, 1, 0]) == 0.5
    o = F.random_order((H, W), 5)
    np.testing.assert_array_equal(np.sort(o), np.arange(H * W))
    np.testing.assert_array_equal(o, F.random_order((H, W), 5))
    assert not np.array_equal(o, F.random_order((H, W), 6))


# ---------------------------------------------------------------- sanity and agreement


def test_cascading_randomisation_leaves_the_model_and_the_rng_untouched():
    model = tiny_cnn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng_before = torch.get_rng_state()
    x = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(0))
    r1 = R.cascading_randomisation(model, saliency, x, 0, seed=1)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert r1 == R.cascading_randomisation(model, saliency, x, 0, seed=1)
    assert r1 != R.cascading_randomisation(model, saliency, x, 0, seed=2)
    only_top = R.cascading_randomisation(model, saliency, x, 0, seed=1, layers=["fc"])
    assert only_top == r1[:1]
    with pytest.raises(ValueError, match="relu1"):
        R.cascading_randomisation(model, saliency, x, 0, seed=1, layers=["relu1"])


def test_a_cascade_explained_at_some_steps_equals_the_full_cascade_there():
    model = tiny_cnn()
    x = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(3))
    calls = []

    def counted(net, inputs, target):
        calls.append(1)
        return saliency(net, inputs, target)

    full = R.cascading_randomisation(model, saliency, x, 1, seed=5)
    assert [r["step"] for r in full] == [1, 2, 3]
    part = R.cascading_randomisation(model, counted, x, 1, seed=5, steps=[1, 3])
    assert part == [full[0], full[2]]  # the skipped layer is still re-initialised
    assert len(calls) == 3  # the intact model's map and two steps: the explanations are the cost
    assert R.evaluated_steps(13, 4) == [1, 5, 9, 13]
    assert R.evaluated_steps(24, 4) == [1, 9, 16, 24]
    assert R.evaluated_steps(13, 1) == [13]  # the fully randomised model, always
    assert R.evaluated_steps(13, 0) == list(range(1, 14)) == R.evaluated_steps(13, 13)


def test_agreement_is_pairwise_spearman():
    rng = np.random.default_rng(12)
    maps = {"a": rng.random((H, W)), "b": rng.random((H, W)), "c": rng.random((H, W))}
    maps["c"] = maps["a"] ** 3  # same ranks as a
    out = R.agreement(maps)
    assert list(out) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert out[("a", "c")] == pytest.approx(1.0)
    assert out[("a", "b")] == pytest.approx(R.spearman(maps["a"], maps["b"]))


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_ci_is_seeded_ignores_nan_and_covers_the_true_mean():
    rng = np.random.default_rng(13)
    values = rng.normal(2.0, 1.0, 200)
    ci = S.bootstrap_ci(values, seed=0)
    assert ci == S.bootstrap_ci(values, seed=0)
    assert ci != S.bootstrap_ci(values, seed=1)
    assert ci["low"] < 2.0 < ci["high"] and ci["n"] == 200
    assert ci["mean"] == pytest.approx(values.mean())
    with_nan = S.bootstrap_ci(np.append(values, [np.nan] * 5), seed=0)
    assert with_nan == ci
    # frequentist coverage of the 95 % interval over 300 samples of size 50: about 0.95
    hits = 0
    for i in range(300):
        c = S.bootstrap_ci(rng.normal(0.5, 1.0, 50), seed=i, n_boot=500)
        hits += c["low"] < 0.5 < c["high"]
    assert 0.89 <= hits / 300 <= 0.99
    empty = S.bootstrap_ci([np.nan], seed=0)
    assert empty["n"] == 0 and np.isnan(empty["mean"])


def test_paired_difference_ci_sees_a_shift_the_unpaired_spread_hides():
    rng = np.random.default_rng(14)
    base = rng.normal(0, 5, 100)  # large per-image difficulty
    better = base + 0.3 + rng.normal(0, 0.1, 100)
    d = S.paired_difference_ci(better, base, seed=0)
    assert d["low"] > 0 and d["n"] == 100
    assert d["mean"] == pytest.approx(np.mean(better - base))
    unpaired = S.bootstrap_ci(better, seed=0), S.bootstrap_ci(base, seed=0)
    assert unpaired[0]["low"] < unpaired[1]["high"]  # the marginal CIs overlap
    noise = rng.normal(0, 0.1, 50)
    same = S.paired_difference_ci(base + np.concatenate([noise, -noise]), base, seed=0)
    assert same["low"] < 0 < same["high"]
    with_nan = S.paired_difference_ci(np.append(better, np.nan), np.append(base, 1.0), seed=0)
    assert with_nan == d
