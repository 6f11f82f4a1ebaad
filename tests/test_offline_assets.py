"""The offline asset set: determinism, exact masks, class coverage, and a real (tiny) training
run."""

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from workflow_scripts.assets.images import get_paths_labels, load_batch
from workflow_scripts.assets.models import load_checkpoint
from workflow_scripts.assets.offline_dataset import (
    _paste,
    load_font,
    make_spec,
    render_glyph,
    render_image,
    render_split,
)
from workflow_scripts.assets.train import predict
from workflow_scripts.core.errors import UserError

from conftest import ROOT


@pytest.fixture(scope="module")
def spec():
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    return make_spec(cfg["offline"])


def test_same_seed_same_images_any_worker_count(spec):
    a = render_split(7, "val", 30, spec, workers=1, chunk=7)
    b = render_split(7, "val", 30, spec, workers=2, chunk=11)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    c = render_split(8, "val", 30, spec, workers=1)
    assert not np.array_equal(a[0], c[0])


def test_image_i_does_not_depend_on_others(spec):
    img, mask, label = render_image(3, 0, 17, spec)
    imgs, masks, labels = render_split(3, "train", 18, spec)
    assert np.array_equal(imgs[17], img) and np.array_equal(masks[17], mask) and labels[17] == label


def test_mask_is_where_the_glyph_is_opaque(spec):
    """Composite = a*glyph + (1-a)*bg: black vs white backgrounds differ by (1-a)*255 exactly
    there."""
    glyph = render_glyph(spec["font"], spec["glyph_px"], spec["glyphs"][8][0])
    black, white = (
        Image.new("RGB", (128, 128), (0, 0, 0)),
        Image.new("RGB", (128, 128), (255, 255, 255)),
    )
    m1 = _paste(black, glyph, np.random.default_rng(5), 70, 20)
    m2 = _paste(white, glyph, np.random.default_rng(5), 70, 20)
    assert np.array_equal(m1, m2) and 300 < m1.sum() < 128 * 128 / 2
    diff = np.abs(np.asarray(white, int) - np.asarray(black, int)).max(axis=2)
    opaque = diff <= 127
    assert (opaque == m1).mean() > 0.998


def test_rendered_mask_marks_changed_food_pixels(spec):
    img, mask, _ = render_image(0, 2, 4, spec)
    assert 0.02 < mask.mean() < 0.5
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8


def test_every_class_present_and_balanced(spec):
    _, _, labels = render_split(0, "test", 55, spec)
    assert np.bincount(labels, minlength=11).tolist() == [5] * 11


def test_missing_font_names_the_package(tmp_path):
    with pytest.raises(UserError, match="fonts-noto-color-emoji"):
        load_font(str(tmp_path / "NoFont.ttf"))


def test_test_build_outputs(test_build):
    out = test_build.out
    summary = json.loads((out / "assets/dataset.json").read_text())
    assert [o["label"] for o in summary["observed"]] == list(range(11))
    for split in ("train", "val", "test"):
        with np.load(out / f"assets/dataset/{split}.npz") as z:
            assert z["images"].shape[1:] == (128, 128, 3) and z["masks"].shape[1:] == (128, 128)
            assert set(np.unique(z["labels"])) == set(range(11))
    paths, labels = get_paths_labels(out / "assets/food")
    assert labels == list(range(11)) and all(
        p.with_name(p.stem + ".mask.png").is_file() for p in paths
    )
    assert sorted(p.stem for p in (out / "assets/observed").glob("*.npz")) == ["0_0", "1_1", "2_2"]
    with np.load(out / "assets/observed/2_2.npz") as z:
        assert (
            z["image"].shape == (3, 128, 128)
            and z["mask"].shape == (128, 128)
            and int(z["label"]) == 2
        )
        assert 0.02 < z["mask"].mean() < 0.6


def test_tiny_training_beats_chance_and_checkpoint_round_trips(test_build):
    out = test_build.out
    metrics = json.loads((out / "assets/training_metrics.json").read_text())
    assert metrics["heldout_accuracy"] > 0.5, metrics["heldout_accuracy"]  # chance is 1/11
    assert (
        len(metrics["curve"]) == metrics["epochs"]
        and np.array(metrics["confusion_matrix"]).sum() == metrics["n_test"]
    )
    model = load_checkpoint(out / "assets/checkpoint.pth")  # the loader the real checkpoint uses
    with np.load(out / "assets/dataset/test.npz") as z:
        preds = predict(model, z["images"], torch.device("cpu"))
        assert (preds == z["labels"]).mean() == pytest.approx(metrics["heldout_accuracy"])
    assert (
        json.loads((out / "assets/model.json").read_text())["parameters"] == metrics["parameters"]
    )


def test_training_logs_a_line_per_tenth_of_its_batches(test_build):
    """No silent minute: the training job's log has a progress line at every 10 % of its batches
    (with the time left), not only one per epoch."""
    text = (test_build.out / "logs/train_classifier/train_classifier.log").read_text()
    lines = [line for line in text.splitlines() if " training: " in line and " batches (" in line]
    assert [int(line.split("batches (")[1].split(" %")[0]) // 10 for line in lines] == list(
        range(1, 11)
    ), lines
    assert all("s left" in line for line in lines)


def test_observed_tensors_are_the_loader_output(test_build):
    out = test_build.out
    paths, _ = get_paths_labels(out / "assets/food")
    for p in paths[:3]:
        with np.load(out / f"assets/observed/{p.stem}.npz") as z:
            assert np.array_equal(z["image"], load_batch([p]).numpy()[0])


def test_start_and_done_lines_name_the_item(test_build):
    """A job's first and last lines carry its wildcards (`rule hidden_pca (item=2): start`); a
    job without wildcards is named by its rule."""
    from types import SimpleNamespace

    from snakemake.iocontainers import Wildcards

    from workflow_scripts.core.step import job_name

    text = (test_build.out / "logs/hidden_pca/q2.log").read_text()
    assert "rule hidden_pca (item=2): start (threads=" in text
    assert "rule hidden_pca (item=2): done in" in text
    wildcards = Wildcards(fromdict={"method": "lime", "chunk": "0"})
    assert job_name(SimpleNamespace(rule="quality_sanity", wildcards=wildcards)) == (
        "quality_sanity (method=lime, chunk=0)"
    )
    assert job_name(SimpleNamespace(rule="train_classifier", wildcards=Wildcards())) == (
        "train_classifier"
    )
