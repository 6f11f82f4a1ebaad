"""The quality stage's plan, known when the DAG is built: which test images, in which jobs,
which methods with which settings. Torch-free."""

from __future__ import annotations

import numpy as np

from workflow_scripts.core.errors import UserError

N_CLASSES = 11


def image_name(index: int) -> str:
    """Name of test-split image `index` in the quality tables."""
    return f"test_{index}"


def select_indices(labels, per_class: int, count: int) -> list[int]:
    """The first `per_class` test images of each class (class order, then split order), then the
    first `count` of those; a class with too few images is a UserError."""
    labels = np.asarray(labels)
    chosen = []
    for c in range(N_CLASSES):
        found = np.flatnonzero(labels == c)[:per_class]
        if len(found) < per_class:
            raise UserError(
                f"config key quality.images_per_class: {per_class} requested but class {c} has "
                f"{len(found)} test images; lower it or raise offline.splits.test"
            )
        chosen += [int(i) for i in found]
    return chosen[:count]


def image_count(q: dict, offline: bool, observed: list[str]) -> int:
    """How many images the stage scores (known when the DAG is built)."""
    if offline:
        if q["images"] > q["images_per_class"] * N_CLASSES:
            raise UserError(
                f"config key quality.images: {q['images']} exceeds images_per_class "
                f"({q['images_per_class']}) x {N_CLASSES} classes; raise "
                "quality.images_per_class or lower quality.images"
            )
        return q["images"]
    return min(q["images"], len(observed))


def chunk_ranges(n: int, per_job: int) -> list[range]:
    """Positions 0..n-1 cut into consecutive jobs of at most per_job."""
    return [range(s, min(s + per_job, n)) for s in range(0, n, per_job)]


def sanity_count(q: dict, n_images: int) -> int:
    """The first sanity_images quality images, at most all of them (hw9 has 10)."""
    return min(q["sanity_images"], n_images)


def scored_methods(registry: dict, exclude) -> list[str]:
    """Every registered method, in ORDER, except quality.exclude (unknown names refused)."""
    unknown = sorted(set(exclude) - set(registry))
    if unknown:
        raise UserError(
            f"config key quality.exclude: {unknown} are not registered methods "
            f"(registered: {', '.join(registry)})"
        )
    return [m for m in registry if m not in exclude]


def merged(base: dict, override: dict) -> dict:
    """base with override's keys replaced, recursively (a method block with quality overrides)."""
    out = dict(base)
    for k, v in (override or {}).items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def method_params(cnn: dict, methods, overrides: dict) -> dict:
    """{method: its cnn.<method> block with the quality overrides applied}."""
    return {m: merged(cnn[m], overrides.get(m, {})) for m in methods}


def image_budgets(
    spec: dict, methods, registered, key: str = "method_images", within: dict | None = None
) -> dict[str, int]:
    """quality.method_images: {method: at most this many quality images} for the expensive
    scored methods (the first ones, so every method's images are a prefix and pairs compare on
    it); a budget of an excluded method is moot, an unregistered name refused. `key` names the
    config key in the error; `within`: budgets these ones cannot exceed (a sanity budget is also
    at most the method's method_images)."""
    unknown = sorted(set(spec) - set(registered))
    if unknown:
        raise UserError(
            f"config key quality.{key}: {unknown} are not registered methods "
            f"(registered: {', '.join(registered)}); remove them"
        )
    budgets = {m: int(n) for m, n in spec.items() if m in methods}
    for m, n in (within or {}).items():
        budgets[m] = min(budgets.get(m, n), n)
    return budgets


def chunk_methods(methods, budgets: dict, chunk: range) -> list[str]:
    """The methods a chunk of image positions scores: those whose budget reaches into it."""
    return [m for m in methods if budgets.get(m, chunk.stop) > chunk.start]


def chunk_budgets(methods, budgets: dict, chunk: range) -> dict[str, int]:
    """The budgets that end inside a chunk ({} for a chunk every method scores whole), so a
    budget change reruns only the chunks it cuts."""
    return {
        m: budgets[m] for m in methods if m in budgets and chunk.start < budgets[m] < chunk.stop
    }


def scored_here(method: str, position: int, budgets: dict) -> bool:
    """Whether the image at quality position `position` is within the method's budget."""
    return position < budgets.get(method, position + 1)


SHARED = "shared"  # the sanity job of the methods without an image budget


def sanity_jobs(methods, budgets: dict, chunks, alone) -> list[tuple[str, int, list[str]]]:
    """(job name, chunk, its methods) of every sanity job: a method named in `alone` (one with an
    image budget: the expensive ones) has a job of its own per chunk, so a change to it reruns
    only that; the others share one per chunk (SHARED), so a cheap cascade does not pay a job's
    start-up (about 2.7 s, importing torch) for 1-3 s of work."""
    jobs = []
    for k, chunk in enumerate(chunks):
        here = chunk_methods(methods, budgets, chunk)
        jobs += [(m, k, [m]) for m in here if m in alone]
        shared = [m for m in here if m not in alone]
        if shared:
            jobs.append((SHARED, k, shared))
    return jobs
