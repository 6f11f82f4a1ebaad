"""Source `folder`: your own PyTorch model and images through the whole DAG (ResNet-18 on an
ImageFolder with masks; TorchScript on a CSV without masks; the homework Classifier through a
factory, equal to the offline source), its layer choices, its preprocessing, and its bad
inputs (one line each, nothing under results/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import folder_fixture as F
import numpy as np
import pytest
import torch
import yaml

from conftest import ROOT, jobs_of, snakemake

# ---------------------------------------------------------------- layers and preprocessing


def test_auto_layers_resnet_vgg_and_the_homework_classifier():
    import torchvision

    from workflow_scripts.assets.models import Classifier
    from workflow_scripts.cnn.layers import auto_filter_layers, auto_gradcam

    assert auto_gradcam(torchvision.models.resnet18(num_classes=3)) == "layer4"
    # VGG-11's features: the last conv is features.18, its ReLU features.19, then MaxPool 20
    assert auto_gradcam(torchvision.models.vgg11(num_classes=3)) == "features.19"
    assert auto_gradcam(Classifier(0.0625)) == 36  # the homework default, as an index
    assert auto_filter_layers(Classifier(0.0625)) == [6, 15, 21, 23]
    convs = auto_filter_layers(torchvision.models.resnet18(num_classes=3))
    assert convs[0] == "conv1" and convs[-1] == "layer4.1.conv2" and len(convs) == 4


def test_layer_paths_name_modules_of_the_wrapped_model():
    import torchvision

    from workflow_scripts.assets.folder_model import Preprocessed
    from workflow_scripts.cnn.layers import module_at
    from workflow_scripts.core.errors import UserError

    net = torchvision.models.resnet18(num_classes=3)
    wrapped = Preprocessed(net, [0.5] * 3, [0.25] * 3)
    assert module_at(wrapped, "layer4.1.conv2") is net.layer4[1].conv2
    with pytest.raises(UserError, match="has no such module; its top-level modules are conv1"):
        module_at(wrapped, "layer5")
    with pytest.raises(UserError, match="has no model.cnn"):
        module_at(wrapped, 3)
    x = torch.rand(2, 3, 32, 32)
    expected = net((x - 0.5) / 0.25)
    assert torch.equal(wrapped(x), expected)


@pytest.mark.parametrize(
    "size,resize,crop", [((40, 48), 32, 32), ((50, 30), 36, 28), ((33, 33), [20, 24], 0)]
)
def test_preprocessing_equals_torchvision_transforms(tmp_path, size, resize, crop):
    """Resize (shorter side or exact) + CenterCrop + ToTensor, as torchvision computes them."""
    from PIL import Image
    from torchvision import transforms as T

    from workflow_scripts.assets.folder_images import load_image

    rng = np.random.default_rng(1)
    path = tmp_path / "x.png"
    Image.fromarray((rng.random((*size, 3)) * 255).astype(np.uint8)).save(path)
    steps = [T.Resize(tuple(resize) if isinstance(resize, list) else resize)]
    steps += [T.CenterCrop(crop)] if crop else []
    with Image.open(path) as im:
        expected = T.Compose([*steps, T.ToTensor()])(im.convert("RGB")).numpy()
    got = load_image(path, {"resize": resize, "crop": crop})
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1 / 255 + 1e-6)  # one 8-bit step at most


def test_listing_names_stems_by_label_and_position(tmp_path):
    from workflow_scripts.assets.folder_images import listing

    F.images(tmp_path / "imgs", tmp_path / "masks")
    spec = {
        "root": str(tmp_path / "imgs"),
        "csv": "",
        "classes": [],
        "masks": str(tmp_path / "masks"),
    }
    rows, classes = listing(spec)
    assert classes == F.CLASSES
    assert [r["name"] for r in rows] == [f"{i // 3}_{i}" for i in range(9)]
    assert all(Path(r["mask"]).stem == Path(r["path"]).stem for r in rows)
    csv = tmp_path / "list.csv"
    csv.write_text("path,label\n" + "".join(f"{r['path']},{classes[r['label']]}\n" for r in rows))
    from_csv, names = listing({**spec, "root": "", "csv": str(csv), "masks": ""})
    assert names == F.CLASSES and [r["path"] for r in from_csv] == [r["path"] for r in rows]


# ---------------------------------------------------------------- whole runs


@pytest.fixture(scope="module")
def resnet_run(tmp_path_factory):
    """ResNet-18 (random weights saved by the test) on an ImageFolder with masks, to the report."""
    tmp = tmp_path_factory.mktemp("folder")
    F.images(tmp / "images", tmp / "masks")
    net = F.resnet18(tmp / "resnet18.pth")
    cfg = F.config(
        tmp / "mine.yaml",
        tmp / "results",
        {"arch": "resnet18", "weights": str(tmp / "resnet18.pth")},
        {"root": str(tmp / "images"), "masks": str(tmp / "masks")},
    )
    proc = snakemake("--cores", "2", "--configfile", cfg, "--directory", tmp / "work")
    return tmp, net, cfg, proc


def test_resnet18_on_an_image_folder_runs_to_its_report(resnet_run):
    tmp, _, _, proc = resnet_run
    out = tmp / "results" / "mine"
    html = (out / "report" / "report.html").read_text()
    assert "Which explanation to trust" in html and '<section id="methods">' in html
    assert not (out / "report" / "quiz.html").exists() and not (out / "bert").exists()
    model = json.loads((out / "assets" / "model.json").read_text())
    assert model["gradcam_layer"] == "layer4" and model["classes"] == F.CLASSES
    assert "Grad-CAM: layer4 (Sequential)" in html
    for name in ["gradcam", "lime", "saliency", "smoothgrad", "integrated_gradients"]:
        assert (out / "figures" / "cnn" / f"{name}.png").is_file()
    for layer in model["filter_layers"]:
        assert (out / "figures" / "cnn" / f"filters_{layer}_f0.png").is_file()
    summary = json.loads((out / "quality" / "summary.json").read_text())
    assert {"relevance_mass", "pointing_game", "deletion_auc_blur"} <= set(summary["metrics"])
    assert summary["sanity"], "the cascade ran"
    assert "localisation**" not in html and "scored against the ground-truth masks" in html


def test_the_folder_set_explains_the_normalised_model_on_unnormalised_pixels(resnet_run):
    """The observed image is the resized, cropped [0, 1] pixels; saliency is the gradient of the
    CE loss of net(normalize(x)) w.r.t. those pixels (computed here with plain autograd)."""
    from PIL import Image
    from torchvision import transforms as T

    tmp, net, _, _ = resnet_run
    out = tmp / "results" / "mine"
    with np.load(out / "assets" / "observed" / "1_3.npz") as z:
        image, label = z["image"], int(z["label"])
        assert [str(c) for c in z["classes"]] == F.CLASSES and z["mask"].any()
    with Image.open(tmp / "images" / "dog" / "dog0.png") as im:
        pixels = T.Compose([T.Resize(32), T.CenterCrop(32), T.ToTensor()])(im.convert("RGB"))
    np.testing.assert_allclose(image, pixels.numpy(), atol=1 / 255 + 1e-6)
    assert label == 1
    x = torch.from_numpy(image)[None].requires_grad_(True)
    norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    loss = torch.nn.functional.cross_entropy(net(norm(x)), torch.tensor([label]))
    (grad,) = torch.autograd.grad(loss, x)
    with np.load(out / "attributions" / "saliency" / "1_3.npz") as z:
        np.testing.assert_allclose(
            z["map_raw"], grad.abs().amax(1)[0].numpy(), rtol=1e-4, atol=1e-7
        )


def test_a_folder_set_reruns_on_content_only(resnet_run):
    """Nothing to do after the run; one changed pixel of one image reruns the assets."""
    tmp, _, cfg, _ = resnet_run
    args = ("-n", "--cores", "2", "--configfile", cfg, "--directory", tmp / "work")
    assert jobs_of(snakemake(*args).stdout) == {}
    from PIL import Image

    path = tmp / "images" / "fox" / "fox2.png"
    arr = np.asarray(Image.open(path)).copy()
    shutil.copy(path, tmp / "fox2.bak")
    arr[0, 0] = 255 - arr[0, 0]
    Image.fromarray(arr).save(path)
    try:
        assert "folder_assets" in jobs_of(snakemake(*args).stdout)
    finally:
        shutil.copy(tmp / "fox2.bak", path)


def test_torchscript_on_a_csv_without_masks(tmp_path):
    """No masks: no localisation metric, and the report says so; TorchScript: the methods that
    hook a layer and the sanity cascade are left out, and the report says why."""
    F.images(tmp_path / "images")
    F.torchscript(F.resnet18(tmp_path / "w.pth"), tmp_path / "model.ts")
    rows = sorted((tmp_path / "images").rglob("*.png"))
    csv = tmp_path / "images.csv"
    csv.write_text(
        "path,label\n" + "".join(f"images/{p.parent.name}/{p.name},{p.parent.name}\n" for p in rows)
    )
    cfg = F.config(
        tmp_path / "ts.yaml",
        tmp_path / "results",
        {"torchscript": str(tmp_path / "model.ts")},
        {"csv": str(csv)},
    )
    snakemake("--cores", "2", "--configfile", cfg)
    out = tmp_path / "results" / "mine"
    summary = json.loads((out / "quality" / "summary.json").read_text())
    assert not {"relevance_mass", "pointing_game", "roc_auc"} & set(summary["metrics"])
    assert "deletion_auc_blur" in summary["metrics"] and not summary["sanity"]
    html = (out / "report" / "report.html").read_text()
    assert "not available: the images have no ground-truth masks" in html
    assert "gradcam: not run" in html and "TorchScript" in html
    assert not (out / "attributions" / "gradcam").exists()
    assert (out / "attributions" / "saliency" / "0_0.npz").is_file()


def test_the_homework_classifier_through_a_factory_equals_the_offline_source(test_build, tmp_path):
    """Factory + the offline checkpoint on the offline set's observed images, the whole DAG to
    the report: every method's artifact equals the offline source's (timings aside)."""
    from workflow_scripts.core.homework import CLASS_NAMES

    built = test_build.out
    names = sorted(p.stem for p in (built / "attributions" / "saliency").glob("*.npz"))
    csv = tmp_path / "observed.csv"
    csv.write_text(
        "path,label\n"
        + "".join(f"{built / 'assets' / 'food' / n}.jpg,{n.split('_')[0]}\n" for n in names)
    )
    test_cfg = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())
    cfg = tmp_path / "factory.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "asset_set": "factory",
                "source": "folder",
                "results": str(tmp_path / "results"),
                "quality": {"enabled": False},  # the point is the methods' artifacts
                "folder": {
                    "model": {
                        "factory": "workflow_scripts.assets.models:Classifier",
                        "kwargs": {"width": test_cfg["model"]["width"]},
                        "weights": str(built / "assets" / "checkpoint.pth"),
                    },
                    "images": {"csv": str(csv), "classes": CLASS_NAMES},  # 11 outputs
                    "preprocess": {
                        "resize": [128, 128],
                        "crop": 0,
                        "mean": [0, 0, 0],
                        "std": [1, 1, 1],
                    },
                },
            }
        )
    )
    out = tmp_path / "results" / "factory"
    from workflow_scripts.cnn.methods import names as method_names

    targets = [out / "attributions" / m / f"{n}.npz" for m in method_names() for n in names]
    snakemake("--cores", "2", "--configfile", ROOT / "config/test.yaml", cfg)  # to the report
    html = (out / "report" / "report.html").read_text()
    assert "Grad-CAM: cnn[36] (ReLU); filters: cnn[6], cnn[15], cnn[21], cnn[23]" in html
    for target in targets:
        reference = built / target.relative_to(out)
        with np.load(target) as a, np.load(reference) as b:
            assert set(a.files) == set(b.files), target
            for k in a.files:
                if k != "seconds":
                    assert np.array_equal(a[k], b[k]), (target, k)


# ---------------------------------------------------------------- bad input: one line each


def _bad_set(tmp: Path, case: str) -> tuple[dict, dict]:
    """(model, images) config blocks of one bad-input case (after building its files)."""
    imgs = {"root": str(tmp / "images")}
    F.images(tmp / "images")
    weights = tmp / "w.pth"
    model = {"arch": "resnet18", "weights": str(weights)}
    F.resnet18(weights)
    if case == "arch":
        model["arch"] = "resnet19"
    elif case == "weights":
        F.resnet18(weights, num_classes=5)
    elif case == "classes":
        (tmp / "factory_mod.py").write_text(
            "import torchvision\n\n"
            "def make():\n    return torchvision.models.resnet18(num_classes=5)\n"
        )
        model = {"factory": "factory_mod:make"}
    elif case == "empty":
        shutil.rmtree(tmp / "images")
        (tmp / "images" / "cat").mkdir(parents=True)
    elif case == "unreadable":
        (tmp / "images" / "dog" / "dog1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    elif case in ("mask_size", "mask_empty"):
        F.images(tmp / "images", tmp / "masks")
        from PIL import Image

        shape = (10, 10) if case == "mask_size" else (40, 48)
        Image.fromarray(np.zeros(shape, np.uint8)).save(tmp / "masks" / "cat1.png")
        imgs["masks"] = str(tmp / "masks")
    elif case == "torchscript":
        model = {"torchscript": str(weights)}
    elif case == "factory":
        (tmp / "factory_mod.py").write_text("def make():\n    raise ValueError('no such depth')\n")
        model = {"factory": "factory_mod:make"}
    return model, imgs


BAD = {
    "arch": ["'resnet19' is not a torchvision classification architecture", "resnet18"],
    "weights": [
        "w.pth: weights do not fit resnet18 (3 classes): fc.weight is (5, 512)",
        "(3, 512)",
    ],
    "classes": ["gives (1, 5) logits", "3 classes"],
    "empty": ["images: no images", "ImageFolder"],
    "unreadable": ["dog1.png: not a readable image"],
    "mask_size": ["cat1.png: mask is 10x10 but its image", "48x40"],
    "mask_empty": ["cat1.png: mask has no positive pixel"],
    "torchscript": ["w.pth: not a TorchScript file", "torch.jit.save"],
    "factory": ["factory_mod:make() raised ValueError: no such depth"],
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_folder_input_is_one_line_and_writes_nothing(tmp_path, case):
    model, imgs = _bad_set(tmp_path, case)
    results = tmp_path / "results"
    cfg = F.config(tmp_path / "bad.yaml", results, model, imgs)
    target = results / "mine" / "assets" / "model.json"  # the model summary: the assets' jobs
    proc = snakemake(
        "-s",
        ROOT / "Snakefile",
        target,
        "--cores",
        "1",
        "--configfile",
        cfg,
        check=False,
        cwd=tmp_path,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    lines = sorted({ln for ln in out.splitlines() if BAD[case][0] in ln})
    assert len(lines) == 1, out[-3000:]
    assert all(part in lines[0] for part in BAD[case]), lines[0]
    assert "Traceback" not in out, out[-3000:]
    leftovers = [p for p in results.rglob("*") if p.is_file() and "logs" not in p.parts]
    assert leftovers == [], leftovers


def test_a_cuda_out_of_memory_batch_is_retried_in_halves(caplog):
    """The quality stage's predictions: an OOM at a batch of 8 gives the same probabilities from
    two batches of 4 (then 2), and says so in the log."""
    from workflow_scripts.quality.scoring import predictor

    class Picky(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(12, 3)

        def forward(self, x):
            if x.shape[0] > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            return self.lin(x.flatten(1))

    model = Picky().eval()
    x = torch.rand(8, 3, 2, 2)
    with caplog.at_level("WARNING", logger="xai"):
        got = predictor(model, torch.device("cpu"))(x)
    with torch.no_grad():
        expected = torch.cat([model(x[i : i + 1]) for i in range(8)]).softmax(1).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert "CUDA out of memory at a batch of 8 images: retrying with 4" in caplog.text


def test_the_cost_per_image_line_sums_each_stage_over_its_images(tmp_path):
    from workflow_scripts.report.model_report import cost_line

    for rule, job, s in [
        ("lime", "chunk0", 3.0),
        ("saliency", "chunk0", 1.5),
        ("quality_chunk", "0", 8.0),
        ("quality_chunk", "1", 4.0),
        ("folder_assets", "x", 50.0),
    ]:
        (tmp_path / rule).mkdir(exist_ok=True)
        (tmp_path / rule / f"{job}.tsv").write_text(f"s\th:m:s\n{s}\t0:00:01\n")
    line = cost_line(tmp_path, ["lime", "saliency"], observed=3, quality=6, sanity=0)
    assert line == "cost per image: methods 1.50 s (3 images), quality 2.00 s (6 images)"


def test_a_method_out_of_memory_retries_with_half_its_batch(caplog):
    """A method call that runs out of CUDA memory is repeated with half its batch_size (a speed
    setting), said in the log, and the job's next images keep the batch that fitted."""
    from workflow_scripts.cnn.attribute import halving_on_oom

    seen = []

    def call(cfg):
        seen.append(cfg.get("batch_size"))
        if cfg.get("batch_size", 1000) > 100:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return "maps"

    with caplog.at_level("WARNING", logger="xai"):
        result, cfg = halving_on_oom(call, {"batch_size": 500, "samples": 50}, "smoothgrad on 0_0")
    assert (result, cfg, seen) == ("maps", {"batch_size": 62, "samples": 50}, [500, 250, 125, 62])
    seen.clear()
    assert (
        "smoothgrad on 0_0: CUDA out of memory at batch_size 500: retrying with 250" in caplog.text
    )
    with pytest.raises(torch.cuda.OutOfMemoryError):
        halving_on_oom(call, {"samples": 5}, "saliency on 0_0")  # no batch to halve


def test_every_class_of_a_folder_set_is_observed(tmp_path):
    """observed.count's default (11, the homework's) does not cut a 12-class folder set."""
    from PIL import Image

    for c in range(12):
        (tmp_path / "imgs" / f"c{c:02d}").mkdir(parents=True)
        Image.new("RGB", (36, 36), (c * 20, 40, 90)).save(tmp_path / "imgs" / f"c{c:02d}" / "a.png")
    F.resnet18(tmp_path / "w.pth", num_classes=12)
    cfg = F.config(
        tmp_path / "twelve.yaml",
        tmp_path / "results",
        {"arch": "resnet18", "weights": str(tmp_path / "w.pth")},
        {"root": str(tmp_path / "imgs")},
    )
    jobs = jobs_of(snakemake("-n", "--cores", "1", "--configfile", cfg).stdout)
    assert jobs["observed_image"] == 12
