"""CNN figures from constructed artifacts: the homework's grids, mask outlines, and no output on
bad input."""

import numpy as np
import pytest
from PIL import Image

from workflow_scripts.cnn.methods import registry
from workflow_scripts.core.errors import UserError
from workflow_scripts.figures import cnn

PAIRS = [(6, 0), (15, 0)]
H = 32  # small images keep the test fast; the figures do not assume 128


def _common(name, label, method, rng):
    logits = rng.normal(size=11).astype(np.float32)
    return dict(
        method=np.array(method),
        variant=np.array("variant=test"),
        image=np.array(name),
        label=np.array(label),
        prediction=np.array((label + 1) % 11 if label == 2 else label),
        logits=logits,
        probabilities=np.exp(logits) / np.exp(logits).sum(),
        params=np.array("{}"),
        seed=np.array(0),
        seconds=np.array(0.1),
        device=np.array("cpu"),
    )


def _gradient(rng):
    att = rng.normal(size=(3, H, H)).astype(np.float32)
    raw = np.abs(att).max(0)
    return dict(attribution=att, map_raw=raw, map=(raw - raw.min()) / (raw.max() - raw.min()))


def _extra(method, rng):
    if method == "lime":
        mask = rng.integers(-1, 2, size=(H, H))
        return dict(
            segments=rng.integers(1, 9, size=(H, H)),
            weights=rng.normal(size=8),
            mask=mask,
            overlay=rng.random((H, H, 3)).astype(np.float32),
            positive_mask=mask > 0,
            negative_mask=mask < 0,
            pixel_weights=rng.normal(size=(H, H)).astype(np.float32),
        )
    if method != "filters":  # any gradient-style method: the keys its FIGURE rows and facts name
        d = _gradient(rng)
        fig = cnn.spec(method)
        for row in fig["rows"]:
            if row["show"] == "rgb":
                d[row["key"]] = rng.random((H, H, 3)).astype(np.float32)
            elif row["show"] == "heat" and row["key"] not in d:
                d[row["key"]] = rng.random((H, H)).astype(np.float32)
        for fact in fig.get("facts", []):
            d[fact["key"]] = np.array(-0.5 if fact.get("abs") else 0.17)
        return d
    d = dict(pairs=np.array(PAIRS))
    for layer, filt in PAIRS:
        side = H if layer < 10 else H // 2  # deeper layers are smaller, as in the real network
        d[f"activation_{layer}_{filt}"] = rng.normal(size=(side, side)).astype(np.float32)
        d[f"visualization_{layer}_{filt}"] = rng.normal(size=(3, H, H)).astype(np.float32)
        d[f"objective_{layer}_{filt}"] = rng.normal(size=5)
        d[f"module_{layer}_{filt}"] = np.array("Conv2d" if layer == 6 else "ReLU")
    return d


@pytest.fixture
def make(tmp_path):
    """make(method, n) -> (observed paths, artifact paths); image 0 has a ground-truth mask."""

    def _make(method, n, drop=None):
        rng = np.random.default_rng(n)
        observed, artifacts = [], []
        for i in range(n):
            name = f"{i}_{i}"
            obs = dict(
                image=rng.random((3, H, H)).astype(np.float32),
                label=np.array(i),
                name=np.array(name),
            )
            if i == 0:
                yy, xx = np.mgrid[:H, :H]
                obs["mask"] = (yy - H / 2) ** 2 + (xx - H / 2) ** 2 < (H / 4) ** 2
            art = _common(name, i, method, rng) | _extra(method, rng)
            if drop and i == n - 1:
                del art[drop]
            o, a = tmp_path / "observed" / f"{name}.npz", tmp_path / method / f"{name}.npz"
            o.parent.mkdir(exist_ok=True)
            a.parent.mkdir(exist_ok=True)
            np.savez(o, **obs)
            np.savez(a, **art)
            observed.append(o)
            artifacts.append(a)
        return observed, artifacts

    return _make


def _draw(method, observed, artifacts, out):
    if method == "filters":
        return cnn.filters_figure(observed, artifacts, out, *PAIRS[1])
    return cnn.method_figure(method, observed, artifacts, out)


def _size(path):
    with Image.open(path) as im:
        return im.size


# The homework's grids: LIME 1 x N; saliency 2 x N; filters 3 x N. SmoothGrad and IG keep the
# homework's two rows (image / min-max RGB) and add the normalised map in `hot` as a third.
HOMEWORK_ROWS = {"lime": 1, "saliency": 2, "smoothgrad": 3, "integrated_gradients": 3, "filters": 3}


@pytest.mark.parametrize("method", sorted(set(registry()) - {"filters"}))
def test_every_registered_method_draws_its_declared_rows(method, make, tmp_path):
    observed, artifacts = make(method, 2)
    rows = len(cnn.spec(method)["rows"])
    assert _draw(method, observed, artifacts, tmp_path / "f.png") == (rows, 2)
    assert _size(tmp_path / "f.png")[1] > 200 * rows


@pytest.mark.parametrize("method", sorted(HOMEWORK_ROWS))
def test_grid_matches_the_homework_and_grows_with_images(method, make, tmp_path):
    sizes = {}
    for n in (2, 3):
        observed, artifacts = make(method, n)
        out = tmp_path / f"{method}_{n}.png"
        assert cnn.layout(method, n) == (HOMEWORK_ROWS[method], n)
        assert _draw(method, observed, artifacts, out) == (HOMEWORK_ROWS[method], n)
        sizes[n] = _size(out)
    assert sizes[3][0] - sizes[2][0] > 200  # one more 300-pixel column (3 in at 100 dpi)
    assert sizes[3][0] > 600 and sizes[3][1] > 250
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_rows_change_the_height(make, tmp_path):
    heights = {}
    for method in ("lime", "saliency", "filters"):
        observed, artifacts = make(method, 2)
        _draw(method, observed, artifacts, tmp_path / f"{method}.png")
        heights[method] = _size(tmp_path / f"{method}.png")[1]
    assert heights["lime"] < heights["saliency"] < heights["filters"]


def test_mask_is_outlined_on_map_panels_only_where_present(make, tmp_path, monkeypatch):
    calls = []
    real = cnn._outline

    def spy(ax, obs):
        calls.append(bool("mask" in obs and np.any(obs["mask"])))
        real(ax, obs)

    monkeypatch.setattr(cnn, "_outline", spy)
    observed, artifacts = make("saliency", 3)
    cnn.method_figure("saliency", observed, artifacts, tmp_path / "s.png")
    assert calls == [True, False, False]
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    obs = dict(np.load(observed[0]))
    cnn._outline(ax, obs)
    assert len(ax.collections) == 1  # one contour set drawn
    plt.close(fig)


def test_filters_figures_write_one_png_per_pair(make, tmp_path):
    observed, artifacts = make("filters", 2)
    outs = cnn.filters_figures(
        observed,
        artifacts,
        PAIRS,
        [tmp_path / "out" / f"cnn{layer}_filter{f}.png" for layer, f in PAIRS],
    )
    assert [p.name for p in outs] == ["cnn6_filter0.png", "cnn15_filter0.png"]
    assert all(p.stat().st_size > 10_000 for p in outs)


def test_empty_artifact_list_writes_nothing(tmp_path):
    out = tmp_path / "lime.png"
    with pytest.raises(UserError, match="no artifacts"):
        cnn.method_figure("lime", [], [], out)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "method,key",
    [
        ("lime", "overlay"),
        ("saliency", "map"),
        ("smoothgrad", "rgb"),
        ("integrated_gradients", "map"),
        ("filters", "module_15_0"),
    ],
)
def test_a_missing_key_names_file_and_key_and_writes_nothing(method, key, make, tmp_path):
    observed, artifacts = make(method, 2, drop=key)
    out = tmp_path / "fig" / "out.png"
    with pytest.raises(UserError) as exc:
        _draw(method, observed, artifacts, out)
    msg = str(exc.value)
    assert "\n" not in msg and str(artifacts[-1]) in msg and repr(key) in msg
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_filters_figures_check_every_pair_before_writing(make, tmp_path):
    observed, artifacts = make("filters", 2, drop="visualization_15_0")
    with pytest.raises(UserError, match="visualization_15_0"):
        cnn.filters_figures(
            observed,
            artifacts,
            PAIRS,
            [tmp_path / "out" / f"cnn{layer}_{f}.png" for layer, f in PAIRS],
        )
    assert not (tmp_path / "out").exists()


def test_mismatched_lists_are_refused(make, tmp_path):
    observed, artifacts = make("saliency", 3)
    with pytest.raises(UserError, match="pair up"):
        cnn.method_figure("saliency", observed[:2], artifacts, tmp_path / "x.png")
    with pytest.raises(UserError, match="same order"):
        cnn.method_figure("saliency", observed[::-1], artifacts, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_unknown_method_is_a_user_error():
    with pytest.raises(UserError, match="unknown"):
        cnn.layout("nosuchmethod", 3)


def _smk(tmp_path, **kw):
    from types import SimpleNamespace

    class Named(list):
        def __init__(self, **items):
            super().__init__(v for v in items.values() if not isinstance(v, list))
            for v in items.values():
                if isinstance(v, list):
                    self.extend(v)
            self.__dict__.update(items)

    return SimpleNamespace(
        input=Named(observed=kw["observed"], artifacts=kw["artifacts"]),
        output=Named(**kw.get("output", {})),
        params=SimpleNamespace(**kw["params"]),
        log=[str(tmp_path / "log.txt")],
        rule="cnn_figure",
        threads=1,
    )


def test_step_script_dispatches_on_method(make, tmp_path, monkeypatch):
    import runpy
    from pathlib import Path

    steps = Path(__file__).resolve().parents[1] / "workflow_scripts" / "steps"
    monkeypatch.syspath_prepend(str(steps))  # what Snakemake does for a script: job
    script = str(steps / "cnn_figure.py")
    observed, artifacts = make("saliency", 2)
    png = tmp_path / "figs" / "saliency.png"
    smk = _smk(
        tmp_path,
        observed=observed,
        artifacts=artifacts,
        output={"pngs": [str(png)]},
        params={"method": "saliency"},
    )
    runpy.run_path(script, init_globals={"snakemake": smk})
    assert png.stat().st_size > 10_000

    observed, artifacts = make("filters", 2)
    template = str(tmp_path / "figs" / "filters" / "cnn{layer}_{filter}.png")
    outs = [template.format(layer=layer, filter=f) for layer, f in PAIRS]
    smk = _smk(
        tmp_path,
        observed=observed,
        artifacts=artifacts,
        output={"pngs": outs},
        params={"method": "filters", "per": PAIRS},
    )
    runpy.run_path(script, init_globals={"snakemake": smk})
    assert all(Path(o).stat().st_size > 10_000 for o in outs)

    observed, artifacts = make("lime", 2, drop="overlay")
    png = tmp_path / "figs" / "lime.png"
    smk = _smk(
        tmp_path,
        observed=observed,
        artifacts=artifacts,
        output={"pngs": [str(png)]},
        params={"method": "lime"},
    )
    with pytest.raises(SystemExit):
        runpy.run_path(script, init_globals={"snakemake": smk})
    assert not png.exists()
    assert "missing key 'overlay'" in (tmp_path / "log.txt").read_text()


def test_eleven_images_wrap_into_two_blocks_of_rows(make, tmp_path):
    """More than MAX_COLUMNS images wrap: 11 saliency images are 2 blocks of 2 rows, 6 columns
    wide (legible at the report's 1,100 px), each image in its own panel, labels on every block."""
    observed, artifacts = make("saliency", 11)
    out11 = tmp_path / "s11.png"
    assert cnn.method_figure("saliency", observed, artifacts, out11) == (2, 11)
    observed, artifacts = make("saliency", 6)
    out6 = tmp_path / "s6.png"
    cnn.method_figure("saliency", observed, artifacts, out6)
    (w11, h11), (w6, h6) = _size(out11), _size(out6)
    assert abs(w11 - w6) < 40 and 1.8 < h11 / h6 < 2.3  # same width, twice the rows
    fig, axes = cnn._grid("saliency", 11, "t")
    panels = {id(ax) for ax in axes.flat}
    assert len(panels) == 22 and len(fig.axes) == 24  # one unused column in the second block
    assert [ax.get_subplotspec().rowspan.start for ax in axes[0]] == [0] * 6 + [2] * 5
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_unnormalised_smoothgrad_figure_has_the_normalised_layout(make, tmp_path):
    """Quiz 12's figure: SmoothGrad's FIGURE `extra`, same rows as the normalised figure."""
    observed, artifacts = make("smoothgrad", 2)
    outs = [tmp_path / "sg.png", tmp_path / "sg_unnormalised.png"]
    assert cnn.method_figures("smoothgrad", observed, artifacts, outs) == [(3, 2), (3, 2)]
    assert _size(outs[0]) == _size(outs[1])
