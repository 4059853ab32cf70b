"""zoo-usp_gaussian: the zoo-core plugin of USP-Gaussian (Chen et al., CVPR 2025): the spike camera (simulator,
``.dat`` streams, TFP / TFI), the two Recon-Nets, SE(3) exposure trajectories, the losses, a pure-torch 3D Gaussian
splatting rasteriser and the joint optimisation, with the task ``spike-3d-reconstruction``.

zoo-core loads :mod:`zoo_usp_gaussian.plugin` through the ``zoo_core`` entry point::

    import zoo_core as zoo

    model = zoo.create_model("usp_multi_spkrecon.synthetic_demo", pretrained=True)

The building blocks live in the submodules (``spike_camera``, ``recon``, ``se3``, ``losses``, ``splat``, ``scene``,
``joint``, ``task``, ``data``). Keep this module light: importing it must not import torch.
"""

__version__ = "0.1.0"
