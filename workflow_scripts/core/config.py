"""Config validation with one-line errors that name the offending key."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import yaml

from workflow_scripts.core.errors import UserError


def load_schema(path) -> dict:
    """The schema, with `cnn.required` = every registered method (the method registry is the one
    list of methods; schema.yaml holds each method's block, not the list)."""
    from workflow_scripts.cnn.methods import names

    schema = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    cnn = schema.get("properties", {}).get("cnn")
    if cnn is not None:
        cnn["required"] = names()
    return schema


def non_finite(value, path: tuple = ()) -> tuple[str, float] | None:
    """(dotted key, value) of the first NaN or +-inf number in a config tree, or None.

    JSON Schema cannot refuse them: every minimum/maximum comparison with NaN is False, and YAML
    reads `.nan` and `.inf` (and `--set key=nan`) as floats."""
    if isinstance(value, float) and not math.isfinite(value):
        return ".".join(map(str, path)) or "(top level)", value
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for k, v in items:
        found = non_finite(v, (*path, k))
        if found:
            return found
    return None


def config_error(config: dict, schema: dict) -> str | None:
    """The most relevant schema violation as 'config key a.b.c: message', or None if valid.

    Every number must be finite (checked first: the schema's ranges cannot see NaN)."""
    import jsonschema

    bad = non_finite(config)
    if bad:
        return (
            f"config key {bad[0]}: {bad[1]!r} is not a finite number; "
            "give a finite value (YAML .nan / .inf are not allowed)"
        )

    validator_cls = jsonschema.validators.validator_for(schema)
    errors = list(validator_cls(schema).iter_errors(config))
    if not errors:
        return None
    err = jsonschema.exceptions.best_match(errors)
    key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return (
            f"config key {key}: unknown key(s) {extra}; "
            f"allowed: {sorted(err.schema.get('properties', {}))}"
        )
    if (
        err.validator == "type"
        and "string" in err.validator_value
        and isinstance(err.instance, (int, float))
    ):
        return (
            f"config key {key}: {err.instance!r} is a number, not a string; YAML reads an "
            f"unquoted name like 3_7 as the number 37: quote image names, e.g. names: ['3_7']"
        )
    return f"config key {key}: {err.message}"


def check_config(config: dict, schema_path) -> None:
    msg = config_error(config, load_schema(schema_path))
    if msg:
        raise UserError(f"{msg} (see {schema_path})")


def resolve_ref(node: dict, schema: dict) -> dict:
    """`node` with a local `$ref` ("#/$defs/...") merged in (the node's own keywords win)."""
    ref = node.get("$ref")
    if not ref:
        return node
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported, not {ref!r}")
    target = schema
    for part in ref[2:].split("/"):
        target = target[part]
    return {**resolve_ref(target, schema), **{k: v for k, v in node.items() if k != "$ref"}}


def schema_keys(schema: dict, node: dict | None = None, prefix: str = ""):
    """Every configuration key of the schema as (dotted path, schema node), in schema order.

    Properties are recursed into (through local `$ref`s); the properties of object items of an
    array appear under `<array>[]`, the value schema of a free-form mapping (additionalProperties)
    as `<mapping>.*`.
    """
    node = resolve_ref(schema if node is None else node, schema)
    for name, sub in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        sub = resolve_ref(sub, schema)
        yield path, sub
        yield from schema_keys(schema, sub, path)
        items = sub.get("items")
        if isinstance(items, dict) and "properties" in resolve_ref(items, schema):
            yield from schema_keys(schema, items, f"{path}[]")
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict):
            yield f"{path}.*", extra


def speed_only_keys(schema: dict) -> list[str]:
    """Dotted paths of the keys marked `x-speed-only: true`: they change only speed, never results,
    so they are no reason to rerun a job."""
    return [path for path, node in schema_keys(schema) if node.get("x-speed-only") is True]


def canonical(value):
    """A rule param in one spelling whatever the config's key order: mappings with sorted keys
    (recursively), tuples as lists. Snakemake compares params by their repr, so without this a
    restated default or a reordered mapping would rerun a job. (Numbers are normalised when the
    config is typed: an integer given for a `number` key becomes a float, core/overrides.coerce.)
    """
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def file_digest(path) -> str:
    """sha256 of a file's bytes (short): a data file's identity in a param."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def config_hash(config: dict) -> str:
    """A short stable hash of a (sub-)config, for report headers and cache keys."""
    blob = json.dumps(config, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
