"""Incremental reruns: after a change, Snakemake's own dry run lists exactly the affected jobs.

The test config runs its 3 observed images in chunks of cnn.images_per_job = 2: each CNN method
(and the IG step comparison) has rules `<method>_0` (images 0_0, 1_1) and `<method>_1` (2_2)."""

import os

import pytest

from workflow_scripts.cnn.methods import names

from conftest import jobs_of, sanity_jobs, snakemake, workflow_args

METHODS = names()  # every registered CNN method
FIGURES = {f"{m}_figure": 1 for m in METHODS}
CHUNKS = (0, 1)  # chunk k's rule is <method>_k


def chunks(name: str, ks=CHUNKS) -> dict[str, int]:
    """{rule: 1} for chunks `ks` of a CNN method (or of ig_steps): one job per chunk."""
    return {f"{name}_{k}": 1 for k in ks}


def every_method(ks=CHUNKS) -> dict[str, int]:
    return {rule: n for m in METHODS for rule, n in chunks(m, ks).items()}


QUIZ = {"quiz_answers": 1, "quiz_report": 1, "all": 1}  # downstream of every analysis
# the quality stage of the test config (2 chunks, one sanity job per scored method): reruns with
# the model or a scored method's settings (tests/test_quality_stage.py has its own parameters)
SCORED = [m for m in METHODS if m != "filters"]  # the test config's quality.exclude: [filters]


def quality(*methods) -> dict[str, int]:
    """The quality jobs a change reruns: both chunks, the sanity jobs of the methods it touches
    (a budgeted method's own, the shared one of the others: 1 chunk of sanity images), merge and
    figures."""
    return {
        "quality_chunk": 2,
        "quality_sanity": sanity_jobs(methods),
        "quality_merge": 1,
        "quality_figures": 1,
    }


QUALITY = quality(*SCORED)  # a new model: every sanity job
# no stability reruns on the test config: the quality stage decides quiz 11 (over its images, with
# a bootstrap CI), and no other question depends on a seed on the offline set (the hw9 fixture in
# test_workflow.py runs them)
SEEDS: dict[str, int] = {}


def dry_run(build, tmp_path, override: str = "") -> dict[str, int]:
    args = workflow_args(build.workflow, "-n", "--configfile", build.workflow / "config/test.yaml")
    if override:
        extra = tmp_path / "override.yaml"
        extra.write_text(override)
        args.append(extra)
    return jobs_of(snakemake(*args, cwd=build.work).stdout)


def test_nothing_changed_nothing_runs(test_build, tmp_path):
    assert dry_run(test_build, tmp_path) == {}


@pytest.mark.parametrize(
    "method, override, extra",
    [
        ("saliency", "cnn: {saliency: {objective: logit}}", quality("saliency")),
        # the quality stage sets its own num_samples: not rerun
        ("lime", "cnn: {lime: {num_samples: 60}}", {}),
        ("smoothgrad", "cnn: {smoothgrad: {noise: paper}}", quality("smoothgrad")),
        ("filters", "cnn: {filters: {pairs: [[6, 0]]}}", {}),  # not scored by quality
        # the quiz's IG step comparison uses the IG settings too
        (
            "integrated_gradients",
            "cnn: {integrated_gradients: {variant: ig}}",
            {**chunks("ig_steps"), **quality("integrated_gradients")},
        ),
    ],
)
def test_one_method_parameter_reruns_only_that_method(
    test_build, tmp_path, method, override, extra
):
    assert dry_run(test_build, tmp_path, override) == {
        **chunks(method),
        f"{method}_figure": 1,
        **extra,
        **QUIZ,
    }


@pytest.mark.parametrize(
    "module, expected",
    [
        (
            "cnn/methods/smoothgrad.py",
            {**chunks("smoothgrad"), "smoothgrad_figure": 1, **quality("smoothgrad")},
        ),
        # the noise tunnel wraps IG (it imports the module): its jobs follow IG's code
        (
            "cnn/methods/integrated_gradients.py",
            {
                **chunks("integrated_gradients"),
                **chunks("ig_steps"),
                **chunks("noise_tunnel"),
                "integrated_gradients_figure": 1,
                "noise_tunnel_figure": 1,
                **quality("integrated_gradients", "noise_tunnel"),
            },
        ),
        # bert/pipeline.py, the run layer of the BERT jobs (bert_model's too), imports all three
        # analyses
        (
            "bert/similarity.py",
            {
                "bert_model": 2,
                "embedding_similarity": 1,
                "similarity_figures": 1,
                "hidden_pca": 3,
                "hidden_pca_figure": 3,
                "exbert_probes": 1,
                "attention_figure": 1,
            },
        ),
    ],
)
def test_editing_a_module_reruns_only_its_jobs(test_build, tmp_path, module, expected):
    """An edit of a module's code (its content hash is in the `code` param of every rule whose
    code path holds it) reruns the jobs that use it, their figures and the quiz, nothing else
    (every module: tests/test_cache.py)."""
    path = test_build.workflow / "workflow_scripts" / module
    text, before = path.read_bytes(), path.stat()
    try:
        path.write_bytes(text + b"\n_EDITED = True  # a code change (a comment reruns nothing)\n")
        assert dry_run(test_build, tmp_path) == {**expected, **QUIZ}
    finally:
        path.write_bytes(text)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert dry_run(test_build, tmp_path) == {}


def test_adding_an_observed_image_reruns_only_the_chunk_it_joins(test_build, tmp_path):
    """Image 3_3 joins chunk 1 (2_2): that chunk's jobs rerun (2_2 is recomputed, to the same
    numbers), chunk 0's do not."""
    assert dry_run(test_build, tmp_path, "observed: {count: 4}") == {
        "observed_image": 1,
        **chunks("ig_steps", [1]),
        **every_method([1]),
        **FIGURES,
        **QUIZ,
    }


def test_adding_images_beyond_a_full_chunk_adds_a_chunk(test_build, tmp_path):
    """5 images: chunk 1 becomes (2_2, 3_3), chunk 2 (4_4) is new; chunk 0 stays."""
    assert dry_run(test_build, tmp_path, "observed: {count: 5}") == {
        "observed_image": 2,
        **chunks("ig_steps", [1, 2]),
        **every_method([1, 2]),
        **FIGURES,
        **QUIZ,
    }


def test_changing_the_chunk_size_reruns_the_method_jobs_only(test_build, tmp_path):
    """One chunk of 3: its input set differs from both recorded chunks', so every method job
    reruns (to the same numbers); nothing upstream does."""
    assert dry_run(test_build, tmp_path, "cnn: {images_per_job: 3}") == {
        **chunks("ig_steps", [0]),
        **every_method([0]),
        **FIGURES,
        **SEEDS,  # each extra seed's job covers every observed image
        **QUIZ,
    }


def test_retraining_reruns_model_dependent_jobs_but_not_the_dataset(test_build, tmp_path):
    assert dry_run(test_build, tmp_path, "offline: {train: {epochs: 2}}") == {
        "train_classifier": 1,
        "model_summary": 1,
        **chunks("ig_steps"),
        **every_method(),
        **FIGURES,
        **QUALITY,
        **QUIZ,
    }


@pytest.mark.parametrize(
    "override, expected",
    [
        ("bert: {pca: {answer_rule: span}}", {"hidden_pca": 3, "hidden_pca_figure": 3, **QUIZ}),
        (
            "bert: {similarity: {figure_layers: [0, 12]}}",
            {"similarity_figures": 1, **QUIZ},
        ),  # config hash in header
        ("bert: {exbert: {top_k: 3}}", {"exbert_probes": 1, "attention_figure": 1, **QUIZ}),
        ("report: {thresholds: {same_corr: 0.5}}", QUIZ),
        ("report: {thresholds: {weak_margin: 0.3}}", QUIZ),
        # the seed count is in the report's header: the quiz reruns, nothing else
        ("report: {stability_seeds: 4}", QUIZ),  # no question needs seed reruns here
        ("report: {stability_seeds: 0}", QUIZ),
    ],
)
def test_one_bert_or_report_parameter_reruns_only_its_part(
    test_build, tmp_path, override, expected
):
    assert dry_run(test_build, tmp_path, override) == expected


# Speed-only settings (config/schema.yaml `x-speed-only`) and a value each that differs from the
# test config's; the key list must match the schema: a new speed-only key needs a case here,
# except a method's batch size (cnn.<method>.batch_size: 7, read from the schema).
def _method_batch_sizes() -> dict:
    from workflow_scripts.core.config import load_schema, speed_only_keys

    from conftest import ROOT

    keys = speed_only_keys(load_schema(ROOT / "config/schema.yaml"))
    return {k: 7 for k in keys if k.startswith("cnn.") and k.endswith(".batch_size")}


SPEED_VALUES = {
    "device": "cpu",
    "threads": 1,
    **_method_batch_sizes(),
    "hw9.retries": 5,
    "hw9.timeout": 30,
    "quality.batch_size": 7,
}


def _nested(key: str, value) -> str:
    import json

    for part in reversed(key.split(".")):
        value = {part: value}
    return json.dumps(value)  # YAML flow style


def test_speed_only_keys_are_the_schemas():
    from workflow_scripts.core.config import load_schema, speed_only_keys

    from conftest import ROOT

    assert sorted(speed_only_keys(load_schema(ROOT / "config/schema.yaml"))) == sorted(SPEED_VALUES)


@pytest.mark.parametrize("key", sorted(SPEED_VALUES))
def test_speed_only_setting_reruns_nothing(test_build, tmp_path, key):
    assert dry_run(test_build, tmp_path, _nested(key, SPEED_VALUES[key])) == {}


@pytest.mark.parametrize(
    "override, expected",
    [
        (
            "cnn: {smoothgrad: {seed: 1}}",
            {**chunks("smoothgrad"), "smoothgrad_figure": 1, **quality("smoothgrad")},
        ),
        ("cnn: {lime: {seed: 1}}", {**chunks("lime"), "lime_figure": 1, **quality("lime")}),
        ("cnn: {filters: {seed: 1}}", {**chunks("filters"), "filters_figure": 1}),
        # quality.methods sets its own samples: the quality jobs keep theirs
        ("cnn: {smoothgrad: {samples: 7}}", {**chunks("smoothgrad"), "smoothgrad_figure": 1}),
        (
            "cnn: {integrated_gradients: {steps: 5}}",
            {
                **chunks("integrated_gradients"),
                **chunks("ig_steps"),
                "integrated_gradients_figure": 1,
                **quality("integrated_gradients"),  # the noise tunnel sets its own IG steps
            },
        ),
        (
            "offline: {train: {batch_size: 16}}",
            {
                "train_classifier": 1,
                "model_summary": 1,
                **chunks("ig_steps"),
                **every_method(),
                **FIGURES,
                **QUALITY,
            },
        ),
    ],
)
def test_result_settings_rerun_what_they_change(test_build, tmp_path, override, expected):
    assert dry_run(test_build, tmp_path, override) == {**expected, **QUIZ}
