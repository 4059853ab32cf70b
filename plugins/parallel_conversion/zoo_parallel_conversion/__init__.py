"""zoo-parallel-conversion: parallel ANN-to-SNN conversion for zoo-core.

Hao, Ma, Chen, Zhang, Yu, Huang, "Faster and Stronger: When ANN-SNN Conversion Meets Parallel Spiking
Calculation", ICML 2025 (arXiv 2412.13610). zoo-core loads :mod:`zoo_parallel_conversion.plugin` through the
``zoo_core`` entry point; use the components through zoo-core's API::

    import zoo_core as zoo

    ann = zoo.create_model("resnet20_qcfs", T=8)                    # the QCFS ANN
    snn = zoo.create_learning_rule("parallel_conversion").convert(ann)  # the parallel SNN (lossless)
    neuron = zoo.create_neuron("parallel_if", T=4, v_threshold=1.0)

The classes live in :mod:`.neurons`, :mod:`.calibration`, :mod:`.convert` (with :mod:`.tracing`) and
:mod:`.models` (one module per family).
Keep this module light: importing it must not import torch.
"""

__version__ = "0.1.0"
