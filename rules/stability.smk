# Stability of the answers that depend on noise (SmoothGrad's noise, LIME's sampling): each such
# method reruns on the observed images with its seed + k, k = 1 .. report.stability_seeds (one
# job per method and k, under evidence/stability/); the quiz answers those questions again from
# these artifacts and reports how many seeds agree. Which methods: the `noise` declared by the
# evaluators of the quiz bank's questions (@evaluator(noise=...)) for this asset source.


for _method in STABILITY_METHODS:

    rule:
        name:
            f"{_method}_seed"
        input:
            images=observed_files(),
            checkpoint=MODEL_FILE,
        output:
            npz=stability_files(_method, "{k}"),
        log:
            P.log(R, f"{_method}_seed", "seed+{k}"),
        benchmark:
            P.benchmark(R, f"{_method}_seed", "seed+{k}")
        wildcard_constraints:
            k=r"[0-9]+",
        conda:
            ENV
        threads: 1
        resources:
            gpu=1,
        params:
            code=rule_code(
                "stability_attribute", f"cnn.methods.{_method}", f"assets.sources.{SOURCE.NAME}"
            ),
            method=_method,
            cfg=result_config(f"cnn.{_method}"),
            seed=config["seed"],
        script:
            step_script("stability_attribute")
