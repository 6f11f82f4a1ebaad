try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.assets import sources
from workflow_scripts.cnn.fastpath import auto_batch
from workflow_scripts.core.step import run, speed, torch_device
from workflow_scripts.quality import scoring, tables


def main(smk):
    device = torch_device(smk, smk.params.seed)
    q = smk.params.quality
    source = sources.load(smk.config["source"])
    model = source.load_model(smk.input.checkpoint, device=device)
    images, masks, labels, names = source.quality_images(smk, smk.params.positions)
    params = {m: {**cfg, **speed(smk, f"cnn.{m}")} for m, cfg in smk.params.method_params.items()}
    budget = (smk.params.positions, smk.params.budgets)
    batch = auto_batch(speed(smk, "quality")["batch_size"], device)
    if smk.rule == "quality_sanity":
        rows = scoring.sanity_images(
            model,
            images,
            labels,
            names,
            params,
            q["seed"],
            device,
            q["sanity_layers"],
            budget,
            q["sanity_steps"],
        )
        tables.write_rows(smk.output.csv, tables.SANITY_COLUMNS, rows)
        return
    rows, curves = scoring.score_images(
        model, images, masks, labels, names, params, q, device, batch, budget
    )
    tables.write_rows(smk.output.csv, tables.SCORE_COLUMNS, rows)
    tables.write_curves(smk.output.npz, curves, names)


run(snakemake, main)  # noqa: F821
