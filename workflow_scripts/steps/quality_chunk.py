import _bootstrap  # noqa: F401  (first: the package on sys.path, Ctrl-C during imports)

from workflow_scripts.assets.models import load_checkpoint
from workflow_scripts.cnn.fastpath import auto_batch
from workflow_scripts.core.step import run, speed, torch_device
from workflow_scripts.quality import stage
from workflow_scripts.quality.images import from_dataset, from_observed


def load_images(smk, positions):
    p = smk.params
    if smk.input.get("dataset"):  # the selection is a prefix: no job depends on quality.images
        count = max(positions) + 1
        return from_dataset(smk.input.dataset, p.quality["images_per_class"], count, positions)
    return from_observed([smk.input.observed[i] for i in positions])


def main(smk):
    device = torch_device(smk, smk.params.seed)
    q = smk.params.quality
    model = load_checkpoint(smk.input.checkpoint, device=device)
    images, masks, labels, names = load_images(smk, smk.params.positions)
    params = {m: {**cfg, **speed(smk, f"cnn.{m}")} for m, cfg in smk.params.method_params.items()}
    batch = auto_batch(speed(smk, "quality")["batch_size"], device)
    if smk.rule == "quality_sanity":
        rows = stage.sanity_images(
            model, images, labels, names, params, q["seed"], device, q["sanity_layers"]
        )
        stage.write_rows(smk.output.csv, stage.SANITY_COLUMNS, rows)
        return
    rows, curves = stage.score_images(model, images, masks, labels, names, params, q, device, batch)
    stage.write_rows(smk.output.csv, stage.SCORE_COLUMNS, rows)
    stage.write_curves(smk.output.npz, curves, names)


run(snakemake, main)  # noqa: F821
