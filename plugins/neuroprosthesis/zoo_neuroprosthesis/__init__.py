"""zoo-neuroprosthesis: a zoo-core plugin for visual neuroprosthesis (Beech, Jia, Yu, Liu, "Deep Learning for
Visual Neuroprosthesis", arXiv 2401.03639): retina encoders, the Spike-Image Decoder and a spiking retina simulator.

zoo-core loads :mod:`zoo_neuroprosthesis.plugin` through the ``zoo_core`` entry point; use the components through
zoo-core's API::

    import zoo_core as zoo

    model = zoo.create_model("retina_crnn_lstm")                 # [B, 90, 90, 20] -> [B, 80] firing rates
    decoder = zoo.create_model("sid_decoder")                    # [B, 90] scaled spike counts -> [B, 64, 64, 1]
    lif = zoo.create_neuron("retina_lif")                        # the simulator's LIF cell

Keep this module light: importing it must not import torch.
"""

__version__ = "0.1.0"
