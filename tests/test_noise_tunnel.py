"""The noise wrapper against Captum 0.9's NoiseTunnel on the same noise (Captum draws it with
torch.normal from the global generator: re-seeded, the same call gives the same draws), for
each kind and two inner methods, on the Classifier and a ResNet-18 (float64, to 1e-9 of the
largest value; IG: 1e-6, Captum's float32 step sizes); and the run layer: seeded per image,
the inner block's settings applied."""

import numpy as np
import pytest
import torch
from attribution_models import ARCHITECTURES, images

from workflow_scripts.cnn.attribute import explain_images
from workflow_scripts.cnn.methods import noise_tunnel as nt
from workflow_scripts.cnn.methods.integrated_gradients import integrated_gradients
from workflow_scripts.cnn.methods.saliency import input_gradient

captum = pytest.importorskip("captum.attr")
CPU = torch.device("cpu")


def captum_and_noise(attributor, x, target, kind, samples, stdev, **kw):
    torch.manual_seed(11)
    ref = captum.NoiseTunnel(attributor).attribute(
        x, nt_type=kind, nt_samples=samples, stdevs=stdev, target=target, **kw
    )
    torch.manual_seed(11)  # the draws Captum made: the same call on the re-seeded generator
    noise = torch.normal(0, torch.tensor(stdev).repeat(samples, *x.shape[1:]))
    return ref.detach(), noise.to(x.dtype)


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
@pytest.mark.parametrize("kind", nt.KINDS)
def test_saliency_tunnel_equals_captum(arch, kind):
    _, make, size, _ = arch
    model, x = make(), images(size, 1)
    t = torch.tensor([4])
    ref, noise = captum_and_noise(captum.Saliency(model), x.clone(), t, kind, 4, 0.2, abs=False)
    ours = nt.tunnel(lambda xn: input_gradient(model, xn, t, "logit")[0][0], x, noise, kind)
    assert ref.abs().max() > 0
    torch.testing.assert_close(ours, ref[0], rtol=0, atol=1e-9 * float(ref.abs().max()))


def test_ig_tunnel_equals_captum():
    _, make, size, _ = ARCHITECTURES[0]
    model, x = make(), images(size, 1)
    t = torch.tensor([2])
    ig = captum.IntegratedGradients(model)
    ref, noise = captum_and_noise(
        ig,
        x.clone(),
        t,
        "vargrad",
        3,
        0.1,
        n_steps=5,
        method="riemann_left",
        baselines=0.0,
    )

    def attribute(xn):
        return integrated_gradients(model, xn, t, 5, "ig", "riemann_left", 0.0, 5)["attribution"][0]

    ours = nt.tunnel(lambda xn: torch.as_tensor(np.asarray(attribute(xn))), x, noise, "vargrad")
    # Captum's IG scales its path by float32 step sizes: 3e-8 relative, not rounding of float64
    torch.testing.assert_close(ours, ref[0], rtol=0, atol=1e-6 * float(ref.abs().max()))


def test_run_layer_is_seeded_per_image_and_uses_the_inner_settings():
    _, make, size, _ = ARCHITECTURES[0]
    model, x = make(), images(size, 2)
    cfg = {
        "inner": "saliency",
        "inner_settings": {"objective": "logit"},
        "kind": "smoothgrad",
        "samples": 3,
        "stdev": 0.1,
        "seed": 5,
    }
    a = explain_images("noise_tunnel", model, [(x[0], 1, "1_0"), (x[1], 2, "2_1")], cfg, CPU)
    b = explain_images("noise_tunnel", model, [(x[1], 2, "2_1")], cfg, CPU)
    np.testing.assert_array_equal(a[1]["attribution"], b[0]["attribution"])  # own seed
    loss = explain_images(
        "noise_tunnel",
        model,
        [(x[1], 2, "2_1")],
        {**cfg, "inner_settings": {"objective": "loss"}},
        CPU,
    )
    assert not np.allclose(loss[0]["attribution"], b[0]["attribution"])
    assert a[0]["map_raw"].shape == (size, size)
