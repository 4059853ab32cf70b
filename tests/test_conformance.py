"""The conformance kit over every registered neuron and model, and proof that it catches broken ones."""

import pytest
import torch
from torch import nn

import zoo_core as zoo
from zoo_core.checks import check_time_steps
from zoo_core.layers import StepWise, encode_image_input
from zoo_core.neurons import LIF, BaseNeuron
from zoo_core.testing import ConformanceError, check_model, check_neuron


@pytest.mark.parametrize("name", zoo.list_neurons())
def test_every_registered_neuron_conforms(name):
    check_neuron(name)


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_registered_model_conforms(name):
    check_model(name)


@pytest.mark.parametrize("neuron", ["if", "plif"])
def test_spiking_cnn_conforms_with_other_neurons_and_rgb(neuron):
    check_model("spiking_cnn", neuron=neuron, in_chans=3, img_size=12, T=2)


# ------------------------------------------------------------------------------------------ broken examples
class LeakyStateLIF(BaseNeuron):
    """Broken on purpose: keeps its membrane across calls even when not streaming."""

    def __init__(self):
        super().__init__()
        self.inner = LIF(v_threshold=0.3)  # fires often, so a leaked membrane shows in the output
        self.v = None

    def initial_state(self, x_t):
        return {"v": torch.zeros_like(x_t)}

    def multi_step(self, x_seq, state):
        if self.v is not None and self.v.shape == x_seq.shape[1:]:
            state = {"v": self.v}
        out, state = self.inner.multi_step(x_seq, state)
        self.v = state["v"].detach()
        return out, state


class NoGradNeuron(BaseNeuron):
    """Broken on purpose: a hard threshold without a surrogate (no gradient reaches the input)."""

    def initial_state(self, x_t):
        return {}

    def multi_step(self, x_seq, state):
        return (x_seq >= 1).to(x_seq.dtype), state


class TinyNet(nn.Module):
    """A correct tiny classifier; subclasses break one thing each."""

    def __init__(self, num_classes=3, in_chans=1, img_size=6, T=2):
        super().__init__()
        self.T, self.in_chans = check_time_steps(T, "tiny"), in_chans
        self.conv = StepWise(nn.Conv2d(in_chans, 4, 3, padding=1), nn.BatchNorm2d(4))
        self.lif = LIF()
        self.head = StepWise(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(4, num_classes))

    def forward(self, x):
        x = encode_image_input(x, self.T, self.in_chans, "tiny")
        return self.head(self.lif(self.conv(x))).mean(0)


class DeadParamNet(TinyNet):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.unused = nn.Parameter(torch.zeros(3))


class WrongShapeNet(TinyNet):
    def forward(self, x):
        return super().forward(x)[:, :-1]


class AcceptsNaNNet(TinyNet):
    def forward(self, x):
        return (
            super().forward(torch.nan_to_num(x))
            if x.dim() in (4, 5) and x.shape[-3] == self.in_chans
            else super().forward(x)
        )


class LeakyModel(TinyNet):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.lif = LeakyStateLIF()


class BatchStatsInEvalNet(TinyNet):
    def forward(self, x):
        self.conv.module[1].train()  # BN always uses batch statistics: outputs depend on the batch
        return super().forward(x)


class UnsavedBufferNet(TinyNet):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.scale = (
            torch.rand(1) + 1.0
        )  # a plain attribute, not a registered buffer: lost by a state-dict save

    def forward(self, x):
        return super().forward(x) * self.scale


@pytest.fixture
def registered():
    names = []

    def register(kind, name, factory, **meta):
        (zoo.register_model if kind == "model" else zoo.register_neuron)(name, owner="tests", **meta)(factory)
        names.append((kind, name))

    yield register
    for kind, name in names:
        zoo.unregister(kind, name)


TINY = {"defaults": {"num_classes": 3, "in_chans": 1, "img_size": 6, "T": 2}}


def test_kit_accepts_the_correct_tiny_net(registered):
    registered("model", "tiny_ok", TinyNet, **TINY)
    check_model("tiny_ok")


@pytest.mark.parametrize(
    ("cls", "check"),
    [
        (DeadParamNet, "backward reaches every parameter"),
        (WrongShapeNet, "output shape"),
        (AcceptsNaNNet, "bad input"),
        (LeakyModel, "identical calls"),
        (BatchStatsInEvalNet, "batch independence"),
        (UnsavedBufferNet, "safetensors round trip"),
    ],
)
def test_kit_catches_broken_models(registered, cls, check):
    registered("model", "tiny_broken", cls, **TINY)
    with pytest.raises(ConformanceError, match=check):
        check_model("tiny_broken")


@pytest.mark.parametrize(
    ("cls", "check"), [(LeakyStateLIF, "no state across calls"), (NoGradNeuron, "gradient reaches the input")]
)
def test_kit_catches_broken_neurons(registered, cls, check):
    registered("neuron", "broken_neuron", cls)
    with pytest.raises(ConformanceError, match=check):
        check_neuron("broken_neuron")


def test_kit_rejects_a_non_neuron(registered):
    registered("neuron", "not_a_neuron", nn.ReLU)
    with pytest.raises(ConformanceError, match="BaseNeuron"):
        check_neuron("not_a_neuron")


FREE_IO = zoo.IOSpec(
    inputs=(
        zoo.TensorSpec(name="image", shape=("B", "in_chans", "H", "W"), kind="unit", free={"H": 6, "W": 6}),
    ),
    output=zoo.TensorSpec(name="logits", shape=("B", "num_classes")),
)


class FixedSizeNet(TinyNet):
    """Broken on purpose for a free-size spec: its head flattens the 6 x 6 map, so only 6 x 6 inputs work."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.head = StepWise(nn.Flatten(1), nn.Linear(4 * 36, kw.get("num_classes", 3)))


def test_kit_runs_free_dimensions_at_twice_their_size(registered):
    registered("model", "tiny_free", TinyNet, io=FREE_IO, **TINY)  # global pooling: any H x W
    check_model("tiny_free")
    registered("model", "tiny_fixed", FixedSizeNet, io=FREE_IO, **TINY)
    with pytest.raises(ConformanceError, match=r"free sizes \{'H': 12, 'W': 12\}"):
        check_model("tiny_fixed")
    assert FREE_IO.inputs[0].resolve({"in_chans": 2}, batch=1, sizes={"H": 5}) == (1, 2, 5, 6)
    with pytest.raises(ValueError, match="free dimension 'H'"):
        zoo.TensorSpec(name="x", shape=("B", 3), free={"H": 4})  # not in the shape
    with pytest.raises(ValueError, match="free dimension 'B'"):
        zoo.TensorSpec(name="x", shape=("B", 3), free={"B": 4})
