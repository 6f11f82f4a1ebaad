"""`./xai run`: Snakemake with `--set key.path=value` overrides and checked config files.

    ./xai run --set cnn.smoothgrad.samples=10 --set observed.names=[3_7]
    ./xai run --configfile config/test.yaml --set seed=1 -n

Everything else passes to Snakemake unchanged (after `--cores all`). `--set` values are typed
through config/schema.yaml and merged over the config files like `--config` (Snakemake's own
`--config` keeps working; a dotted key given to it is treated as `--set`). Problems are one line
on stderr and exit status 2, before Snakemake starts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from workflow_scripts.core.errors import UserError

_LIST_OPTIONS = ("--config", "-C", "--configfile", "--configfiles")


def _take_values(argv: list[str], i: int) -> tuple[list[str], int]:
    """The values of a list option starting at argv[i] (up to the next option)."""
    values = []
    while i < len(argv) and not argv[i].startswith("-"):
        values.append(argv[i])
        i += 1
    return values, i


def split_args(argv: list[str]) -> tuple[list[str], list[str], list[str], list[str]]:
    """(other args, --set assignments, --config entries, config files) of a command line."""
    rest, sets, entries, files = [], [], [], []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=")
        if name == "--set":
            if eq:
                sets.append(inline)
                i += 1
            elif i + 1 < len(argv):
                sets.append(argv[i + 1])
                i += 2
            else:
                raise UserError("--set needs key.path=value, e.g. --set cnn.smoothgrad.samples=10")
            continue
        if arg in _LIST_OPTIONS:
            values, i = _take_values(argv, i + 1)
            if arg in ("--config", "-C"):
                entries += values
            else:
                files += values
                rest += [arg, *values]
            continue
        rest.append(arg)
        i += 1
    return rest, sets, entries, files


def config_entries(sets: list[str], entries: list[str], schema: dict) -> list[str]:
    """Snakemake `--config` entries for plain entries and `--set` assignments, in order."""
    from workflow_scripts.core.overrides import config_entry, parse_set

    out = []
    for entry in entries:
        key = entry.partition("=")[0]
        out.append(config_entry(*parse_set(entry, schema)) if "." in key else entry)
    return out + [config_entry(*parse_set(s, schema)) for s in sets]


def check_files(files: list[str]) -> None:
    for f in files:
        if not Path(f).is_file():
            raise UserError(
                f"config file {f} not found (looked in {Path.cwd()}); give the path of a "
                "YAML file, e.g. --configfile config/test.yaml"
            )


def snakemake_argv(argv: list[str]) -> list[str]:
    from workflow_scripts.core.config import load_schema
    from workflow_scripts.core.paths import SCHEMA

    rest, sets, entries, files = split_args(argv)
    check_files(files)
    extra = config_entries(sets, entries, load_schema(SCHEMA))
    return ["--cores", "all", *rest, *(["--config", *extra] if extra else [])]


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "run":
        print(
            "usage: python -m workflow_scripts.core.cli run "
            "[--set key.path=value ...] [snakemake args]",
            file=sys.stderr,
        )
        return 2
    try:
        args = snakemake_argv(argv[1:])
    except UserError as exc:
        print(f"xai: ERROR: {exc}", file=sys.stderr)
        return 2
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    os.execv(snakemake, [snakemake, *args])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
