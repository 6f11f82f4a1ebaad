"""The controlled shortcut (offline.shortcut): the default set is untouched, the marker is exactly
where and as often as configured, the reliance measurement is right on an analytic model and
deterministic on a real one, and the workflow runs it only when asked.

A tiny model trained for a test's time budget (440 images, 2 epochs, width 1/16) did not learn
the shortcut class at all (0 % on it with or without the marker), so whether a trained model uses
the marker is shown by the full run (docs/quality.md), and here by an analytic model that sees
only the
marker."""

import copy
import json

import numpy as np
import pytest
import torch
import yaml

from workflow_scripts.assets.models import Classifier
from workflow_scripts.assets.offline_dataset import (
    build,
    make_spec,
    marker_mask,
    render_split,
)
from workflow_scripts.cnn.layers import with_homework_layers
from workflow_scripts.core.errors import UserError
from workflow_scripts.quality import shortcut as S
from workflow_scripts.quality.shortcut_report import markdown

from conftest import ROOT, copy_workflow, jobs_of, snakemake, workflow_args

CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
# "auto" layers as rules/common.smk resolves them on the homework Classifier
with_homework_layers(CONFIG)
TEST = yaml.safe_load((ROOT / "config" / "test.yaml").read_text(encoding="utf-8"))
CPU = torch.device("cpu")


def offline(**shortcut) -> dict:
    cfg = copy.deepcopy(CONFIG["offline"])
    cfg["shortcut"].update(shortcut)
    return cfg


def built(tmp_path, cfg: dict, splits: dict, seed: int = 0) -> dict:
    """Build a small set with build() (the rule's function); return its splits' arrays."""
    cfg = {**cfg, "splits": splits}
    paths = {s: tmp_path / f"{s}.npz" for s in splits}
    summary = build(cfg, seed, 1, paths, tmp_path / "food", tmp_path / "dataset.json")
    out = {"summary": summary}
    for s, p in paths.items():
        with np.load(p) as z:
            out[s] = {k: z[k] for k in z.files}
    return out


# ---- the dataset


def test_disabled_shortcut_is_the_default_set(tmp_path):
    """Off (the default), whatever its other keys say: the same spec as a config without the
    option, the same pixels, and the split files hold only images, masks and labels."""
    without = copy.deepcopy(CONFIG["offline"])
    del without["shortcut"]
    off = offline(
        enabled=False, p=0.3, p_other=0.5, marker={"size": 30, "colour": [0] * 3, "x": 0, "y": 0}
    )
    assert make_spec(off) == make_spec(without)
    data = built(tmp_path, off, {"train": 33, "val": 11, "test": 22})
    ref = render_split(0, "train", 33, make_spec(without))
    assert sorted(data["train"]) == ["images", "labels", "masks"]
    for key, arr in zip(("images", "masks", "labels"), ref):
        assert np.array_equal(data["train"][key], arr)


def test_marker_share_position_and_masks(tmp_path):
    """Exactly round(p * n) of the class's images carry the marker (round(p_other * n) of each
    other class's), the marker mask is exactly the square on those and empty elsewhere, the square
    holds the colour, no other pixel changes, and the food mask loses the pixels it covers."""
    marker = {"size": 10, "colour": [255, 0, 255], "x": 100, "y": 7}
    cfg = offline(enabled=True, **{"class": 2}, p=0.9, p_other=0.25, test_p=0.5, marker=marker)
    data = built(tmp_path, cfg, {"train": 220, "val": 44, "test": 88})
    default = {
        s: render_split(0, s, n, make_spec(CONFIG["offline"]))
        for s, n in (("train", 220), ("val", 44), ("test", 88))
    }
    square = np.zeros((128, 128), bool)
    square[7:17, 100:110] = True
    assert np.array_equal(marker_mask(marker, 128), square)
    for split, share in (("train", 0.9), ("val", 0.9), ("test", 0.5)):
        d, (img0, mask0, lab0) = data[split], default[split]
        per_class = len(lab0) // 11
        counts = np.bincount(d["labels"][d["has_marker"]], minlength=11)
        expected = [round(0.25 * per_class)] * 11
        expected[2] = round(share * per_class)
        assert counts.tolist() == expected, split
        assert data["summary"]["splits"][split]["marker_counts"] == expected
        has = d["has_marker"]
        assert np.array_equal(d["marker"][has], np.broadcast_to(square, (has.sum(), 128, 128)))
        assert not d["marker"][~has].any()
        assert (d["images"][has][:, square] == [255, 0, 255]).all()
        assert np.array_equal(d["images"][:, ~square], img0[:, ~square])  # nothing else moves
        assert np.array_equal(d["images"][~has], img0[~has])
        assert np.array_equal(d["masks"][has], mask0[has] & ~square)
        assert np.array_equal(d["masks"][~has], mask0[~has])
        assert np.array_equal(d["labels"], lab0)


def test_marker_that_does_not_fit_is_one_line():
    cfg = offline(enabled=True, marker={"size": 12, "colour": [255, 0, 255], "x": 120, "y": 0})
    with pytest.raises(UserError, match=r"offline\.shortcut\.marker: .* does not fit"):
        make_spec(cfg)


# ---- the measurement's parts


class MarkerDetector(torch.nn.Module):
    """Predicts class `cls` when the marker's colour fills its square, else class `other`."""

    def __init__(self, marker, cls, other):
        super().__init__()
        self.square = torch.from_numpy(marker_mask(marker, 128))
        self.colour = torch.tensor(marker["colour"], dtype=torch.float32) / 255
        self.cls, self.other = cls, other

    def forward(self, x):
        patch = x[:, :, self.square]  # N x 3 x pixels
        hit = ((patch - self.colour[None, :, None]).abs() < 0.01).all(1).all(1).float()
        out = torch.zeros(len(x), 11)
        out[:, self.cls] = hit
        out[:, self.other] = 0.5
        return out


def test_reliance_of_a_model_that_only_sees_the_marker():
    """A model that predicts the class exactly when the marker is there: accuracy 100 % with it,
    0 % without, and every other image (never predicted as the class when clean) flips."""
    marker = CONFIG["offline"]["shortcut"]["marker"]
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 200, size=(33, 128, 128, 3), dtype=np.uint8)
    labels = np.arange(33) % 11
    r = S.reliance(MarkerDetector(marker, 1, 0), clean, labels, 1, marker, CPU)
    assert (r["accuracy_with_marker"], r["accuracy_without_marker"]) == (1.0, 0.0)
    assert r["class_images"] == 3 and r["other_images"] == 30
    assert r["flip_candidates"] == 30 and r["flips"] == 30 and r["flip_rate"] == 1.0
    assert r["other_accuracy_without_marker"] == pytest.approx(3 / 30)  # class 0 right by default
    assert r["other_accuracy_with_marker"] == 0.0


def tiny_params() -> dict:
    """Every method's config as the test config sets it (small sample counts)."""
    cnn = {m: b for m, b in copy.deepcopy(CONFIG["cnn"]).items() if isinstance(b, dict)}
    for m, block in TEST["cnn"].items():
        if isinstance(block, dict):  # method blocks (not cnn.images_per_job)
            cnn[m].update(block)
    cnn["lime"]["num_samples"] = 50
    cnn["filters"].update(pairs=[[6, 0]], iterations=1)  # run once to learn it has no map
    return cnn


def test_measurement_is_deterministic_and_reported(tmp_path):
    """Two runs on the same tiny model and data give the same JSON; every registered method with a
    map is scored; the report shows the numbers and the figures' links."""
    from workflow_scripts.cnn.methods import registry

    cfg = offline(enabled=True, eval_images=2, bootstrap=200)
    data = built(tmp_path, cfg, {"train": 11, "val": 11, "test": 33})
    torch.manual_seed(0)
    model = Classifier(0.0625).eval()
    spec = data["summary"]["spec"]
    runs = [
        S.measure(model, data["test"], spec, 0, cfg["shortcut"], tiny_params(), CPU)
        for _ in range(2)
    ]
    (a, ex_a), (b, ex_b) = runs
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert all(np.array_equal(ex_a[k], ex_b[k]) for k in ex_a)
    assert set(a["methods"]) | set(a["no_map"]) == set(registry())
    assert a["no_map"] == ["filters"]
    assert a["chance"] == 144 / 128**2
    assert a["eval_images"] == ["shortcut_1", "shortcut_12"]
    for m, r in a["methods"].items():  # an untrained model's Grad-CAM can be all zero: nan
        assert len(r["per_image"]) == 2 and r["n"] == np.isfinite(r["per_image"]).sum(), m
        assert r["n"] == 0 or r["low"] <= r["mean"] <= r["high"], m
        votes = {s["reveals"] for s in r["statistics"].values()}
        assert set(r["statistics"]) == {"relevance_mass", "relevance_rank", "pointing_game"}
        for stat, s in r["statistics"].items():
            assert s["reveals"] == (s["low"] > 2.0 * a["chances"][stat]), (m, stat)
        assert r["verdict"] == (
            "split" if len(votes) > 1 else "reveals" if True in votes else "hides"
        )
        np.testing.assert_equal(r["mean"], r["statistics"]["relevance_mass"]["mean"])  # the figure
    assert sorted(a["reveal"] + a["hide"] + a["split"]) == sorted(a["methods"])
    # rank and mass share the marker's area share as chance; pointing the same without tolerance
    assert a["chances"] == {k: 144 / 128**2 for k in a["chances"]}
    text = markdown(a, "..")
    assert "../figures/quality/shortcut_mass.png" in text
    assert f"{100 * a['reliance']['accuracy_with_marker']:.1f} %" in text
    assert all(f"| {m} |" in text for m in a["methods"])


def test_a_coarse_map_on_the_marker_splits_the_verdict():
    """An 8 x 8 map (16-px cells, upsampled) whose one hot cell holds the marker, on a diffuse
    background: its top pixels are in the marker's cell (rank and pointing reveal it), but the
    12-px marker holds only 144 of the map's ~2,700 units of mass, so mass alone hides it. The
    verdict is split and the report says where the statistics disagree and why."""
    from workflow_scripts.quality import metrics as M

    marker = {"size": 12, "colour": [255, 0, 255], "x": 4, "y": 4}
    mask = marker_mask(marker, 128)
    rng = np.random.default_rng(0)
    maps = []
    for _ in range(6):
        coarse = 0.1 * rng.random((8, 8)) + 0.1
        coarse[0, 0] = 1.0
        maps.append(np.kron(coarse, np.ones((16, 16))))
    scores = {"coarse": {k: [M.localisation(a, mask)[k] for a in maps] for k in S.statistics()}}
    chances = M.chance(mask)
    r = S.judge(scores, chances, {"reveal_factor": 8.0, "seed": 0, "bootstrap": 200})["coarse"]
    stats = r["statistics"]
    # the hot cell's 256 tied pixels: the first 144 by flat index are rows 0-8, 60 of them marker
    assert stats["relevance_rank"]["mean"] == pytest.approx(60 / 144)
    assert stats["pointing_game"]["mean"] == pytest.approx(144 / 256)  # ties: the marker's share
    assert stats["relevance_mass"]["mean"] == pytest.approx(np.mean([144 / a.sum() for a in maps]))
    assert not stats["relevance_mass"]["reveals"]
    assert stats["relevance_rank"]["reveals"] and stats["pointing_game"]["reveals"]
    assert r["verdict"] == "split" and not r["reveals"]
    data = {
        "methods": {"coarse": r},
        "chances": {k: chances[k] for k in S.statistics()},
        "split": ["coarse"],
    }
    from workflow_scripts.quality.shortcut_report import _disagreement

    line = _disagreement(data, S.statistics())
    assert "coarse (reveals by relevance rank, pointing game; not by relevance mass)" in line


def test_stale_dataset_is_one_line(tmp_path):
    cfg = offline(enabled=True)
    data = built(tmp_path, cfg, {"train": 11, "val": 11, "test": 22})
    test = dict(data["test"])
    i = int(np.flatnonzero(test["has_marker"])[0])
    test["images"] = test["images"].copy()
    test["images"][i, 60, 60] ^= 1
    with pytest.raises(UserError, match=f"test image {i} .* --forcerun offline_dataset"):
        S.clean_test_images(test, data["summary"]["spec"], 0)


# ---- the workflow


def test_rules_and_reruns(tmp_path):
    """The default DAG has no shortcut job and its dataset is not rerun by any shortcut key while
    the shortcut is off; the shortcut config adds exactly the measurement; with source hw9 the
    shortcut is refused in one line."""
    wf = copy_workflow(tmp_path / "wf")
    work = tmp_path / "work"
    work.mkdir()
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text("offline: {splits: {train: 22, val: 11, test: 11}}\n")
    base = workflow_args(wf, "--configfile", wf / "config/test.yaml", tiny)
    target = "results/test/assets/dataset.json"
    snakemake(target, "--cores", "1", *base, cwd=work)

    def dry(text="", target=target, check=True):
        extra = tmp_path / "extra.yaml"
        extra.write_text(text or "{}\n")
        return snakemake(target, "-n", *base, extra, cwd=work, check=check)

    off = (
        "offline: {shortcut: {class: 3, p: 0.5, eval_images: 4,"
        " marker: {size: 5, colour: [0, 0, 0], x: 1, y: 1}}}\n"
    )
    assert jobs_of(dry(off).stdout) == {}
    on = "offline: {shortcut: {enabled: true}}\n"
    assert jobs_of(dry(on).stdout) == {"offline_dataset": 1}
    assert "shortcut_reliance" not in jobs_of(dry(target="all").stdout)
    assert jobs_of(dry(on, target="all").stdout)["shortcut_reliance"] == 1
    proc = dry("source: hw9\n" + on, target="all", check=False)
    assert proc.returncode != 0
    assert "offline.shortcut.enabled: the shortcut is drawn into the offline images" in (
        proc.stdout + proc.stderr
    )
