import _bootstrap  # noqa: F401  (first: the package on sys.path, Ctrl-C during imports)

from workflow_scripts.core.io import write_json, write_npz
from workflow_scripts.core.step import run
from workflow_scripts.quality import stage


def main(smk):
    p = smk.params
    scores, agree, curves = stage.merge_chunks(list(smk.input.chunks), list(smk.input.curves))
    sanity = stage.read_sanity(list(smk.input.sanity))
    stage.write_rows(smk.output.scores, stage.SCORE_COLUMNS, scores)
    stage.write_rows(smk.output.agreement, stage.SCORE_COLUMNS, agree)
    stage.write_rows(smk.output.sanity, stage.SANITY_COLUMNS, sanity)
    write_npz(smk.output.curves, stage.mean_curves(curves))
    summary = stage.summarise(scores, agree, sanity, list(p.methods), dict(p.bootstrap))
    summary.update(
        {
            "images": len({img for _, img, _, _ in scores}),
            "sanity_images": len({r[1] for r in sanity}),
            "excluded": list(p.excluded),
        }
    )
    write_json(smk.output.json, summary)
    stage.write_rows(
        smk.output.csv,
        ("method", "metric", "mean", "low", "high", "n", "reference"),
        stage.summary_table(summary),
    )


run(snakemake, main)  # noqa: F821
