"""Score-CAM against pytorch-grad-cam 1.5.7's ScoreCAM on the same float64 model, layer and
targets: the layer-resolution CAM equals ReLU of what their get_cam_image returns, to 1e-5 of
its largest value (they collect the masked logits into a float32 tensor before the softmax); and
the masks: each channel scaled to [0, 1]."""

import numpy as np
import pytest
import torch
from attribution_models import ARCHITECTURES, images
from test_gradcam_pp import reference_cams

from workflow_scripts.cnn.attribute import explain_images
from workflow_scripts.cnn.methods import scorecam

pgc = pytest.importorskip("pytorch_grad_cam")


# one forward pass per channel, twice (theirs, ours): ResNet-18's layer2 (128 channels), not layer4
LAYERS = {"classifier": 36, "resnet18": "layer2"}


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_scorecam_equals_pytorch_grad_cam(arch, capsys):
    name, make, size, _ = arch
    layer = LAYERS[name]
    model, x, targets = make(), images(size), [5, 1]
    items = [(x[i], t, f"{t}_{i}") for i, t in enumerate(targets)]
    cfg = {"layer": layer, "batch_size": 7}
    ours = explain_images("scorecam", model, items, cfg, torch.device("cpu"))
    module = model.cnn[layer] if isinstance(layer, int) else model.get_submodule(layer)
    ref = reference_cams(pgc.ScoreCAM, model, module, x, targets)
    got = np.stack([a["cam_layer_res"] for a in ours])
    assert ref.max() > 0
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * np.abs(ref).max())
    np.testing.assert_allclose(ours[0]["weights"].sum(), 1.0)  # a softmax over channels


def test_channel_masks_span_zero_to_one():
    acts = torch.rand(4, 5, 5, dtype=torch.float64) * 3 - 1
    m = scorecam.channel_masks(acts, (20, 20))
    assert m.shape == (4, 20, 20)
    np.testing.assert_allclose(m.flatten(1).min(1).values, 0, atol=1e-12)
    np.testing.assert_allclose(m.flatten(1).max(1).values, 1, atol=1e-7)
