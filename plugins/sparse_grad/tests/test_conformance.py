"""The conformance kit on every entry of the plugin."""

from __future__ import annotations

import pytest
import zoo_core as zoo
from zoo_core.testing import check_model, check_neuron


def test_plugin_loads_and_registers() -> None:
    info = {p.name: p for p in zoo.list_plugins()}["sparse_grad"]
    assert info.ok, info.status
    assert info.registered["model"] == ["sparse_grad_mlp_digits", "sparse_grad_vgg11", "sparse_grad_wrn16"]
    assert info.registered["learning_rule"] == ["sparse_grad"]
    assert zoo.learning_rule_info("sparse_grad").defaults["h"] == 0.01


@pytest.mark.parametrize("surrogate,gama", [("zif", 1.0), ("sig", 4.0), ("atan", 2.0)])
def test_neuron_conformance(surrogate: str, gama: float) -> None:
    check_neuron("sparse_grad_lif", surrogate=surrogate, gama=gama)


def test_neuron_conformance_bptr_mode() -> None:
    check_neuron("sparse_grad_lif", mode="bptr")  # non-causal backward: must refuse streaming


@pytest.mark.parametrize("name", ["sparse_grad_vgg11", "sparse_grad_wrn16", "sparse_grad_mlp_digits"])
def test_model_conformance(name: str) -> None:
    check_model(name)
