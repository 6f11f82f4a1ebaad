"""The region annotations of the homework images (config/hw9_annotations.yaml) and their masks."""

from __future__ import annotations

import numpy as np
import pytest

from workflow_scripts.core.errors import UserError
from workflow_scripts.report.regions import load_annotations, region_mask, region_names

from conftest import ROOT

PATH = ROOT / "config" / "hw9_annotations.yaml"
STEMS = ["0_0", "1_1", "1_2", "2_3", "2_4", "3_5", "5_6", "6_7", "8_8", "9_9"]
# quiz question -> (image index, the option names that are regions of that image)
OPTIONS = {
    1: (2, ["milk jug", "strawberry"]),
    4: (3, ["cake"]),
    6: (8, ["plate", "chopsticks", "table", "sashimi"]),
    13: (7, ["noodles", "rice sausage", "vegetables", "plate"]),
    14: (2, ["strawberry", "milk-jug contour", "shadow", "background"]),
    20: (3, ["fork", "cake", "table", "plate"]),
}
SHAPES = {"cylinder", "pyramid", "cube", "tetrahedron", "sphere"}


@pytest.fixture(scope="module")
def ann():
    return load_annotations(PATH)


def test_every_image_is_annotated_with_food(ann):
    assert list(ann["images"]) == STEMS
    for stem in STEMS:
        assert "food" in region_names(ann, stem)


def test_every_region_rasterises_to_a_non_empty_mask(ann):
    for stem in STEMS:
        for name in region_names(ann, stem):
            m = region_mask(ann, stem, name)
            assert m.shape == (128, 128) and m.dtype == bool
            assert 0 < m.sum() < 128 * 128, (stem, name, int(m.sum()))


def test_complements_and_minus_are_disjoint_from_their_regions(ann):
    for stem in STEMS:
        regions = ann["images"][stem]["regions"]
        for name, spec in regions.items():
            m = region_mask(ann, stem, name)
            for other in list(spec.get("complement_of") or []) + list(spec.get("minus") or []):
                assert not (m & region_mask(ann, stem, other)).any(), (stem, name, other)
            if "complement_of" in spec:  # together they cover the image
                cover = m.copy()
                for other in spec["complement_of"]:
                    cover |= region_mask(ann, stem, other)
                assert cover.all()


def test_quiz_options_resolve(ann):
    for q, (index, names) in OPTIONS.items():
        stem = STEMS[index]
        have = set(region_names(ann, index))
        absent = ann["images"][stem].get("absent") or {}
        for name in names:
            assert name in have or name in absent, (
                f"Q{q}: image {stem} has no region or note for {name!r}"
            )
    shapes = [spec["shape"] for spec in ann["images"]["1_1"]["regions"].values() if "shape" in spec]
    assert shapes and set(shapes) <= SHAPES  # Q8


def test_contour_band_follows_the_outline(ann):
    band = region_mask(ann, "1_2", "milk-jug contour")
    jug = region_mask(ann, "1_2", "milk jug")
    assert (band & jug).any() and (band & ~jug).any()
    assert band.sum() < 0.6 * jug.sum()


def test_index_stem_and_size(ann):
    assert region_names(ann, 2) == region_names(ann, "1_2")
    big = region_mask(ann, "1_2", "milk jug", size=256)
    small = region_mask(ann, "1_2", "milk jug")
    assert big.shape == (256, 256)
    assert abs(big.sum() / 4 - small.sum()) < 0.05 * small.sum()


def test_slide_similarity_is_a_10x10_grid(ann):
    slide = ann["slide_similarity"]
    assert len(slide["row_labels"]) == 10
    for key in ("values", "colour_fraction"):
        assert len(slide[key]) == 10 and all(len(r) == 10 for r in slide[key])
    f = np.array(slide["colour_fraction"], dtype=float)
    assert np.allclose(f, f.T, atol=0.02) and (np.diag(f) > 0.99).all()


@pytest.mark.parametrize(
    "text, message",
    [
        ("images: {a: {regions: {x: {polygon: [[0, 0], [1, 1]]}}}}", "region 'x': a polygon must"),
        ("images: {a: {regions: {x: {union_of: [y]}}}}", "refers to region 'y'"),
        (
            "images: {a: {regions: {x: {band_of: y}, y: {polygon: [[0, 0], [9, 0], [9, 9]]}}}}",
            "needs 'width:'",
        ),
        (
            (
                "images: {a: {regions: {x: {union_of: [y]}, "
                "y: {minus: [x], polygon: [[0, 0], [9, 0], [9, 9]]}}}}"
            ),
            "cycle",
        ),
        (
            "images: {a: {regions: {x: {polygon: [[0, 0], [9, 0], [9, 9]], circle: 3}}}}",
            "unknown key",
        ),
        ("images: [1, 2]", "non-empty 'images:'"),
        ("images: {a: {regions: {x: {polygon: [[0, 0]}}}}", "not valid YAML"),
    ],
)
def test_bad_files_are_user_errors(tmp_path, text, message):
    p = tmp_path / "ann.yaml"
    p.write_text(text)
    with pytest.raises(UserError) as e:
        load_annotations(p)
    assert message in str(e.value) and str(p) in str(e.value) and "\n" not in str(e.value)


def test_unknown_image_or_region_is_a_user_error(ann):
    with pytest.raises(UserError, match="no image '7_7'"):
        region_mask(ann, "7_7", "food")
    with pytest.raises(UserError, match="image '1_2' has no region 'spoon'"):
        region_mask(ann, "1_2", "spoon")
