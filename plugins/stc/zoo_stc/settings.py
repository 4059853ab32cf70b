"""Official settings of the STC predictors (no torch import: the plugin hooks read this at registration)."""

from __future__ import annotations

from typing import Any

__all__ = ["DATASETS", "GRADIENT_DETACH", "NEURON_KEYS", "STC_NEURONS", "model_defaults"]

#: official settings per data set (configs/<ds>/*.py and OpenSTL's data table; spec section d)
DATASETS: dict[str, dict[str, Any]] = {
    "mmnist": {"in_chans": 1, "img_size": 64, "patch_size": 2, "pre_seq_length": 10, "aft_seq_length": 10},
    "taxibj": {"in_chans": 2, "img_size": 32, "patch_size": 1, "pre_seq_length": 4, "aft_seq_length": 4},
    "kth": {"in_chans": 1, "img_size": 128, "patch_size": 4, "pre_seq_length": 10, "aft_seq_length": 20},
}
#: ``gradient_detach`` of the official STC configs (mmnist 0, taxibj and kth 1; the baselines have none)
GRADIENT_DETACH = {"mmnist": False, "taxibj": True, "kth": True}
#: the cell keys of zoo_stc.cells.CELLS, in the order of the official method list
NEURON_KEYS = ("lif", "plif", "tclif", "lmh", "glif", "stclif", "stcplif", "stclmh")
STC_NEURONS = ("stclif", "stcplif", "stclmh")


def model_defaults(neuron: str, dataset: str) -> dict[str, Any]:
    """Constructor arguments of ``stc_<neuron>_<dataset>`` (official config: 3 x 256 channels, K = 5)."""
    return {
        "neuron": neuron,
        "num_hidden": [256, 256, 256],
        **DATASETS[dataset],
        "kernel_size": 5,
        "groups": 16,
        "gradient_detach": GRADIENT_DETACH[dataset] if neuron in STC_NEURONS else False,
        "neuron_kwargs": {},
    }
