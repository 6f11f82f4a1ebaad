"""Render config/README.md and docs/config-reference.md (the same page: the reference of every
configuration key, beside the config files and in the docs site) from config/schema.yaml.

python scripts/config_docs.py           # rewrite both
python scripts/config_docs.py --check   # exit 1 if either is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"
README = ROOT / "config" / "README.md"
DOCS = ROOT / "docs" / "config-reference.md"
MAX_DEFAULT = 40
SPEED_ONLY = "speed only (never reruns)"

INTRO = (
    """\
# Configuration reference

<!-- Generated from config/schema.yaml by scripts/config_docs.py: edit the schema, then run
     `python scripts/config_docs.py` (tests/test_config_docs.py fails when this file is stale). -->

The workflow reads its settings from YAML files validated against `config/schema.yaml`, the
source of this page; a bad value stops the run before any job with one line naming the key.

| file | what it is |
|---|---|
"""
    # the table rows are longer than a code line, so each is split into two literals
    "| `config/config.yaml` | the defaults: the offline asset set, built here without downloads; "
    "it sets every key |\n"
    "| `config/test.yaml` | a tiny offline build for tests and CI "
    "(same DAG, minutes instead of the full build) |\n"
    "| `config/hw9.yaml` | the homework's real assets "
    "(its 10 images, the TA's checkpoint, the hub BERT models) |\n"
    """
`config/config.yaml` is always read first; a file given with `--configfile` overrides its keys
recursively (`./xai run --configfile my.yaml`, where `my.yaml` holds only the keys to change), and
`./xai run --set key.path=value` overrides one nested key, e.g.
`./xai run --set cnn.lime.num_samples=500`.

Columns: **key** is the dotted path (`[]`: each item of a list, `*`: any name of a mapping),
**default** the value in `config/config.yaml` (shortened when long), **allowed** the constraints
the schema enforces. Keys marked *{speed_only}* change only how fast a result is
computed, never what it is, so changing them is no reason to rerun a job.
"""
)


def _cell(text: str) -> str:
    """One table cell: one line, pipes escaped, a `<` outside code spans shown as text (no HTML
    tag)."""
    parts = " ".join(str(text).split()).replace("|", "\\|").split("`")
    return "`".join(p if i % 2 else p.replace("<", "&lt;") for i, p in enumerate(parts))


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _compact(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_DEFAULT else text[: MAX_DEFAULT - 1] + "…"


def _type(node: dict) -> str:
    if "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        items = node.get("items")
        if "array" in types and "prefixItems" in node:
            items = {"type": sorted({_type(p) for p in node["prefixItems"]})}
        if "array" in types and isinstance(items, dict):
            return " or ".join(f"array of {_type(items)}" if t == "array" else t for t in types)
        return " or ".join(types)
    values = node.get("enum", [node["const"]] if "const" in node else [])
    names = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}
    return " or ".join(dict.fromkeys(names.get(type(v), type(v).__name__) for v in values)) or "any"


def _bounds(node: dict) -> list[str]:
    out = []
    for key, sign in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
    ):
        if key in node:
            out.append(f"{sign} {node[key]}")
    if "pattern" in node:
        out.append(f"matches `{node['pattern']}`")
    if node.get("minLength") == 1:
        out.append("not empty")
    elif "minLength" in node:
        out.append(f"≥ {node['minLength']} characters")
    return out


def allowed(node: dict, sep: str = "; ") -> str:
    """The schema's constraints of one key in words."""
    parts = []
    if "enum" in node:
        parts.append(" / ".join(f"`{json.dumps(v, ensure_ascii=False)}`" for v in node["enum"]))
    if "const" in node:
        parts.append(f"only `{json.dumps(node['const'])}`")
    parts += _bounds(node)
    lo, hi = node.get("minItems"), node.get("maxItems")
    if lo is not None and lo == hi:
        parts.append(f"exactly {lo} items")
    else:
        parts += [f"≥ {lo} items"] if lo is not None else []
        parts += [f"≤ {hi} items"] if hi is not None else []
    if node.get("uniqueItems"):
        parts.append("no duplicates")
    if "minProperties" in node:
        parts.append(f"≥ {node['minProperties']} entries")
    items = node.get("items")
    if isinstance(items, dict) and "properties" not in items:
        inner = allowed(items, ", ")
        if inner:
            parts.append(f"items: ({inner})" if ", " in inner else f"items: {inner}")
    if "prefixItems" in node:
        parts.append(
            "items: (" + "), (".join(allowed(p, ", ") or "any" for p in node["prefixItems"]) + ")"
        )
    return sep.join(parts)


def _default(path: str, node: dict, defaults: dict) -> str:
    """The key's default, or the part of an enclosing key's default that it covers."""
    if "default" in node:
        return _code(_compact(node["default"]))
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        value = defaults.get(".".join(parts[:i]))
        if isinstance(value, dict):
            for part in parts[i:]:
                if not isinstance(value, dict) or part not in value:
                    break
                value = value[part]
            else:
                return _code(_compact(value))
    return ""


def _workflow_config():
    """workflow_scripts.config, importable when this file runs as a plain script."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from workflow_scripts.core import config

    return config


def render(schema: dict) -> str:
    """config/README.md for `schema` (deterministic: schema order, no dates)."""
    keys = list(_workflow_config().schema_keys(schema))
    defaults = {p: n["default"] for p, n in keys if "default" in n}
    sections = [
        (
            "General",
            "The top-level settings.",
            [(p, n) for p, n in keys if "." not in p and "properties" not in n],
        )
    ]
    for name, node in schema["properties"].items():
        if "properties" in node:
            sections.append(
                (
                    name,
                    node.get("description", ""),
                    [(p, n) for p, n in keys if p.startswith((f"{name}.", f"{name}[]"))],
                )
            )
    lines = [INTRO.format(speed_only=SPEED_ONLY)]
    for title, description, rows in sections:
        lines += [
            f"## {title if title == 'General' else f'`{title}`'}",
            "",
            _cell(description),
            "",
            "| key | type | default | allowed | description | speed only |",
            "|---|---|---|---|---|---|",
        ]
        for path, node in rows:
            speed = SPEED_ONLY if node.get("x-speed-only") is True else ""
            lines.append(
                f"| `{path}` | {_cell(_type(node))} | {_cell(_default(path, node, defaults))} | "
                f"{_cell(allowed(node))} | {_cell(node.get('description', ''))} | {speed} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if config/README.md is out of date"
    )
    args = parser.parse_args(argv)
    text = render(_workflow_config().load_schema(SCHEMA))
    targets = [README, DOCS]
    if args.check:
        stale = [
            p for p in targets if (p.read_text(encoding="utf-8") if p.exists() else "") != text
        ]
        if stale:
            names = ", ".join(
                str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p) for p in stale
            )
            print(
                f"{names}: out of date with config/schema.yaml; run: python scripts/config_docs.py"
            )
            return 1
        return 0
    for path in targets:
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
