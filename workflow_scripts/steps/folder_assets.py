try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

import logging

from workflow_scripts.assets.folder_images import listing, load_row, write_manifest
from workflow_scripts.assets.folder_model import describe
from workflow_scripts.core.step import run


def main(smk):
    """The model descriptor (checked against the images' classes) and the image manifest; a bad
    image, mask or model stops the job before either is written (one line)."""
    spec = dict(smk.params.folder)
    rows, classes = listing(spec["images"])
    for row in rows:  # every image and mask readable, every mask fitting its image: before a write
        load_row(row, spec["preprocess"], classes)
    record = describe(spec, classes, smk.output.spec)
    write_manifest(smk.output.manifest, rows)
    masks = sum(bool(r["mask"]) for r in rows)
    logging.getLogger("xai").info(
        f"folder set: {record['architecture']} ({record['parameters']:,} parameters), "
        f"{len(rows)} images in {len(classes)} classes, {masks} with masks"
    )


run(snakemake, main)  # noqa: F821
