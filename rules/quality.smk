# The quality stage ("Which explanation to trust", README): every registered method that makes a
# per-pixel map, recomputed on quality.images held-out images in jobs of quality.images_per_job,
# scored (localisation, faithfulness, agreement; sanity in its own jobs), merged into
# quality/scores.csv and a summary with bootstrap CIs, drawn, and read by the quiz report.
# quality.enabled: false leaves these rules out of the DAG (no target asks for them).


rule quality_chunk:
    """Every scored method's map of one chunk of quality images, then its localisation,
    faithfulness and agreement scores (one model load per job)."""
    input:
        unpack(quality_images_input),
        checkpoint=MODEL_FILE,
    output:
        csv=P.quality_chunk(R, "{chunk}"),
        npz=P.quality_chunk(R, "{chunk}", "npz"),
    log:
        P.log(R, "quality_chunk", "{chunk}"),
    benchmark:
        P.benchmark(R, "quality_chunk", "{chunk}")
    # The longest jobs of a run: started first, the short ones fill the other cores around them.
    priority: 10
    conda:
        ENV
    threads: 1
    resources:
        gpu=1,
    params:
        code=rule_code(
            "quality_chunk",
            f"assets.sources.{SOURCE.NAME}",
            *(f"cnn.methods.{m}" for m in QUALITY_METHODS),
        ),
        positions=lambda wc: list(QUALITY_CHUNKS[int(wc.chunk)]),
        quality=CHUNK_PARAMS,
        method_params=lambda wc: chunk_method_params(
            QUALITY_CHUNKS, wc.chunk, QUALITY_METHOD_PARAMS
        ),
        budgets=lambda wc: chunk_budgets(QUALITY_CHUNKS, wc.chunk, QUALITY_METHODS),
        seed=config["seed"],
    script:
        step_script("quality_chunk")


rule quality_sanity:
    """Cascading randomisation (Adebayo et al. 2018) on one chunk of the first
    quality.sanity_images images: a job per budgeted (expensive) method, so a change to one
    reruns it alone and the cascades spread over the cores; one shared job for the others, whose
    cascades take seconds (the rows are the same either way)."""
    input:
        unpack(quality_images_input),
        checkpoint=MODEL_FILE,
    output:
        csv=P.quality_sanity(R, "{job}.{chunk}"),
    log:
        P.log(R, "quality_sanity", "{job}.{chunk}"),
    benchmark:
        P.benchmark(R, "quality_sanity", "{job}.{chunk}")
    wildcard_constraints:
        job="|".join(sorted({name for name, _, _ in SANITY_JOBS})) or "none",
        chunk=r"\d+",
    priority: 5  # as the methods' jobs: the short figure and BERT jobs fill the end of a run
    group:
        "sanity"
    conda:
        ENV
    threads: 1
    resources:
        gpu=1,
    params:
        code=sanity_code,
        positions=lambda wc: list(SANITY_CHUNKS[int(wc.chunk)]),
        quality=SANITY_PARAMS,
        method_params=lambda wc: {m: SANITY_METHOD_PARAMS[m] for m in sanity_methods(wc)},
        budgets=lambda wc: chunk_budgets(
            SANITY_CHUNKS, wc.chunk, sanity_methods(wc), SANITY_BUDGETS
        ),
        seed=config["seed"],
    script:
        step_script("quality_chunk")


rule quality_merge:
    """scores.csv, agreement.csv, sanity.csv, mean curves and the summary with bootstrap CIs."""
    input:
        chunks=[P.quality_chunk(R, k) for k in range(len(QUALITY_CHUNKS))],
        curves=[P.quality_chunk(R, k, "npz") for k in range(len(QUALITY_CHUNKS))],
        sanity=[P.quality_sanity(R, f"{name}.{k}") for name, k, _ in SANITY_JOBS],
    output:
        scores=P.quality_scores(R),
        agreement=P.quality_agreement(R),
        sanity=P.quality_sanity_table(R),
        curves=P.quality_curves(R),
        json=P.quality_summary(R),
        csv=P.quality_summary(R, "csv"),
    log:
        P.log(R, "quality_merge"),
    benchmark:
        P.benchmark(R, "quality_merge")
    localrule: True
    conda:
        ENV
    params:
        code=rule_code("quality_merge"),
        methods=QUALITY_METHODS,
        excluded=QUALITY["exclude"],
        bootstrap=canonical(QUALITY["bootstrap"]),
    script:
        step_script("quality_merge")


rule quality_figures:
    """Metric-by-method with CIs, mean deletion/insertion curves, the randomisation cascade."""
    input:
        json=P.quality_summary(R),
        curves=P.quality_curves(R),
    output:
        pngs=[
            report(
                P.quality_figure(R, name),
                category="Quality",
                caption="../report/quality_figure.rst",
            )
            for name in QUALITY_FIGURES
        ],
    log:
        P.log(R, "quality_figures"),
    localrule: True
    conda:
        ENV
    params:
        code=rule_code("quality_figures"),
    script:
        step_script("quality_figures")
