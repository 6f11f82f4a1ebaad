# CNN explanation methods: per registered method (workflow_scripts/cnn/methods), one job per chunk
# of observed images (config cnn.images_per_job; rule `<method>_<k>` for chunk k, k = 0, 1, ...),
# writing one paths.attribution per image (attributions/<method>/<image>.npz; schema in README).
# A chunk job loads and prepares the model once for its images, so the per-job start-up (Python,
# torch, the model) is paid per chunk, not per image. The method's module is an input, so
# editing it reruns only its own jobs; adding an image reruns only the chunk it joins.

for _method in CNN_METHODS:
    for _k, _chunk in enumerate(image_chunks()):

        rule:
            name:
                chunk_rule(_method, _k)
            input:
                images=[P.observed(R, n) for n in _chunk],
                checkpoint=MODEL_FILE,
            output:
                npz=[P.attribution(R, _method, n) for n in _chunk],
            log:
                P.log(R, _method, f"chunk{_k}"),
            benchmark:
                P.benchmark(R, _method, f"chunk{_k}")
            # Before the figure and BERT jobs (seconds each), so that those fill the cores at the
            # end of a run instead of a long method job starting last.
            priority: 5
            group:
                "attributions"
            conda:
                ENV
            threads: 1
            resources:
                gpu=1,
            params:
                code=rule_code(
                    "attribute", f"cnn.methods.{_method}", f"assets.sources.{SOURCE.NAME}"
                ),
                method=_method,
                cfg=result_config(f"cnn.{_method}"),
                seed=config["seed"],
            script:
                step_script("attribute")


for _k, _chunk in enumerate(image_chunks()):

    rule:
        """IG maps of a chunk of images for several path lengths (quiz 18: the effect of more
        steps)."""
        name:
            chunk_rule("ig_steps", _k)
        input:
            images=[P.observed(R, n) for n in _chunk],
            checkpoint=MODEL_FILE,
        output:
            npz=[P.ig_steps(R, n) for n in _chunk],
        log:
            P.log(R, "ig_steps", f"chunk{_k}"),
        benchmark:
            P.benchmark(R, "ig_steps", f"chunk{_k}")
        priority: 5  # as the methods' jobs
        group:
            "attributions"
        conda:
            ENV
        threads: 1
        resources:
            gpu=1,
        params:
            code=rule_code(
                "ig_steps", "cnn.methods.integrated_gradients", f"assets.sources.{SOURCE.NAME}"
            ),
            steps=REPORT["ig_steps"],
            cfg=result_config("cnn.integrated_gradients"),
        script:
            step_script("ig_steps")
