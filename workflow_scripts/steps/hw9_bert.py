try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.bert.models import install_hw9_bert
from workflow_scripts.core.step import run, speed


def main(smk):
    install_hw9_bert(smk.params.source, smk.output.folder, {**smk.params.hw9, **speed(smk, "hw9")})


run(snakemake, main)  # noqa: F821
