try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.bert.pipeline import run_exbert
from workflow_scripts.core.runtime import set_threads
from workflow_scripts.core.step import run


def main(smk):
    set_threads(smk.threads)
    run_exbert(
        smk.input.model,
        smk.params.sentence,
        dict(smk.params.words),
        smk.params.top_k,
        smk.params.mlm,
        smk.output.npz,
        smk.output.json,
    )


run(snakemake, main)  # noqa: F821
