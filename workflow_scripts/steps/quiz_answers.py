try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.core.io import read_json, write_json
from workflow_scripts.core.paths import workflow_file
from workflow_scripts.core.step import run
from workflow_scripts.report.evaluators.quality import section as quality_section
from workflow_scripts.report.quiz import answer_all, header, load_bank
from workflow_scripts.report.regions import load_annotations


def main(smk):
    p = smk.params
    annotations = load_annotations(workflow_file(p.annotations["path"])) if p.annotations else None
    ctx = {
        "results": p.results,
        "asset_set": p.asset_set,
        "source": p.source,
        "observed": list(p.observed),
        "hw9_images": list(p.hw9_images),
        "annotations": annotations,
        "thresholds": dict(p.thresholds),
        "stability_seeds": p.stability_seeds,
        "qa_items": p.qa_items,
        "methods": list(p.methods),
        "bert_roles": list(p.bert_roles),
        "probe_role": p.probe_role,
    }
    ctx["quality"] = read_json(smk.input.quality) if smk.input.get("quality") else None
    answers = answer_all(ctx, load_bank(workflow_file(p.quiz["path"])))
    doc = {"header": header(ctx, p.config_hash, dict(p.seeds)), "answers": answers}
    doc["quality"] = quality_section(ctx["quality"], shortcut_markdown(smk, p.results))
    write_json(smk.output.json, doc)


def shortcut_markdown(smk, results):
    """The shortcut finding (rules/shortcut.smk) as markdown, when this asset set has one."""
    if not smk.input.get("shortcut"):
        return None
    from workflow_scripts.quality.shortcut_report import markdown

    return markdown(read_json(smk.input.shortcut), results)


run(snakemake, main)  # noqa: F821
