"""zoo-lmht: the LM-HT spiking neuron and models for zoo-core.

Hao, Shi, Liu, Yu, Huang, "LM-HT SNN: Enhancing the Performance of SNN to ANN Counterpart through Learnable
Multi-hierarchical Threshold Model", NeurIPS 2024 (arXiv 2402.00411). zoo-core loads :mod:`zoo_lmht.plugin`
through the ``zoo_core`` entry point ``lmht``::

    import zoo_core as zoo

    model = zoo.create_model("lmht_resnet18", T=2, L=2)              # direct STBP training ("bptt" rule)
    from zoo_lmht.reparam import reparameterize
    single = reparameterize(model)                                   # single-threshold SNN, L*T steps
    ann = zoo.create_model("lmht_resnet20", mode="ann")               # QCFS ANN of hybrid training
    snn = zoo.create_learning_rule("lmht_hybrid", L=2, T=2).convert(ann)

Keep this module light: importing it must not import torch.
"""

__version__ = "0.1.0"
