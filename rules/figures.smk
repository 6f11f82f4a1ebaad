# Figures from the cached artifacts, under results/<asset_set>/figures/ (one rule per family).


rule similarity_figures:
    """The 10x10 matrices of 蘋/果 (both metrics, the configured layers) and their per-layer averages."""
    input:
        npz=rules.embedding_similarity.output.npz,
        json=rules.embedding_similarity.output.json,
        code="workflow_scripts/figures/bert.py",
    output:
        matrices=expand(
            f"{RESULTS}/figures/bert/similarity_{{metric}}_char{{key}}_layer{{layer}}.png",
            metric=["cosine", "euclidean"],
            key=range(len(BERT["similarity"]["characters"])),
            layer=BERT["similarity"]["figure_layers"],
        ),
        curves=f"{RESULTS}/figures/bert/similarity_by_layer.png",
    params:
        template=lambda wc: f"{RESULTS}/figures/bert/similarity_{{metric}}_char{{key}}_layer{{layer}}.png",
        layers=BERT["similarity"]["figure_layers"],
        n_characters=len(BERT["similarity"]["characters"]),
    conda:
        ENV
    log:
        f"{LOGS}/figures/similarity_figures.log",
    script:
        step_script("similarity_figures")


rule hidden_pca_figure:
    """Layers 1-12 of one QA item's hidden-state PCA, coloured by token role."""
    input:
        npz=rules.hidden_pca.output.npz,
        json=rules.hidden_pca.output.json,
        code="workflow_scripts/figures/bert.py",
    output:
        png=f"{RESULTS}/figures/bert/hidden_pca_q{{item}}.png",
    conda:
        ENV
    log:
        f"{LOGS}/figures/hidden_pca_q{{item}}.log",
    script:
        step_script("hidden_pca_figure")


rule attention_figure:
    """Attention behaviour shares per (layer, head) and the pronoun -> antecedent attention."""
    input:
        npz=rules.exbert_probes.output.npz,
        json=rules.exbert_probes.output.json,
        code="workflow_scripts/figures/bert.py",
    output:
        png=f"{RESULTS}/figures/bert/attention_heads.png",
    conda:
        ENV
    log:
        f"{LOGS}/figures/attention_heads.log",
    script:
        step_script("attention_figure")


def figure_targets():
    items = range(1, len(BERT_INPUTS["qa_items"]) + 1)
    return (rules.similarity_figures.output.matrices + [rules.similarity_figures.output.curves]
            + expand(f"{RESULTS}/figures/bert/hidden_pca_q{{item}}.png", item=items)
            + [rules.attention_figure.output.png])
