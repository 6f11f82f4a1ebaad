"""answers.json -> quiz.md (figures linked) and quiz.html (one self-contained file, figures
embedded)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from workflow_scripts.core.io import atomic_path

STATUS_MARK = {
    "answered": "answered",
    "answered with a substitute": "answered with a substitute model",
    "not answerable": "not answerable with this asset set",
}


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {fmt(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    return str(v)


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
        ("versions", fmt(h["versions"])),
        (
            "wall time per rule (s)",
            fmt(h["wall_seconds"]) + f"; total {sum(h['wall_seconds'].values()):.0f} s",
        ),
    ]


def _summary(a: dict) -> str:
    if a["status"] == "not answerable":
        return "—"
    return " + ".join(a["answer"])


def _gallery(method_figures: dict) -> list[tuple[str, str]]:
    """(method, results-relative figure) for every figure of every registered CNN method."""
    return [(m, f) for m, figs in method_figures.items() for f in figs]


def markdown(doc: dict, figure_prefix: str = "../", method_figures: dict | None = None) -> str:
    h, answers = doc["header"], doc["answers"]
    out = ["# HW9 quiz: answers from computed evidence", ""]
    out += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in _header_rows(h)] + [""]
    counts = {s: sum(a["status"] == s for a in answers) for s in STATUS_MARK}
    out += [", ".join(f"{n} {STATUS_MARK[s]}" for s, n in counts.items()), ""]
    out += ["| # | topic | answer | status |", "|---|---|---|---|"]
    out += [
        f"| [{a['id']}](#q{a['id']}) | {a['topic']} | {_summary(a)} | {a['status']} |"
        for a in answers
    ] + [""]
    for a in answers:
        out += [f"## Q{a['id']}. {a['question']}", f'<a id="q{a["id"]}"></a>', ""]
        out += ["Options: " + "; ".join(text for _, text in a["options"]), ""]
        if a["status"] == "not answerable":
            out += [f"**Not answerable with this asset set:** {a['reason']}", ""]
        else:
            out += [f"**Answer:** {' + '.join(a['answer'])}  ", f"*Why:* {a['why']}"]
            if a.get("margin") is not None:
                out += [f"  \n*Margin:* {fmt(a['margin'])}"]
            if a.get("caveat"):
                out += [f"  \n*Caveat:* {a['caveat']}"]
            out += [""]
        if a.get("numbers"):
            out += (
                ["| evidence | value |", "|---|---|"]
                + [f"| {k} | {fmt(v)} |" for k, v in a["numbers"].items()]
                + [""]
            )
        if a.get("figure"):
            out += [f"![Q{a['id']}]({figure_prefix}{a['figure']})", ""]
    if method_figures:
        out += [
            "## Every method's figure",
            "",
            "Each registered CNN method on the observed images "
            "(beyond the quiz: methods the homework does not ask about appear here too).",
            "",
        ]
        out += [f"![{m}: {f}]({figure_prefix}{f})" for m, f in _gallery(method_figures)] + [""]
    out += quality_markdown(doc.get("quality"), figure_prefix)
    return "\n".join(out) + "\n"


def quality_markdown(sec: dict | None, figure_prefix: str = "../") -> list[str]:
    """The "Which explanation to trust" section (evaluators/quality.py section()) as markdown."""
    if not sec:
        return []
    out = [f"## {sec['title']}", '<a id="trust"></a>', ""]
    for p in sec["paragraphs"]:
        out += [p, ""]
    if sec.get("table"):
        t = sec["table"]
        out += ["| " + " | ".join(t["header"]) + " |", "|" + "---|" * len(t["header"])]
        out += ["| " + " | ".join(r) + " |" for r in t["rows"]] + [""]
    out += [f"![quality: {f}]({figure_prefix}{f})" for f in sec["figures"]] + [""]
    if sec.get("markdown"):
        out += [sec["markdown"], ""]
    return out


def _inline(text: str) -> str:
    """**bold** of the section's paragraphs, escaped."""
    parts = html.escape(text).split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def _markdown_block_html(md: str, results: Path, images: dict) -> list[str]:
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
            if (results / rel).exists():
                out += [f'<img alt="{html.escape(rel)}" src="{_img(results, rel, images)}">']
        elif text.startswith("#"):
            out += [f"<h3>{_inline(text.lstrip('#').strip())}</h3>"]
        elif text:
            out += [f"<p>{_inline(text)}</p>"]
    return out


def quality_html(sec: dict | None, results: Path, images: dict) -> list[str]:
    if not sec:
        return []
    out = [f'<section id="trust"><h2>{html.escape(sec["title"])}</h2>']
    out += [f"<p>{_inline(p)}</p>" for p in sec["paragraphs"]]
    if sec.get("table"):
        t = sec["table"]
        out += ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in t["header"])]
        out += [
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in t["rows"]
        ] + ["</table>"]
    out += [
        f'<img alt="quality: {html.escape(f)}" src="{_img(results, f, images)}">'
        for f in sec["figures"]
    ]
    if sec.get("markdown"):
        out += _markdown_block_html(sec["markdown"], results, images)
    return out + ["</section>"]


CSS = (
    'body{font-family:"DejaVu Sans","WenQuanYi Micro Hei","Noto Sans CJK TC",sans-serif;'
    "max-width:1100px;margin:2em auto;\n"
    "padding:0 1em;line-height:1.45}table{border-collapse:collapse;margin:.6em 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;\n"
    "vertical-align:top;font-size:.92em}img{max-width:100%;border:1px solid #eee}"
    ".na{color:#a33}.sub{color:#a60}.ok{color:#262}\n"
    "section{border-top:1px solid #ddd;margin-top:1.5em}"
)


def _img(results: Path, rel: str, cache: dict) -> str:
    if rel not in cache:
        data = (results / rel).read_bytes()
        cache[rel] = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return cache[rel]


def html_page(doc: dict, results, method_figures: dict | None = None) -> str:
    results = Path(results)
    e = html.escape
    h, answers = doc["header"], doc["answers"]
    cls = {"answered": "ok", "answered with a substitute": "sub", "not answerable": "na"}
    out = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        "<title>HW9 quiz: answers from computed evidence</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>HW9 quiz: answers from computed evidence</h1><table>",
    ]
    out += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _header_rows(h)] + ["</table>"]
    out += ["<table><tr><th>#</th><th>topic</th><th>answer</th><th>status</th></tr>"]
    out += [
        f'<tr><td><a href="#q{a["id"]}">{a["id"]}</a></td><td>{e(a["topic"])}</td>'
        f"<td>{e(_summary(a))}</td>"
        f'<td class="{cls[a["status"]]}">{e(a["status"])}</td></tr>'
        for a in answers
    ] + ["</table>"]
    images: dict[str, str] = {}
    shown: dict[str, int] = {}
    for a in answers:
        out += [
            f'<section id="q{a["id"]}"><h2>Q{a["id"]}. {e(a["question"])}</h2>',
            "<p>Options: " + "; ".join(e(text) for _, text in a["options"]) + "</p>",
        ]
        if a["status"] == "not answerable":
            out += [
                f'<p class="na"><b>Not answerable with this asset set:</b> {e(a["reason"])}</p>'
            ]
        else:
            out += [
                f'<p class="{cls[a["status"]]}"><b>Answer:</b> {e(" + ".join(a["answer"]))}</p>',
                f"<p><i>Why:</i> {e(a['why'])}"
                + (
                    f"<br><i>Margin:</i> {e(fmt(a['margin']))}"
                    if a.get("margin") is not None
                    else ""
                )
                + (f"<br><i>Caveat:</i> {e(a['caveat'])}" if a.get("caveat") else "")
                + "</p>",
            ]
        if a.get("numbers"):
            out += ["<table><tr><th>evidence</th><th>value</th></tr>"]
            out += [
                f"<tr><td>{e(k)}</td><td>{e(fmt(v))}</td></tr>" for k, v in a["numbers"].items()
            ] + ["</table>"]
        if a.get("figure") and (results / a["figure"]).exists():
            first = shown.setdefault(a["figure"], a["id"])
            if first == a["id"]:  # each figure is embedded once; later questions link to it
                out += [
                    f'<img alt="figure for Q{a["id"]}" id="fig-q{a["id"]}" '
                    f'src="{_img(results, a["figure"], images)}">'
                ]
            else:
                out += [
                    f'<p>Figure: <a href="#fig-q{first}">{e(a["figure"])}, '
                    f"shown under Q{first}</a></p>"
                ]
        out += ["</section>"]
    if method_figures:
        out += [
            '<section id="methods"><h2>Every method\'s figure</h2>'
            "<p>Each registered CNN method on the observed images "
            "(beyond the quiz: methods the homework does not ask about appear here too).</p>"
        ]
        for m, f in _gallery(method_figures):
            if f in shown:
                out += [
                    f'<p>{e(m)}: <a href="#fig-q{shown[f]}">{e(f)}, shown under Q{shown[f]}</a></p>'
                ]
            else:
                out += [
                    f"<h3>{e(m)}</h3>",
                    f'<img alt="{e(m)}: {e(f)}" src="{_img(results, f, images)}">',
                ]
        out += ["</section>"]
    out += quality_html(doc.get("quality"), results, images)
    out += ["</body></html>"]
    return "\n".join(out) + "\n"


def write_reports(
    answers_json, results, out_md, out_html, method_figures: dict | None = None
) -> None:
    """quiz.md and quiz.html; `method_figures` ({method: [results-relative figures]}) adds a section
    showing every registered CNN method's figure."""
    doc = json.loads(Path(answers_json).read_text(encoding="utf-8"))
    wanted = {a["figure"] for a in doc["answers"] if a.get("figure")}
    wanted |= {f for _, f in _gallery(method_figures or {})}
    wanted |= set((doc.get("quality") or {}).get("figures", []))
    missing = sorted(f for f in wanted if not (Path(results) / f).exists())
    if missing:
        from workflow_scripts.core.errors import UserError

        raise UserError(
            f"{results}: figures named by the answers are missing: {', '.join(missing)}; "
            "rerun the pipeline"
        )
    with atomic_path(out_md) as tmp:
        tmp.write_text(markdown(doc, method_figures=method_figures), encoding="utf-8")
    with atomic_path(out_html) as tmp:
        tmp.write_text(html_page(doc, results, method_figures), encoding="utf-8")
