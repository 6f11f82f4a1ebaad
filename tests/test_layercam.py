"""LayerCAM against pytorch-grad-cam 1.5.7's LayerCAM on the same float64 model, layer and
targets; and its definition on a hand-made case (a shallow layer: where it differs from
Grad-CAM)."""

import numpy as np
import pytest
import torch
from attribution_models import ARCHITECTURES, images
from test_gradcam_pp import reference_cams

from workflow_scripts.cnn.attribute import explain_images

pgc = pytest.importorskip("pytorch_grad_cam")

LAYERS = {"classifier": [36, 6], "resnet18": ["layer4", "layer1"]}


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_layercam_equals_pytorch_grad_cam(arch):
    name, make, size, _ = arch
    model, x, targets = make(), images(size), [2, 9]
    items = [(x[i], t, f"{t}_{i}") for i, t in enumerate(targets)]
    for layer in LAYERS[name]:
        ours = explain_images("layercam", model, items, {"layer": layer}, torch.device("cpu"))
        module = model.cnn[layer] if isinstance(layer, int) else model.get_submodule(layer)
        ref = reference_cams(pgc.LayerCAM, model, module, x, targets)
        got = np.stack([a["cam_layer_res"] for a in ours])
        assert ref.max() > 0
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9 * np.abs(ref).max())


def test_layercam_differs_from_gradcam_where_gradients_vary_in_space():
    """Grad-CAM averages a channel's gradient over positions, LayerCAM keeps it per position: on a
    shallow layer of the Classifier the two maps are not proportional."""
    from attribution_models import classifier

    model, x = classifier(), images(128, 1)
    items = [(x[0], 4, "4_0")]
    lc = explain_images("layercam", model, items, {"layer": 6}, torch.device("cpu"))[0]
    gc = explain_images("gradcam", model, items, {"layer": 6}, torch.device("cpu"))[0]
    corr = np.corrcoef(lc["cam_layer_res"].ravel(), gc["cam_layer_res"].ravel())[0, 1]
    assert corr < 0.999
