try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

import json

import numpy as np

from workflow_scripts.assets.models import load_checkpoint
from workflow_scripts.core.io import write_json, write_npz
from workflow_scripts.core.step import run, speed, torch_device
from workflow_scripts.figures.shortcut import examples_figure, mass_figure
from workflow_scripts.quality.shortcut import measure


def main(smk):
    device = torch_device(smk, smk.params.seed)
    with open(smk.input.summary, encoding="utf-8") as f:
        summary = json.load(f)
    with np.load(smk.input.test) as z:
        test = {k: z[k] for k in ("images", "labels", "has_marker")}
    model = load_checkpoint(smk.input.checkpoint, device=device)
    params = {m: {**cfg, **speed(smk, f"cnn.{m}")} for m, cfg in smk.params.cnn.items()}
    data, examples = measure(
        model, test, summary["spec"], summary["seed"], smk.params.shortcut, params, device
    )
    write_npz(smk.output.npz, examples)
    mass_figure(data, smk.output.mass)
    examples_figure(data, examples, smk.output.examples)
    write_json(smk.output.json, data)


run(snakemake, main)  # noqa: F821
