"""Characters and words to token positions, and the question/context/answer roles of QA tokens.

Everything goes through a fast tokenizer's offsets, so a tokenizer that keeps 蘋 and 果 apart
(bert-base-chinese) and one that merges 蘋果 into one piece (XLM-R SentencePiece) both work.
"""

from __future__ import annotations

import re

from workflow_scripts.core.errors import UserError

ROLES = ("special", "question", "context", "answer")


def char_token(encoding, char_index: int, text: str, sequence: int = 0) -> int:
    """Index of the token that covers character `char_index` of `text`."""
    if not 0 <= char_index < len(text):
        raise UserError(
            f"character index {char_index} is outside {text!r} (length {len(text)}); "
            "fix config bert.inputs.select_word_index*"
        )
    tok = encoding.char_to_token(char_index, sequence_index=sequence)
    if tok is None:
        raise UserError(
            f"character {text[char_index]!r} at {char_index} of {text!r} maps to no token "
            "(whitespace or dropped by the tokenizer's normaliser); choose another index"
        )
    # SentencePiece may emit a bare word-start marker '▁' whose offsets overlap the first character;
    # the character itself is in the next token
    nxt = tok + 1
    if (
        encoding.tokens[tok].strip("▁") == ""
        and nxt < len(encoding.tokens)
        and encoding.offsets[nxt][0] <= char_index < encoding.offsets[nxt][1]
    ):
        tok = nxt
    return int(tok)


def word_token(encoding, text: str, word: str, sequence: int = 0) -> int:
    """First token of the first whole-word occurrence of `word` in `text`."""
    m = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text)
    if not m:
        raise UserError(
            f"word {word!r} does not occur in {text!r}; fix config bert.inputs.exbert_words"
        )
    return char_token(encoding, m.start(), text, sequence)


def surface(tokenizer, token_id: int) -> str:
    """A token as the homework prints it: `tokenizer.decode(id)`, stripped."""
    return tokenizer.decode([int(token_id)]).strip()


def qa_roles(tokenizer, encoding, context: str, answer: str, rule: str) -> list[str]:
    """Role of each token of a (question, context) pair.

    homework: a token whose decoded text is one of `answer.split()` is an answer token wherever it
    is (the notebook's `word in answer.split()`, checked before question/context); span: the
    context tokens overlapping the first occurrence of the answer in the context.
    """
    seq_ids = encoding.sequence_ids
    roles = ["special" if s is None else ("question" if s == 0 else "context") for s in seq_ids]
    if rule == "homework":
        words = set(answer.split())
        for i, tid in enumerate(encoding.ids):
            if roles[i] != "special" and surface(tokenizer, tid) in words:
                roles[i] = "answer"
    elif rule == "span":
        start = context.find(answer)
        if start < 0:
            raise UserError(
                f"answer {answer!r} does not occur in its context; fix config bert.inputs.qa_items"
            )
        end = start + len(answer)
        for i, (s, (a, b)) in enumerate(zip(seq_ids, encoding.offsets)):
            if s == 1 and a < end and b > start and b > a:
                roles[i] = "answer"
    else:
        raise UserError(f"config key bert.pca.answer_rule: unknown rule {rule!r} (homework | span)")
    return roles


def context_sentence(encoding, context: str) -> list[int]:
    """For each token, the index of the context sentence it lies in (-1 outside the context)."""
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", context)]
    out = []
    for s, (a, _) in zip(encoding.sequence_ids, encoding.offsets):
        out.append(-1 if s != 1 else sum(a >= e for e in ends))
    return out
