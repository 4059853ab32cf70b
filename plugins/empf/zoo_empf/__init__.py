"""zoo-core plugin: EM-PF / HD-LIF online-trainable SNNs (floating-point spikes, 1-bit / 1.5-bit weights).

Neurons :class:`EMPFNeuron` (``empf``) and :class:`EMPFLIFNeuron` (``empf_lif``), quantised convs
:class:`BinaryConv` / :class:`TernaryConv` with :func:`deploy` and :func:`param_memory`, the official
architecture families :class:`EMPFResNet` (``empf_resnet18/19/34``) and :class:`EMPFVGG`
(``empf_vgg11/13/16/19``), the digits demo :class:`EMPFDigitsNet` (``empf_digits``), all on :class:`EMPFNet`,
and the online rule :class:`EMPFOnline` (``empf_online``).
"""

from .base import EMPFNet
from .models import EMPFVGG, EMPFDigitsNet, EMPFResNet
from .neurons import EMPFLIFNeuron, EMPFNeuron, FoldedEMPFNeuron, quantize_4bit
from .online import EMPFOnline, SavedTensorMeter, online_gradients
from .quant import BinaryConv, TernaryConv, binarize, deploy, param_memory, ternarize

__all__ = [
    "EMPFVGG",
    "BinaryConv",
    "EMPFDigitsNet",
    "EMPFLIFNeuron",
    "EMPFNet",
    "EMPFNeuron",
    "EMPFOnline",
    "EMPFResNet",
    "FoldedEMPFNeuron",
    "SavedTensorMeter",
    "TernaryConv",
    "binarize",
    "deploy",
    "online_gradients",
    "param_memory",
    "quantize_4bit",
    "ternarize",
]
