"""The report of a folder set (your own model): one HTML page with the header, every method's
figure and the trust section (ranking with CIs, verdict), in quiz.html's conventions (figures
embedded, click to enlarge). No quiz: its questions are about the homework's model."""

from __future__ import annotations

import html
import json
from pathlib import Path

from workflow_scripts.core.io import atomic_path
from workflow_scripts.core.provenance import code_header
from workflow_scripts.quality.metrics import LOCALISATION
from workflow_scripts.report import render
from workflow_scripts.report.evaluators.quality import section
from workflow_scripts.report.quiz import versions, wall_times

TITLE = "Explanations of your model"


def document(model: dict, quality: dict | None, meta: dict, results) -> dict:
    """The page's data: header facts, and the trust section with a line on localisation."""
    from workflow_scripts.core import paths

    trust = section(quality)
    if quality is not None:
        has = any(m in quality["metrics"] for m in LOCALISATION)
        trust["paragraphs"].insert(
            1,
            "**localisation**: scored against the ground-truth masks (folder.images.masks)."
            if has
            else "**localisation**: not available: the images have no ground-truth masks "
            "(set folder.images.masks to a folder of masks with the images' stems); "
            "faithfulness and sanity are scored without them.",
        )
        if meta.get("sanity_why"):
            trust["paragraphs"].append(f"**sanity**: not run: {meta['sanity_why']}.")
    else:
        trust["paragraphs"] = ["The quality stage was off (config quality.enabled: false)."]
    rows = [
        (
            "asset set",
            f"{meta['asset_set']} (source: folder); observed: {', '.join(meta['observed'])}",
        ),
        (
            "model",
            f"{model['architecture']}, {model['parameters']:,} parameters, "
            f"{len(model['classes'])} classes: {', '.join(model['classes'])}",
        ),
        ("model files sha256", render.fmt(model["files_sha256"]) or "none (initialisation)"),
        ("preprocessing", render.fmt(model["preprocess"])),
        (
            "layers",
            f"Grad-CAM: {model['gradcam_layer']} ({model['gradcam_module']}); "
            f"filters: {', '.join(model['filter_layers'])}"
            if "gradcam_layer" in model
            else "none hooked",
        ),
        *[(f"{m}: not run", why) for m, why in meta.get("skipped", {}).items()],
        ("config hash", meta["config_hash"]),
        ("seed", str(meta["seed"])),
        *render._code_rows(code_header(results)),
        ("versions", render.fmt(versions())),
        (
            "wall time per rule (s)",
            render.fmt(wall := wall_times(paths.benchmarks(results)))
            + f"; total {sum(wall.values()):.0f} s",
        ),
    ]
    return {"rows": rows, "quality": trust}


def page(doc: dict, results, method_figures: dict) -> str:
    """The page: header facts, the trust section (its verdict first), every method's figure."""
    from workflow_scripts.report import html as H

    p = render.Page({"header": {}, "answers": [], "quality": doc["quality"]}, Path(results))
    p.method_figures = method_figures
    e = html.escape
    body = [
        f"<h1>{TITLE}</h1>",
        "<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in doc["rows"]),
        "</table>",
        '<p><a href="#trust">Which explanation to trust</a> · <a href="#methods">Every '
        "method's figure</a></p>",
    ]
    return H.page(TITLE, body + H.html_quality(p) + H.html_gallery(p))


def write_report(model_json, quality_json, meta: dict, results, method_figures, out_html):
    model = json.loads(Path(model_json).read_text(encoding="utf-8"))
    quality = json.loads(Path(quality_json).read_text(encoding="utf-8")) if quality_json else None
    doc = document(model, quality, meta, results)
    with atomic_path(out_html) as tmp:
        tmp.write_text(page(doc, results, method_figures), encoding="utf-8")


def cost_line(bench_dir, methods, observed: int, quality: int, sanity: int) -> str:
    """'cost per image: methods 1.2 s (3 images), quality 0.8 s (6), sanity 2.1 s (2)': the summed
    wall time of each stage's jobs (Snakemake's benchmark files) over its images."""
    wall = wall_times(bench_dir)
    stages = [
        ("methods", sum(s for r, s in wall.items() if r in methods), observed),
        ("quality", wall.get("quality_chunk", 0.0), quality),
        ("sanity", wall.get("quality_sanity", 0.0), sanity),
    ]
    parts = [f"{name} {s / n:.2f} s ({n} images)" for name, s, n in stages if n and s]
    return "cost per image: " + ", ".join(parts) if parts else ""
