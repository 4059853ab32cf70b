"""zoo-dpcnn: Deep Pulse-Coupled Neural Networks for zoo-core.

Yi, Lian, Qi, Yu, Tang, Ma, Liu, "Deep Pulse-Coupled Neural Networks", arXiv 2401.08649 (2023). zoo-core loads
:mod:`zoo_dpcnn.plugin` through the ``zoo_core`` entry point; use the components through zoo-core's API::

    import zoo_core as zoo

    neuron = zoo.create_neuron("pcnn", channels=64, coupling="inter")   # [T, B, 64, H, W] -> spikes
    dpcnn = zoo.create_model("dpcnn_vgg9")                              # PCNN neurons + RFTD-BN
    wide = zoo.create_model("dpcnn_vgg9_lif_wide")                      # the LIF baseline, 2x channels

The classes live in :mod:`.neuron` (PCNN), :mod:`.norm` (RFTD-BN), :mod:`.models` (the ``VGGSNN`` family, whose
variants ``dpcnn_vgg9``, ``dpcnn_vgg9_lif_wide`` and ``dpcnn_digits`` are a table in :mod:`.plugin`) and
:mod:`.counting` (neuron and synapse counts). Keep this module light: importing it must not import torch.
"""

__version__ = "0.1.0"
