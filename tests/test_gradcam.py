"""Grad-CAM against the grad-cam package (pytorch-grad-cam 1.5.7), and its defining properties.

What is compared with pytorch_grad_cam.GradCAM on the same float64 model (random-initialised
Classifier, width 1/8, eval mode), the same module model.cnn[layer] and the same target
(ClassifierOutputTarget(label): the label's logit, which is ours too), for 3 random images and
several targets per image:

1. the layer-resolution CAM: our `cam_layer_res` equals np.maximum(cam, 0) where cam is what
   their `get_cam_image` returns (sum_k alpha_k A^k, before any scaling; recorded by a subclass),
   to rtol 1e-5 in float64;
2. the input-resolution CAM before normalisation: our `map_raw` equals cv2.resize (INTER_LINEAR,
   what their scale_cam_image uses) of that rectified CAM in float64, to rtol 1e-5;
3. the normalised map: our methods.normalize(map_raw) (the `map` the run layer saves) equals
   their returned grayscale CAM, which they min-max scale per image twice (before and after the
   resize, with a 1e-7 guard) and return as float32, to atol 1e-5.
"""

import numpy as np
import pytest
import torch
from attribution_models import classifier

from workflow_scripts.assets.models import Classifier
from workflow_scripts.cnn import methods
from workflow_scripts.cnn.methods import gradcam as gc
from workflow_scripts.core.errors import UserError

cv2 = pytest.importorskip("cv2")
pgc = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

LAYERS = [36, 25, 34, 37]  # the default ReLU, cnn[23]'s block's ReLU, a Conv2d, the last MaxPool


@pytest.fixture(scope="module")
def model():
    return classifier()  # non-trivial BatchNorm statistics, so conv and BN outputs differ


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(1)
    return torch.rand(3, 3, 128, 128, generator=g, dtype=torch.float64)


class RecordingGradCAM(pgc.GradCAM):
    """pytorch-grad-cam's GradCAM, keeping what get_cam_image returns (before ReLU and scaling)."""

    def get_cam_image(self, *args, **kwargs):
        cam = super().get_cam_image(*args, **kwargs)
        self.raw_cams = getattr(self, "raw_cams", []) + [cam]
        return cam


def _theirs(model, layer, x, target):
    cam = RecordingGradCAM(model=model, target_layers=[model.cnn[layer]])
    try:
        out = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in target])
        (raw,) = cam.raw_cams
    finally:
        cam.activations_and_grads.release()
    return raw, out


@pytest.mark.parametrize("layer", LAYERS)
def test_maps_equal_pytorch_grad_cam(model, images, layer):
    targets = [[0, 5, 10], [3, 3, 3], [7, 1, 9]]  # several targets per image
    for target in targets:
        t = torch.tensor(target)
        ours = gc.gradcam(model, images, t, layer)
        raw, theirs = _theirs(model, layer, images, t)
        assert raw.dtype == np.float64
        rect = np.maximum(raw, 0)
        cam = ours["cam"].numpy()
        assert cam.dtype == np.float64 and cam.shape == rect.shape
        np.testing.assert_allclose(cam, rect, rtol=1e-5, atol=1e-5 * np.abs(rect).max())
        up = ours["upsampled"].numpy()
        for i in range(len(images)):
            resized = cv2.resize(rect[i], (128, 128), interpolation=cv2.INTER_LINEAR)
            np.testing.assert_allclose(
                up[i], resized, rtol=1e-5, atol=1e-5 * max(resized.max(), 1e-300)
            )
            assert np.abs(methods.normalize(up[i]) - theirs[i]).max() < 1e-5
            # the per-image explain (what the workflow runs) gives the same arrays
            one = gc.explain(
                model, images[i : i + 1], t[i : i + 1], image=f"{i}_{i}", device="cpu", layer=layer
            )
            np.testing.assert_allclose(
                one["map_raw"], up[i], rtol=1e-10, atol=1e-12 * max(up[i].max(), 1e-300)
            )
            np.testing.assert_allclose(
                one["cam_layer_res"], cam[i], rtol=1e-10, atol=1e-12 * max(cam[i].max(), 1e-300)
            )
            assert (
                one["target"] == target[i]
                and one["layer"] == layer
                and one["map_raw"].shape == (128, 128)
            )
        assert any(rect[i].max() > 0 for i in range(len(images)))  # a non-trivial comparison


def test_cam_is_nonnegative_zero_where_the_layer_is_zero_and_depends_on_the_target(model, images):
    x = images[:1]
    maps = {}
    for label in range(11):
        out = gc.gradcam(model, x, torch.tensor([label]), 36)
        acts, cam = out["activations"][0], out["cam"][0]
        assert (cam >= 0).all() and (out["upsampled"] >= 0).all()
        assert (cam[(acts == 0).all(0)] == 0).all()  # no activation anywhere: nothing to weigh
        # alpha by hand: d logit / d A through the rest of the network, averaged over positions
        a = acts.clone().requires_grad_(True)
        tail = model.fc(torch.nn.Sequential(*list(model.cnn)[37:])(a).reshape(1, -1))[0, label]
        (g,) = torch.autograd.grad(tail, a)
        torch.testing.assert_close(out["weights"][0], g.mean((1, 2)), rtol=1e-10, atol=1e-14)
        torch.testing.assert_close(cam, torch.relu((g.mean((1, 2))[:, None, None] * acts).sum(0)))
        maps[label] = cam
    # the class-discriminative part: different labels give different maps
    assert len({tuple(np.round(m.numpy().ravel(), 12)) for m in maps.values()}) > 1


def test_explain_does_not_touch_the_model_and_a_frozen_model_works(model, images):
    frozen = Classifier(width=0.125).double().eval()
    frozen.load_state_dict(model.state_dict())
    for p in frozen.parameters():
        p.requires_grad_(False)
    model.zero_grad(
        set_to_none=True
    )  # pytorch-grad-cam's loss.backward() (above) fills .grad; ours must not
    a = gc.explain(model, images[:1], torch.tensor([4]), image="x", device="cpu", layer=36)
    b = gc.explain(frozen, images[:1], torch.tensor([4]), image="x", device="cpu", layer=36)
    np.testing.assert_array_equal(a["map_raw"], b["map_raw"])
    assert all(p.grad is None for p in model.parameters())
    assert not model.cnn[36]._forward_hooks


@pytest.mark.parametrize("layer", [-1, 38, 100, True, 2.0])
def test_bad_layer_is_a_user_error_naming_the_key(model, images, layer):
    with pytest.raises(UserError, match=r"cnn\.gradcam\.layer"):
        gc.explain(model, images[:1], torch.tensor([0]), image="x", device="cpu", layer=layer)


def test_registered_with_its_literals():
    meta = methods.registry()["gradcam"]
    assert meta["PREPARE"] == "hooks" and meta["VARIANT_KEYS"] == ("layer",) and meta["ORDER"] == 6
    assert [r["show"] for r in meta["FIGURE"]["rows"]] == ["image", "heat"]
    assert methods.variant_name("gradcam", {"layer": 36}) == "layer=36"


def test_a_module_without_spatial_output_is_a_user_error_naming_the_key():
    class Flat(torch.nn.Module):  # a model.cnn whose module 1 outputs N x D, not N x C x h x w
        def __init__(self):
            super().__init__()
            self.cnn = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3, 1, 1), torch.nn.Flatten())
            self.fc = torch.nn.Linear(2 * 8 * 8, 11)

        def forward(self, x):
            return self.fc(self.cnn(x))

    x = torch.rand(1, 3, 8, 8)
    assert gc.gradcam(Flat(), x, torch.tensor([3]), 0)["cam"].shape == (1, 8, 8)
    with pytest.raises(
        UserError, match=r"cnn\.gradcam\.layer is 1: model\.cnn\[1\] \(Flatten\).*N x C x h x w"
    ):
        gc.explain(Flat(), x, torch.tensor([3]), image="x", device="cpu", layer=1)
