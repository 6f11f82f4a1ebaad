# Assets: the images and the checkpoint every method explains, under results/<asset_set>/assets/.
# offline: rendered and trained here; hw9: the homework's bundle from the first source that works.


if OFFLINE:

    rule offline_dataset:
        """Render the offline food-11 set (emoji glyphs on varied backgrounds, with masks)."""
        output:
            train=P.dataset_split(R, "train"),
            val=P.dataset_split(R, "val"),
            test=P.dataset_split(R, "test"),
            food=directory(P.food_dir(R)),
            summary=P.dataset_summary(R),
        log:
            P.log(R, "offline_dataset"),
        benchmark:
            P.benchmark(R, "offline_dataset")
        conda:
            ENV
        threads: all_cores()
        params:
            code=rule_code("build_offline_dataset"),
            offline=canonical(dataset_params()),
            seed=config["seed"],
        script:
            step_script("build_offline_dataset")

    rule train_classifier:
        """Train the homework Classifier on the offline set; write a homework-format checkpoint."""
        input:
            train=rules.offline_dataset.output.train,
            val=rules.offline_dataset.output.val,
            test=rules.offline_dataset.output.test,
        output:
            checkpoint=P.checkpoint(R),
            metrics=report(
                P.training_metrics(R),
                category="Assets",
                caption="../report/training_metrics.rst",
            ),
        log:
            P.log(R, "train_classifier"),
        benchmark:
            P.benchmark(R, "train_classifier")
        conda:
            ENV
        threads: all_cores()
        resources:
            gpu=1,
        params:
            code=rule_code("train_classifier"),
            width=config["model"]["width"],
            train=canonical(config["offline"]["train"]),
            seed=config["seed"] + config["offline"]["train"]["seed_offset"],
        script:
            step_script("train_classifier")

else:
    from workflow_scripts.assets.hw9 import local_fingerprint as hw9_local_fingerprint

    rule hw9_bundle:
        """Obtain, verify and install the homework's 10 images and checkpoint (config hw9.*)."""
        output:
            food=directory(P.food_dir(R)),
            checkpoint=P.checkpoint(R),
        log:
            P.log(R, "hw9_bundle"),
        benchmark:
            P.benchmark(R, "hw9_bundle")
        conda:
            ENV
        params:
            code=rule_code("hw9_bundle"),
            hw9=result_config("hw9"),
            # names and content hashes of the files under hw9.local: replacing one
            # reinstalls the bundle
            local_files=hw9_local_fingerprint(config["hw9"]["local"]),
        script:
            step_script("hw9_bundle")


rule observed_image:
    """Load one observed image the homework's way (Resize 128 + ToTensor), with its mask if any."""
    input:
        food=P.food_dir(R),
    output:
        npz=P.observed(R, "{image}"),
    log:
        P.log(R, "observed_image", "{image}"),
    group:
        "observed"
    conda:
        ENV
    params:
        code=rule_code("observed_image"),
    script:
        step_script("observed_image")


rule model_summary:
    """Load the checkpoint safely (weights_only, strict keys); record its architecture and hash."""
    input:
        checkpoint=P.checkpoint(R),
    output:
        json=P.model_summary(R),
    log:
        P.log(R, "model_summary"),
    conda:
        ENV
    params:
        code=rule_code("model_summary"),
        width=config["model"]["width"],
    script:
        step_script("model_summary")
