import _bootstrap  # noqa: F401  (first: the package on sys.path, Ctrl-C during imports)

from workflow_scripts.bert.models import install_hw9_bert
from workflow_scripts.core.step import run, speed


def main(smk):
    install_hw9_bert(smk.params.source, smk.output.folder, {**smk.params.hw9, **speed(smk, "hw9")})


run(snakemake, main)  # noqa: F821
