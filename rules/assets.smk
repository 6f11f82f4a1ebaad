# Assets: the images and the model every method explains, under results/<asset_set>/assets/.
# The configured source's rules (rules/sources/<source>.smk) build them; the two rules below are
# common to every source and ask the source module how (workflow_scripts/assets/sources/).


include: f"sources/{config['source']}.smk"


rule observed_image:
    """Load one observed image the source's way (homework: Resize 128 + ToTensor), with its mask
    if any."""
    input:
        **SOURCE.observed_input(R),
    output:
        npz=P.observed(R, "{image}"),
    log:
        P.log(R, "observed_image", "{image}"),
    # Fractions of a second each, and every method job waits for its images: before the long jobs.
    priority: 20
    group:
        "observed"
    conda:
        ENV
    params:
        code=rule_code("observed_image", f"assets.sources.{SOURCE.NAME}"),
    script:
        step_script("observed_image")


rule model_summary:
    """Load the model as every method will (a checkpoint: weights_only, strict keys); record its
    architecture, hash and the layers the methods hook."""
    input:
        checkpoint=MODEL_FILE,
    output:
        json=P.model_summary(R),
    log:
        P.log(R, "model_summary"),
    conda:
        ENV
    params:
        code=rule_code("model_summary", f"assets.sources.{SOURCE.NAME}"),
        width=config["model"]["width"] if SOURCE.HOMEWORK else None,
        layers=(
            {
                "gradcam": config["cnn"]["gradcam"]["layer"],
                "filters": config["cnn"]["filters"]["pairs"],
            }
            if LIMITS["hooks"] and not HOMEWORK  # a folder set's summary records them
            else {}
        ),
    script:
        step_script("model_summary")
