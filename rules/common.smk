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


wildcard_constraints:
    split="train|val|test",


def food_dir():
    """Folder of the <label>_<id>.jpg images the observed set is taken from."""
    return f"{ASSETS}/food" if OFFLINE else config["hw9"]["food_dir"]


def checkpoint_path():
    """The homework-format checkpoint of the CNN to explain."""
    return f"{ASSETS}/checkpoint.pth" if OFFLINE else config["hw9"]["checkpoint"]


def step_script(name):
    return f"../workflow_scripts/steps/{name}.py"


# One software environment for every rule: the pinned requirements (used with
# --software-deployment-method conda; by default the current environment runs the jobs).
ENV = "../envs/xai.yaml"


def all_targets():
    """Everything `rule all` builds; each stage adds its final outputs here."""
    targets = [f"{ASSETS}/observed.npz", f"{ASSETS}/model.json"]
    if OFFLINE:
        targets += [f"{ASSETS}/training_metrics.json", f"{ASSETS}/dataset.json"]
    return targets
