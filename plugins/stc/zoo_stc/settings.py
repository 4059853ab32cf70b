"""The settings of the spiking predictors: one table over (cell x data set), the single place they live.

The registered models are ``spiking_predictor_<cell>_<dataset>``; each one's constructor arguments are
:func:`model_args` over the class defaults of :class:`zoo_stc.models.SpikingPredictor` (3 x 256 channels, K = 5,
16 groups). No torch import: the plugin hooks read this at registration.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["CELL_LABELS", "DATASETS", "DATASET_LABELS", "GRADIENT_DETACH", "STC_CELLS", "model_args"]

#: cell key (= the registered neuron name, a key of ``zoo_stc.cells.CELLS``) -> label, in the order of the
#: official method list (lif, plif, tclif, lmh, glif, stclif, stcplif, stclmh)
CELL_LABELS: dict[str, str] = {
    "stc_baseline_lif": "LIF (tau 2)",
    "stc_baseline_plif": "PLIF (official (1 - w) input factor)",
    "stc_baseline_tclif": "TC-LIF",
    "stc_baseline_lmh": "LM-H",
    "stc_baseline_glif": "GLIF",
    "stc_lif": "STC-LIF",
    "stc_plif": "STC-PLIF",
    "stc_lmh": "STC-LM-H",
}
#: the cells with the autapse modulators (the only ones ``gradient_detach`` applies to)
STC_CELLS = ("stc_lif", "stc_plif", "stc_lmh")

#: per data set: the arguments that differ from the class defaults. mmnist, taxibj, kth: the official configs
#: (``configs/<ds>/*.py`` and OpenSTL's data table; all 3 x 256 channels, K = 5). mdigits: the zoo's CPU-sized
#: setting on the core's Moving digits (``moving_digits``), not an official one.
DATASETS: dict[str, dict[str, Any]] = {
    "mmnist": {"in_chans": 1, "img_size": 64, "patch_size": 2, "pre_seq_length": 10, "aft_seq_length": 10},
    "taxibj": {"in_chans": 2, "img_size": 32, "patch_size": 1, "pre_seq_length": 4, "aft_seq_length": 4},
    "kth": {"in_chans": 1, "img_size": 128, "patch_size": 4, "pre_seq_length": 10, "aft_seq_length": 20},
    "mdigits": {
        "num_hidden": [16, 16],
        "in_chans": 1,
        "img_size": 32,
        "patch_size": 2,
        "pre_seq_length": 5,
        "aft_seq_length": 5,
    },
}
DATASET_LABELS = {
    "mmnist": "Moving MNIST 64x64, 10 -> 10 frames, patch 2",
    "taxibj": "TaxiBJ 2x32x32 flows, 4 -> 4 frames, patch 1",
    "kth": "KTH 128x128, 10 -> 20 frames, patch 4",
    "mdigits": "Moving digits on a 32x32 canvas, 5 -> 5 frames, patch 2, 2 x 16 channels (the zoo's CPU size)",
}
#: ``gradient_detach`` of the official STC configs (mmnist 0, taxibj and kth 1; the baselines have none)
GRADIENT_DETACH = {"mmnist": False, "taxibj": True, "kth": True, "mdigits": False}


def model_args(cell: str, dataset: str) -> dict[str, Any]:
    """Constructor arguments of ``spiking_predictor_<cell>_<dataset>`` over the class defaults."""
    return {
        "neuron": cell,
        **copy.deepcopy(DATASETS[dataset]),
        "gradient_detach": GRADIENT_DETACH[dataset] if cell in STC_CELLS else False,
    }
