"""Incremental reruns: after a change, Snakemake's own dry run lists exactly the affected jobs."""

import os

import pytest

from workflow_scripts.cnn.methods import names

from conftest import jobs_of, snakemake, workflow_args

METHODS = names()  # every registered CNN method
FIGURES = {f"{m}_figure": 1 for m in METHODS}
QUIZ = {"quiz_answers": 1, "quiz_report": 1, "all": 1}  # downstream of every analysis
# SmoothGrad again with its seed + 1 .. + 3 (report.stability_seeds), one job per extra seed:
# quiz 11 depends on its noise (rules/stability.smk)
SEEDS = {"smoothgrad_seed": 3}


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
        ("saliency", "cnn: {saliency: {objective: logit}}", {}),
        ("lime", "cnn: {lime: {num_samples: 60}}", {}),
        ("smoothgrad", "cnn: {smoothgrad: {noise: paper}}", SEEDS),
        ("filters", "cnn: {filters: {pairs: [[6, 0]]}}", {}),
        # the quiz's IG step comparison uses the IG settings too
        ("integrated_gradients", "cnn: {integrated_gradients: {variant: ig}}", {"ig_steps": 3}),
    ],
)
def test_one_method_parameter_reruns_only_that_method(
    test_build, tmp_path, method, override, extra
):
    assert dry_run(test_build, tmp_path, override) == {
        method: 3,
        f"{method}_figure": 1,
        **extra,
        **QUIZ,
    }


@pytest.mark.parametrize(
    "module, expected",
    [
        ("cnn/methods/smoothgrad.py", {"smoothgrad": 3, "smoothgrad_figure": 1, **SEEDS}),
        (
            "cnn/methods/integrated_gradients.py",
            {"integrated_gradients": 3, "ig_steps": 3, "integrated_gradients_figure": 1},
        ),
        ("bert/similarity.py", {"embedding_similarity": 1, "similarity_figures": 1}),
    ],
)
def test_editing_a_module_reruns_only_its_jobs(test_build, tmp_path, module, expected):
    """The module is an input: an edit (new content; Snakemake ignores a bare touch of a file whose
    checksum it recorded) reruns the jobs that use it, their figures and the quiz, nothing else."""
    path = test_build.workflow / "workflow_scripts" / module
    text, before = path.read_bytes(), path.stat()
    try:
        path.write_bytes(text + b"\n# an edit\n")
        assert dry_run(test_build, tmp_path) == {**expected, **QUIZ}
    finally:
        path.write_bytes(text)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert dry_run(test_build, tmp_path) == {}


def test_adding_an_observed_image_runs_only_its_jobs(test_build, tmp_path):
    assert dry_run(test_build, tmp_path, "observed: {count: 4}") == {
        "observed_image": 1,
        "ig_steps": 1,
        **{m: 1 for m in METHODS},
        **FIGURES,
        **SEEDS,  # each extra seed's job covers every observed image
        **QUIZ,
    }


def test_retraining_reruns_model_dependent_jobs_but_not_the_dataset(test_build, tmp_path):
    assert dry_run(test_build, tmp_path, "offline: {train: {epochs: 2}}") == {
        "train_classifier": 1,
        "model_summary": 1,
        "ig_steps": 3,
        **{m: 3 for m in METHODS},
        **FIGURES,
        **SEEDS,
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
        # one more stability seed: its SmoothGrad job and the quiz, nothing else; none: the quiz
        ("report: {stability_seeds: 4}", {"smoothgrad_seed": 1, **QUIZ}),
        ("report: {stability_seeds: 0}", QUIZ),
    ],
)
def test_one_bert_or_report_parameter_reruns_only_its_part(
    test_build, tmp_path, override, expected
):
    assert dry_run(test_build, tmp_path, override) == expected


# Speed-only settings (config/schema.yaml `x-speed-only`) and a value each that differs from the
# test config's; the key list must match the schema, so a new speed-only key needs a case here.
SPEED_VALUES = {
    "device": "cpu",
    "threads": 1,
    "cnn.lime.batch_size": 7,
    "cnn.smoothgrad.batch_size": 7,
    "cnn.integrated_gradients.batch_size": 7,
    "hw9.retries": 5,
    "hw9.timeout": 30,
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
        ("cnn: {smoothgrad: {seed: 1}}", {"smoothgrad": 3, "smoothgrad_figure": 1, **SEEDS}),
        ("cnn: {lime: {seed: 1}}", {"lime": 3, "lime_figure": 1}),
        ("cnn: {filters: {seed: 1}}", {"filters": 3, "filters_figure": 1}),
        ("cnn: {smoothgrad: {samples: 7}}", {"smoothgrad": 3, "smoothgrad_figure": 1, **SEEDS}),
        (
            "cnn: {integrated_gradients: {steps: 5}}",
            {"integrated_gradients": 3, "ig_steps": 3, "integrated_gradients_figure": 1},
        ),
        (
            "offline: {train: {batch_size: 16}}",
            {
                "train_classifier": 1,
                "model_summary": 1,
                "ig_steps": 3,
                **{m: 3 for m in METHODS},
                **FIGURES,
                **SEEDS,
            },
        ),
    ],
)
def test_result_settings_rerun_what_they_change(test_build, tmp_path, override, expected):
    assert dry_run(test_build, tmp_path, override) == {**expected, **QUIZ}
