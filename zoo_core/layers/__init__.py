"""Small composable layers shared by models: per-step wrappers, input encoding, the QCFS activation and the
module surgery of ANN-to-SNN conversion, and :func:`spike_aware` (convs and linears on the spike-aware kernels)."""

from .encoding import encode_image_input
from .qcfs import QCFS, QCFSSite, find_qcfs, floor_ste, is_qcfs, qcfs_threshold
from .spike_aware import spike_aware
from .stepwise import StepWise
from .surgery import STATELESS_LAYERS, Replacement, SeqStepWise, replace_modules, wrap_stepwise

__all__ = [
    "QCFS",
    "STATELESS_LAYERS",
    "QCFSSite",
    "Replacement",
    "SeqStepWise",
    "StepWise",
    "encode_image_input",
    "find_qcfs",
    "floor_ste",
    "is_qcfs",
    "qcfs_threshold",
    "replace_modules",
    "spike_aware",
    "wrap_stepwise",
]
