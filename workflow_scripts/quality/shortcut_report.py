"""The controlled shortcut's section of the report, from quality/shortcut.json (torch-free)."""

from __future__ import annotations

from workflow_scripts.cnn.methods import registry
from workflow_scripts.core import paths as P
from workflow_scripts.quality import metrics as M


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f} %"


_VERDICT = {"reveals": "**reveals**", "hides": "hides", "split": "*split*"}


def _label(stat: str) -> str:
    return M.LOCALISATION[stat]["label"]


def _cell(r: dict) -> str:
    if r["n"] == 0:
        return "no finite value"
    return f"{_pct(r['mean'])} [{_pct(r['low'])} - {_pct(r['high'])}] ({r['ratio_to_chance']:.1f}x)"


def _chances(data: dict) -> str:
    return ", ".join(f"{_label(s)} {_pct(c, 2)}" for s, c in data["chances"].items())


def _disagreement(data: dict, stats: list[str]) -> str:
    """Where the statistics disagree, which says what: mass counts how much of the positive
    attribution falls on the marker, rank and pointing only where its top pixels are."""
    parts = []
    for name in data["split"]:
        by = data["methods"][name]["statistics"]
        yes = [_label(s) for s in stats if by[s]["reveals"]]
        no = [_label(s) for s in stats if not by[s]["reveals"]]
        parts.append(f"{name} (reveals by {', '.join(yes)}; not by {', '.join(no)})")
    return (
        "**Where the statistics disagree**: "
        + "; ".join(parts)
        + ". Mass inside the small marker penalises a coarse map by construction (an upsampled "
        "8 x 8 map spreads its mass over the neighbourhood even when its peak is on the marker), "
        "while rank and pointing read only the map's order."
    )


def markdown(data: dict, root) -> str:
    """Markdown of the shortcut finding: reliance, each method's statistics vs chance with their
    CIs and its verdict, where the statistics disagree, the rule, and the two figures linked
    under `root` (the results folder as the report sees it, e.g. ".." from report/; "" gives
    paths relative to the results folder)."""
    rel, m = data["reliance"], data["marker"]
    stats = list(data["chances"])
    lines = [
        f"A {m['size']} x {m['size']} px square of colour {tuple(m['colour'])} at "
        f"(x={m['x']}, y={m['y']}) was drawn into {_pct(data['shares']['p'], 0)} of class "
        f"{data['class']} ({data['class_name']})'s training images and "
        f"{_pct(data['shares']['p_other'], 0)} of the others'.",
        "",
        "**How much the model relies on it** (the same test images with the marker pasted and "
        "without it):",
        "",
        "| measure | value |",
        "|---|---|",
        f"| class {data['class']} accuracy with the marker | "
        f"{_pct(rel['accuracy_with_marker'])} (n = {rel['class_images']}) |",
        f"| class {data['class']} accuracy without the marker | "
        f"{_pct(rel['accuracy_without_marker'])} |",
        f"| flip rate: other classes' images predicted class {data['class']} once the marker is "
        f"pasted | {_pct(rel['flip_rate'])} ({rel['flips']} of {rel['flip_candidates']}) |",
        f"| other classes' accuracy without / with the marker | "
        f"{_pct(rel['other_accuracy_without_marker'])} / "
        f"{_pct(rel['other_accuracy_with_marker'])} |",
        "",
        f"**Which methods show it**: over {len(data['eval_images'])} of class "
        f"{data['class']}'s test images with the marker, each statistic's mean (95 % bootstrap "
        f"CI, {data['bootstrap']} resamples, seed {data['seed']}) and its ratio to chance: "
        f"{_chances(data)}. Rule: {data['rule']}.",
        "",
        "| method | " + " | ".join(_label(s) for s in stats) + " | verdict |",
        "|---|" + "---|" * (len(stats) + 1),
    ]
    known = [m for m in registry() if m in data["methods"]]  # the methods' order (JSON sorts)
    methods = known + sorted(set(data["methods"]) - set(known))
    for name in methods:
        r = data["methods"][name]
        cells = [_cell(r["statistics"][s]) for s in stats]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {_VERDICT[r['verdict']]} |")
    if data["no_map"]:
        lines += ["", f"Not scored (no class-attribution map): {', '.join(data['no_map'])}."]
    reveal = ", ".join(data["reveal"]) or "none"
    hide = ", ".join(data["hide"]) or "none"
    lines += ["", f"Reveal the shortcut: {reveal}. Hide it: {hide}."]
    if data["split"]:
        lines += ["", _disagreement(data, stats)]
    lines += [
        "",
        f"![marker mass per method]({P.shortcut_figure(root, 'mass')})",
        "",
        f"![one image with the marker and every method's map]"
        f"({P.shortcut_figure(root, 'examples')})",
        "",
    ]
    return "\n".join(lines)
