"""Config values typed through the schema, and `--set key.path=value` overrides.

Snakemake's `--config key=value` reads nested values with YAML's base loader, so every leaf of
`--config 'cnn={"smoothgrad": {"samples": 10}}'` arrives as a string; and it refuses dotted keys
(`cnn.smoothgrad.samples=10`) outright. `coerce` gives strings the type the schema asks for (the
workflow calls it before validation), and `parse_set` turns `key.path=value` into the nested
entry Snakemake accepts, so `./xai run --set cnn.smoothgrad.samples=10` works for any key.
"""

from __future__ import annotations

import json

import yaml

from workflow_scripts.core.config import resolve_ref
from workflow_scripts.core.errors import UserError

_NULLS = ("null", "~", "Null", "NULL")
_TRUE = ("true", "True", "TRUE", "yes", "Yes", "on")
_FALSE = ("false", "False", "FALSE", "no", "No", "off")


def _types(schema: dict) -> list[str]:
    if "type" in schema:
        t = schema["type"]
        return [t] if isinstance(t, str) else list(t)
    values = schema.get("enum", [schema["const"]] if "const" in schema else [])
    names = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}
    return sorted({names.get(type(v), "string") for v in values})


def _scalar(text: str, schema: dict):
    """`text` as the schema's type, or unchanged when it cannot be (validation then says why)."""
    types = _types(schema)
    if "null" in types and text in _NULLS:
        return None
    if "string" in types:
        return text
    if "boolean" in types and text in _TRUE + _FALSE:
        return text in _TRUE
    for name, parse in (("integer", int), ("number", float)):
        if name in types:
            try:
                return parse(text)
            except ValueError:
                pass
    if "enum" in schema:  # e.g. {enum: [0, 1]}
        for v in schema["enum"]:
            if str(v) == text:
                return v
    return text


def coerce(value, schema: dict, root: dict | None = None, floats: bool = False):
    """`value` with every string leaf typed as the schema says (a copy; unknown keys kept as is);
    floats=True: also an integer given for a `number` key as the float it means, so that `20` and
    `20.0` are one value and one rule param (after validation: its messages quote the user's)."""
    root = schema if root is None else root
    schema = resolve_ref(schema, root)
    choices = schema.get("oneOf") or schema.get("anyOf")
    if choices:  # e.g. a layer: an integer or a path; pairs: auto or a list
        choices = [resolve_ref(c, root) for c in choices]
        if isinstance(value, str):
            for choice in choices:
                typed = _scalar(value, choice)
                if typed is not value:
                    return typed
            return value
        kind = "array" if isinstance(value, list) else "object" if isinstance(value, dict) else None
        for choice in choices:
            if kind and kind in _types(choice):
                return coerce(value, choice, root, floats)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        out = {}
        for k, v in value.items():
            sub = props.get(k, extra if isinstance(extra, dict) else None)
            out[k] = coerce(v, sub, root, floats) if sub is not None else v
        return out
    if isinstance(value, list):
        prefix = schema.get("prefixItems", [])
        items = schema.get("items")
        return [
            coerce(v, prefix[i] if i < len(prefix) else items, root, floats)
            if (i < len(prefix) or isinstance(items, dict))
            else v
            for i, v in enumerate(value)
        ]
    if isinstance(value, str):
        return _scalar(value, schema)
    if floats and isinstance(value, int) and not isinstance(value, bool):
        types = _types(schema)
        if "number" in types and "integer" not in types:
            return float(value)  # `20` and `20.0` for a number key: one value, one param
    return value


def schema_at(schema: dict, path: list[str]) -> dict:
    """The sub-schema of a dotted key path; UserError naming the first unknown part."""
    node, done = resolve_ref(schema, schema), []
    for part in path:
        props = node.get("properties", {})
        extra = node.get("additionalProperties")
        if part in props:
            node = resolve_ref(props[part], schema)
        elif isinstance(extra, dict):
            node = resolve_ref(extra, schema)
        else:
            where = ".".join(done) or "(top level)"
            raise UserError(
                f"unknown config key {'.'.join(done + [part])}: {where} has "
                f"{', '.join(sorted(props)) or 'no keys'} (see config/README.md)"
            )
        done.append(part)
    return node


def parse_set(assignment: str, schema: dict) -> tuple[str, object]:
    """'a.b.c=value' -> ('a', {'b': {'c': typed value}}): one Snakemake `--config` entry.

    The value is read as YAML with every scalar a string (so `[3_7]` stays "3_7", not 37),
    then typed through the schema."""
    key, sep, text = assignment.partition("=")
    path = key.strip().split(".")
    if not sep or not all(path):
        raise UserError(
            f"--set {assignment!r}: write key.path=value, e.g. --set cnn.smoothgrad.samples=10"
        )
    sub = schema_at(schema, path)
    try:
        raw = "" if text == "" else yaml.load(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(
            f"--set {assignment!r}: the value is not valid YAML ({problem}); quote and close it, "
            "e.g. --set 'observed.names=[0_0, 3_5]'"
        ) from None
    value = coerce(raw, sub, schema)
    for part in reversed(path[1:]):
        value = {part: value}
    return path[0], value


def config_entry(top: str, value) -> str:
    """A `--config` entry Snakemake parses back to `value` (leaves as strings; `coerce` retypes
    them)."""
    if isinstance(value, (dict, list)):
        return f"{top}={json.dumps(value, ensure_ascii=False)}"
    return f"{top}={'' if value is None else value}"


def without(config: dict, keys: list[str], prefix: str = "") -> dict:
    """A copy of `config` (the part at `prefix`) without the dotted `keys`: what rule params hold,
    so that a speed-only setting never reruns a job."""
    out = {}
    for k, v in config.items():
        path = f"{prefix}{k}"
        if path in keys:
            continue
        out[k] = without(v, keys, f"{path}.") if isinstance(v, dict) else v
    return out


def speed_settings(config: dict, section: str, keys: list[str]) -> dict:
    """The speed-only keys directly under `section` ("" = top level) with their config values."""
    node = config
    for part in filter(None, section.split(".")):
        node = node[part]
    prefix = f"{section}." if section else ""
    return {k: v for k, v in node.items() if f"{prefix}{k}" in keys}
