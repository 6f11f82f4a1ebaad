"""Figures: Chinese text renders with real glyphs; files appear only when complete."""

import warnings

import numpy as np
import pytest

from workflow_scripts.figures import bert as bert_figures
from workflow_scripts.figures.fonts import cjk_family


@pytest.fixture
def similarity_npz(tmp_path):
    rng = np.random.default_rng(0)
    sentences = ["今天買了蘋果來吃", "進口蘋果（富士)平均每公斤下跌12.3%", "蘋果獲新Face ID專利"]
    m = rng.random((13, 3, 3))
    path = tmp_path / "similarity.npz"
    np.savez(
        path,
        sentences=np.array(sentences),
        characters=np.array(["蘋", "果"]),
        cosine_0=(m + m.transpose(0, 2, 1)) / 2,
        euclidean_0=m + m.transpose(0, 2, 1),
    )
    return path


def test_a_cjk_font_is_installed():
    from matplotlib import font_manager

    family = cjk_family()
    path = font_manager.findfont(
        font_manager.FontProperties(family=family), fallback_to_default=False
    )
    from matplotlib.ft2font import FT2Font

    font = FT2Font(path)
    assert all(font.get_char_index(ord(c)) != 0 for c in "蘋果獲新專利「」"), path


def test_chinese_labels_render_without_missing_glyphs(similarity_npz, tmp_path):
    out = tmp_path / "matrix.png"
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error"
        )  # "Glyph ... missing from font(s)" is a warning: make it fail
        bert_figures.similarity_matrix(similarity_npz, 0, "cosine", 12, out)
    from PIL import Image

    with Image.open(out) as im:
        assert im.size[0] > 500 and im.size[1] > 400
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_a_missing_glyph_would_be_caught(tmp_path):
    """The check above can fail: a character no installed font has raises under the same filter."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_title("\U000f0000")  # a private-use plane character: in no font
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="missing from font"):
            fig.savefig(tmp_path / "x.png")
    plt.close(fig)


def test_token_labels_cover_no_other_and_the_answer_comes_first():
    import matplotlib.pyplot as plt

    from workflow_scripts.figures import layout

    rng = np.random.default_rng(1)
    roles = np.array(["context"] * 40 + ["answer"] + ["question"] * 40)
    tokens = np.array([f"tok{i}" for i in range(len(roles))])
    coords = np.concatenate(
        [rng.normal(0, 0.01, (40, 2)), [[0.0, 0.0]], rng.uniform(-1, 1, (40, 2))]
    )  # a tight cluster holding the answer, and a spread
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(coords[:, 0], coords[:, 1])
    bert_figures._label_tokens(ax, coords, roles, tokens, fontsize=9)
    shown = [t.get_text() for t in ax.texts]
    assert shown[0] == "tok40"  # the answer, although the context cluster lies on it
    assert not {f"tok{i}" for i in range(40)} & set(shown)  # the cluster under it: none
    assert 5 < len(shown) < 41  # of the spread, those that fit
    assert layout.problems(fig, 100) == []
    plt.close(fig)


def test_pca_grid_and_single_layer_files(tmp_path):
    import json

    rng = np.random.default_rng(0)
    roles = np.array(
        ["special", "question", "question", "special", "context", "answer", "context", "special"]
    )
    npz = tmp_path / "q1.npz"
    np.savez(
        npz,
        coords=rng.normal(size=(13, len(roles), 2)),
        roles=roles,
        tokens=np.array(["[CLS]", "In", "what", "[SEP]", "Tesla", "1856", "born", "[SEP]"]),
    )
    js = tmp_path / "q1.json"
    js.write_text(
        json.dumps(
            {"item": 1, "question": "In what year?", "answer": "1856", "model": {"name": "tiny"}}
        )
    )
    bert_figures.pca_grid(npz, js, tmp_path / "grid.png")
    bert_figures.pca_layers(npz, js, tmp_path / "layers")
    assert sorted(p.name for p in (tmp_path / "layers").iterdir()) == sorted(
        f"layer{k}.png" for k in range(13)
    )
    assert not list(tmp_path.glob(".layers*"))  # no temporary folder left
