"""zoo-spikingresformer: SpikingResformer (Shi, Hao, Yu, CVPR 2024) as a zoo-core plugin.

zoo-core loads :mod:`zoo_spikingresformer.plugin` through the ``zoo_core`` entry point; use the models through
zoo-core's API::

    import zoo_core as zoo

    model = zoo.create_model("spikingresformer_ti")                 # [B,3,224,224] -> [B,1000]
    sd = zoo.from_official("spikingresformer_ti", torch.load(path, weights_only=True))
    p = zoo.profile(model.eval(), images)
    zoo_spikingresformer.paper_energy(p)                            # the paper's SOPs / energy convention

Importing this package does not import torch; the layers live in ``zoo_spikingresformer.layers`` / ``.dssa`` /
``.blocks`` / ``.model`` and ``paper_energy`` in ``.energy`` (also reachable here, loaded on first use).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "paper_energy": "energy",
    "DSSA": "dssa",
    "FiringRateWarning": "dssa",
    "GWFFN": "blocks",
    "DownsampleLayer": "blocks",
    "SpikingResformer": "model",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
