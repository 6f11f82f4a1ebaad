from workflow_scripts.bert.models import install_hw9_bert
from workflow_scripts.core.step import run, speed

import _bootstrap  # noqa: F401  (repository root on sys.path)


def main(smk):
    install_hw9_bert(smk.params.source, smk.output.folder, {**smk.params.hw9, **speed(smk, "hw9")})


run(snakemake, main)  # noqa: F821
