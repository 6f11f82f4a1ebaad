"""answers.json -> quiz.md (figures linked) and quiz.html (one self-contained file, figures
embedded at display size, click to enlarge).

Both pages are a list of sections (MD_SECTIONS, HTML_SECTIONS: functions of a `Page`), so a stage
can add its own section without touching the others.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from workflow_scripts.core import paths
from workflow_scripts.core.errors import UserError
from workflow_scripts.core.io import atomic_path

STATUS_MARK = {
    "answered": "answered",
    "answered with a substitute": "answered with a substitute model",
    "not answerable": "not answerable with this asset set",
}
TITLE = "HW9 quiz: answers from computed evidence"
# Embedded figures: WebP at the first (width, quality) whose data URI fits EMBED_BUDGET characters
# (the page is 1,100 px wide; an enlarged view shows the embedded pixels), so that the default
# run's ~16 figures stay under 3 MB. The full-size PNG stays beside the report, linked.
EMBED_STEPS = ((1600, 80), (1600, 70), (1400, 65), (1200, 60), (1000, 55), (800, 50))
EMBED_BUDGET = 170_000

HOW_TO_READ = (
    "**How to read an answer.** *Basis*: `definition` (it follows from the method's code or the "
    "architecture; the run only checks it), `measured` (computed on the configured images, model "
    "and texts), `substitute` (measured on a stand-in: the offline emoji images and the CNN "
    "trained on them, or a BERT that is not the homework's; the caveat says which) or "
    "`not answerable`. *Margin*: how clearly the deciding statistic passed its threshold or beat "
    "the runner-up, normalised to [0, 1]: the distance divided by the statistic's range (shares, "
    "IoU, attention: 1; correlations, silhouettes: 2; from a threshold: the room between it and "
    "the end of the range on that side) or, for a statistic without a fixed range, by its spread "
    "over everything it was computed for; 0 = a tie or exactly at the threshold, 1 = as clear as "
    "the statistic allows; definition answers have 1. *Rule*: the rule that decided it. "
    "*Seeds*: for answers that depend on noise (SmoothGrad's noise, LIME's sampling), how many of "
    "the seeds (the configured one and `report.stability_seeds` more) give the same answer. "
    "**weak**: the margin is below `report.thresholds.weak_margin` ({weak}) or the answer changes "
    "with the seed: treat it as a coin flip."
)


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {fmt(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    return str(v)


def natural_key(text: str):
    """Sort key that orders numbers by value: "layer 2" before "layer 11"."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", str(text))]


def md_cell(text) -> str:
    """A Markdown table cell: pipes escaped, line breaks flattened."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def evidence_rows(a: dict) -> list[tuple[str, str]]:
    return [
        (k, fmt(v))
        for k, v in sorted(a.get("numbers", {}).items(), key=lambda kv: natural_key(kv[0]))
    ]


@dataclass
class Page:
    """What a section renders from: the answers document, the results folder, the CNN methods'
    figures, and (HTML) the embedded images and which question first showed each figure."""

    doc: dict
    results: Path
    method_figures: dict = field(default_factory=dict)
    figure_prefix: str = "../"
    images: dict = field(default_factory=dict)
    shown: dict = field(default_factory=dict)

    @property
    def answers(self) -> list[dict]:
        return self.doc["answers"]

    @property
    def weak_margin(self):
        return self.doc["header"].get("weak_margin")


def _header_rows(h: dict) -> list[tuple[str, str]]:
    return [
        (
            "asset set",
            f"{h['asset_set']} (source: {h['source']}); "
            f"observed images: {', '.join(h['observed'])}",
        ),
        (
            "CNN",
            f"homework Classifier, width {h['model']['width']} taken from the "
            f"{h['model'].get('width_source', 'checkpoint')}, "
            f"{h['model']['parameters']:,} parameters",
        ),
        ("checkpoint sha256", h["checkpoint_sha256"]),
        ("config hash", h["config_hash"]),
        ("seeds", fmt(h["seeds"])),
        (
            "BERT models",
            "; ".join(
                f"{r}: {d['name']}" + (f" @ {d['commit'][:12]}" if d.get("commit") else "")
                for r, d in h["bert_models"].items()
            ),
        ),
        ("device", ", ".join(h["device"])),
        *_code_rows(h.get("code")),
        ("versions", fmt(h["versions"])),
        (
            "wall time per rule (s)",
            fmt(h["wall_seconds"]) + f"; total {sum(h['wall_seconds'].values()):.0f} s",
        ),
    ]


def _code_rows(code: dict | None) -> list[tuple[str, str]]:
    """The workflow's version, and every artifact built by other code (core/provenance.py)."""
    if not code:
        return []
    stale = code["stale"]
    built = (
        "all by the current code"
        if not stale
        else "; ".join(f"{s['job']} (changed since: {', '.join(s['modules'])})" for s in stale)
    )
    return [("code version", code["version"]), ("artifacts", built)]


def _summary(a: dict) -> str:
    if a["status"] == "not answerable":
        return "—"
    return " + ".join(a["answer"])


def _margin(a: dict) -> str:
    if a.get("margin") is None:
        return "—"
    return f"{a['margin']:.2f}" + (" **weak**" if a.get("weak") else "")


def _seeds(a: dict) -> str:
    st = a.get("stability")
    return f"{st['agree']} of {st['seeds']} agree" if st else "—"


def count_line(answers: list[dict]) -> str:
    """'30 questions: 20 answered (8 by definition, 2 measured, 10 on a substitute), 3 weak,
    10 not answerable'."""
    n = {
        b: sum(a.get("basis") == b for a in answers)
        for b in ("definition", "measured", "substitute")
    }
    answered = sum(n.values())
    weak = sum(bool(a.get("weak")) for a in answers)
    na = sum(a["status"] == "not answerable" for a in answers)
    return (
        f"{len(answers)} questions: {answered} answered ({n['definition']} by definition, "
        f"{n['measured']} measured, {n['substitute']} on a substitute), {weak} weak, "
        f"{na} not answerable"
    )


def _gallery(method_figures: dict) -> list[tuple[str, str]]:
    """(method, results-relative figure) for every figure of every registered CNN method."""
    return [(m, f) for m, figs in method_figures.items() for f in figs]


# ---------------------------------------------------------------- Markdown sections


def md_header(p: Page) -> list[str]:
    out = [f"# {TITLE}", ""]
    return (
        out
        + ["| | |", "|---|---|"]
        + [f"| {md_cell(k)} | {md_cell(v)} |" for k, v in _header_rows(p.doc["header"])]
        + [""]
    )


def md_summary(p: Page) -> list[str]:
    out = [count_line(p.answers), "", HOW_TO_READ.format(weak=p.weak_margin), ""]
    out += ["| # | topic | answer | basis | margin | seeds |", "|---|---|---|---|---|---|"]
    out += [
        f"| [{a['id']}](#q{a['id']}) | {md_cell(a['topic'])} | {md_cell(_summary(a))} | "
        f"{a.get('basis', '—')} | {_margin(a)} | {_seeds(a)} |"
        for a in p.answers
    ]
    return out + [""]


def md_questions(p: Page) -> list[str]:
    out = []
    for a in p.answers:
        out += [f"## Q{a['id']}. {a['question']}", f'<a id="q{a["id"]}"></a>', ""]
        out += ["Options: " + "; ".join(text for _, text in a["options"]), ""]
        if a["status"] == "not answerable":
            out += [f"**Not answerable with this asset set:** {a['reason']}", ""]
        else:
            out += [
                f"**Answer:** {' + '.join(a['answer'])}"
                + (" (**weak**)" if a.get("weak") else "")
                + "  ",
                f"*Basis:* {a['basis']}; *margin:* {_margin(a)}"
                + (f"; *seeds:* {_seeds(a)}" if a.get("stability") else "")
                + "  ",
                f"*Rule:* {a.get('rule') or '—'}  ",
                f"*Why:* {a['why']}",
            ]
            if a.get("caveat"):
                out += [f"  \n*Caveat:* {a['caveat']}"]
            out += [""]
        rows = evidence_rows(a)
        if rows:
            out += ["| evidence | value |", "|---|---|"]
            out += [f"| {md_cell(k)} | {md_cell(v)} |" for k, v in rows] + [""]
        if a.get("figure"):
            out += [f"![Q{a['id']}]({p.figure_prefix}{a['figure']})", ""]
    return out


def md_gallery(p: Page) -> list[str]:
    if not p.method_figures:
        return []
    out = [
        "## Every method's figure",
        "",
        "Each registered CNN method on the observed images "
        "(beyond the quiz: methods the homework does not ask about appear here too).",
        "",
    ]
    return (
        out + [f"![{m}: {f}]({p.figure_prefix}{f})" for m, f in _gallery(p.method_figures)] + [""]
    )


def md_quality(p: Page) -> list[str]:
    """The "Which explanation to trust" section (evaluators/quality.py section()) as markdown."""
    sec = p.doc.get("quality")
    if not sec:
        return []
    out = [f"## {sec['title']}", '<a id="trust"></a>', ""]
    for par in sec["paragraphs"]:
        out += [par, ""]
    if sec.get("table"):
        t = sec["table"]
        out += ["| " + " | ".join(md_cell(h) for h in t["header"]) + " |"]
        out += ["|" + "---|" * len(t["header"])]
        out += ["| " + " | ".join(md_cell(c) for c in r) + " |" for r in t["rows"]] + [""]
    for par in sec.get("notes", []):
        out += [par, ""]
    out += [f"![quality: {f}]({p.figure_prefix}{f})" for f in sec["figures"]] + [""]
    if sec.get("markdown"):
        out += [sec["markdown"], ""]
    return out


MD_SECTIONS = [md_header, md_summary, md_questions, md_gallery, md_quality]


def markdown(doc: dict, figure_prefix: str = "../", method_figures: dict | None = None) -> str:
    p = Page(doc, Path("."), method_figures or {}, figure_prefix)
    return "\n".join(line for section in MD_SECTIONS for line in section(p)) + "\n"


def write_reports(
    answers_json,
    results,
    out_md,
    out_html,
    method_figures: dict | None = None,
    evidence_dir=None,
    workers: int = 1,
) -> None:
    """report/evidence/ (the answers' own plots), quiz.md and quiz.html; `method_figures`
    ({method: [results-relative figures]}) adds a section showing every registered CNN method's
    figure; `workers`: figures embedded at a time."""
    doc = json.loads(Path(answers_json).read_text(encoding="utf-8"))
    from workflow_scripts.figures.evidence import write_evidence
    from workflow_scripts.report.html import html_page

    write_evidence(doc, evidence_dir or paths.evidence_figures(results))
    wanted = {a["figure"] for a in doc["answers"] if a.get("figure")}
    wanted |= {f for _, f in _gallery(method_figures or {})}
    wanted |= set((doc.get("quality") or {}).get("figures", []))
    missing = sorted(f for f in wanted if not (Path(results) / f).exists())
    if missing:
        raise UserError(
            f"{results}: figures named by the answers are missing: {', '.join(missing)}; "
            "rerun the pipeline"
        )
    with atomic_path(out_md) as tmp:
        tmp.write_text(markdown(doc, method_figures=method_figures), encoding="utf-8")
    with atomic_path(out_html) as tmp:
        tmp.write_text(html_page(doc, results, method_figures, wanted, workers), encoding="utf-8")
