# CNN explanation methods: one rule per method (named after it), one job per observed image.
# Each job writes results/<asset_set>/attributions/<method>/<image>.npz (schema in README).
# The method's implementation module is an input, so editing it reruns only its own jobs.

for _method in CNN_METHODS:

    rule:
        name:
            _method
        input:
            image=f"{ASSETS}/observed/{{image}}.npz",
            checkpoint=checkpoint_path(),
            code=method_module(_method),
        output:
            npz=f"{RESULTS}/attributions/{_method}/{{image}}.npz",
        params:
            method=_method,
            cfg=result_config(f"cnn.{_method}"),
            seed=config["seed"],
        threads: 1
        resources:
            gpu=1,
        group:
            "attributions"
        conda:
            ENV
        log:
            f"{LOGS}/attributions/{_method}/{{image}}.log",
        benchmark:
            f"{BENCH}/attributions/{_method}/{{image}}.tsv"
        script:
            step_script("attribute")
