"""Stand-ins for the homework's files, with their real names, for tests (tiny checkpoint)."""

import io
import zipfile
from pathlib import Path

from PIL import Image

from workflow_scripts.assets.hw9 import IMAGES
from workflow_scripts.assets.models import Classifier, save_checkpoint

NO_SIZES = {"bundle_zip": None, "checkpoint": None, "food_zip": None}


def jpeg(stem: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (512, 384), (int(stem.split("_")[0]) * 20, 90, 120)).save(buf, "JPEG")
    return buf.getvalue()


def checkpoint_bytes(tmp: Path, width: float = 0.0625) -> bytes:
    path = tmp / "ckpt.tmp"
    save_checkpoint(path, Classifier(width))
    data = path.read_bytes()
    path.unlink()
    return data


def food_zip(images=IMAGES) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for stem in images:
            z.writestr(f"food/{stem}.jpg", jpeg(stem))
    return buf.getvalue()


def bundle_zip(tmp: Path, images=IMAGES, checkpoint: bytes | None = None) -> bytes:
    """ml2022spring-hw9.zip as a zip holding food/ and checkpoint.pth."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for stem in images:
            z.writestr(f"food/{stem}.jpg", jpeg(stem))
        z.writestr(
            "checkpoint.pth", checkpoint if checkpoint is not None else checkpoint_bytes(tmp)
        )
    return buf.getvalue()
