import _bootstrap  # noqa: F401  (repository root on sys.path)
from workflow_scripts.figures.bert import similarity_by_layer, similarity_matrix
from workflow_scripts.step import run


def main(smk):
    for metric in ("cosine", "euclidean"):
        for key in range(smk.params.n_characters):
            for layer in smk.params.layers:
                out = smk.params.template.format(metric=metric, key=key, layer=layer)
                similarity_matrix(smk.input.npz, key, metric, layer, out)
    similarity_by_layer(smk.input.json, smk.output.curves)


run(snakemake, main)  # noqa: F821
