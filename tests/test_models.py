"""The homework Classifier's structure and the checkpoint loader's safety and strictness."""

import pytest
import torch
from torch import nn

from workflow_scripts.assets.models import (
    Classifier,
    count_parameters,
    describe_model,
    load_checkpoint,
    save_checkpoint,
)
from workflow_scripts.core.errors import UserError


def test_homework_parameter_count():
    assert count_parameters(Classifier(1.0)) == 14_162_827


@pytest.mark.parametrize("width", [1.0, 0.125, 0.0625])
def test_module_indexing_matches_homework(width):
    model = Classifier(width)
    assert len(model.cnn) == 38
    assert isinstance(model.cnn[6], nn.Conv2d) and isinstance(model.cnn[23], nn.Conv2d)
    assert isinstance(model.cnn[15], nn.ReLU)
    assert isinstance(model.cnn[21], nn.BatchNorm2d)
    pools = [i for i, m in enumerate(model.cnn) if isinstance(m, nn.MaxPool2d)]
    assert pools == [9, 19, 29, 33, 37]
    assert [type(m) for m in model.fc] == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert model.fc[2].p == 0.3
    out = model.eval()(torch.rand(2, 3, 128, 128))
    assert out.shape == (2, 11)


def test_homework_channel_plan():
    convs = [m for m in Classifier(1.0).cnn if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == (
        [(3, 128)] + [(128, 128)] * 5 + [(128, 256)] + [(256, 256)] * 2 + [(256, 512), (512, 512)]
    )
    assert all(
        c.kernel_size == (3, 3) and c.stride == (1, 1) and c.padding == (1, 1) for c in convs
    )
    fc = Classifier(1.0).fc
    assert (fc[0].in_features, fc[0].out_features, fc[3].out_features) == (512 * 16, 1024, 11)


def test_checkpoint_round_trip_and_width_inference(tmp_path):
    model = Classifier(0.125).eval()
    path = tmp_path / "checkpoint.pth"
    save_checkpoint(path, model, epoch=3)
    payload = torch.load(path, weights_only=True)
    assert (
        set(payload) >= {"model_state_dict", "epoch", "optimizer_state_dict"}
        and payload["epoch"] == 3
    )
    loaded = load_checkpoint(path)
    assert loaded.width == 0.125
    x = torch.rand(2, 3, 128, 128)
    assert torch.equal(loaded(x), model(x))
    assert describe_model(loaded)["cnn_modules"][21] == "BatchNorm2d"


def test_key_mismatch_names_file_and_keys(tmp_path):
    state = Classifier(0.125).state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["fc.3.bias"]
    path = tmp_path / "bad.pth"
    torch.save({"model_state_dict": state}, path)
    with pytest.raises(UserError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert str(path) in msg and "missing [fc.3.bias]" in msg and "unexpected [extra.weight]" in msg


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    good = tmp_path / "good.pth"
    save_checkpoint(good, Classifier(0.0625))
    bad = tmp_path / "truncated.pth"
    bad.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(UserError, match=r"truncated\.pth: not a readable torch checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(UserError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "absent.pth")


class Payload:
    def __reduce__(self):
        return (print, ("this would run on load",))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model_state_dict": Classifier(0.0625).state_dict(), "x": Payload()}, path)
    with pytest.raises(UserError, match=r"weights-only\) loading refuses \(GLOBAL") as err:
        load_checkpoint(path)
    assert "weights_only" not in str(err.value) and "\n" not in str(err.value)
