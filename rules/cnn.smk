# CNN explanation methods: one rule per registered method (workflow_scripts/cnn/methods,
# named after it), one job per observed image, writing paths.attribution
# (attributions/<method>/<image>.npz; schema in README). The method's module is an input, so
# editing it reruns only its own jobs.

for _method in CNN_METHODS:

    rule:
        name:
            _method
        input:
            image=P.observed(R, "{image}"),
            checkpoint=P.checkpoint(R),
            code=P.module_file(f"cnn.methods.{_method}"),
        output:
            npz=P.attribution(R, _method, "{image}"),
        log:
            P.log(R, _method, "{image}"),
        benchmark:
            P.benchmark(R, _method, "{image}")
        group:
            "attributions"
        conda:
            ENV
        threads: 1
        resources:
            gpu=1,
        params:
            method=_method,
            cfg=result_config(f"cnn.{_method}"),
            seed=config["seed"],
        script:
            step_script("attribute")


rule ig_steps:
    """IG maps of one image for several path lengths (quiz 18: the effect of more steps)."""
    input:
        image=P.observed(R, "{image}"),
        checkpoint=P.checkpoint(R),
        code=P.module_file("cnn.methods.integrated_gradients"),
    output:
        npz=P.ig_steps(R, "{image}"),
    log:
        P.log(R, "ig_steps", "{image}"),
    benchmark:
        P.benchmark(R, "ig_steps", "{image}")
    group:
        "attributions"
    conda:
        ENV
    threads: 1
    resources:
        gpu=1,
    params:
        steps=REPORT["ig_steps"],
        cfg=result_config("cnn.integrated_gradients"),
    script:
        step_script("ig_steps")
