# The quiz report: the answers with their numbers (answers.json), then quiz.md and a
# self-contained quiz.html (results/<asset_set>/report/).


rule quiz_answers:
    """Answer each quiz question from the artifacts: option(s), evidence numbers, figure, margin."""
    input:
        unpack(quiz_inputs),
        stability=stability_files(),
    output:
        json=P.answers(R),
    log:
        P.log(R, "quiz_answers"),
    localrule: True
    conda:
        ENV
    params:
        code=rule_code("quiz_answers"),
        quiz=workflow_data(REPORT["quiz"]),
        annotations=workflow_data(REPORT["annotations"]) if REPORT["annotations"] else None,
        results=lambda wc, output: P.root_of_report(output.json),
        asset_set=config["asset_set"],
        source=config["source"],
        observed=observed_names(),
        hw9_images=HW9_IMAGES,
        methods=CNN_METHODS,
        bert_roles=BERT_ROLES,
        probe_role=PROBE_ROLE,
        thresholds=canonical(REPORT["thresholds"]),
        stability_seeds=REPORT["stability_seeds"],
        qa_items=len(BERT_INPUTS["qa_items"]),
        seeds=canonical(
            {
                "seed": config["seed"],
                **{
                    f"cnn.{m}": c["seed"]
                    for m, c in config["cnn"].items()
                    if m in METHODS and "seed" in c
                },
            }
        ),
        config_hash=config_hash(result_config()),
    script:
        step_script("quiz_answers")


rule quiz_report:
    """quiz.md (figures linked) and quiz.html (self-contained) from the answers and the figures."""
    input:
        answers=P.answers(R),
        figures=figure_targets(),
    output:
        md=report(P.quiz_md(R), category="Quiz", caption="../report/quiz.rst"),
        html=report(P.quiz_html(R), category="Quiz", caption="../report/quiz.rst"),
        evidence=directory(P.evidence_figures(R)),
    log:
        P.log(R, "quiz_report"),
    localrule: True
    conda:
        ENV
    # The run's last job: its figures are embedded on every core.
    threads: all_cores()
    params:
        code=rule_code("quiz_report"),
        results=lambda wc, output: P.root_of_report(output.md),
        method_figures={m: cnn_figures(m, root="") for m in CNN_METHODS},
    script:
        step_script("quiz_report")


rule model_report:
    """A folder set's report.html: header, every method's figure and the trust section."""
    input:
        model=P.model_summary(R),
        figures=figure_targets(),
        quality=P.quality_summary(R) if QUALITY_ON else [],
    output:
        html=report(P.model_report(R), category="Report", caption="../report/model_report.rst"),
    log:
        P.log(R, "model_report"),
    localrule: True
    conda:
        ENV
    params:
        code=rule_code("model_report"),
        results=lambda wc, output: P.root_of_report(output.html),
        method_figures={m: cnn_figures(m, root="") for m in CNN_METHODS},
        meta={
            "asset_set": config["asset_set"],
            "observed": observed_names(),
            "seed": config["seed"],
            "config_hash": config_hash(result_config()),
            "skipped": SKIPPED,
            "sanity_why": "" if LIMITS["sanity"] else LIMITS["why"],
        },
    script:
        step_script("model_report")
