# Paths, config validation and helpers shared by every stage.
import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The workflow itself imports config checking from workflow_scripts (step scripts find the
# package through workflow_scripts/steps/_bootstrap.py).
sys.path.insert(0, workflow.basedir)

from workflow_scripts.config import config_error, load_schema  # noqa: E402

SCHEMA = os.path.join(workflow.basedir, "config", "schema.yaml")
_problem = config_error(config, load_schema(SCHEMA))
if _problem:
    raise WorkflowError(f"{_problem} (see config/schema.yaml)")
validate(config, SCHEMA)

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
    return f"workflow_scripts/methods/{method}.py"


def all_targets():
    """Everything `rule all` builds; each stage adds its final outputs here."""
    names = observed_names()
    targets = [f"{ASSETS}/model.json"]
    targets += expand(f"{ASSETS}/observed/{{image}}.npz", image=names)
    targets += expand(f"{RESULTS}/attributions/{{method}}/{{image}}.npz", method=CNN_METHODS, image=names)
    if OFFLINE:
        targets += [f"{ASSETS}/training_metrics.json", f"{ASSETS}/dataset.json"]
    targets += bert_targets() + figure_targets()  # rules/bert.smk, rules/figures.smk
    return targets
