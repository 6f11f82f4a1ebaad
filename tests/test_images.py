"""The homework's image loading semantics on generated files."""

import numpy as np
import pytest
import torch
from PIL import Image

from workflow_scripts.assets.images import get_paths_labels, load_image
from workflow_scripts.core.errors import UserError


def make(folder, name, mode="RGB", size=(200, 100), colour=None):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    if mode != "RGB":
        img = img.convert(mode)
    img.save(folder / name)
    return folder / name


def test_order_is_label_major_then_id(tmp_path):
    for n in [
        "10_0.jpg",
        "2_15.jpg",
        "2_3.jpg",
        "1_100.jpg",
        "0_7.jpg",
        "notes.txt",
        "2_3.mask.png",
    ]:
        (tmp_path / n).write_bytes(b"x")
    paths, labels = get_paths_labels(tmp_path)
    assert [p.name for p in paths] == ["0_7.jpg", "1_100.jpg", "2_3.jpg", "2_15.jpg", "10_0.jpg"]
    assert labels == [0, 1, 2, 2, 10]


def test_resize_without_aspect_and_to_tensor(tmp_path):
    path = make(tmp_path, "3_1.jpg", size=(300, 90))
    x = load_image(path)
    assert x.shape == (3, 128, 128) and x.dtype == torch.float32
    from torchvision import transforms

    homework = transforms.Compose([transforms.Resize((128, 128)), transforms.ToTensor()])
    with Image.open(path) as im:
        ref = homework(im.convert("RGB"))
    assert 0 <= x.min() and x.max() <= 1
    assert torch.equal(x, ref)  # bit-identical to the homework's torchvision transform


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_other_modes_become_rgb(tmp_path, mode):
    path = make(tmp_path, "1_1.png", mode=mode)
    assert load_image(path).shape == (3, 128, 128)


def test_missing_and_corrupt_images(tmp_path):
    with pytest.raises(UserError, match="image not found"):
        load_image(tmp_path / "0_0.jpg")
    bad = tmp_path / "0_1.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match=r"0_1\.jpg: not a readable image"):
        load_image(bad)
    with pytest.raises(UserError, match="image folder not found"):
        get_paths_labels(tmp_path / "nowhere")
