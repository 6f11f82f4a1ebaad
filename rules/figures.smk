# Figures from the cached artifacts, under results/<asset_set>/figures/ (one rule per family).


rule similarity_figures:
    """The 10x10 matrices of 蘋/果 (both metrics, the configured layers) and their per-layer averages."""
    input:
        npz=rules.embedding_similarity.output.npz,
        json=rules.embedding_similarity.output.json,
        code=workflow_path("workflow_scripts/figures/bert.py"),
    output:
        matrices=[
            report(p, category="BERT", subcategory="similarity", caption="../report/bert_figure.rst")
            for p in expand(
                f"{RESULTS}/figures/bert/similarity_{{metric}}_char{{key}}_layer{{layer}}.png",
                metric=["cosine", "euclidean"],
                key=range(len(BERT["similarity"]["characters"])),
                layer=BERT["similarity"]["figure_layers"],
            )
        ],
        curves=report(f"{RESULTS}/figures/bert/similarity_by_layer.png", category="BERT",
                      subcategory="similarity", caption="../report/bert_figure.rst"),
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
        code=workflow_path("workflow_scripts/figures/bert.py"),
    output:
        png=report(f"{RESULTS}/figures/bert/hidden_pca_q{{item}}.png", category="BERT",
                   subcategory="hidden-state PCA", caption="../report/bert_figure.rst"),
        layers=directory(f"{RESULTS}/figures/bert/hidden_pca_q{{item}}_layers"),
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
        code=workflow_path("workflow_scripts/figures/bert.py"),
    output:
        png=report(f"{RESULTS}/figures/bert/attention_heads.png", category="BERT", subcategory="attention",
                   caption="../report/bert_figure.rst"),
    conda:
        ENV
    log:
        f"{LOGS}/figures/attention_heads.log",
    script:
        step_script("attention_figure")



for _method in ["lime", "saliency", "smoothgrad", "integrated_gradients"]:

    rule:
        name:
            f"{_method}_figure"
        input:
            **cnn_figure_inputs(_method),
        output:
            png=report(f"{RESULTS}/figures/cnn/{_method}.png", category="CNN", subcategory=_method,
                       caption="../report/cnn_figure.rst"),
        params:
            method=_method,
        conda:
            ENV
        log:
            f"{LOGS}/figures/{_method}.log",
        script:
            step_script("cnn_figure")


rule filters_figure:
    """Images / filter activation / filter visualisation rows, one PNG per configured (layer, filter)."""
    input:
        **cnn_figure_inputs("filters"),
    output:
        pngs=[
            report(FILTER_FIGURE.format(layer=l, filter=f), category="CNN", subcategory="filters",
                   caption="../report/cnn_figure.rst")
            for l, f in config["cnn"]["filters"]["pairs"]
        ],
    params:
        method="filters",
        pairs=config["cnn"]["filters"]["pairs"],
        template=lambda wc: FILTER_FIGURE,
    conda:
        ENV
    log:
        f"{LOGS}/figures/filters.log",
    script:
        step_script("cnn_figure")


# Figures are light (seconds, no GPU): on a cluster they run where Snakemake runs, not as jobs.
localrules:
    similarity_figures,
    hidden_pca_figure,
    attention_figure,
    lime_figure,
    saliency_figure,
    smoothgrad_figure,
    integrated_gradients_figure,
    filters_figure,
