"""`./xai list methods|questions|sets|keys`: what the workflow offers, read from its registries
(the method modules, config/quiz.yaml, the config files, config/schema.yaml). Torch-free.

    python -m workflow_scripts.core.catalog methods
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
NOT_SETS = {"schema.yaml", "quiz.yaml", "hw9_annotations.yaml"}  # config files that are no set


def methods() -> list[str]:
    """One line per registered CNN method: name, title, the library it is compared with."""
    from workflow_scripts.cnn.methods import registry

    return [
        f"{name:<22} {meta['FIGURE']['title']}"
        + (f"  (checked against {meta['REFERENCE']})" if meta["REFERENCE"] else "")
        for name, meta in registry().items()
    ]


def questions() -> list[str]:
    """One line per quiz question: id, topic, the question."""
    bank = yaml.safe_load((CONFIG / "quiz.yaml").read_text(encoding="utf-8"))["questions"]
    return [f"{q['id']:>2}  {q['topic']:<16} {q['question']}" for q in bank]


def _first_comment(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def sets() -> list[str]:
    """One line per config file that makes an asset set: the file, its set and source, what it
    is (its first comment line)."""
    base = yaml.safe_load((CONFIG / "config.yaml").read_text(encoding="utf-8"))
    out = []
    for path in sorted(CONFIG.glob("*.yaml")):
        if path.name in NOT_SETS:
            continue
        cfg = {**base, **(yaml.safe_load(path.read_text(encoding="utf-8")) or {})}
        where = f"results/{cfg['asset_set']}, source {cfg['source']}"
        out.append(f"config/{path.name:<22} {where:<36} {_first_comment(path)}")
    return out


def _leaves(node: dict, prefix: str = ""):
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        if child.get("properties"):
            yield from _leaves(child, path + ".")
        else:
            yield path, child


def keys() -> list[str]:
    """One line per config key: its dotted path, default and the first sentence of its
    description (config/README.md has the rest)."""
    from workflow_scripts.core.config import load_schema

    out = []
    for path, node in _leaves(load_schema(CONFIG / "schema.yaml")):
        default = json.dumps(node.get("default"), ensure_ascii=False)
        text = " ".join(node.get("description", "").split()).split(". ")[0].rstrip(".")
        out.append(f"{path:<40} {default if len(default) <= 30 else '(see README)':<30} {text}")
    return out


KINDS = {"methods": methods, "questions": questions, "sets": sets, "keys": keys}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in KINDS:
        print(f"usage: ./xai list {'|'.join(KINDS)}", file=sys.stderr)
        return 2
    print("\n".join(KINDS[argv[0]]()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
