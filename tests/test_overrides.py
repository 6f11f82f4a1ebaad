"""Command-line overrides: `./xai run --set key.path=value` for any nested key, typed through the
schema; Snakemake's nested `--config` typed the same way; bad overrides and missing config
files are one line before Snakemake starts."""

from __future__ import annotations

import pytest

from workflow_scripts.core import cli
from workflow_scripts.core.config import config_error, load_schema
from workflow_scripts.core.errors import UserError
from workflow_scripts.core.overrides import coerce, parse_set

from conftest import ROOT, jobs_of, snakemake, workflow_args, xai_run

SCHEMA = load_schema(ROOT / "config/schema.yaml")
QUIZ = {"quiz_answers": 1, "quiz_report": 1, "all": 1}


@pytest.mark.parametrize(
    "assignment, top, value",
    [
        ("cnn.smoothgrad.samples=10", "cnn", {"smoothgrad": {"samples": 10}}),
        ("cnn.smoothgrad.multiplier=0.25", "cnn", {"smoothgrad": {"multiplier": 0.25}}),
        ("cnn.lime.mask.hide_rest=true", "cnn", {"lime": {"mask": {"hide_rest": True}}}),
        (
            "cnn.lime.segmentation.start_label=0",
            "cnn",
            {"lime": {"segmentation": {"start_label": 0}}},
        ),
        ("cnn.filters.pairs=[[6, 0], [23, 5]]", "cnn", {"filters": {"pairs": [[6, 0], [23, 5]]}}),
        (
            "observed.names=[3_7, 0_0]",
            "observed",
            {"names": ["3_7", "0_0"]},
        ),  # not the YAML number 37
        ("hw9.sha256.checkpoint=null", "hw9", {"sha256": {"checkpoint": None}}),
        ("hw9.mirror=https://example.org/a:b", "hw9", {"mirror": "https://example.org/a:b"}),
        ("report.annotations=", "report", {"annotations": ""}),
        ("seed=3", "seed", 3),
        (
            "bert.hub.qa.revision=0123",
            "bert",
            {"hub": {"qa": {"revision": "0123"}}},
        ),  # a string stays one
    ],
)
def test_set_types_values_through_the_schema(assignment, top, value):
    assert parse_set(assignment, SCHEMA) == (top, value)


@pytest.mark.parametrize(
    "assignment, message",
    [
        (
            "cnn.smoothgrad.sample=10",
            "unknown config key cnn.smoothgrad.sample: cnn.smoothgrad has batch_size",
        ),
        ("cnn.smoothgrad.samples", "write key.path=value"),
        ("nope=1", "unknown config key nope: (top level) has"),
    ],
)
def test_bad_set_is_one_line(assignment, message):
    with pytest.raises(UserError) as err:
        parse_set(assignment, SCHEMA)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_snakemake_nested_config_strings_are_typed():
    """`--config 'cnn={"smoothgrad": {"samples": 10}}'` arrives with string leaves."""
    assert coerce(
        {"cnn": {"smoothgrad": {"samples": "10", "multiplier": "0.4"}}, "seed": 1}, SCHEMA
    ) == {"cnn": {"smoothgrad": {"samples": 10, "multiplier": 0.4}}, "seed": 1}
    assert coerce({"cnn": {"smoothgrad": {"samples": "ten"}}}, SCHEMA) == {
        "cnn": {"smoothgrad": {"samples": "ten"}}
    }


def test_unquoted_image_names_say_quote_them():
    import yaml

    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text(encoding="utf-8"))
    cfg["observed"]["names"] = yaml.safe_load("[3_7]")
    msg = config_error(cfg, SCHEMA)
    assert (
        msg.startswith("config key observed.names.0: 37 is a number") and "quote image names" in msg
    )


def test_cli_builds_one_config_argument():
    args = cli.snakemake_argv(
        [
            "-n",
            "--config",
            "results=/tmp/r",
            "cnn.lime.seed=3",
            "--set",
            "seed=2",
            "--set=cnn.smoothgrad.samples=10",
            "--cores",
            "1",
        ]
    )
    i = args.index("--config")
    assert args[:i] == ["--cores", "all", "-n", "--cores", "1"]
    assert args[i + 1 :] == [
        "results=/tmp/r",
        'cnn={"lime": {"seed": 3}}',
        "seed=2",
        'cnn={"smoothgrad": {"samples": 10}}',
    ]


def test_missing_config_file_is_one_line(tmp_path):
    proc = xai_run("--configfile", "missing.yaml", "-n", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "config file missing.yaml not found" in proc.stderr


def test_bad_set_stops_before_snakemake(tmp_path):
    proc = xai_run("--set", "cnn.smoothgrad.sample=10", "-n", cwd=tmp_path)
    assert (
        proc.returncode == 2
        and proc.stderr.startswith("xai: ERROR: unknown config key")
        and "Traceback" not in proc.stderr
    )


@pytest.mark.parametrize("how", ["set", "dotted --config", "nested --config"])
def test_every_override_route_reruns_exactly_the_method(test_build, how):
    wf = test_build.workflow
    base = workflow_args(wf, "-n", "--configfile", wf / "config/test.yaml")
    if how == "nested --config":  # plain Snakemake, no wrapper
        out = snakemake(
            *base, "--config", 'cnn={"smoothgrad": {"samples": 7}}', cwd=test_build.work
        ).stdout
    else:
        extra = (
            ["--set", "cnn.smoothgrad.samples=7"]
            if how == "set"
            else ["--config", "cnn.smoothgrad.samples=7"]
        )
        proc = xai_run(*base, *extra, cwd=test_build.work)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = proc.stdout
    # the test config's two chunks of observed images (cnn.images_per_job); the quality stage sets
    # its own SmoothGrad samples, so it does not rerun
    assert jobs_of(out) == {"smoothgrad_0": 1, "smoothgrad_1": 1, "smoothgrad_figure": 1, **QUIZ}
