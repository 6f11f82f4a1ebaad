# Assets: the images and the checkpoint every method explains, under results/<asset_set>/assets/.
# offline: rendered and trained here; hw9: the homework's bundle from the first source that works.


if OFFLINE:

    rule offline_dataset:
        """Render the offline food-11 set (emoji glyphs on varied backgrounds, with masks)."""
        output:
            train=f"{ASSETS}/dataset/train.npz",
            val=f"{ASSETS}/dataset/val.npz",
            test=f"{ASSETS}/dataset/test.npz",
            food=directory(f"{ASSETS}/food"),
            summary=f"{ASSETS}/dataset.json",
        params:
            offline={k: v for k, v in config["offline"].items() if k != "train"},
            seed=config["seed"],
        threads: all_cores()
        conda:
            ENV
        log:
            f"{LOGS}/offline_dataset.log",
        benchmark:
            f"{BENCH}/offline_dataset.tsv"
        script:
            step_script("build_offline_dataset")

    rule train_classifier:
        """Train the homework Classifier on the offline set; write a homework-format checkpoint."""
        input:
            train=rules.offline_dataset.output.train,
            val=rules.offline_dataset.output.val,
            test=rules.offline_dataset.output.test,
        output:
            checkpoint=f"{ASSETS}/checkpoint.pth",
            metrics=report(
                f"{ASSETS}/training_metrics.json",
                category="Assets",
                caption="../report/training_metrics.rst",
            ),
        params:
            width=config["model"]["width"],
            train=config["offline"]["train"],
            seed=config["seed"] + config["offline"]["train"]["seed_offset"],
        threads: all_cores()
        resources:
            gpu=1,
        conda:
            ENV
        log:
            f"{LOGS}/train_classifier.log",
        benchmark:
            f"{BENCH}/train_classifier.tsv"
        script:
            step_script("train_classifier")


else:

    rule hw9_bundle:
        """Obtain, verify and install the homework's 10 images and checkpoint (config hw9.*)."""
        output:
            food=directory(f"{ASSETS}/food"),
            checkpoint=f"{ASSETS}/checkpoint.pth",
        params:
            hw9=result_config("hw9"),
        conda:
            ENV
        log:
            f"{LOGS}/hw9_bundle.log",
        benchmark:
            f"{BENCH}/hw9_bundle.tsv"
        script:
            step_script("hw9_bundle")


rule observed_image:
    """Load one observed image the homework's way (Resize 128 + ToTensor), with its mask if any."""
    input:
        food=food_dir(),
    output:
        npz=f"{ASSETS}/observed/{{image}}.npz",
    group:
        "observed"
    conda:
        ENV
    log:
        f"{LOGS}/observed_image/{{image}}.log",
    script:
        step_script("observed_image")


rule model_summary:
    """Load the checkpoint safely (weights_only, strict keys) and record its architecture and hash."""
    input:
        checkpoint=checkpoint_path(),
    output:
        json=f"{ASSETS}/model.json",
    params:
        width=config["model"]["width"],
    conda:
        ENV
    log:
        f"{LOGS}/model_summary.log",
    script:
        step_script("model_summary")
