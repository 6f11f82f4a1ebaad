"""The quality stage (rules/quality.smk, workflow_scripts/quality/): which images, which
methods, the tables and summary of the test build, determinism, the exact rerun sets, quiz 11."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import yaml

from workflow_scripts.cnn.fastpath import auto_batch
from workflow_scripts.cnn.layers import with_homework_layers
from workflow_scripts.cnn.methods import registry
from workflow_scripts.core import paths
from workflow_scripts.core.errors import UserError
from workflow_scripts.quality import metrics as M
from workflow_scripts.quality import plan, scoring, summary
from workflow_scripts.quality.faithfulness import faithfulness
from workflow_scripts.report.evaluators.quality import food_mass_quality, section

from conftest import ROOT, jobs_of, sanity_jobs, snakemake, workflow_args

QUALITY_JOBS = {"quality_chunk": 2, "quality_merge": 1, "quality_figures": 1}
QUIZ = {"quiz_answers": 1, "quiz_report": 1, "all": 1}


def config(*files) -> dict:
    """config.yaml with the given files merged over it, as Snakemake merges --configfile."""
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    for f in files:
        cfg = plan.merged(cfg, yaml.safe_load((ROOT / f).read_text()))
    return cfg


TEST = config("config/test.yaml")
# "auto" layers as rules/common.smk resolves them on the homework Classifier
with_homework_layers(TEST)
SCORED = plan.scored_methods(registry(), TEST["quality"]["exclude"])
# the sanity jobs: a budgeted method's own, one shared (the test config's 2 sanity images: one
# chunk)
SANITY = sanity_jobs(SCORED)
QUALITY = {**QUALITY_JOBS, "quality_sanity": SANITY}


# ---------------------------------------------------------------- pure parts


def test_selection_takes_the_first_images_of_each_class_then_cuts():
    labels = np.array([3, 0, 1, 0, 2, 1] + list(range(11)) * 2)
    chosen = plan.select_indices(labels, 2, 22)
    assert [labels[i] for i in chosen] == [c for c in range(11) for _ in range(2)]
    assert chosen[:4] == [1, 3, 2, 5]  # class 0 then class 1, in split order
    assert plan.select_indices(labels, 2, 3) == chosen[:3]  # a prefix: jobs do not depend on it
    with pytest.raises(UserError, match="quality.images_per_class: 4 requested but class"):
        plan.select_indices(labels, 4, 44)


def test_image_count_and_chunks():
    q = {"images": 23, "images_per_class": 2, "sanity_images": 5}
    with pytest.raises(UserError, match="quality.images: 23 exceeds images_per_class"):
        plan.image_count(q, True, [])
    assert plan.image_count({**q, "images": 22}, True, []) == 22
    assert plan.image_count(q, False, ["0_0", "1_1"]) == 2  # hw9: the observed images
    chunks = plan.chunk_ranges(23, 6)
    assert [list(r) for r in chunks][-1] == [18, 19, 20, 21, 22]
    assert [i for r in chunks for i in r] == list(range(23))
    assert plan.sanity_count(q, 4) == 4 and plan.sanity_count(q, 9) == 5


def test_sanity_jobs_give_budgeted_methods_their_own_and_share_the_rest():
    methods = ["saliency", "gradcam", "lime", "rise"]
    first, second = plan.chunk_ranges(11, 6)
    jobs = plan.sanity_jobs(methods, {"rise": 4}, [first, second], {"lime", "rise"})
    assert jobs == [
        ("lime", 0, ["lime"]),
        ("rise", 0, ["rise"]),
        (plan.SHARED, 0, ["saliency", "gradcam"]),
        ("lime", 1, ["lime"]),  # rise's budget ends in chunk 0
        (plan.SHARED, 1, ["saliency", "gradcam"]),
    ]
    # every method budgeted: no shared job; none: one per chunk
    assert [j[0] for j in plan.sanity_jobs(["lime"], {}, [first], {"lime"})] == ["lime"]
    assert plan.sanity_jobs(methods, {}, [first], set()) == [(plan.SHARED, 0, methods)]


def test_image_budgets_cut_the_chunks_they_reach():
    methods = ["saliency", "rise", "occlusion"]
    registered = [*methods, "lime"]
    budgets = plan.image_budgets({"rise": 8, "occlusion": 6, "lime": 2}, methods, registered)
    assert budgets == {"rise": 8, "occlusion": 6}  # lime is not scored: its budget is moot
    with pytest.raises(UserError, match=r"quality.method_images: \['nope'\] are not registered"):
        plan.image_budgets({"nope": 3}, methods, registered)
    first, second = plan.chunk_ranges(11, 6)
    assert plan.chunk_methods(methods, budgets, first) == methods
    assert plan.chunk_methods(methods, budgets, second) == ["saliency", "rise"]
    assert plan.chunk_budgets(methods, budgets, first) == {}  # occlusion ends at its end
    # a sanity budget is also at most the method's quality budget
    sanity = plan.image_budgets(
        {"rise": 9, "saliency": 3}, methods, registered, "sanity_method_images", budgets
    )
    assert sanity == {"rise": 8, "saliency": 3, "occlusion": 6}
    with pytest.raises(UserError, match=r"quality.sanity_method_images: \['nope'\] are not"):
        plan.image_budgets({"nope": 3}, methods, registered, "sanity_method_images")
    assert plan.chunk_budgets(methods, budgets, second) == {"rise": 8}
    kept = [p for p in second if plan.scored_here("rise", p, budgets)]
    assert kept == [6, 7] and plan.scored_here("saliency", 10, budgets)
    params = {m: {} for m in methods}
    assert list(scoring.within_budget(params, 7, budgets)) == ["saliency", "rise"]


def test_methods_come_from_the_registry():
    reg = registry()
    assert plan.scored_methods(reg, ["filters"]) == [m for m in reg if m != "filters"]
    assert plan.scored_methods(reg, []) == list(reg)
    with pytest.raises(UserError, match=r"quality.exclude: \['nope'\]"):
        plan.scored_methods(reg, ["nope"])
    p = plan.method_params(TEST["cnn"], ["lime", "saliency"], TEST["quality"]["methods"])
    assert p["lime"]["num_samples"] == TEST["quality"]["methods"]["lime"]["num_samples"]
    assert p["lime"]["segmentation"] == TEST["cnn"]["lime"]["segmentation"]
    assert p["saliency"] == TEST["cnn"]["saliency"]


def test_quality_map_key_order_and_refusal():
    a, b = np.ones((4, 4)), np.zeros((4, 4))
    assert scoring.quality_map("x", {"map_raw": a, "pixel_weights": b}) is not None
    assert scoring.quality_map("x", {"map_raw": a, "pixel_weights": b}).sum() == 16
    assert scoring.quality_map("lime", {"pixel_weights": b}).sum() == 0
    with pytest.raises(UserError, match="method filters produces no per-pixel map"):
        scoring.quality_map("filters", {"activation_6_0": a})


METRIC = "relevance_rank"  # any registered metric where higher is better


def _entry(diffs_ab):
    """A metric's summary for methods a, b, c where a - b = diffs_ab per image, c far below."""
    n = len(diffs_ab)
    rows = []
    for i, d in enumerate(diffs_ab):
        base = 0.5 + 0.01 * (i % 3)
        rows += [(m, f"i{i}", METRIC, v) for m, v in (("a", base + d), ("b", base), ("c", 0.0))]
    s = summary.summarise(rows, [], [], ["a", "b", "c"], {"n": 500, "seed": 0})
    assert s["metrics"][METRIC]["by_method"]["a"]["n"] == n
    return s["metrics"][METRIC]


def test_ranking_states_a_win_only_when_the_ci_excludes_zero():
    clear = _entry([0.1 + 0.01 * (i % 4) for i in range(20)])
    assert [r["method"] for r in clear["ranking"]] == ["a", "b", "c"]
    assert clear["ranking"][0]["vs_next"]["verdict"] == ">"
    assert clear["ranking"][0]["vs_next"]["low"] > 0
    assert summary.ranking_line(METRIC, clear).startswith("a > (diff +0.1")
    tie = _entry([0.1, -0.1] * 10)
    assert tie["ranking"][0]["vs_next"]["verdict"] == "≈"
    d = summary.pair_difference(clear, "b", "a")  # stored as (a, b): the reverse is negated
    assert d["mean"] == pytest.approx(-summary.pair_difference(clear, "a", "b")["mean"])
    assert d["low"] == pytest.approx(-summary.pair_difference(clear, "a", "b")["high"])
    assert summary.verdict({"low": 0.1, "high": 0.2}, lower_is_better=True) == "<"


def test_metric_registry_directions_and_references():
    """Direction and reference row come from the registry (not from the metric's name)."""
    assert M.lower_is_better("deletion_auc_blur") and not M.lower_is_better("insertion_auc_road")
    assert not M.lower_is_better("deletion_norm_mean")  # random - method: higher is better
    assert M.info("pointing_game")["reference"] == "chance"
    assert M.info("deletion_auc_mean")["reference"] == "random"
    assert M.info("insertion_norm_blur")["reference_mean"] == 0.0
    with pytest.raises(KeyError, match="not a registered quality metric"):
        M.info("deletion_auc_sepia")
    mask = np.zeros((10, 10), bool)
    mask[2:4, 2:4] = True
    assert M.chance(mask, 1) == {
        "relevance_mass": 0.04,
        "relevance_rank": 0.04,
        "pointing_game": 0.12,  # the 2 x 2 square grown by 1 px: 4 + 8 edge neighbours
        "roc_auc": 0.5,
    }
    a = np.where(mask, 1.0, 0.0)
    assert M.localisation(a, mask) == {
        "relevance_mass": 1.0,
        "relevance_rank": 1.0,
        "pointing_game": 1.0,
        "roc_auc": 1.0,
    }


def test_shared_random_curves_equal_metrics_faithfulness():
    """The stage computes the random order once per image and fill (random_baseline); numbers
    equal the library's faithfulness() computing it per map with the same seed."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(4 * 16 * 16, 3)
    ).eval()

    def predict(b):
        with torch.no_grad():
            return net(b).softmax(1).numpy()

    x = torch.rand(1, 3, 16, 16)
    maps = {"m1": np.random.default_rng(1).random((16, 16)), "m2": np.arange(256.0).reshape(16, 16)}
    f = {"fills": ["blur", "mean"], "steps": 8, "blur_sigma": 2.0}
    rows, curves = scoring.faithfulness_rows(predict, x, maps, 1, "img", f, seed=3, batch=7)
    got = {(m, k): v for m, _, k, v in rows}
    from workflow_scripts.cnn.methods import image_seed

    seed = image_seed(3, "img") % (2**32)
    for fill in f["fills"]:
        for m, a in maps.items():
            ref = faithfulness(
                predict, x, a, 1, fill=fill, steps=8, seed=seed, blur_sigma=2.0, batch_size=7
            )
            for key in ("deletion_auc", "insertion_auc", "deletion_norm", "insertion_norm"):
                mode, kind = key.split("_")
                assert got[(m, f"{mode}_{kind}_{fill}")] == pytest.approx(ref[key], abs=1e-9)
            assert got[("random", f"deletion_auc_{fill}")] == pytest.approx(
                ref["deletion_auc_random"], abs=1e-9
            )
            np.testing.assert_allclose(curves[(m, fill, "insertion")], ref["insertion_curve"])


# ---------------------------------------------------------------- the test build


def _csv(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_scores_hold_every_scored_method_and_metric(test_build):
    rows = _csv(test_build.out / "quality" / "scores.csv")
    fills = TEST["quality"]["faithfulness"]["fills"]
    metrics = set(M.LOCALISATION) | {
        f"{k}_{fill}"
        for fill in fills
        for k in ("deletion_auc", "insertion_auc", "deletion_norm", "insertion_norm")
    }
    images = {r["image"] for r in rows}
    assert len(images) == TEST["quality"]["images"]
    found = {(r["method"], r["metric"]) for r in rows}
    assert {(m, k) for m in SCORED for k in metrics} <= found
    assert not any(r["method"] == "filters" for r in rows)  # excluded
    budgets = TEST["quality"]["method_images"]
    for m in SCORED:  # one value per image (of the method's budget: the first ones) and metric
        mine = [r for r in rows if r["method"] == m]
        n = min(budgets.get(m, len(images)), len(images))
        assert len(mine) == n * len(metrics), m
        assert {r["image"] for r in mine} == {f"test_{i}" for i in range(n)}, m
    assert min(budgets.values()) < len(images)  # the test config exercises a budget
    assert {("chance", k) for k in M.LOCALISATION} <= found
    assert {("random", f"deletion_auc_{fill}") for fill in fills} <= found


def test_summary_intervals_contain_their_means(test_build):
    s = json.loads((test_build.out / "quality" / "summary.json").read_text())
    assert s["methods"] == SCORED and s["images"] == TEST["quality"]["images"]
    for metric, e in s["metrics"].items():
        for m, v in e["by_method"].items():
            if v["mean"] is not None:
                assert v["low"] <= v["mean"] <= v["high"], (metric, m)
        for p in e["pairs"]:
            if p["mean"] is not None:
                assert p["low"] <= p["mean"] <= p["high"]
    assert set(s["sanity"]) == set(SCORED)
    assert s["sanity_images"] == TEST["quality"]["sanity_images"]
    assert s["sanity"]["saliency"]["layers"][0] == "fc.3"  # the output layer first
    # a sanity budget (the test config's rise: 1 of 2 images): its CIs are over its images only
    n_sanity = TEST["quality"]["sanity_images"]
    for m in SCORED:
        n = min(TEST["quality"]["sanity_method_images"].get(m, n_sanity), n_sanity)
        assert {v["n"] for v in s["sanity"][m]["spearman"]} == {n}, m
    sanity_rows = _csv(test_build.out / "quality" / "sanity.csv")
    assert {r["image"] for r in sanity_rows if r["method"] == "rise"} == {"test_0"}
    assert {r["image"] for r in sanity_rows if r["method"] == "lime"} == {"test_0", "test_1"}
    # the chance level of relevance mass is the mask area
    assert 0 < s["metrics"]["relevance_mass"]["reference"]["mean"] < 0.6
    table = _csv(test_build.out / "quality" / "summary.csv")
    assert {(r["method"], r["metric"]) for r in table} >= {(m, "roc_auc") for m in SCORED}


def test_quality_figures_and_report_section(test_build):
    for name in ("metrics", "curves", "sanity"):
        assert (test_build.out / paths.quality_figure("", name)).stat().st_size > 5000
    md = (test_build.out / "report" / "quiz.md").read_text()
    assert (
        "## Which explanation to trust" in md
        and "**Localisation** (relevance mass): trust **" in md
    )
    # the budgeted methods' n, in the note and beside their CIs
    assert "quality.method_images" in md and "KernelSHAP n=4, Occlusion n=6" in md
    assert "] n=4 |" in md
    answers = json.loads((test_build.out / "report" / "answers.json").read_text())
    q11 = next(a for a in answers["answers"] if a["id"] == 11)
    assert "paired" in " ".join(q11["numbers"])
    assert q11["numbers"]["images"] == TEST["quality"]["images"]


def test_a_chunk_recomputed_gives_the_same_numbers(test_build):
    """Same config and seed -> the same scores, in another process, for an image of chunk 1."""
    from workflow_scripts.assets.models import load_checkpoint
    from workflow_scripts.quality.images import from_dataset

    q = TEST["quality"]
    position = q["images_per_job"]  # the first image of chunk 1
    x, masks, labels, names = from_dataset(
        test_build.out / "assets/dataset/test.npz", q["images_per_class"], position + 1, [position]
    )
    model = load_checkpoint(test_build.out / "assets/checkpoint.pth")
    params = plan.method_params(TEST["cnn"], SCORED, q["methods"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the job ran (threads: 1): float sums in the same order
    try:
        rows, _ = scoring.score_images(
            model,
            x,
            masks,
            labels,
            names,
            params,
            q,
            torch.device("cpu"),
            auto_batch(q["batch_size"], torch.device("cpu")),  # the job's batch: the same sums
            budget=([position], q["method_images"]),
        )
    finally:
        torch.set_num_threads(threads)
    built = {
        (r["method"], r["metric"]): float(r["value"])
        for r in _csv(test_build.out / paths.quality_chunk("", 1))
        if r["image"] == names[0]
    }
    again = {(m, k): v for m, _, k, v in rows}
    assert again == built
    # the methods whose budget ends before this image did not score it
    scored = {m for m, _ in again if m in SCORED}
    assert scored == {m for m in SCORED if q["method_images"].get(m, 99) > position}


# ---------------------------------------------------------------- exact rerun sets


def dry_run(build, tmp_path, override: str = "", *extra) -> dict[str, int]:
    args = workflow_args(build.workflow, "-n", "--configfile", build.workflow / "config/test.yaml")
    if override:
        path = tmp_path / "override.yaml"
        path.write_text(override)
        args.append(path)
    return jobs_of(snakemake(*args, *extra, cwd=build.work).stdout)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("quality: {faithfulness: {steps: 6}}", {"quality_chunk": 2}),
        ("quality: {pointing_tolerance: 0}", {"quality_chunk": 2}),
        ("quality: {methods: {smoothgrad: {samples: 4}}}", {"quality_chunk": 2}),
        ("quality: {sanity_methods: {lime: {num_samples: 12}}}", {"quality_sanity": 1}),
        # a sanity budget that cuts the method's images reruns its sanity job alone
        ("quality: {sanity_method_images: {lime: 1}}", {"quality_sanity": 1}),
        ("quality: {sanity_method_images: {rise: 2}}", {"quality_sanity": 1}),
        ("quality: {seed: 1}", {"quality_chunk": 2, "quality_sanity": SANITY}),
        ("quality: {bootstrap: {n: 300}}", {}),
        # a budget reruns only the chunks whose images it adds or removes
        ("quality: {method_images: {kernel_shap: 5}}", {"quality_chunk": 1}),
        ("quality: {method_images: {occlusion: 8}}", {"quality_chunk": 1}),
        # another selection of images: every job that holds one
        (
            "quality: {images: 12, images_per_class: 2}",
            {"quality_chunk": 2, "quality_sanity": SANITY},
        ),
        (
            "quality: {images: 13, images_per_class: 2}",
            {"quality_chunk": 3, "quality_sanity": SANITY},
        ),
    ],
)
def test_a_quality_parameter_reruns_only_quality_jobs_and_the_report(
    test_build, tmp_path, override, expected
):
    assert dry_run(test_build, tmp_path, override) == {
        **expected,
        "quality_merge": 1,
        "quality_figures": 1,
        **QUIZ,
    }


def test_fewer_images_rerun_only_the_chunk_that_changes(test_build, tmp_path):
    """The selection is a prefix: dropping the last image changes only the last chunk."""
    assert dry_run(test_build, tmp_path, "quality: {images: 10}") == {
        "quality_chunk": 1,
        "quality_merge": 1,
        "quality_figures": 1,
        **QUIZ,
    }


def test_a_budget_that_cuts_no_image_reruns_no_quality_job(test_build, tmp_path):
    """Only the report, whose header carries the config's hash."""
    n = TEST["quality"]["images"]
    # rise has a budget already (its own sanity job): a budget past the images changes nothing;
    # naming a method that had none would move it out of the shared sanity job
    assert dry_run(test_build, tmp_path, f"quality: {{method_images: {{rise: {n + 3}}}}}") == QUIZ


def test_a_sanity_budget_that_cuts_no_image_reruns_no_quality_job(test_build, tmp_path):
    n = TEST["quality"]["sanity_images"]
    # lime and kernel_shap have sanity budgets already (jobs of their own)
    override = f"quality: {{sanity_method_images: {{kernel_shap: {n}, lime: {n + 3}}}}}"
    assert dry_run(test_build, tmp_path, override) == QUIZ


def test_a_method_setting_reruns_the_quality_jobs_too(test_build, tmp_path):
    assert dry_run(test_build, tmp_path, "cnn: {gradcam: {layer: 25}}") == {
        "gradcam_0": 1,  # the test config's two chunks of observed images (cnn.images_per_job)
        "gradcam_1": 1,
        "gradcam_figure": 1,
        **QUALITY_JOBS,
        "quality_sanity": 1,  # the shared sanity job, which holds Grad-CAM
        **QUIZ,
    }


def test_disabled_stage_has_no_jobs(test_build, tmp_path):
    off = "quality: {enabled: false}"
    # the report changes (its inputs lose the summary and the figures), and quiz 11 falls back to
    # the observed images, whose answer depends on SmoothGrad's seed: its stability reruns join
    assert dry_run(test_build, tmp_path, off) == {
        "smoothgrad_seed": 3,
        "quiz_answers": 1,
        "quiz_report": 1,
        "all": 1,
    }
    everything = dry_run(test_build, tmp_path, off, "--forceall")
    assert not any(rule.startswith("quality") for rule in everything)
    assert dry_run(test_build, tmp_path, "", "--forceall").items() >= QUALITY.items()


# ---------------------------------------------------------------- quiz 11 and the section


def _summary(diffs) -> dict:
    rows = []
    for i, d in enumerate(diffs):
        rows += [
            ("saliency", f"i{i}", "relevance_mass", 0.4),
            ("smoothgrad", f"i{i}", "relevance_mass", 0.4 + d),
            ("chance", f"i{i}", "relevance_mass", 0.15),
        ]
    s = summary.summarise(rows, [], [], ["saliency", "smoothgrad"], {"n": 500, "seed": 0})
    return {**s, "images": len(diffs), "excluded": ["filters"], "sanity_images": 0}


def test_quiz_11_from_relevance_mass_with_its_interval(tmp_path):
    ctx = {
        "results": tmp_path,
        "source": "offline",
        "asset_set": "offline",
        "quality": _summary([0.1, 0.12, 0.08, 0.1] * 5),
    }
    a = food_mass_quality(ctx, {})
    assert a.choice == ["smoothgrad_clearer"]
    # the difference over the room between chance (0.15) and all mass on the food
    assert a.margin == pytest.approx(0.1 / 0.85)
    assert a.basis == "measured" and "offline asset set" in a.caveat
    assert a.numbers["images"] == 20
    assert a.numbers["food share of the image (chance)"] == pytest.approx(0.15)
    assert "tied" not in a.why
    ctx["quality"] = _summary([0.1, -0.1] * 10)
    tied = food_mass_quality(ctx, {})
    assert "tied" in tied.why and tied.margin == 0.0  # a tie is weak


def test_section_says_when_the_stage_was_off():
    sec = section(None)
    assert "quality.enabled: false" in sec["paragraphs"][0] and sec["figures"] == []
    on = section(_summary([0.1, 0.12] * 5), shortcut_md="## shortcut\n\n| a | b |")
    assert on["markdown"].startswith("## shortcut")


def test_the_verdict_comes_first_and_the_table_ranks_readable_names():
    on = section(_summary([0.1, 0.12] * 5))
    first = on["paragraphs"][0]
    assert first.startswith("**Localisation** (relevance mass): trust **SmoothGrad** most (")
    assert "chance 0.15" in first and "every other method is behind it" in first
    t = on["table"]
    assert t["header"] == ["method", "relevance mass ↑"]
    assert [r[0] for r in t["rows"]] == ["Saliency map", "SmoothGrad"]
    assert t["ranks"] == [[None, 2], [None, 1]] and t["count"] == 2
    assert not any("diff +" in p for p in on["paragraphs"])  # the long ranking strings are gone
    # how it was measured goes under the table: the verdict and the table open the section
    assert on["notes"][0].startswith("How it was measured")
    assert not any("How it was measured" in p for p in on["paragraphs"])
    tied = section(_summary([0.1, -0.1] * 10))["paragraphs"][0]
    assert "; tied with " in tied and tied.endswith("(paired CIs hold 0).")


def test_the_verdict_names_the_methods_that_fail_the_sanity_check():
    rows = [(m, "i0", "relevance_mass", v) for m, v in (("saliency", 0.5), ("rise", 0.4))]
    rows.append(("chance", "i0", "relevance_mass", 0.2))
    sanity = [
        (m, f"i{k}", step, layer, rho, 0.5)
        for k in range(3)
        for m, last in (("saliency", 0.05), ("rise", 0.84))
        for step, layer, rho in ((1, "fc", 0.9), (2, "conv", last))
    ]
    s = summary.summarise(rows, [], sanity, ["saliency", "rise"], {"n": 100, "seed": 0})
    s.update(images=1, excluded=[], sanity_images=3)
    text = " ".join(section(s)["paragraphs"])
    assert "**Sanity check** (cascading randomisation): RISE (0.84) barely changes" in text
    assert "Saliency map (" not in text.split("**Sanity check**")[1]
    t = section(s)["table"]
    assert t["header"][-1] == "sanity: Spearman after randomisation ↓"
    assert [r[-1] for r in t["ranks"]] == [1, 2]  # lower is better
