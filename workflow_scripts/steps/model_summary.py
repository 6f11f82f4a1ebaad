import _bootstrap  # noqa: F401  (first: the package on sys.path, Ctrl-C during imports)

from workflow_scripts.assets.observed import folder_summary, model_summary
from workflow_scripts.core.step import run


def main(smk):
    if str(smk.input.checkpoint).endswith(".json"):  # a folder set's model descriptor
        folder_summary(smk.input.checkpoint, smk.output.json, dict(smk.params.layers))
    else:
        model_summary(smk.input.checkpoint, smk.output.json, smk.params.width)


run(snakemake, main)  # noqa: F821
