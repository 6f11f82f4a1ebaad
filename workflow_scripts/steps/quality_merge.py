try:  # first: the package on sys.path, Ctrl-C during imports
    import _bootstrap  # noqa: F401
except ModuleNotFoundError:  # a deployed module's script, fetched alone: the installed package
    import workflow_scripts.steps._bootstrap  # noqa: F401

from workflow_scripts.core.io import write_json, write_npz
from workflow_scripts.core.step import run
from workflow_scripts.quality import summary as S
from workflow_scripts.quality import tables


def main(smk):
    p = smk.params
    scores, agree, curves = tables.merge_chunks(list(smk.input.chunks), list(smk.input.curves))
    sanity = tables.read_sanity(list(smk.input.sanity))
    tables.write_rows(smk.output.scores, tables.SCORE_COLUMNS, scores)
    tables.write_rows(smk.output.agreement, tables.SCORE_COLUMNS, agree)
    tables.write_rows(smk.output.sanity, tables.SANITY_COLUMNS, sanity)
    write_npz(smk.output.curves, S.mean_curves(curves))
    summary = S.summarise(scores, agree, sanity, list(p.methods), dict(p.bootstrap))
    summary.update(
        {
            "images": len({img for _, img, _, _ in scores}),
            "sanity_images": len({r[1] for r in sanity}),
            "excluded": list(p.excluded),
        }
    )
    write_json(smk.output.json, summary)
    tables.write_rows(
        smk.output.csv,
        ("method", "metric", "mean", "low", "high", "n", "reference"),
        S.summary_table(summary),
    )


run(snakemake, main)  # noqa: F821
