"""BERT analyses on tiny random BERTs with the homework's words: structure, token mapping, roles,
similarity algebra, attention shares, masked-word probes, the hub cache and hw9_bert paths."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from workflow_scripts.bert import exbert, models, pipeline, similarity
from workflow_scripts.bert.tokens import char_token, qa_roles
from workflow_scripts.core.errors import UserError

from conftest import ROOT
from hf_fixtures import bert_texts, hub_fixture, hw9_bert_zip, save_tiny, vocab_for

BERT = yaml.safe_load((ROOT / "config/config.yaml").read_text(encoding="utf-8"))["bert"]
INPUTS = BERT["inputs"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Descriptors of a tiny QA, MLM and base BERT (12 layers, 12 heads) sharing one vocabulary."""
    d = tmp_path_factory.mktemp("tiny")
    vocab = vocab_for(bert_texts(BERT))
    out = {}
    for role, head in (
        ("qa", "AutoModelForQuestionAnswering"),
        ("mlm", "AutoModelForMaskedLM"),
        ("embedding", "AutoModel"),
    ):
        save_tiny(d / role, vocab, head)
        out[role] = d / f"{role}.json"
        out[role].write_text(
            json.dumps({"source": "hub", "name": role, "path": str(d / role), "head": role})
        )
    out["dir"] = d
    return out


def test_homework_inputs_are_the_notebooks():
    notebook = json.loads((ROOT / "tests/data/bert_inputs.json").read_text(encoding="utf-8"))
    for key in (
        "qa_items",
        "embedding_sentences",
        "select_word_index",
        "select_word_index_alt",
        "exbert_sentence",
    ):
        assert INPUTS[key] == notebook[key], key
    for s, i, j in zip(
        INPUTS["embedding_sentences"], INPUTS["select_word_index"], INPUTS["select_word_index_alt"]
    ):
        assert (s[i], s[j]) == ("蘋", "果")


def _roles(tok, item, rule):
    enc = tok(item["question"], item["context"]).encodings[0]
    return enc, qa_roles(tok, enc, item["context"], item["answer"], rule)


def test_roles_on_the_three_items(tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny["dir"] / "qa")
    expected_homework = {0: ["1856"], 1: ["detention"] * 3, 2: ["cats"]}
    for k, item in enumerate(INPUTS["qa_items"]):
        enc, roles = _roles(tok, item, "homework")
        assert [t for t, r in zip(enc.tokens, roles) if r == "answer"] == expected_homework[k]
        # [CLS] question [SEP] context [SEP]: specials exactly at the ends and the boundary
        assert [i for i, r in enumerate(roles) if r == "special"] == [
            0,
            enc.tokens.index("[SEP]"),
            len(roles) - 1,
        ]
        n_question = len(tok(item["question"], add_special_tokens=False)["input_ids"])
        assert roles[1 : 1 + n_question] == ["question"] * n_question
        enc, span = _roles(tok, item, "span")
        answer = [i for i, r in enumerate(span) if r == "answer"]
        assert len(answer) == 1  # the first occurrence only
        a, b = enc.offsets[answer[0]]
        assert item["context"][a:b] == item["answer"]
    # 'Cats' (capital) is not the answer 'cats' under the homework's exact-text rule
    enc, roles = _roles(tok, INPUTS["qa_items"][2], "homework")
    assert "Cats" in enc.tokens and roles[enc.tokens.index("Cats")] == "context"


def test_homework_rule_falls_back_to_the_span_when_the_answer_is_split(tmp_path):
    """A tokenizer that splits 1856 into pieces finds no answer word: the span rule takes over."""
    from transformers import BertTokenizerFast

    from workflow_scripts.bert.hidden_pca import analyse

    item = INPUTS["qa_items"][0]
    vocab = [v for v in vocab_for(bert_texts(BERT)) if v != "1856"] + ["18", "##56"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(str(tmp_path / "vocab.txt"), do_lower_case=False)
    n = len(tok(item["question"], item["context"])["input_ids"])
    states = [np.random.default_rng(k).normal(size=(n, 8)) for k in range(13)]
    _, summary = analyse(tok, states, item, "homework", 0)
    assert summary["answer_rule_used"] == "span" and summary["answer_tokens"] == ["18", "##56"]


def test_merged_token_maps_both_characters(tmp_path):
    """A tokenizer that keeps 蘋果 as one piece (like XLM-R's) maps 蘋 and 果 to the same token."""
    from transformers import BertTokenizerFast

    (tmp_path / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "今天買了", "##蘋果", "##來吃"])
        + "\n"
    )
    tok = BertTokenizerFast(str(tmp_path / "vocab.txt"), tokenize_chinese_chars=False)
    text = "今天買了蘋果來吃"
    enc = tok(text).encodings[0]
    assert enc.tokens == ["[CLS]", "今天買了", "##蘋果", "##來吃", "[SEP]"]
    assert char_token(enc, 4, text) == char_token(enc, 5, text) == 2
    with pytest.raises(UserError, match="outside"):
        char_token(enc, 8, text)


def test_a_bare_word_start_marker_is_skipped():
    """XLM-R's SentencePiece emits '▁' with offsets (0, 1) before 蘋果 at a sentence start: 蘋 is in
    蘋果."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = [("<unk>", 0.0), ("▁", -1.0), ("蘋果", -2.0), ("茶", -3.0), ("蘋", -9.0), ("果", -9.0)]
    tk = Tokenizer(models.Unigram(vocab, unk_id=0))
    tk.pre_tokenizer = pre_tokenizers.Metaspace()
    enc = tk.encode("蘋果茶")
    assert enc.tokens[:2] == ["▁", "蘋果"]
    assert char_token(enc, 0, "蘋果茶") == char_token(enc, 1, "蘋果茶") == 1


def test_hidden_pca_structure_and_determinism(tiny, tmp_path):
    item = INPUTS["qa_items"][0]
    a = pipeline.run_hidden_pca(
        tiny["qa"], item, 0, BERT["pca"], tmp_path / "a.npz", tmp_path / "a.json"
    )
    pipeline.run_hidden_pca(
        tiny["qa"], item, 0, BERT["pca"], tmp_path / "b.npz", tmp_path / "b.json"
    )
    with np.load(tmp_path / "a.npz") as za, np.load(tmp_path / "b.npz") as zb:
        assert za["coords"].shape == (13, a["n_tokens"], 2)
        np.testing.assert_array_equal(za["coords"], zb["coords"])
        evr = za["explained_variance_ratio"]
        assert (
            evr.shape == (13, 2)
            and np.all(evr[:, 0] >= evr[:, 1])
            and np.all(evr.sum(1) <= 1 + 1e-9)
        )
    assert a["answer_tokens"] == ["1856"] and a["qa_finetuned"]
    span = a["predicted_span"]
    assert 0 < span["start"] <= span["end"] < a["n_tokens"] - 1
    for name, values in a["measures"].items():
        assert len(values) == 13, name


def test_answer_separation_measures_distance():
    from workflow_scripts.bert.hidden_pca import _separation

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    answer = np.zeros(40, bool)
    answer[:2] = True
    near, far = _separation(x, answer), None
    x[:2] += 50
    far = _separation(x, answer)
    assert far > 10 * near and far > 10


def test_similarity_stack_and_group_means(tiny, tmp_path):
    chars = {"蘋": INPUTS["select_word_index"], "果": INPUTS["select_word_index_alt"]}
    s = pipeline.run_similarity(
        tiny["embedding"],
        INPUTS["embedding_sentences"],
        chars,
        tmp_path / "s.npz",
        tmp_path / "s.json",
    )
    with np.load(tmp_path / "s.npz") as z:
        for key in (0, 1):
            eu, co = z[f"euclidean_{key}"], z[f"cosine_{key}"]
            assert eu.shape == co.shape == (13, 10, 10)
            np.testing.assert_allclose(eu, eu.transpose(0, 2, 1), atol=1e-9)
            np.testing.assert_allclose(co, co.transpose(0, 2, 1), atol=1e-12)
            np.testing.assert_allclose(np.diagonal(eu, axis1=1, axis2=2), 0, atol=1e-6)
            np.testing.assert_allclose(np.diagonal(co, axis1=1, axis2=2), 1, atol=1e-12)
            v = z[f"vectors_{key}"].astype(np.float64)
            np.testing.assert_allclose(eu[7, 2, 6], np.linalg.norm(v[2, 7] - v[6, 7]), rtol=1e-5)
            name = "蘋果"[key]
            means = s["characters"][name]["group_means"]["cosine"][12]
            assert means["within_fruit"] == pytest.approx(
                np.mean([co[12, i, j] for i in range(5) for j in range(i + 1, 5)])
            )
            assert means["between"] == pytest.approx(co[12, :5, 5:].mean())
        # the word 蘋果: the matrices of the mean of its characters' vectors, for the report's slide
        # match
        word = (z["vectors_0"].astype(np.float64) + z["vectors_1"].astype(np.float64)) / 2
        np.testing.assert_allclose(
            z["cosine_word"][12], similarity.cosine_similarity(word[:, 12], word[:, 12]), atol=1e-6
        )
        np.testing.assert_allclose(
            z["euclidean_word"][3],
            similarity.euclidean_distance(word[:, 3], word[:, 3]),
            rtol=1e-5,
            atol=1e-5,
        )
    assert s["word"] == {"text": "蘋果", "merged": False}
    picked = s["characters"]["果"]["picked"]
    assert [p["token"] for p in picked] == ["果"] * 10 and not any(p["merged"] for p in picked)


def test_layer0_depends_on_position_only(tiny, tmp_path):
    """Embeddings = token + position + segment: only the position experiment moves a layer-0
    vector."""
    s = pipeline.run_similarity(
        tiny["embedding"],
        INPUTS["embedding_sentences"],
        {"果": INPUTS["select_word_index_alt"]},
        tmp_path / "s.npz",
        tmp_path / "s.json",
    )
    assert "word" not in s  # one character: no word to compare it with
    l0 = s["characters"]["果"]["layer0"]
    assert l0["position_shift_3"]["euclidean"] > 0.1
    for name in ("longer_sentence", "other_context", "more_occurrences"):
        assert l0[name]["euclidean"] == pytest.approx(0, abs=1e-5), name


def test_attention_categories_partition_each_query():
    tokens = ["[CLS]", "a", "b", ".", "c", "[SEP]"]
    special = np.array([1, 0, 0, 0, 0, 1], bool)
    cat = exbert.key_categories(tokens, special)
    c = {n: i for i, n in enumerate(exbert.CATEGORIES)}
    assert cat[2].tolist() == [
        c["special"],
        c["previous"],
        c["same"],
        c["next"],
        c["other"],
        c["special"],
    ]
    assert cat[4].tolist() == [
        c["special"],
        c["other"],
        c["other"],
        c["previous"],
        c["same"],
        c["next"],
    ]
    rng = np.random.default_rng(0)
    attn = rng.random((2, 3, 6, 6))
    attn /= attn.sum(-1, keepdims=True)
    shares = exbert.attention_shares(attn, cat, np.arange(1, 5))
    np.testing.assert_allclose(shares.sum(2), 1.0)
    assert shares[1, 2, c["period"], 0] == pytest.approx(attn[1, 2, 1, 3])


def test_exbert_probes_on_a_masked_lm(tiny, tmp_path):
    s = pipeline.run_exbert(
        tiny["mlm"],
        INPUTS["exbert_sentence"],
        INPUTS["exbert_words"],
        5,
        True,
        tmp_path / "e.npz",
        tmp_path / "e.json",
    )
    with np.load(tmp_path / "e.npz") as z:
        shares = z["shares"]
        assert shares.shape[:3] == (12, 12, 6)
        np.testing.assert_allclose(shares.sum(2), 1.0, atol=1e-6)  # float32 softmax rows
        p, a = int(z["pronoun_index"]), int(z["antecedent_index"])
        assert (str(z["tokens"][p]), str(z["tokens"][a])) == ("she", "officer")
        np.testing.assert_allclose(z["coreference"], z["attention"][:, :, p, a], rtol=1e-6)
    m = s["masked"]
    assert (
        m["pronoun_masked"]["text"].count("[MASK]") == 1
        and m["both_masked"]["text"].count("[MASK]") == 2
    )
    assert m["p_he_drop"] == pytest.approx(
        m["pronoun_masked"]["p"]["he"] - m["both_masked"]["p"]["he"]
    )
    assert len(m["antecedent_by_layer"]) == 13


def test_layer_probe_on_the_last_layer_is_the_model_output(tiny):
    """The logit-lens probe applies the MLM head to each layer; on layer 12 it must equal the
    model."""
    model, tok = models.load_model(json.loads(tiny["mlm"].read_text())["path"], "mlm")
    text = exbert._masked(tok, INPUTS["exbert_sentence"], ["officer"])
    pos, probs, per_layer = exbert._probs(model, tok, text, layer_probe=True)
    np.testing.assert_allclose(per_layer[-1][pos[0]], probs[pos[0]], atol=1e-6)


def test_masked_probes_refuse_a_model_without_mlm_head(tiny):
    model, tok = models.load_model(json.loads(tiny["embedding"].read_text())["path"], "embedding")
    with pytest.raises(UserError, match="bert.mlm"):
        exbert.masked_words(model, tok, INPUTS["exbert_sentence"], "she", "officer", 5)


def test_hub_cache_offline_by_branch_and_commit(tmp_path, monkeypatch):
    hub = hub_fixture(tmp_path / "cache", BERT, tmp_path / "work")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert models.hub_offline({"offline": False})
    d = models.fetch_hub(hub["mlm"]["name"], "main", hub["cache_dir"], True, "mlm")
    assert d["commit"] == "a" * 40 and d["path"].endswith("snapshots/" + "a" * 40)
    model, _ = models.load_model(d["path"], "mlm")
    assert type(model).__name__ == "BertForMaskedLM"
    with pytest.raises(UserError) as err:
        models.fetch_hub(
            "bert-base-chinese",
            "c30a6ed22ab4564dc1e3b2ecbf6e766b0611a33f",
            hub["cache_dir"],
            True,
            "embedding",
        )
    msg = str(err.value)
    assert (
        "\n" not in msg
        and "'bert-base-chinese'" in msg
        and "hf download bert-base-chinese --revision" in msg
    )
    assert str(tmp_path / "cache") in msg


def test_remote_code_is_refused(tmp_path):
    """A config that asks for custom code (auto_map) is not executed: loading fails with one
    line."""
    model_dir = save_tiny(tmp_path / "m", vocab_for(["a b"]), layers=1, heads=1, hidden=4)
    cfg = json.loads((model_dir / "config.json").read_text())
    cfg.update(model_type="evil", auto_map={"AutoModel": "modeling_evil.EvilModel"})
    (model_dir / "config.json").write_text(json.dumps(cfg))
    (model_dir / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(UserError, match="cannot load"):
        models.load_model(model_dir, "embedding")


def test_hw9_bert_bundle(tmp_path):
    z = hw9_bert_zip(tmp_path / "hw9_bert.zip", BERT, tmp_path / "work")
    desc = models.install_hw9_bert(z, tmp_path / "out")
    qa = tmp_path / "qa.json"
    desc["role"] = "qa"
    qa.write_text(json.dumps(desc))
    s = pipeline.run_hidden_pca(
        qa, INPUTS["qa_items"][1], 1, BERT["pca"], tmp_path / "q.npz", tmp_path / "q.json"
    )
    assert (
        s["answer_tokens"] == ["detention"] * 3
        and s["predicted_span"] is None
        and s["layers"] == 13
    )
    # the wrong item's states do not fit its tokens: refused, not plotted
    with pytest.raises(ValueError, match="tokens but hidden states"):
        pipeline.run_hidden_pca(
            qa, INPUTS["qa_items"][0], 1, BERT["pca"], tmp_path / "x.npz", tmp_path / "x.json"
        )


def test_hw9_bert_wrong_bundle_is_refused(tmp_path):
    import zipfile

    bad = tmp_path / "hw9_bert.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("hw9_bert/output/model_q1", b"x")
    with pytest.raises(UserError, match="missing output/model_q2"):
        models.install_hw9_bert(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(UserError, match="no such file"):
        models.install_hw9_bert(tmp_path / "absent.zip", tmp_path / "out")


def test_hub_fetch_logs_start_and_size_and_keeps_hub_bars_on(tmp_path, monkeypatch, caplog):
    """A log (no terminal) gets a start and an end line with the model's size; loading a model
    (transformers.disable_progress_bar()) does not leave huggingface_hub's own bars off."""
    import logging
    import re

    from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars

    hub = hub_fixture(tmp_path / "cache", BERT, tmp_path / "work")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_DISABLE_PROGRESS_BARS", None)
    enable_progress_bars()
    with caplog.at_level(logging.INFO, logger="xai"):
        models.fetch_hub(
            hub["mlm"]["name"], "main", hub["cache_dir"], True, "mlm"
        )  # loads the model too
    lines = [
        m
        for m in caplog.messages
        if m.startswith(f"Hugging Face model {hub['mlm']['name']}@main: ")
    ]
    assert len(lines) == 2 and "reading the cache" in lines[0], lines
    assert re.search(r": \d+ files, \d+\.\d MB, ready in \d+\.\d s \(", lines[1]), lines[1]
    assert not are_progress_bars_disabled()
