"""zoo-copylens: CopyLens / Inner-Probe probes on frozen language models (Ma et al., arXiv 2410.04454).

zoo-core loads :mod:`zoo_copylens.plugin` through the ``zoo_core`` entry point; use the models through zoo-core's
API::

    import zoo_core as zoo

    model = zoo.create_model("copylens_probe_minilm_stdlib.stdlib_docstrings", pretrained=True)
    out = model.attribute(["Schedule the coroutine on the event loop."])   # p over the sub-datasets, OOD flag

The building blocks are importable from here (loaded on first access, so importing this package stays light):
:class:`CopyLensProbe`, :class:`LayerFusion`, :func:`nt_xent`, :func:`auroc`, :func:`fpr_at_tpr`,
:func:`threshold_at_tpr` (:mod:`zoo_copylens.probe`); :func:`load_backbone`, :func:`block_features`,
:func:`mha_modules`, :func:`fingerprint` (:mod:`zoo_copylens.backbone`, which needs ``transformers`` only to load an
LM); :class:`TextAttribution` (:mod:`zoo_copylens.task`); :class:`TextAttributionData` (:mod:`zoo_copylens.data`).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "CopyLensProbe": "probe",
    "LayerFusion": "probe",
    "nt_xent": "probe",
    "auroc": "probe",
    "fpr_at_tpr": "probe",
    "threshold_at_tpr": "probe",
    "load_backbone": "backbone",
    "block_features": "backbone",
    "mha_modules": "backbone",
    "fingerprint": "backbone",
    "MHA_PATHS": "backbone",
    "TextAttribution": "task",
    "TextAttributionData": "data",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'zoo_copylens' has no attribute {name!r}")
