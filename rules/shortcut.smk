# The controlled shortcut (config offline.shortcut, docs/quality.md, "A controlled shortcut"): how much the
# CNN trained on the marked offline set relies on the marker, and which explanation methods show
# it. Only while offline.shortcut.enabled (config/offline_shortcut.yaml); else no rule, no target.

if SHORTCUT["enabled"]:

    rule shortcut_reliance:
        """Accuracy with vs without the marker, flip rate, and every method's mass on the marker."""
        input:
            test=P.dataset_split(R, "test"),
            summary=P.dataset_summary(R),
            checkpoint=MODEL_FILE,
        output:
            json=P.shortcut(R),
            npz=P.shortcut(R, "npz"),
            mass=P.shortcut_figure(R, "mass"),
            examples=P.shortcut_figure(R, "examples"),
        log:
            P.log(R, "shortcut_reliance"),
        benchmark:
            P.benchmark(R, "shortcut_reliance")
        conda:
            ENV
        threads: 1
        resources:
            gpu=1,
        params:
            code=rule_code("shortcut_reliance", *(f"cnn.methods.{m}" for m in CNN_METHODS)),
            shortcut=canonical(SHORTCUT),
            cnn={m: result_config(f"cnn.{m}") for m in CNN_METHODS},
            seed=config["seed"],
        script:
            step_script("shortcut_reliance")
