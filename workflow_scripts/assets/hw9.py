"""The homework's bundle (10 food images + the TA's checkpoint), from the first source that works.

Sources, tried in the configured order:
- local:  hw9.local holding ml2022spring-hw9.zip, or food.zip + checkpoint.pth, or
          food/ + checkpoint.pth
- kaggle: the competition's files through kagglehub, Kaggle's official client (KAGGLE_USERNAME/
          KAGGLE_KEY or ~/.kaggle/kaggle.json; server hw9.kaggle_api)
- gdrive: the homework's Google Drive ids (dead since 2026-10; kept as a last resort)
- mirror: any plain HTTP(S) base URL serving ml2022spring-hw9.zip, or food.zip and checkpoint.pth
Everything is verified (sizes, sha256 when configured, the 10 images each decoded in full, a
checkpoint that loads with weights_only and strict keys) before the outputs appear; a failure
leaves nothing behind. The rule reruns when the local source's files change (local_fingerprint,
a rule param).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

from workflow_scripts.core.errors import UserError
from workflow_scripts.core.fetch import TRANSIENT_HTTP, download, safe_extract, verify_file
from workflow_scripts.core.homework import HW9_IMAGES, HW9_LABELS
from workflow_scripts.core.progress import Progress

log = logging.getLogger("xai")

IMAGES, LABELS = HW9_IMAGES, HW9_LABELS
BUNDLE = "ml2022spring-hw9.zip"
KAGGLE_PAGE = "https://www.kaggle.com/competitions/ml2022spring-hw9/data"


def _find_bundle_parts(root: Path, work: Path) -> tuple[Path, Path]:
    """(folder with the 10 images, checkpoint.pth) below root; a nested food.zip is unpacked into
    work."""
    for i, z in enumerate(sorted(root.rglob("food.zip"))):
        safe_extract(z, work / f"food-zip-{i}")
    ckpts = sorted(root.rglob("checkpoint.pth"))
    folders = sorted({p.parent for top in (root, work) for p in top.rglob("*.jpg")})
    # the folder with the most of the 10 images (the first of equals): the bundle's food/
    food = max(folders, key=lambda d: sum((d / f"{n}.jpg").is_file() for n in IMAGES), default=None)
    lacking = [f"{n}.jpg" for n in IMAGES if food is None or not (food / f"{n}.jpg").is_file()]
    if not ckpts or lacking:
        missing = [] if ckpts else ["checkpoint.pth"]
        if food is not None and 0 < len(lacking) < len(IMAGES):
            missing.append(f"{', '.join(lacking)} (beside the others in {_shown(food, work)})")
        elif lacking:
            missing.append("the 10 images " + " ".join(IMAGES))
        raise UserError(f"{_shown(root, work)}: the bundle lacks {' and '.join(missing)}")
    return food, ckpts[0]


def local_fingerprint(local) -> str:
    """16 hex digits naming the names and contents (sha256) of the files the local source would
    read (hw9.local: a zip, or the folder's ml2022spring-hw9.zip, else its food.zip,
    checkpoint.pth and *.jpg); "missing" when there are none. A rule param, so that replacing a
    file there reinstalls the bundle, while copying or touching it does not (hashing the full
    bundle, ~300 MB, costs about 0.3 s per DAG build)."""
    local = Path(local)
    if local.is_file():
        files = [local]
    elif (local / BUNDLE).is_file():
        files = [local / BUNDLE]
    elif local.is_dir():
        files = sorted(
            p
            for p in local.rglob("*")
            if (p.name in ("food.zip", "checkpoint.pth") or p.suffix.lower() == ".jpg")
            and p.is_file()
        )
    else:
        files = []
    stats = []
    for f in files:
        with contextlib.suppress(OSError):
            with f.open("rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
            name = f.name if f == local else str(f.relative_to(local))
            stats.append([name, digest])
    if not stats:
        return "missing"
    return hashlib.sha256(json.dumps(stats).encode()).hexdigest()[:16]


def _shown(p: Path, work: Path) -> str:
    """An image's name for a message: its own path, or its path inside the archive it came from."""
    try:
        rel = p.relative_to(work)
    except ValueError:
        return str(p)
    archive = "food.zip" if rel.parts[0].startswith("food-zip-") else BUNDLE
    inside = "/".join(rel.parts[1:]) + ("/" if p.is_dir() and rel.parts[1:] else "")
    return f"{inside} in {archive}" if inside else archive


def verify_images(paths, work: Path) -> None:
    """Decode every image in full (a 0-byte, text or truncated file fails here, not in a later
    job); a UserError naming the first broken file."""
    from PIL import Image, UnidentifiedImageError

    from workflow_scripts.assets.images import too_large

    for p in paths:
        try:
            with Image.open(p) as img:
                img.load()
        except Image.DecompressionBombError as exc:
            raise UserError(too_large(_shown(p, work), exc)) from None
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UserError(
                f"{_shown(p, work)}: not a complete image ({reason}); "
                "replace it with the homework's file"
            ) from exc


def _verify_and_install(
    food: Path, ckpt: Path, cfg: dict, out_food: Path, out_ckpt: Path, work: Path
) -> None:
    from workflow_scripts.assets.images import get_paths_labels
    from workflow_scripts.assets.models import load_checkpoint

    size = cfg["sizes"].get("checkpoint")
    if size and ckpt.stat().st_size != size:
        raise UserError(
            f"{ckpt}: {ckpt.stat().st_size:,} bytes, the homework's checkpoint.pth has {size:,}; "
            "download it again"
        )
    try:  # weights_only, strict keys: a UserError naming the file, as the user knows it
        load_checkpoint(ckpt)
    except UserError as exc:
        raise UserError(str(exc).replace(str(ckpt), _shown(ckpt, work), 1)) from None
    paths, labels = get_paths_labels(food)
    stems = [p.stem for p in paths]
    if stems[: len(IMAGES)] != IMAGES or labels[: len(IMAGES)] != LABELS:
        raise UserError(f"{food}: expected the homework's images {IMAGES}, found {stems}")
    verify_images(paths, work)
    tmp = out_food.with_name(f".{out_food.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for p in paths:
        shutil.copy2(p, tmp / p.name)
    ck_tmp = out_ckpt.with_name(f".{out_ckpt.name}.partial")
    shutil.copy2(ckpt, ck_tmp)
    shutil.rmtree(out_food, ignore_errors=True)
    tmp.rename(out_food)
    os.replace(ck_tmp, out_ckpt)


def _from_local(cfg: dict, work: Path) -> Path:
    local = Path(cfg["local"])
    if not local.exists():
        raise UserError(f"{local} does not exist")
    bundle = local / BUNDLE if local.is_dir() else local
    if bundle.is_file() and bundle.suffix == ".zip":
        verify_file(
            bundle, cfg["sizes"].get("bundle_zip"), cfg["sha256"].get("bundle_zip"), str(bundle)
        )
        safe_extract(bundle, work / "bundle")
        return work / "bundle"
    return local  # food.zip + checkpoint.pth, or food/ + checkpoint.pth


def _fetch(url: str, dest: Path, cfg: dict, size=None, sha=None, headers=None) -> Path:
    return download(
        url,
        dest,
        size=size,
        sha256=sha,
        retries=cfg["retries"],
        timeout=cfg["timeout"],
        headers=headers,
    )


KAGGLE_RULES = "https://www.kaggle.com/competitions/{competition}/rules"
NO_CREDENTIALS = "no Kaggle credentials: set KAGGLE_USERNAME/KAGGLE_KEY or ~/.kaggle/kaggle.json"
# kagglesdk's own production API; hw9.kaggle_api names another server (a test's loopback one).
OFFICIAL_KAGGLE_API = {
    "https://api.kaggle.com",
    "https://www.kaggle.com",
    "https://www.kaggle.com/api/v1",
}


@contextlib.contextmanager
def _kagglehub_for(api: str, desc: str):
    """kagglehub pointed at `api`, its byte progress drawn by progress.Progress, for one download.

    kagglesdk picks its server from a fixed table by KAGGLE_API_ENVIRONMENT (PROD:
    https://api.kaggle.com); another server goes in as its LOCALHOST entry, with requests
    under <api>/api/v1/. Everything is put back afterwards.
    """
    import kagglehub.clients
    from kagglesdk import kaggle_env

    table, local = kaggle_env._env_to_endpoint, kaggle_env.KaggleEnv.LOCAL
    saved = os.environ.get("KAGGLE_API_ENVIRONMENT"), table[local], kagglehub.clients.tqdm
    try:
        if api.rstrip("/") not in OFFICIAL_KAGGLE_API:
            os.environ["KAGGLE_API_ENVIRONMENT"] = "LOCALHOST"
            table[local] = api.rstrip("/")
        kagglehub.clients.tqdm = functools.partial(Progress, desc)
        yield
    finally:
        if saved[0] is None:
            os.environ.pop("KAGGLE_API_ENVIRONMENT", None)
        else:
            os.environ["KAGGLE_API_ENVIRONMENT"] = saved[0]
        table[local], kagglehub.clients.tqdm = saved[1], saved[2]


def _kaggle_user() -> str:
    """The Kaggle user kagglehub will authenticate as; a UserError when there are no credentials."""
    from kagglehub.config import get_kaggle_credentials

    try:
        creds = get_kaggle_credentials()
    except ValueError as exc:  # a kaggle.json without username/key, or not JSON
        raise UserError(f"{exc}; {NO_CREDENTIALS.split(': ', 1)[1]}") from exc
    if creds is None:
        raise UserError(NO_CREDENTIALS)
    return creds.username or "the user of KAGGLE_API_TOKEN"


def _kaggle_error(exc: Exception, competition: str, user: str) -> UserError | None:
    """The one-line message for an error of the official client; None for a transient one
    (retried)."""
    import requests
    from kagglehub.exceptions import DataCorruptionError, UnauthenticatedError

    if isinstance(exc, UnauthenticatedError):
        return UserError(NO_CREDENTIALS)
    if isinstance(exc, DataCorruptionError):
        return UserError(
            f"Kaggle's {BUNDLE} failed its MD5 check (a corrupt transfer); "
            "rerun, or download it by hand"
        )
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        if code == 401:
            return UserError(
                f"Kaggle rejected the credentials of {user} (HTTP 401): "
                "check KAGGLE_USERNAME/KAGGLE_KEY "
                "or ~/.kaggle/kaggle.json (a new token: https://www.kaggle.com/settings)"
            )
        if code == 403:
            return UserError(
                f"Kaggle refused the download (HTTP 403): accept the competition rules at "
                f"{KAGGLE_RULES.format(competition=competition)} (logged in as {user}) and retry"
            )
        if code == 404:
            return UserError(
                f"Kaggle has no competition {competition!r} (HTTP 404): "
                "check hw9.kaggle_competition"
            )
        if code in TRANSIENT_HTTP:
            return None
        return UserError(
            f"Kaggle API: HTTP {code} for competition {competition!r}; retry later or download "
            f"{BUNDLE} by hand"
        )
    if isinstance(exc, requests.RequestException):
        return None  # connection dropped or refused, timeout: retried
    if (
        isinstance(exc, zipfile.BadZipFile) or str(exc) == "Unsupported archive type."
    ):  # kagglehub's unpacking
        return UserError(f"Kaggle's {BUNDLE} is not a valid zip ({exc}); download it by hand")
    raise exc  # not an error of the download: a bug, shown with its traceback


def _from_kaggle(cfg: dict, work: Path) -> Path:
    """The competition's files through kagglehub (the official client): its credentials, its
    errors."""
    import kagglehub

    competition = cfg["kaggle_competition"]
    user = _kaggle_user()
    out = work / "kaggle"
    attempt = 0
    while True:
        try:
            with _kagglehub_for(cfg["kaggle_api"], BUNDLE):
                return Path(
                    kagglehub.competition_download(
                        competition, output_dir=str(out), force_download=True
                    )
                )
        except Exception as exc:  # mapped to one message below, or retried
            err = _kaggle_error(exc, competition, user)
            if err is not None:
                raise err from exc
            if attempt >= cfg["retries"]:
                raise UserError(
                    f"Kaggle download of {competition!r} failed after {attempt + 1} attempts "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                    "check the network or download it by hand"
                ) from exc
            log.warning(
                "Kaggle download interrupted (%s), retry %d/%d",
                type(exc).__name__,
                attempt + 1,
                cfg["retries"],
            )
            time.sleep(2**attempt)
            attempt += 1


def _from_urls(food_url: str, ckpt_url: str, cfg: dict, work: Path) -> Path:
    root = work / "files"
    _fetch(
        food_url,
        root / "food.zip",
        cfg,
        cfg["sizes"].get("food_zip"),
        cfg["sha256"].get("food_zip"),
    )
    _fetch(
        ckpt_url,
        root / "checkpoint.pth",
        cfg,
        cfg["sizes"].get("checkpoint"),
        cfg["sha256"].get("checkpoint"),
    )
    return root


def _from_gdrive(cfg: dict, work: Path) -> Path:
    url = cfg["gdrive_url"]
    return _from_urls(
        url.format(id=cfg["gdrive"]["food"]), url.format(id=cfg["gdrive"]["checkpoint"]), cfg, work
    )


def _from_mirror(cfg: dict, work: Path) -> Path:
    base = cfg["mirror"].rstrip("/")
    if not base:
        raise UserError("no mirror configured (hw9.mirror)")
    try:
        z = _fetch(
            f"{base}/{BUNDLE}",
            work / BUNDLE,
            cfg,
            cfg["sizes"].get("bundle_zip"),
            cfg["sha256"].get("bundle_zip"),
        )
        safe_extract(z, work / "bundle")
        return work / "bundle"
    except UserError as first:
        log.info("mirror has no %s (%s); trying food.zip + checkpoint.pth", BUNDLE, first)
        return _from_urls(f"{base}/food.zip", f"{base}/checkpoint.pth", cfg, work)


SOURCES = {
    "local": _from_local,
    "kaggle": _from_kaggle,
    "gdrive": _from_gdrive,
    "mirror": _from_mirror,
}


def obtain(cfg: dict, out_food, out_ckpt) -> str:
    """Try the sources in order; install the first verified bundle; return the source's name."""
    out_food, out_ckpt = Path(out_food), Path(out_ckpt)
    out_ckpt.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for name in cfg["sources"]:
        with tempfile.TemporaryDirectory(
            prefix=f".{out_ckpt.name}.", suffix=".tmp", dir=out_ckpt.parent
        ) as tmp:
            try:
                root = SOURCES[name](cfg, Path(tmp))
                food, ckpt = _find_bundle_parts(root, Path(tmp))
                _verify_and_install(food, ckpt, cfg, out_food, out_ckpt, Path(tmp))
                log.info("hw9 bundle from %s: %s + %s", name, out_food, out_ckpt)
                return name
            except UserError as exc:
                log.warning("hw9 source %s failed: %s", name, exc)
                failures.append(f"{name}: {exc}")
    raise UserError(  # one line (each failure above said its own): the sources, then what to do
        f"no source gave the HW9 bundle ({'; '.join(failures)}). What to do, any one of: "
        f"(1) download {BUNDLE} from {KAGGLE_PAGE} (or food.zip and checkpoint.pth) and put it "
        f"in {cfg['local']}/ (config hw9.local); (2) on a machine with internet, give Kaggle "
        "credentials (KAGGLE_USERNAME and KAGGLE_KEY, or ~/.kaggle/kaggle.json); (3) serve "
        f"{BUNDLE} over HTTP and set config hw9.mirror to its base URL; then rerun"
    )
