"""Incremental reruns: after a change, Snakemake's own dry run lists exactly the affected jobs."""
import os

import pytest

from conftest import jobs_of, snakemake

METHODS = ("lime", "saliency", "smoothgrad", "filters", "integrated_gradients")


def dry_run(build, tmp_path, override: str = "") -> dict[str, int]:
    args = ["-n", "--configfile", "config/test.yaml"]
    if override:
        extra = tmp_path / "override.yaml"
        extra.write_text(override)
        args.append(extra)
    return jobs_of(snakemake(*args, cwd=build.workflow).stdout)


def test_nothing_changed_nothing_runs(test_build, tmp_path):
    assert dry_run(test_build, tmp_path) == {}


@pytest.mark.parametrize("method, override", [
    ("saliency", "cnn: {saliency: {objective: logit}}"),
    ("lime", "cnn: {lime: {num_samples: 60}}"),
    ("smoothgrad", "cnn: {smoothgrad: {noise: paper}}"),
    ("filters", "cnn: {filters: {pairs: [[6, 0]]}}"),
    ("integrated_gradients", "cnn: {integrated_gradients: {variant: ig}}"),
])
def test_one_method_parameter_reruns_only_that_method(test_build, tmp_path, method, override):
    assert dry_run(test_build, tmp_path, override) == {method: 3, "all": 1}


def test_editing_a_method_module_reruns_only_its_jobs(test_build, tmp_path):
    """The module is an input: an edit (new content; Snakemake ignores a bare touch of a file whose
    checksum it recorded) reruns that method's jobs and nothing else."""
    module = test_build.workflow / "workflow_scripts/methods/smoothgrad.py"
    text, before = module.read_bytes(), module.stat()
    try:
        module.write_bytes(text + b"\n# an edit\n")
        assert dry_run(test_build, tmp_path) == {"smoothgrad": 3, "all": 1}
    finally:
        module.write_bytes(text)
        os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert dry_run(test_build, tmp_path) == {}


def test_adding_an_observed_image_runs_only_its_jobs(test_build, tmp_path):
    assert dry_run(test_build, tmp_path, "observed: {count: 4}") == {
        "observed_image": 1, "all": 1, **{m: 1 for m in METHODS}}


def test_retraining_reruns_model_dependent_jobs_but_not_the_dataset(test_build, tmp_path):
    assert dry_run(test_build, tmp_path, "offline: {train: {epochs: 2}}") == {
        "train_classifier": 1, "model_summary": 1, "all": 1, **{m: 3 for m in METHODS}}


@pytest.mark.parametrize("override, expected", [
    ("bert: {pca: {answer_rule: span}}", {"hidden_pca": 3, "hidden_pca_figure": 3}),
    ("bert: {similarity: {figure_layers: [0, 12]}}", {"similarity_figures": 1}),
    ("bert: {exbert: {top_k: 3}}", {"exbert_probes": 1, "attention_figure": 1}),
])
def test_one_bert_parameter_reruns_only_its_analysis(test_build, tmp_path, override, expected):
    assert dry_run(test_build, tmp_path, override) == {**expected, "all": 1}


def test_editing_the_similarity_module_reruns_it_and_its_figures(test_build, tmp_path):
    module = test_build.workflow / "workflow_scripts/bert/similarity.py"
    text, before = module.read_bytes(), module.stat()
    try:
        module.write_bytes(text + b"\n# an edit\n")
        assert dry_run(test_build, tmp_path) == {"embedding_similarity": 1, "similarity_figures": 1, "all": 1}
    finally:
        module.write_bytes(text)
        os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
