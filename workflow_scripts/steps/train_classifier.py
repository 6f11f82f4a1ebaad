try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

import numpy as np

from workflow_scripts.assets.train import train_classifier
from workflow_scripts.core.io import write_json
from workflow_scripts.core.runtime import pick_device, set_threads
from workflow_scripts.core.step import run, speed


def main(smk):
    job = speed(smk)  # device, threads
    set_threads(job["threads"] or smk.threads)
    splits = {}
    for name in ("train", "val", "test"):
        with np.load(getattr(smk.input, name)) as z:
            splits[name] = {"images": z["images"], "labels": z["labels"]}
    metrics = train_classifier(
        splits["train"],
        splits["val"],
        splits["test"],
        smk.params.width,
        smk.params.train,
        smk.params.seed,
        pick_device(job["device"]),
        smk.output.checkpoint,
    )
    write_json(smk.output.metrics, metrics)


run(snakemake, main)  # noqa: F821
