"""Registries, metadata, model creation, datasets and the built-in learning rule."""

import pytest
import torch

import zoo_core as zoo
import zoo_core.models.spiking_cnn
from zoo_core.errors import ConfigError, InputError, RegistrationConflictError, UnknownNameError
from zoo_core.registry import Registry


def test_lists_are_sorted_and_filtered_by_fnmatch():
    assert {"if", "lif", "plif"} <= set(zoo.list_neurons())
    assert zoo.list_neurons("*lif") == sorted(n for n in zoo.list_neurons() if n.endswith("lif"))
    assert "lif" in zoo.list_neurons("*lif") and "if" not in zoo.list_neurons("*lif")
    assert zoo.list_neurons("[ip]*") == sorted(n for n in zoo.list_neurons() if n[0] in "ip")
    assert zoo.list_models("spiking_c*") == ["spiking_cnn"]
    assert zoo.list_models("spiking_*") == sorted(n for n in zoo.list_models() if n.startswith("spiking_"))
    assert zoo.list_models("nothing*") == []
    assert zoo.list_kernels("lif_multistep:*")[0].startswith("lif_multistep:")
    for lister in (
        zoo.list_models,
        zoo.list_neurons,
        zoo.list_surrogates,
        zoo.list_kernels,
        zoo.list_datasets,
    ):
        names = lister()
        assert names == sorted(names)


def test_unknown_name_lists_closest():
    with pytest.raises(UnknownNameError, match=r"unknown neuron 'plf'.*closest: plif") as err:
        zoo.create_neuron("plf")
    assert isinstance(err.value, LookupError)
    with pytest.raises(UnknownNameError, match="closest: spiking_cnn"):
        zoo.model_info("spiking_cn")
    with pytest.raises(UnknownNameError, match="unknown learning rule"):
        zoo.create_learning_rule("bpt")


def test_model_info_carries_owner_paper_defaults_task_and_io():
    info = zoo.model_info("spiking_cnn")
    assert isinstance(info, zoo.ModelInfo)
    assert info.plugin == "zoo_core"
    assert info.task == "image-classification"
    assert info.defaults["T"] == 4 and info.defaults["neuron"] == "lif"
    assert [s.name for s in info.io.inputs] == ["image", "frames"]
    assert info.io.output.resolve({"num_classes": 10}, batch=5) == (5, 10)
    assert info.io.inputs[1].resolve({"T": 3, "in_chans": 1, "img_size": 8}) == (3, 2, 1, 8, 8)
    n = zoo.neuron_info("plif")
    assert n.paper.year == 2021 and "Learnable Membrane Time Constant" in n.paper.title
    assert n.defaults["init_tau"] == 2.0
    assert zoo.entry_info("dataset", "digits").plugin == "zoo_core"
    assert zoo.learning_rule_info("bptt").category == "training"
    assert zoo.kernel_info("lif_multistep:reference").is_reference
    # the metadata is pydantic: serialisable
    assert '"task":"image-classification"' in info.model_dump_json()


def test_create_model_applies_overrides_and_records_config():
    m = zoo.create_model("spiking_cnn", num_classes=3, T=2, in_chans=3, neuron="if")
    assert m.zoo_name == "spiking_cnn" and m.zoo_args["num_classes"] == 3 and m.zoo_args["neuron"] == "if"
    assert m(torch.rand(2, 3, 8, 8)).shape == (2, 3)
    assert isinstance(m.features[1], zoo.neurons.IF)
    with pytest.raises(ConfigError, match="does not accept colour"):
        zoo.create_model("spiking_cnn", colour=3)
    with pytest.raises(ConfigError, match="T"):
        zoo.create_model("spiking_cnn", T=0)
    # the only weight set is taken when no tag is given
    assert zoo.create_model("spiking_cnn", pretrained=True).zoo_weights["tag"] == "digits_t4"
    zoo.register_model("bare_cnn", owner="tests", defaults={"T": 2})(zoo_core.models.spiking_cnn.SpikingCNN)
    try:
        with pytest.raises(ValueError, match="no published weights"):
            zoo.create_model("bare_cnn", pretrained=True)
    finally:
        zoo.unregister("model", "bare_cnn")
    with pytest.raises(ValueError, match="extra"):  # a typo in metadata is an error, not silently dropped
        zoo.register_model("typo_cnn", owner="tests", defualts={})(zoo_core.models.spiking_cnn.SpikingCNN)
    with pytest.raises(UnknownNameError, match="weight tag"):
        zoo.create_model("spiking_cnn.imagenet_t4")


def test_registry_conflicts_name_both_owners_and_same_owner_replaces():
    r = Registry("neuron")
    r.add("foo", lambda: 1, "plugin_a")
    r.add("foo", lambda: 2, "plugin_a")  # same owner: a notebook cell run twice
    assert r.get("foo").factory() == 2
    with pytest.raises(RegistrationConflictError, match="'plugin_a' and 'plugin_b'"):
        r.add("foo", lambda: 3, "plugin_b")
    with pytest.raises(ValueError, match="dots"):
        r.add("foo.bar", lambda: 1, "plugin_a")
    with pytest.raises(TypeError, match="callable"):
        r.add("bar", 3, "plugin_a")


def test_decorator_registration_in_process():
    @zoo.register_neuron("notebook_lif", defaults={"tau": 3.0})
    class NotebookLIF(zoo.neurons.LIF):
        """A LIF tried in a notebook."""

    try:
        assert "notebook_lif" in zoo.list_neurons()
        assert zoo.neuron_info("notebook_lif").plugin == __name__
        assert zoo.create_neuron("notebook_lif").tau == 3.0
        with pytest.raises(RegistrationConflictError, match="'zoo_core' and 'elsewhere'"):
            zoo.register_neuron("lif", owner="elsewhere")(NotebookLIF)
    finally:
        zoo.unregister("neuron", "notebook_lif")
    assert "notebook_lif" not in zoo.list_neurons()


def test_digits_dataset_split_is_fixed_stratified_and_disjoint():
    train, test = zoo.create_dataset("digits"), zoo.create_dataset("digits", split="test")
    assert len(train) + len(test) == 1797 and len(test) == 360
    x, y = train.tensors
    assert x.shape[1:] == (1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert set(y.tolist()) == set(range(10))
    assert torch.equal(zoo.create_dataset("digits").tensors[0], x)  # deterministic
    rows = {tuple(r.flatten().tolist()) for r in test.tensors[0]}
    overlap = sum(tuple(r.flatten().tolist()) in rows for r in x)
    assert overlap < 5  # only the few duplicate images of the data set itself may coincide
    with pytest.raises(ValueError, match="split"):
        zoo.create_dataset("digits", split="val")


def test_bptt_learns_digits_batch():
    torch.manual_seed(0)
    x, y = zoo.create_dataset("digits").tensors
    x, y = x[:64], y[:64]
    model = zoo.create_model("spiking_cnn", T=2)
    rule = zoo.create_learning_rule("bptt")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = rule.training_step(model, (x, y), opt)["loss"]
    for _ in range(30):
        last = rule.training_step(model, (x, y), opt)
    assert last["loss"] < 0.5 * first
    assert last["acc"] > 0.8


@pytest.mark.parametrize(
    ("shape", "match"),
    [((2, 8, 8), "image batch"), ((2, 3, 8, 8), "1 input channels"), ((0, 2, 1, 8, 8), "empty|T")],
)
def test_model_input_errors(shape, match):
    m = zoo.create_model("spiking_cnn")
    with pytest.raises(InputError, match=match):
        m(torch.rand(shape))


def test_model_rejects_nan_and_integer_input():
    m = zoo.create_model("spiking_cnn")
    x = torch.rand(2, 1, 8, 8)
    x[1, 0, 3, 3] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        m(x)
    with pytest.raises(InputError, match="floating"):
        m(torch.ones(2, 1, 8, 8, dtype=torch.uint8))


def test_signature_defaults_reads_a_builders_keyword_defaults():
    from zoo_core.api import signature_defaults

    def builder(depth, T: int = 4, widths=(16, 32), *, mode: str = "ann", **extra):
        return None

    # required and **kwargs parameters have no default; tuples become lists (JSON-ready for config.json)
    assert signature_defaults(builder) == {"T": 4, "widths": [16, 32], "mode": "ann"}
