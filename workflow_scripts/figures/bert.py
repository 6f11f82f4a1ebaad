"""BERT figures: similarity matrices with Chinese labels, group curves by layer, PCA grids,
attention behaviour per (layer, head)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from workflow_scripts.core.errors import UserError  # noqa: E402
from workflow_scripts.core.io import atomic_dir, read_json  # noqa: E402
from workflow_scripts.figures.fonts import use_cjk  # noqa: E402
from workflow_scripts.figures.save import save  # noqa: E402

METRIC_TITLES = {"cosine": "Cosine Similarities", "euclidean": "Euclidean Distances"}
ROLE_STYLE = {"answer": ("blue", "d"), "question": ("red", "o"), "context": ("green", "o")}


def similarity_matrix(npz, key: int, metric: str, layer: int, out_png) -> None:
    """The homework's 10x10 matrix figure, values printed in the cells."""
    use_cjk()
    with np.load(npz) as z:
        states = z[f"{metric}_{key}"].shape[0]
        if not 0 <= layer < states:
            raise UserError(
                f"config key bert.similarity.figure_layers: layer {layer} does not exist; the "
                f"embedding model has {states} hidden states in {npz}: use 0-{states - 1}"
            )
        mat = z[f"{metric}_{key}"][layer]
        sentences = [str(s) for s in z["sentences"]]
        char = str(z["characters"][key])
    fig, ax = plt.subplots(figsize=(10, 8))
    im = ax.imshow(mat, cmap="YlGn" if metric == "cosine" else "YlGn_r")
    fig.colorbar(im, ax=ax)
    ax.set_xticks(range(len(sentences)), sentences, rotation=90)
    ax.set_yticks(range(len(sentences)), sentences)
    for i in range(mat.shape[0]):
        for j in range(mat.shape[1]):
            ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_title(f"{METRIC_TITLES[metric]} of BERT Embeddings: 「{char}」, layer {layer}")
    save(fig, out_png)


def similarity_by_layer(json_path, out_png) -> None:
    """Within-fruit, within-company and between-group averages over layers, per character and
    metric."""
    use_cjk()
    s = read_json(json_path)
    chars = list(s["characters"])
    # constrained layout keeps each panel's title clear of the x label of the panel above
    fig, axes = plt.subplots(
        len(chars), 2, figsize=(11, 3.9 * len(chars)), squeeze=False, layout="constrained"
    )
    for r, c in enumerate(chars):
        for col, metric in enumerate(("cosine", "euclidean")):
            ax = axes[r, col]
            means = s["characters"][c]["group_means"][metric]
            for key, label in (
                ("within_fruit", "within fruit (0-4)"),
                ("within_company", "within company (5-9)"),
                ("between", "fruit vs company"),
            ):
                ax.plot(range(len(means)), [m[key] for m in means], marker="o", label=label)
            ax.set_title(
                f"「{c}」: mean "
                f"{'cosine similarity' if metric == 'cosine' else 'Euclidean distance'}"
            )
            ax.set_xlabel("layer")
            ax.legend(fontsize=8)
    save(fig, out_png)


def pca_grid(npz, json_path, out_png, layers=range(1, 13)) -> None:
    """Layers 1-12 of one QA item, as in the homework: answer blue diamonds, question red, context
    green. Every token is a point; tokens are labelled where a label does not cover another."""
    s = read_json(json_path)
    with np.load(npz) as z:
        coords, roles, tokens = z["coords"], z["roles"], z["tokens"]
    layers = list(layers)
    cols = 4
    rows = -(-len(layers) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4.5 * rows), squeeze=False)
    for ax, layer in zip(axes.flat, layers):
        _pca_panel(ax, coords[layer], roles, tokens, layer, fontsize=7)
    for ax in list(axes.flat)[len(layers) :]:
        ax.axis("off")
    axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=9)
    fig.suptitle(
        f"Q{s['item']}: {s['question']} (answer: {s['answer']}; model: {s['model']['name']})\n"
        f"{LABELLED}"
    )
    save(fig, out_png)


LABELLED = "labels: answer tokens first, then question, then context, where they cover no other"


def _pca_panel(ax, coords, roles, tokens, layer, fontsize) -> None:
    for role, (color, marker) in ROLE_STYLE.items():
        m = roles == role
        ax.scatter(
            coords[m, 0],
            coords[m, 1],
            color=color,
            marker=marker,
            s=18 if role != "answer" else 40,
            label=role,
        )
    ax.set_title(f"Layer {layer}")
    _label_tokens(ax, coords, roles, tokens, fontsize)


def _label_tokens(ax, coords, roles, tokens, fontsize) -> None:
    """Label tokens in the order of ROLE_STYLE (answer first), skipping a label that would cover
    one already placed or leave the panel: the homework labels every token, and in a dense
    cluster the labels cover each other and none can be read. The axes must be where they will
    be drawn (no layout engine moves them afterwards)."""
    renderer = ax.figure.canvas.get_renderer()
    ax.get_xlim(), ax.get_ylim()  # settle the autoscaled view: label positions depend on it
    area = ax.get_window_extent(renderer)
    placed = []
    for role in ROLE_STYLE:
        for i in np.flatnonzero(roles == role):
            t = ax.text(coords[i, 0], coords[i, 1], str(tokens[i]), fontsize=fontsize, alpha=0.7)
            box = t.get_window_extent(renderer)
            inside = (
                area.x0 <= box.x0 and box.x1 <= area.x1 and area.y0 <= box.y0 and box.y1 <= area.y1
            )
            if not inside or any(box.overlaps(b) for b in placed):
                t.remove()
            else:
                placed.append(box)


def pca_layers(npz, json_path, out_dir) -> None:
    """One file per hidden state (layer0.png = embeddings ... layer12.png), the homework's single
    plots."""
    s = read_json(json_path)
    with np.load(npz) as z:
        coords, roles, tokens = z["coords"], z["roles"], z["tokens"]
    with atomic_dir(out_dir) as tmp:
        for layer in range(len(coords)):
            fig, ax = plt.subplots(figsize=(8, 6.5))
            _pca_panel(ax, coords[layer], roles, tokens, layer, fontsize=9)
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=9)
            fig.suptitle(f"Q{s['item']}: {s['question']}\n{LABELLED}", fontsize=9)
            save(fig, tmp / f"layer{layer}.png")


def attention_heads(npz, json_path, out_png) -> None:
    """Mean attention share per (layer, head) for each behaviour, plus she -> officer attention."""
    s = read_json(json_path)
    with np.load(npz) as z:
        shares, cats, coref = z["mean_shares"], [str(c) for c in z["categories"]], z["coreference"]
    panels = [(cats[i], shares[:, :, i]) for i in range(len(cats))]
    panels.append((f"{s['words']['pronoun']} → {s['words']['antecedent']}", coref))
    # constrained layout keeps each colorbar's labels clear of the next panel's "layer" axis
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.8), layout="constrained")
    for ax, (title, m) in zip(axes, panels):
        im = ax.imshow(m, vmin=0, vmax=max(float(m.max()), 1e-9), cmap="viridis")
        ax.set_title(title)
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        ax.set_xticks(range(0, m.shape[1], 2), range(1, m.shape[1] + 1, 2))
        ax.set_yticks(range(0, m.shape[0], 2), range(1, m.shape[0] + 1, 2))
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(f"Attention behaviour ({s['model']['name']}): {s['sentence']}")
    save(fig, out_png)
