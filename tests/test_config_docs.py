"""config/schema.yaml documents every key; config/README.md is generated from it and up to date."""

import copy
import importlib.util
import subprocess
import sys

import pytest
import yaml
from test_config import merged

from workflow_scripts.core.config import (
    config_error,
    load_schema,
    schema_keys,
    speed_only_keys,
)

from conftest import ROOT

SCHEMA = ROOT / "config" / "schema.yaml"
SPEED_ONLY = [
    "device",
    "threads",
    "cnn.lime.batch_size",
    "cnn.smoothgrad.batch_size",
    "cnn.integrated_gradients.batch_size",
    "quality.batch_size",
    "hw9.retries",
    "hw9.timeout",
]
HOMEWORK_TEXTS = "default: the homework's texts, see config/config.yaml"


def _config_docs():
    spec = importlib.util.spec_from_file_location(
        "config_docs", ROOT / "scripts" / "config_docs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def all_keys(schema):
    """(path, node) of every key: the config's keys (through $refs) and the $defs' own keys."""
    keys = list(schema_keys(schema))
    for name, node in schema.get("$defs", {}).items():
        keys.append((f"$defs.{name}", node))
        keys += list(schema_keys(schema, node, f"$defs.{name}"))
    return keys


def missing_descriptions(schema):
    return [p for p, n in all_keys(schema) if not str(n.get("description", "")).strip()]


def config_value(config, path):
    node = config
    for part in path.split("."):
        node = node[part]
    return node


def wrong_defaults(schema, config):
    """Paths whose schema default differs from the config's value (or that cannot have one)."""
    wrong = []
    for path, node in schema_keys(schema):
        if "default" not in node:
            continue
        if "[]" in path or path.endswith("*"):
            wrong.append(
                f"{path}: a default inside a list item or mapping value has no single config value"
            )
            continue
        try:
            value = config_value(config, path)
        except (KeyError, TypeError):
            wrong.append(f"{path}: not in config/config.yaml")
            continue
        if node["default"] != value or type(node["default"]) is not type(value):
            wrong.append(f"{path}: default {node['default']!r} != config.yaml {value!r}")
    return wrong


def config_leaves(config, prefix=""):
    for key, value in config.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            yield from config_leaves(value, path)
        else:
            yield path


@pytest.fixture(scope="module")
def schema():
    return load_schema(SCHEMA)


@pytest.fixture(scope="module")
def defaults_config():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))


def test_every_key_has_a_description(schema):
    assert missing_descriptions(schema) == []
    paths = [p for p, _ in all_keys(schema)]  # the walk reaches every kind of key
    for expected in [
        "cnn",
        "cnn.lime",
        "cnn.lime.segmentation",
        "cnn.lime.segmentation.sigma",
        "$defs.hub_model",
        "$defs.hub_model.name",
        "bert.hub.qa.revision",
        "bert.inputs.qa_items[].question",
        "bert.similarity.characters.*",
    ]:
        assert expected in paths


def test_a_missing_description_is_named(schema):
    broken = copy.deepcopy(schema)
    del broken["properties"]["cnn"]["properties"]["lime"]["properties"]["segmentation"][
        "properties"
    ]["sigma"]["description"]
    del broken["$defs"]["hub_model"]["properties"]["name"]["description"]
    del broken["properties"]["bert"]["properties"]["inputs"]["properties"]["qa_items"]["items"][
        "properties"
    ]["answer"]["description"]
    missing = missing_descriptions(broken)
    assert {
        "cnn.lime.segmentation.sigma",
        "$defs.hub_model.name",
        "bert.hub.embedding.name",
        "bert.inputs.qa_items[].answer",
    } <= set(missing)


def test_defaults_equal_config_yaml(schema, defaults_config):
    assert wrong_defaults(schema, defaults_config) == []


def test_a_wrong_default_is_named(schema, defaults_config):
    broken = copy.deepcopy(schema)
    broken["properties"]["cnn"]["properties"]["lime"]["properties"]["num_samples"]["default"] = 999
    broken["properties"]["hw9"]["properties"]["timeout"]["default"] = 60.0  # float, config has int
    wrong = wrong_defaults(broken, defaults_config)
    assert [w.split(":")[0] for w in wrong] == ["cnn.lime.num_samples", "hw9.timeout"]


def test_every_leaf_has_a_default(schema, defaults_config):
    """Each value set in config.yaml has a schema default (on it or on an enclosing key), except the
    long homework texts, whose description says where the default is."""
    nodes = dict(schema_keys(schema))
    lacking = []
    for leaf in config_leaves(defaults_config):
        parts = leaf.split(".")
        if any("default" in nodes[".".join(parts[:i])] for i in range(1, len(parts) + 1)):
            continue
        if HOMEWORK_TEXTS not in nodes[leaf]["description"]:
            lacking.append(leaf)
    assert lacking == []


def test_speed_only_keys(schema):
    keys = speed_only_keys(schema)
    # the list above, and any method's batch size (a method module and its schema entry add one)
    assert set(SPEED_ONLY) <= set(keys)
    extra = [k for k in keys if k not in SPEED_ONLY]
    assert all(k.startswith("cnn.") and k.endswith(".batch_size") for k in extra), extra
    for key in keys:
        if key.endswith("batch_size"):
            description = " ".join(dict(schema_keys(schema))[key]["description"].split())
            assert "can change the last bits of a float32 result" in description
            assert "not a rerun trigger" in description


def test_speed_only_keys_follow_refs_and_items():
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "x-speed-only": True},
            "b": {"type": "integer", "x-speed-only": False},
            "c": {"$ref": "#/$defs/block"},
            "d": {
                "type": "array",
                "items": {"type": "object", "properties": {"e": {"x-speed-only": True}}},
            },
        },
        "$defs": {
            "block": {
                "type": "object",
                "properties": {"fast": {"type": "integer", "x-speed-only": True}},
            }
        },
    }
    assert speed_only_keys(schema) == ["a", "c.fast", "d[].e"]


def test_config_readme_is_up_to_date(schema):
    docs = _config_docs()
    for page in ("config/README.md", "docs/config-reference.md"):  # the docs site shows it too
        assert (ROOT / page).read_text(encoding="utf-8") == docs.render(schema), page
    assert (ROOT / "config" / "README.md").read_text(encoding="utf-8") == docs.render(schema), (
        "config/README.md is out of date: run .venv/bin/python scripts/config_docs.py"
    )


def test_config_readme_lists_every_key(schema):
    text = _config_docs().render(schema)
    for path, node in schema_keys(schema):
        if "." not in path and "properties" in node:  # a top-level section: its own heading
            assert f"\n## `{path}`\n" in text
            continue
        row = next((line for line in text.splitlines() if line.startswith(f"| `{path}` |")), None)
        assert row is not None, path
        assert row.rstrip(" |").endswith("speed only (never reruns)") == (
            path in speed_only_keys(schema)
        ), row
    assert "./xai run --set" in text and "./xai run --configfile" in text


def test_check_mode_fails_on_a_stale_file(tmp_path, monkeypatch, capsys):
    docs = _config_docs()
    stale = tmp_path / "README.md"
    stale.write_text("# old\n", encoding="utf-8")
    monkeypatch.setattr(docs, "README", stale)
    monkeypatch.setattr(docs, "DOCS", tmp_path / "config-reference.md")
    assert docs.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "out of date" in out
    assert docs.main([]) == 0 and docs.main(["--check"]) == 0


def test_check_mode_passes_from_the_command_line():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config_docs.py"), "--check"],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("extra", [[], ["test.yaml"], ["hw9.yaml"]])
def test_shipped_configs_still_validate(schema, extra):
    assert config_error(merged("config.yaml", *extra), schema) is None


def test_snakemake_defaults_change_nothing(defaults_config):
    """Snakemake's validate() fills schema defaults in; on config.yaml that must be a no-op."""
    from snakemake.utils import validate

    config = copy.deepcopy(defaults_config)
    validate(config, str(SCHEMA))
    assert config == defaults_config
