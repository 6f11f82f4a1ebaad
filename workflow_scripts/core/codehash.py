"""What code a rule runs, by content: the project modules its step script imports, transitively,
and one hash of their normalised source.

A rule's `code` param is `version(entries)`: an edit to any module on the rule's code path changes
it (Snakemake's params trigger reruns the rule), while formatting, comments, docstrings, `touch`,
a fresh clone or a moved checkout change nothing. Modules are read with `ast`, never imported,
so building the DAG stays torch-free and fast.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGE = "workflow_scripts"
ROOT = Path(__file__).resolve().parents[2]  # the folder holding the package
STEPS = f"{PACKAGE}.steps"  # step scripts: no package; `import _bootstrap` is a sibling file

# (path, mtime_ns, size) -> (digest, imports, data files)
_PARSED: dict[tuple, tuple[str, frozenset, tuple]] = {}


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The source file of dotted module `name` (package -> its __init__.py), or None."""
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _canon(node) -> str:
    """A version-stable dump of an AST: field names with their values, leaving out empty fields
    (so a field a newer Python adds, empty, changes nothing) and string prefixes (`kind`)."""
    if isinstance(node, ast.AST):
        parts = []
        for field in node._fields:
            if field == "kind":
                continue
            value = _canon(getattr(node, field, None))
            if value not in ("None", "[]"):
                parts.append(f"{field}={value}")
        return f"{type(node).__name__}({','.join(parts)})"
    if isinstance(node, list):
        return f"[{','.join(map(_canon, node))}]"
    return repr(node)


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:]


def _imports(tree: ast.AST, name: str, is_package: bool, root: Path) -> set[str]:
    """The project modules a module's import statements name (anywhere in it, function bodies
    included: a lazy import is still on the code path)."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    out = set()
    for target in found:
        if name.startswith(f"{STEPS}.") and "." not in target and module_file(f"{STEPS}.{target}"):
            target = f"{STEPS}.{target}"  # a step script's sibling (_bootstrap)
        if target.split(".")[0] == PACKAGE and module_file(target, root):
            out.add(target)
    return out


def _data_files(tree: ast.Module) -> tuple[str, ...]:
    """The module's DATA_FILES literal: files next to it that it reads (a template), whose
    content is part of its code."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "DATA_FILES" for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    return ()


def _parse(name: str, root: Path) -> tuple[str, frozenset, tuple]:
    """(digest of the normalised source, project modules it imports, the data files it names) of
    one module."""
    path = module_file(name, root)
    if path is None:
        raise FileNotFoundError(f"no module {name} under {root}")
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _PARSED:
        tree = ast.parse(path.read_bytes(), filename=str(path))
        imports = _imports(tree, name, path.name == "__init__.py", root)
        data = _data_files(tree)
        _strip_docstrings(tree)
        digest = hashlib.sha256(_canon(tree).encode()).hexdigest()[:16]
        _PARSED[key] = (digest, frozenset(imports), data)
    return _PARSED[key]


def _with_data(name: str, digest: str, data: tuple, root: Path) -> str:
    """The module's digest with its data files' bytes folded in (read each time: a template can
    change while its module does not)."""
    if not data:
        return digest
    folder = module_file(name, root).parent
    h = hashlib.sha256(digest.encode())
    for rel in data:
        h.update(f"\0{rel}\0".encode() + (folder / rel).read_bytes())
    return h.hexdigest()[:16]


def _with_parents(name: str) -> list[str]:
    """A module and the packages Python imports before it."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def closure(entries, root: Path = ROOT) -> dict[str, str]:
    """{module: digest} of every project module the entry modules import, transitively, with the
    packages they live in (what `import` executes). Entries: dotted names, e.g.
    `workflow_scripts.steps.attribute` for a step script."""
    todo = [m for e in entries for m in _with_parents(e) if module_file(m, root)]
    seen: dict[str, str] = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        digest, imports, data = _parse(name, root)
        seen[name] = _with_data(name, digest, data, root)
        todo += [m for i in imports for m in _with_parents(i) if module_file(m, root)]
    return dict(sorted(seen.items()))


def version_of(modules: dict[str, str]) -> str:
    """One short hash of a closure's {module: digest}."""
    blob = "\n".join(f"{m} {d}" for m, d in sorted(modules.items()))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def step_entries(step: str, *modules: str) -> list[str]:
    """The entry modules of a rule: its step script and the modules it loads by name (a CNN
    method through the registry), as dotted names relative to the package."""
    return [f"{STEPS}.{step}", *(f"{PACKAGE}.{m}" for m in modules)]


def rule_code(step: str, *modules: str, root: Path = ROOT) -> dict:
    """A rule's `code` param: its entries and the version of their closure (Snakemake reruns the
    rule when it changes; the job records the closure in its provenance)."""
    entries = step_entries(step, *modules)
    return {"entries": entries, "version": version_of(closure(entries, root))}
