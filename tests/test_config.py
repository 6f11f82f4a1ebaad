"""Config validation: every shipped config is valid; bad values fail naming the key."""

import copy

import pytest
import yaml

from workflow_scripts.core.config import check_config, config_error, load_schema
from workflow_scripts.core.errors import UserError

from conftest import ROOT

SCHEMA = ROOT / "config" / "schema.yaml"


def merged(*files):
    """Merge config files the way Snakemake does (later files update earlier ones, recursively)."""

    def update(base, new):
        for k, v in new.items():
            if isinstance(v, dict) and isinstance(base.get(k), dict):
                update(base[k], v)
            else:
                base[k] = v
        return base

    cfg = {}
    for f in files:
        update(cfg, yaml.safe_load((ROOT / "config" / f).read_text()))
    return cfg


@pytest.mark.parametrize(
    "extra", [[], ["test.yaml"], ["hw9.yaml"], ["offline_shortcut.yaml"], ["folder.yaml"]]
)
def test_shipped_configs_are_valid(extra):
    assert config_error(merged("config.yaml", *extra), load_schema(SCHEMA)) is None


@pytest.mark.parametrize(
    "path, value, expect",
    [
        (("model", "width"), -1, "config key model.width:"),
        (("device",), "gpu", "config key device:"),
        (("offline", "train", "epochs"), 0, "config key offline.train.epochs:"),
        (("offline", "glyphs"), [["🍞"]] * 10, "config key offline.glyphs:"),
        (("observed", "names"), ["zero"], "config key observed.names.0:"),
        (("source",), "kaggle", "config key source:"),
    ],
)
def test_bad_values_name_the_key(path, value, expect):
    cfg = merged("config.yaml")
    node = cfg
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    with pytest.raises(UserError) as err:
        check_config(cfg, SCHEMA)
    msg = str(err.value)
    assert msg.startswith(expect), msg
    assert "\n" not in msg


def test_unknown_key_is_named():
    cfg = merged("config.yaml")
    cfg["model"]["widht"] = 1
    msg = config_error(cfg, load_schema(SCHEMA))
    assert msg.startswith("config key model:") and "widht" in msg


def test_missing_key_is_named():
    cfg = copy.deepcopy(merged("config.yaml"))
    del cfg["offline"]["train"]["lr"]
    assert "'lr' is a required property" in config_error(cfg, load_schema(SCHEMA))


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "model:\n  width: -2\n",
            "config key model.width: -2 is less than or equal to the minimum of 0",
        ),
        (
            "observed: {count: 12}\n",
            "config key observed.count: 12 requested "
            "but the offline asset set has 11 observed images",
        ),
    ],
)
def test_snakemake_refuses_bad_config_naming_key(run_snakemake, tmp_path, override, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(override)
    proc = run_snakemake("-n", "--configfile", bad, check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
