"""answers.json -> quiz.md (figures linked) and quiz.html (one self-contained file, figures
embedded at display size, click to enlarge).

Both pages are a list of sections (MD_SECTIONS, HTML_SECTIONS: functions of a `Page`), so a stage
can add its own section without touching the others.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from workflow_scripts.core import paths
from workflow_scripts.core.errors import UserError
from workflow_scripts.core.io import atomic_dir, atomic_path

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
    out += [f"![quality: {f}]({p.figure_prefix}{f})" for f in sec["figures"]] + [""]
    if sec.get("markdown"):
        out += [sec["markdown"], ""]
    return out


MD_SECTIONS = [md_header, md_summary, md_questions, md_gallery, md_quality]


def markdown(doc: dict, figure_prefix: str = "../", method_figures: dict | None = None) -> str:
    p = Page(doc, Path("."), method_figures or {}, figure_prefix)
    return "\n".join(line for section in MD_SECTIONS for line in section(p)) + "\n"


# ---------------------------------------------------------------- HTML sections

CSS = (
    'body{font-family:"DejaVu Sans","WenQuanYi Micro Hei","Noto Sans CJK TC",sans-serif;'
    "max-width:1100px;margin:2em auto;\n"
    "padding:0 1em;line-height:1.45}table{border-collapse:collapse;margin:.6em 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;\n"
    "vertical-align:top;font-size:.92em}img.fig{width:100%;border:1px solid #eee;cursor:zoom-in}"
    ".na{color:#a33}.sub{color:#a60}.ok{color:#262}.weak{color:#fff;background:#c60;"
    "padding:0 4px;border-radius:3px;font-size:.85em}\n"
    "section{border-top:1px solid #ddd;margin-top:1.5em}.fullsize{font-size:.85em}"
    "#zoom{display:none;position:fixed;inset:0;background:rgba(0,0,0,.85);overflow:auto;"
    "z-index:10;cursor:zoom-out}#zoom.open{display:block}#zoom img{display:block;margin:1em auto;"
    "max-width:none;min-width:100%;background:#fff}td.m{white-space:nowrap}"
)
# click a figure to see its embedded pixels at full size; click again (or Escape) to close
ZOOM_JS = (
    "<script>\n"
    "document.addEventListener('click', e => {\n"
    "  const z = document.getElementById('zoom');\n"
    "  if (e.target.classList && e.target.classList.contains('fig')) {\n"
    "    z.querySelector('img').src = e.target.src; z.classList.add('open');\n"
    "  } else if (z.contains(e.target)) { z.classList.remove('open'); }\n"
    "});\n"
    "document.addEventListener('keydown', e => { if (e.key === 'Escape')"
    " document.getElementById('zoom').classList.remove('open'); });\n"
    "</script>"
)
CLS = {"answered": "ok", "answered with a substitute": "sub", "not answerable": "na"}


def embed(path: Path) -> str:
    """A data URI of the figure at display size: WebP, the first of EMBED_STEPS that fits
    EMBED_BUDGET (the last one whatever its size)."""
    from PIL import Image

    with Image.open(path) as im:
        full = im.convert("RGB")
    for width, quality in EMBED_STEPS:
        im = full
        if im.width > width:
            im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, "WEBP", quality=quality, method=4)
        uri = "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        if len(uri) <= EMBED_BUDGET:
            break
    return uri


def _figure(p: Page, rel: str, alt: str, anchor: str | None = None) -> str:
    e = html.escape
    if rel not in p.images:
        p.images[rel] = embed(p.results / rel)
    ident = f' id="{anchor}"' if anchor else ""
    return (
        f'<img class="fig" alt="{e(alt)}"{ident} src="{p.images[rel]}" '
        'title="click to enlarge">'
        f'<br><a class="fullsize" href="{e(p.figure_prefix + rel)}">full-size PNG: {e(rel)}</a>'
    )


def html_header(p: Page) -> list[str]:
    e = html.escape
    out = [f"<h1>{TITLE}</h1><table>"]
    out += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _header_rows(p.doc["header"])]
    return out + ["</table>"]


def _md_inline(text: str) -> str:
    """The few inline marks HOW_TO_READ uses (**bold**, *italic*, `code`), escaped."""
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    text = re.sub(r"\*(.+?)\*", r"<i>\1</i>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _weak_badge(a: dict) -> str:
    return ' <span class="weak">weak</span>' if a.get("weak") else ""


def html_summary(p: Page) -> list[str]:
    e = html.escape
    out = [
        f'<p id="counts"><b>{e(count_line(p.answers))}</b></p>',
        f"<p>{_md_inline(HOW_TO_READ.format(weak=p.weak_margin))}</p>",
        "<table><tr><th>#</th><th>topic</th><th>answer</th><th>basis</th><th>margin</th>"
        "<th>seeds</th></tr>",
    ]
    for a in p.answers:
        margin = "—" if a.get("margin") is None else f"{a['margin']:.2f}"
        out += [
            f'<tr><td><a href="#q{a["id"]}">{a["id"]}</a></td><td>{e(a["topic"])}</td>'
            f"<td>{e(_summary(a))}</td>"
            f'<td class="{CLS[a["status"]]}">{e(a.get("basis", "—"))}</td>'
            f'<td class="m">{margin}{_weak_badge(a)}</td><td>{e(_seeds(a))}</td></tr>'
        ]
    return out + ["</table>"]


def html_questions(p: Page) -> list[str]:
    e = html.escape
    out = []
    for a in p.answers:
        out += [
            f'<section id="q{a["id"]}"><h2>Q{a["id"]}. {e(a["question"])}</h2>',
            "<p>Options: " + "; ".join(e(text) for _, text in a["options"]) + "</p>",
        ]
        if a["status"] == "not answerable":
            out += [
                f'<p class="na"><b>Not answerable with this asset set:</b> {e(a["reason"])}</p>'
            ]
        else:
            margin = f"{a['margin']:.2f}"
            out += [
                f'<p class="{CLS[a["status"]]}"><b>Answer:</b> {e(" + ".join(a["answer"]))}'
                f"{_weak_badge(a)}</p>",
                f"<p><i>Basis:</i> {e(a['basis'])}; <i>margin:</i> {margin}"
                + (f"; <i>seeds:</i> {e(_seeds(a))}" if a.get("stability") else "")
                + f"<br><i>Rule:</i> {e(a.get('rule') or '—')}"
                + f"<br><i>Why:</i> {e(a['why'])}"
                + (f"<br><i>Caveat:</i> {e(a['caveat'])}" if a.get("caveat") else "")
                + "</p>",
            ]
        rows = evidence_rows(a)
        if rows:
            out += ["<table><tr><th>evidence</th><th>value</th></tr>"]
            out += [f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in rows] + ["</table>"]
        if a.get("figure") and (p.results / a["figure"]).exists():
            first = p.shown.setdefault(a["figure"], a["id"])
            if first == a["id"]:  # each figure is embedded once; later questions link to it
                out += [_figure(p, a["figure"], f"figure for Q{a['id']}", f"fig-q{a['id']}")]
            else:
                out += [
                    f'<p>Figure: <a href="#fig-q{first}">{e(a["figure"])}, '
                    f"shown under Q{first}</a></p>"
                ]
        out += ["</section>"]
    return out


def html_gallery(p: Page) -> list[str]:
    e = html.escape
    if not p.method_figures:
        return []
    out = [
        '<section id="methods"><h2>Every method\'s figure</h2>'
        "<p>Each registered CNN method on the observed images "
        "(beyond the quiz: methods the homework does not ask about appear here too).</p>"
    ]
    for m, f in _gallery(p.method_figures):
        if f in p.shown:
            out += [
                f'<p>{e(m)}: <a href="#fig-q{p.shown[f]}">{e(f)}, shown under Q{p.shown[f]}</a></p>'
            ]
        else:
            out += [f"<h3>{e(m)}</h3>", _figure(p, f, f"{m}: {f}")]
    return out + ["</section>"]


def _inline(text: str) -> str:
    """**bold** of the section's paragraphs, escaped."""
    parts = html.escape(text).split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def _markdown_block_html(p: Page, md: str) -> list[str]:
    """Tables, images and paragraphs of a markdown block (the shortcut finding) as HTML."""
    out, table = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                table.append(cells)
            continue
        if table:
            out += ["<table>"] + [
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in table
            ]
            out, table = out + ["</table>"], []
        text = line.strip()
        if text.startswith("![") and "](" in text:
            rel = text.split("](", 1)[1].rstrip(")").removeprefix("../")
            if (p.results / rel).exists():
                out += [_figure(p, rel, rel)]
        elif text.startswith("#"):
            out += [f"<h3>{_inline(text.lstrip('#').strip())}</h3>"]
        elif text:
            out += [f"<p>{_inline(text)}</p>"]
    return out


def html_quality(p: Page) -> list[str]:
    sec = p.doc.get("quality")
    if not sec:
        return []
    out = [f'<section id="trust"><h2>{html.escape(sec["title"])}</h2>']
    out += [f"<p>{_inline(par)}</p>" for par in sec["paragraphs"]]
    if sec.get("table"):
        t = sec["table"]
        out += ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in t["header"])]
        out += [
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in t["rows"]
        ] + ["</table>"]
    for f in sec["figures"]:  # a figure a question already showed (quiz 11) is linked there
        if f in p.shown:
            q = p.shown[f]
            out += [f'<p><a href="#fig-q{q}">{html.escape(f)}, shown under Q{q}</a></p>']
        else:
            out += [_figure(p, f, f"quality: {f}")]
    if sec.get("markdown"):
        out += _markdown_block_html(p, sec["markdown"])
    return out + ["</section>"]


HTML_SECTIONS = [html_header, html_summary, html_questions, html_gallery, html_quality]


def html_page(doc: dict, results, method_figures: dict | None = None) -> str:
    p = Page(doc, Path(results), method_figures or {})
    out = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>{TITLE}</title>",
        f"<style>{CSS}</style></head><body>",
    ]
    out += [line for section in HTML_SECTIONS for line in section(p)]
    out += ['<div id="zoom" title="click to close"><img alt="enlarged figure"></div>', ZOOM_JS]
    out += ["</body></html>"]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- evidence plots


def plot_series(plot: dict, out_png) -> None:
    """An answer's deciding series (Answer.plot) as a line chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workflow_scripts.figures.fonts import use_cjk
    from workflow_scripts.figures.save import save

    use_cjk()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for label, ys in plot["series"].items():
        ax.plot(plot["x"], ys, marker="o", label=label)
    ax.set_xticks(plot["x"])
    ax.set_xlabel(plot.get("xlabel", ""))
    ax.set_ylabel(plot.get("ylabel", ""))
    ax.set_title(plot.get("title", ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out_png)


def write_evidence(doc: dict, out_dir) -> None:
    """One figure per answer that carries its deciding series, in report/evidence/ (atomic)."""
    with atomic_dir(out_dir) as tmp:
        for a in doc["answers"]:
            if a.get("plot"):
                plot_series(a["plot"], tmp / Path(paths.evidence_figure("", a["id"])).name)


def write_reports(
    answers_json, results, out_md, out_html, method_figures: dict | None = None, evidence_dir=None
) -> None:
    """report/evidence/ (the answers' own plots), quiz.md and quiz.html; `method_figures`
    ({method: [results-relative figures]}) adds a section showing every registered CNN method's
    figure."""
    doc = json.loads(Path(answers_json).read_text(encoding="utf-8"))
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
        tmp.write_text(html_page(doc, results, method_figures), encoding="utf-8")
