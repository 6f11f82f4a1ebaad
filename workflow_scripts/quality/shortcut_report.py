"""The controlled shortcut's section of the report, from quality/shortcut.json (torch-free)."""

from __future__ import annotations

from workflow_scripts.cnn.methods import registry
from workflow_scripts.core import paths as P


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f} %"


def markdown(data: dict, root) -> str:
    """Markdown of the shortcut finding: reliance, each method's marker mass vs chance with its CI
    and verdict, the rule, and the two figures linked under `root` (the results folder as the
    report sees it, e.g. ".." from report/; "" gives paths relative to the results folder)."""
    rel, m = data["reliance"], data["marker"]
    chance = data["chance"]
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
        f"**Which methods show it**: mean share of each method's positive attribution on the "
        f"marker's pixels over {len(data['eval_images'])} of class {data['class']}'s test images "
        f"with the marker (95 % bootstrap CI, {data['bootstrap']} resamples, seed {data['seed']}); "
        f"chance = the marker's area share, {_pct(chance, 2)}. Rule: {data['rule']}.",
        "",
        "| method | marker mass | 95 % CI | x chance | verdict |",
        "|---|---|---|---|---|",
    ]
    known = [m for m in registry() if m in data["methods"]]  # the methods' order (JSON sorts)
    for name in known + sorted(set(data["methods"]) - set(known)):
        r = data["methods"][name]
        verdict = "**reveals**" if r["reveals"] else "hides"
        lines.append(
            f"| {name} | {_pct(r['mean'])} | {_pct(r['low'])} - {_pct(r['high'])} | "
            f"{r['ratio_to_chance']:.1f} | {verdict} |"
        )
    if data["no_map"]:
        lines += ["", f"Not scored (no class-attribution map): {', '.join(data['no_map'])}."]
    reveal = ", ".join(data["reveal"]) or "none"
    hide = ", ".join(data["hide"]) or "none"
    lines += [
        "",
        f"Reveal the shortcut: {reveal}. Hide it: {hide}.",
        "",
        f"![marker mass per method]({P.shortcut_figure(root, 'mass')})",
        "",
        f"![one image with the marker and every method's map]"
        f"({P.shortcut_figure(root, 'examples')})",
        "",
    ]
    return "\n".join(lines)
