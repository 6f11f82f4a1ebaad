# Assets of source offline: the emoji food-11 set rendered here (with masks) and the homework
# Classifier trained on it (workflow_scripts/assets/sources/offline.py).


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
        SOURCE_ENV
    threads: all_cores()
    params:
        code=rule_code("build_offline_dataset"),
        offline=canonical(dataset_params()),
        seed=config["seed"],
    script:
        step_script("build_offline_dataset", depth=2)


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
            caption="../../report/training_metrics.rst",
        ),
    log:
        P.log(R, "train_classifier"),
    benchmark:
        P.benchmark(R, "train_classifier")
    # First when the data is ready: every CNN job waits for it, and it needs both cores.
    priority: 100
    conda:
        SOURCE_ENV
    threads: all_cores()
    resources:
        gpu=1,
    params:
        code=rule_code("train_classifier"),
        width=config["model"]["width"],
        train=canonical(config["offline"]["train"]),
        seed=config["seed"] + config["offline"]["train"]["seed_offset"],
    script:
        step_script("train_classifier", depth=2)
