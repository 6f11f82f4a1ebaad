"""Config validation with one-line errors that name the offending key."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from .errors import UserError


def load_schema(path) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def config_error(config: dict, schema: dict) -> str | None:
    """The most relevant schema violation as 'config key a.b.c: message', or None if valid."""
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(schema)
    errors = list(validator_cls(schema).iter_errors(config))
    if not errors:
        return None
    err = jsonschema.exceptions.best_match(errors)
    key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return f"config key {key}: unknown key(s) {extra}; allowed: {sorted(err.schema.get('properties', {}))}"
    if err.validator == "type" and "string" in err.validator_value and isinstance(err.instance, (int, float)):
        return (f"config key {key}: {err.instance!r} is a number, not a string; YAML reads an "
                f"unquoted name like 3_7 as the number 37: quote image names, e.g. names: ['3_7']")
    return f"config key {key}: {err.message}"


def check_config(config: dict, schema_path) -> None:
    msg = config_error(config, load_schema(schema_path))
    if msg:
        raise UserError(f"{msg} (see {schema_path})")


def config_hash(config: dict) -> str:
    """A short stable hash of a (sub-)config, for report headers and cache keys."""
    blob = json.dumps(config, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
