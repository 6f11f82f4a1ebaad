"""quiz.html: the self-contained page of the answers (figures embedded at display size, click to
enlarge), its sections functions of a `Page` (HTML_SECTIONS), the page itself a Jinja2 template
(templates/page.html.j2) and its Markdown bits rendered by markdown-it-py."""

from __future__ import annotations

import base64
import functools
import html
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from workflow_scripts.report.render import (
    EMBED_BUDGET,
    EMBED_STEPS,
    HOW_TO_READ,
    TITLE,
    Page,
    _gallery,
    _header_rows,
    _seeds,
    _summary,
    count_line,
    evidence_rows,
)

# The page template, read by page(); named here so that editing it reruns the report jobs
# (core/codehash.py folds a module's DATA_FILES into its code version).
DATA_FILES = ("templates/page.html.j2",)

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


def _weak_badge(a: dict) -> str:
    return ' <span class="weak">weak</span>' if a.get("weak") else ""


def html_summary(p: Page) -> list[str]:
    e = html.escape
    out = [
        f'<p id="counts"><b>{e(count_line(p.answers))}</b></p>',
        f"<p>{inline_md(HOW_TO_READ.format(weak=p.weak_margin))}</p>",
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


def _ranked_cell(text: str, rank: int | None, count: int) -> str:
    """A table cell shaded by its rank in its column (1 = best: darkest); the mean shown first,
    its CI beneath in small type."""
    if rank is None or count < 2:
        return f"<td>{html.escape(text)}</td>"
    alpha = 0.45 * (count - rank) / (count - 1)
    mean, _, rest = text.partition(" ")
    return (
        f'<td style="background:rgba(46,125,50,{alpha:.2f})" title="rank {rank} of {count}">'
        f"<b>{html.escape(mean)}</b><br><small>{html.escape(rest)}</small></td>"
    )


def html_quality(p: Page) -> list[str]:
    sec = p.doc.get("quality")
    if not sec:
        return []
    out = [f'<section id="trust"><h2>{html.escape(sec["title"])}</h2>']
    out += [f"<p>{inline_md(par)}</p>" for par in sec["paragraphs"]]
    if sec.get("table"):
        t = sec["table"]
        out += [
            '<table class="trust"><tr>' + "".join(f"<th>{html.escape(h)}</th>" for h in t["header"])
        ]
        ranks = t.get("ranks") or [[None] * len(r) for r in t["rows"]]
        out += [
            "<tr>" + "".join(_ranked_cell(c, k, t.get("count", 0)) for c, k in zip(r, rk)) + "</tr>"
            for r, rk in zip(t["rows"], ranks)
        ] + ["</table>"]
    out += [f"<p>{inline_md(par)}</p>" for par in sec.get("notes", [])]
    for f in sec["figures"]:  # a figure a question already showed (quiz 11) is linked there
        if f in p.shown:
            q = p.shown[f]
            out += [f'<p><a href="#fig-q{q}">{html.escape(f)}, shown under Q{q}</a></p>']
        else:
            out += [_figure(p, f, f"quality: {f}")]
    if sec.get("markdown"):
        out += [block_md(p, sec["markdown"])]
    return out + ["</section>"]


HTML_SECTIONS = [html_header, html_summary, html_questions, html_gallery, html_quality]


def html_page(
    doc: dict, results, method_figures: dict | None = None, ahead=(), workers: int = 1
) -> str:
    """The page; `ahead`: figures (results-relative) embedded first, `workers` at a time (Pillow
    resizes and encodes without the GIL; the last job of a run has the cores to itself)."""
    p = Page(doc, Path(results), method_figures or {})
    ahead = sorted(set(ahead))
    with ThreadPoolExecutor(max(1, workers)) as pool:
        p.images.update(zip(ahead, pool.map(lambda rel: embed(p.results / rel), ahead)))
    sections = [line for section in HTML_SECTIONS for line in section(p)]
    return page(TITLE, sections)


def page(title: str, body: list[str]) -> str:
    """The self-contained page (templates/page.html.j2): style, body, the zoom overlay."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        keep_trailing_newline=True,
    )
    template = env.get_template(Path(DATA_FILES[0]).name)
    return template.render(title=title, css=CSS, body="\n".join(body), zoom_js=ZOOM_JS)


@functools.cache
def _markdown():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


def inline_md(text: str) -> str:
    """Inline Markdown (**bold**, *italic*, `code`) as HTML, everything else escaped."""
    return _markdown().renderInline(text)


def block_md(p: Page, md: str) -> str:
    """A Markdown block (the shortcut finding: headings, paragraphs, tables, images) as HTML; its
    images embedded as the page's figures are (missing ones left out)."""
    tokens = _markdown().parse(md)
    for tok in tokens:
        for child in tok.children or []:
            if child.type == "image":
                rel = child.attrGet("src").removeprefix("../")
                child.type, child.children = "html_inline", None
                child.content = _figure(p, rel, rel) if (p.results / rel).exists() else ""
    return _markdown().renderer.render(tokens, {**_markdown().options, "html": True}, {})
