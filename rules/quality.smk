# The quality stage ("Which explanation to trust", README): every registered method that makes a
# per-pixel map, recomputed on quality.images held-out images in jobs of quality.images_per_job,
# scored (localisation, faithfulness, agreement; sanity in its own jobs), merged into
# quality/scores.csv and a summary with bootstrap CIs, drawn, and read by the quiz report.
# quality.enabled: false leaves these rules out of the DAG (no target asks for them).

QUALITY = config["quality"]
QUALITY_ON = QUALITY["enabled"]
QUALITY_PARAMS = result_config("quality")
# Each rule's params hold only the keys that shape its outputs (a bootstrap change reruns the
# merge, not the scoring).
CHUNK_PARAMS = {
    k: QUALITY_PARAMS[k] for k in ("images_per_class", "seed", "pointing_tolerance", "faithfulness")
}
SANITY_PARAMS = {k: QUALITY_PARAMS[k] for k in ("images_per_class", "seed", "sanity_layers")}
QUALITY_FIGURES = ("metrics", "curves", "sanity")
# A shortcut asset set (offline.shortcut.enabled, rules/shortcut.smk) adds its finding to the
# report's quality section.
SHORTCUT_ON = bool(config["offline"].get("shortcut", {}).get("enabled"))
try:
    QUALITY_METHODS = Q.scored_methods(METHODS, QUALITY["exclude"])
    QUALITY_N = Q.image_count(QUALITY, OFFLINE, observed_names()) if QUALITY_ON else 0
    QUALITY_CHUNKS = Q.chunk_ranges(QUALITY_N, QUALITY["images_per_job"])
    _sanity_n = Q.sanity_count(QUALITY, QUALITY_N) if QUALITY_ON else 0
    SANITY_CHUNKS = Q.chunk_ranges(_sanity_n, QUALITY["images_per_job"])
except Q.UserError as _error:
    raise WorkflowError(str(_error))


def quality_targets():
    """The stage's final outputs (none when quality.enabled is false)."""
    if not QUALITY_ON:
        return []
    return [P.quality_summary(R), P.quality_summary(R, "csv"), P.quality_scores(R)]


def quality_figure_targets(root=R):
    """The stage's figures, and the shortcut's (rules/shortcut.smk) that its section shows."""
    figures = [P.quality_figure(root, n) for n in QUALITY_FIGURES] if QUALITY_ON else []
    if SHORTCUT_ON:
        figures += [P.shortcut_figure(root, kind) for kind in ("mass", "examples")]
    return figures


def quality_report_inputs():
    """What the quiz report reads from the stage: the summary, and a shortcut finding."""
    inputs = {"quality": P.quality_summary(R)} if QUALITY_ON else {}
    if SHORTCUT_ON:  # hook for rules/shortcut.smk's output
        inputs["shortcut"] = P.shortcut(R)
    return inputs


def quality_images_input(wildcards):
    """offline: the test split; otherwise the observed images (no dataset)."""
    if OFFLINE:
        return {"dataset": P.dataset_split(R, "test")}
    return {"observed": observed_files()[:QUALITY_N]}


def quality_method_params(overrides):
    cnn = {m: result_config(f"cnn.{m}") for m in QUALITY_METHODS}
    return Q.method_params(cnn, QUALITY_METHODS, overrides)


rule quality_chunk:
    """Every scored method's map of one chunk of quality images, then its localisation,
    faithfulness and agreement scores (one model load per job)."""
    input:
        unpack(quality_images_input),
        checkpoint=P.checkpoint(R),
        code=[P.module_file(f"cnn.methods.{m}") for m in QUALITY_METHODS]
        + [P.module_file("quality.metrics"), P.module_file("quality.stage")],
    output:
        csv=P.quality_chunk(R, "{chunk}"),
        npz=P.quality_chunk(R, "{chunk}", "npz"),
    log:
        P.log(R, "quality_chunk", "{chunk}"),
    benchmark:
        P.benchmark(R, "quality_chunk", "{chunk}")
    conda:
        ENV
    threads: 1
    resources:
        gpu=1,
    params:
        positions=lambda wc: list(QUALITY_CHUNKS[int(wc.chunk)]),
        quality=CHUNK_PARAMS,
        method_params=quality_method_params(QUALITY["methods"]),
        seed=config["seed"],
    script:
        step_script("quality_chunk")


rule quality_sanity:
    """Cascading randomisation (Adebayo et al. 2018) of every scored method on one chunk of the
    first quality.sanity_images images."""
    input:
        unpack(quality_images_input),
        checkpoint=P.checkpoint(R),
        code=[P.module_file(f"cnn.methods.{m}") for m in QUALITY_METHODS]
        + [P.module_file("quality.metrics"), P.module_file("quality.stage")],
    output:
        csv=P.quality_sanity(R, "{chunk}"),
    log:
        P.log(R, "quality_sanity", "{chunk}"),
    benchmark:
        P.benchmark(R, "quality_sanity", "{chunk}")
    conda:
        ENV
    threads: 1
    resources:
        gpu=1,
    params:
        positions=lambda wc: list(SANITY_CHUNKS[int(wc.chunk)]),
        quality=SANITY_PARAMS,
        method_params=quality_method_params(QUALITY["sanity_methods"]),
        seed=config["seed"],
    script:
        step_script("quality_chunk")


rule quality_merge:
    """scores.csv, agreement.csv, sanity.csv, mean curves and the summary with bootstrap CIs."""
    input:
        chunks=[P.quality_chunk(R, k) for k in range(len(QUALITY_CHUNKS))],
        curves=[P.quality_chunk(R, k, "npz") for k in range(len(QUALITY_CHUNKS))],
        sanity=[P.quality_sanity(R, k) for k in range(len(SANITY_CHUNKS))],
        code=[P.module_file("quality.stage"), P.module_file("quality.stats")],
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
        methods=QUALITY_METHODS,
        excluded=QUALITY["exclude"],
        bootstrap=QUALITY["bootstrap"],
    script:
        step_script("quality_merge")


rule quality_figures:
    """Metric-by-method with CIs, mean deletion/insertion curves, the randomisation cascade."""
    input:
        json=P.quality_summary(R),
        curves=P.quality_curves(R),
        code=P.module_file("figures.quality"),
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
    script:
        step_script("quality_figures")
