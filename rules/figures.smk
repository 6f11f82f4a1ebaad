# Figures from the cached artifacts, under results/<asset_set>/figures/ (one rule per family).


rule similarity_figures:
    """The 10x10 matrices of 蘋/果 (both metrics, configured layers) and per-layer averages."""
    input:
        npz=P.similarity(R, "npz"),
        json=P.similarity(R),
    output:
        matrices=[
            report(
                p,
                category="BERT",
                subcategory="similarity",
                caption="../report/similarity_matrix.rst",
            )
            for p in similarity_figures()
        ],
        curves=report(
            P.similarity_curves(R),
            category="BERT",
            subcategory="similarity",
            caption="../report/similarity_curves.rst",
        ),
    log:
        P.log(R, "similarity_figures"),
    conda:
        ENV
    params:
        code=rule_code("similarity_figures"),
        matrices=SIMILARITY_MATRICES,
    script:
        step_script("similarity_figures")


rule hidden_pca_figure:
    """Layers 1-12 of one QA item's hidden-state PCA, coloured by token role."""
    input:
        npz=P.hidden_pca(R, "{item}", "npz"),
        json=P.hidden_pca(R, "{item}"),
    output:
        png=report(
            P.hidden_pca_figure(R, "{item}"),
            category="BERT",
            subcategory="hidden-state PCA",
            caption="../report/hidden_pca.rst",
        ),
        layers=directory(P.hidden_pca_layers(R, "{item}")),
    log:
        P.log(R, "hidden_pca_figure", "q{item}"),
    conda:
        ENV
    params:
        code=rule_code("hidden_pca_figure"),
    script:
        step_script("hidden_pca_figure")


rule attention_figure:
    """Attention behaviour shares per (layer, head) and the pronoun -> antecedent attention."""
    input:
        npz=P.exbert(R, "npz"),
        json=P.exbert(R),
    output:
        png=report(
            P.attention_figure(R),
            category="BERT",
            subcategory="attention",
            caption="../report/attention.rst",
        ),
    log:
        P.log(R, "attention_figure"),
    conda:
        ENV
    params:
        code=rule_code("attention_figure"),
    script:
        step_script("attention_figure")


# One figure rule per registered CNN method, in the layout its module declares (FIGURE).
for _method in CNN_METHODS:

    rule:
        name:
            f"{_method}_figure"
        input:
            observed=observed_files(),
            artifacts=attribution_files(_method),
        output:
            pngs=[
                report(p, category="CNN", subcategory=_method, caption="../report/cnn_figure.rst")
                for p in cnn_figures(_method)
            ],
        log:
            P.log(R, "figures", _method),
        localrule: True
        conda:
            ENV
        params:
            code=rule_code("cnn_figure", f"cnn.methods.{_method}"),
            method=_method,
            per=config["cnn"][_method].get(METHODS[_method]["FIGURE"].get("per"), []),
            rows=figure_rows(_method),
        script:
            step_script("cnn_figure")


# Figures are light (seconds, no GPU): on a cluster they run where Snakemake runs, not as jobs.
localrules:
    similarity_figures,
    hidden_pca_figure,
    attention_figure,
