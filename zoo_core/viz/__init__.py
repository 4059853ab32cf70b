"""Pictures of spiking models (``zoo.viz``; the optional extra ``pip install "zoo-core[viz]"``: matplotlib).

>>> import zoo_core as zoo
>>> model = zoo.create_model("spiking_cnn.digits_t4", pretrained=True)
>>> x = torch.rand(4, 1, 8, 8)
>>> zoo.viz.raster(model, x, layer="features.1", path="raster.png")      # spikes of one layer, sample 0
>>> zoo.viz.firing_rates(model, x, path="rates.svg")                    # every layer x every time step
>>> zoo.viz.membrane_trace(model, x, "features.1", neuron=3, path="v.png")   # with threshold and spikes
>>> zoo.viz.examples(model, data, path="examples.png")  # what the model's task shows (Task.example_rows)
>>> zoo.viz.frames([("inputs", images)], path="grid.png")               # any rows of [N, C, H, W] images
>>> zoo.viz.curves("run/log.jsonl", path="curves.png")                  # training curves of a run log
>>> rec = zoo.viz.record(model, x)          # the data behind them: rec.layer("features.1").spikes, .membrane

Every picture function returns a ``matplotlib.figure.Figure`` (made without pyplot, drawn by Agg: no display
needed, the user's backend untouched) and, with ``path=``, writes it as PNG or SVG by the suffix, at
``figsize x dpi`` pixels. The command line is ``zoo plot raster|rates|trace|frames|curves``.

What a spiking layer is and which membrane potential is recorded: :mod:`zoo_core.viz.record`. Run logs:
:mod:`zoo_core.viz.curves`. Only drawing needs matplotlib; :func:`record` works without it.
"""

from __future__ import annotations

from .curves import curves, read_log
from .figures import (
    FORMATS,
    MissingExtraError,
    check_path,
    examples,
    figure,
    firing_rates,
    frames,
    membrane_trace,
    raster,
    save,
)
from .record import LayerRecord, Recording, record, recording, spiking_layers

__all__ = [
    "FORMATS",
    "LayerRecord",
    "MissingExtraError",
    "Recording",
    "check_path",
    "curves",
    "examples",
    "figure",
    "firing_rates",
    "frames",
    "membrane_trace",
    "raster",
    "read_log",
    "record",
    "recording",
    "save",
    "spiking_layers",
]
