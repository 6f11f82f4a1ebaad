# The quiz report: evidence the quiz needs beyond the method artifacts, the answers with their
# numbers (answers.json), then quiz.md and a self-contained quiz.html (results/<asset_set>/report/).


rule ig_steps:
    """IG maps of one image for several path lengths (quiz 18: the effect of more steps)."""
    input:
        image=f"{ASSETS}/observed/{{image}}.npz",
        checkpoint=checkpoint_path(),
        code=method_module("integrated_gradients"),
    output:
        npz=f"{RESULTS}/evidence/ig_steps/{{image}}.npz",
    params:
        steps=REPORT["ig_steps"],
        cfg=result_config("cnn.integrated_gradients"),
    threads: 1
    resources:
        gpu=1,
    group:
        "attributions"
    conda:
        ENV
    log:
        f"{LOGS}/evidence/ig_steps/{{image}}.log",
    benchmark:
        f"{BENCH}/evidence/ig_steps/{{image}}.tsv"
    script:
        step_script("ig_steps")


rule quiz_answers:
    """Answer each quiz question from the artifacts: option(s), evidence numbers, figure, margin."""
    input:
        unpack(quiz_inputs),
    output:
        json=f"{RESULTS}/report/answers.json",
    params:
        results=lambda wc, output: os.path.dirname(os.path.dirname(output.json)),
        asset_set=config["asset_set"],
        source=config["source"],
        observed=observed_names(),
        hw9_images=HW9_IMAGES,
        thresholds=REPORT["thresholds"],
        qa_items=len(BERT_INPUTS["qa_items"]),
        seeds=lambda wc: {"seed": config["seed"], **{f"cnn.{m}": c["seed"] for m, c in config["cnn"].items() if "seed" in c}},
        config_hash=lambda wc: config_hash(result_config()),
    conda:
        ENV
    log:
        f"{LOGS}/report/quiz_answers.log",
    script:
        step_script("quiz_answers")


rule quiz_report:
    """quiz.md (figures linked) and quiz.html (self-contained) from the answers and the figures."""
    input:
        answers=rules.quiz_answers.output.json,
        figures=lambda wc: figure_targets(),
        code=workflow_path("workflow_scripts/report/render.py"),
    output:
        md=report(f"{RESULTS}/report/quiz.md", category="Quiz", caption="../report/quiz.rst"),
        html=report(f"{RESULTS}/report/quiz.html", category="Quiz", caption="../report/quiz.rst"),
    params:
        results=lambda wc, output: os.path.dirname(os.path.dirname(output.md)),
    conda:
        ENV
    log:
        f"{LOGS}/report/quiz_report.log",
    script:
        step_script("quiz_report")


# Reading artifacts and writing text: local on a cluster.
localrules:
    quiz_answers,
    quiz_report,
