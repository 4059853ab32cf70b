r"""Network-level procedures of LM-HT: the reparameterisation to a single-threshold SNN (official ``main.py
--direct_inference``) and the hybrid pipeline QCFS ANN -> IF -> LM-HT (the paper's Algorithm 1, official
``hybrid_train.py``), registered as the learning rule ``lmht_hybrid``."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from zoo_core.sdk import (
    BPTT,
    ConfigError,
    ConversionIF,
    ConversionRule,
    SeqStepWise,
    check_positive_int,
    find_qcfs,
    replace_modules,
    wrap_stepwise,
)

from .neurons import LMHTInferenceNeuron, LMHTNeuron

__all__ = ["LMHTHybrid", "reparameterize"]

#: layers whose bias (and, for BN, running mean) the official ``replace_layer_bias`` divides by L
_BIAS_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.BatchNorm2d, nn.SyncBatchNorm)


@torch.no_grad()
def reparameterize(model: nn.Module, init_mem: float | None = 0.0) -> nn.Module:
    r"""The single-threshold inference SNN of a trained LM-HT model (a new model; ``model`` is unchanged).

    Exactly the official procedure: every :class:`LMHTNeuron` becomes an :class:`LMHTInferenceNeuron` with
    ``T' = L T`` steps (``init_mem`` 0 as in ``replace_by_LMHT_Inference``; ``None`` keeps each neuron's);
    every conv / linear / BatchNorm2d bias and every BatchNorm2d running mean is divided by ``L``
    (``replace_layer_bias``); ``model.T = L T``; then the stem is restored: the layers the model names in
    ``stem_sites()`` get their bias (BN: and running mean) multiplied back by ``L`` and the neurons fed by the
    repeated stem get ``scale = old_scale / L``. Official (``main.py``) for ResNet-18: ``bn1`` and
    ``sn1.scale = 1/L``; VGG-13: ``layer1[0][0].bias``, ``layer1[0][1]`` bias / running mean and
    ``layer1[1].scale = 1/L``; MS-ResNet: ``bn1`` ×L and ``input_scale = 1/L``. For ResNet-34, ResNet-20 and VGG-16 the official script has no stem fix; applying
    the same rule there is our reading.

    Each window of ``L`` sub-steps then receives the LM-HT step current split into ``L`` equal parts. Exact
    (window spike count == graded spike) when every block-start potential and current is non-negative, e.g.
    leak <= 1 and non-negative currents; not exact in general, e.g. for leak > 1 with negative currents (the
    paper calls it lossless under the premises of its Theorem 4.2; ``tests/test_neurons.py`` shows both cases).
    """
    if getattr(model, "reparameterizable", True) is False:
        why = getattr(model, "reparameterize_refusal", "no official procedure")
        raise ConfigError(f"reparameterize: not supported for {type(model).__name__}: {why}")
    m = copy.deepcopy(model)
    sites = [(n, mod) for n, mod in m.named_modules() if isinstance(mod, LMHTNeuron)]
    if not sites:
        raise ConfigError("reparameterize: the model has no LMHTNeuron")
    Ls = {mod.L for _, mod in sites}
    Ts = {mod.T for _, mod in sites}
    if len(Ls) != 1 or len(Ts) != 1:
        raise ConfigError(f"reparameterize: all LM-HT neurons must share L and T, got L={Ls}, T={Ts}")
    L, T = Ls.pop(), Ts.pop()
    old_scale = {n: mod.scale for n, mod in sites}
    replace_modules(
        m,
        lambda n, mod: isinstance(mod, LMHTNeuron),
        lambda n, mod: LMHTInferenceNeuron.from_training(mod, init_mem),
    )
    for mod in m.modules():
        if isinstance(mod, _BIAS_LAYERS) and mod.bias is not None:
            mod.bias.requires_grad_(False)
            mod.bias /= L
            if isinstance(mod, nn.BatchNorm2d | nn.SyncBatchNorm) and mod.running_mean is not None:
                mod.running_mean /= L
    stem = getattr(m, "stem_sites", None)
    if callable(stem):
        bns, names = stem()
        for layer in bns:
            if layer.bias is not None:
                layer.bias *= L
            if isinstance(layer, nn.BatchNorm2d | nn.SyncBatchNorm) and layer.running_mean is not None:
                layer.running_mean *= L
        for n in names:
            m.get_submodule(n).scale = old_scale[n] / L
        after = getattr(m, "after_reparameterize", None)
        if callable(after):
            after(L)
    if hasattr(m, "T"):
        m.T = L * T
    if hasattr(m, "mode"):
        m.mode = "inference"
    return m


class LMHTHybrid(ConversionRule):
    r"""Hybrid training (the paper's Algorithm 1): QCFS ANN -> (IF SNN) -> LM-HT initialisation -> STBP.

    :meth:`convert` (``ann`` unchanged): stateless layers wrapped per step (SpikingJelly layout, keys gain ``.0``),
    every QCFS replaced by ``LMHTNeuron(L, T, theta = lambda, init_mem = 1/2)`` (conv layers use ``mask``,
    classifier layers ``mask_linear``; the other one is frozen) with alpha = 0 and M = 0
    (leak 1, uniform mixing), the first neuron's ``scale = L``, ``model.T = T``. :meth:`to_if` gives the
    intermediate IF SNN (``ConversionIF``, theta = lambda, initial membrane theta/2, ``if_T`` = 16 steps) the
    official script evaluates. Fine-tuning: :meth:`training_step` (BPTT on the mean-over-time logits;
    the paper uses SGD lr 5e-4, wd 5e-4, cosine, 30 epochs; the script's default lr is 0.1).

    The ANN must be a zoo model with QCFS activations and SNN modes
    (``zoo.create_model("lmht_resnet20", mode="ann")``): its forward must know how to run ``[T, B, ...]``. The LM-HT init equals the ANN only approximately: its
    quantiser has clip ``L theta`` and ``T L`` levels and the per-step currents (hence mean logits) are ``L``
    times the ANN's (biases are not rescaled) - recorded in ``record["lossless"]``.
    """

    #: fine-tuning is BPTT: it takes mixup/cutmix soft targets as well as class indices
    soft_targets = True

    def __init__(self, L: int = 2, T: int = 2, if_T: int = 16, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.L = check_positive_int(L, "L", "lmht_hybrid")
        self.T = check_positive_int(T, "T", "lmht_hybrid")
        self.if_T = check_positive_int(if_T, "if_T", "lmht_hybrid")
        self._bptt = BPTT(label_smoothing=label_smoothing)

    def _snn(self, ann: nn.Module, mode: str, T: int, make: Any) -> nn.Module:
        if getattr(ann, "mode", None) != "ann" or mode not in getattr(ann, "modes", ()):
            raise ConfigError(
                "lmht_hybrid: expects a zoo LM-HT model in mode='ann' with QCFS activations, e.g. "
                "zoo.create_model('lmht_resnet20', mode='ann')"
            )
        t0 = time.perf_counter()
        snn = copy.deepcopy(ann)
        sites = find_qcfs(snn)
        wrap_stepwise(snn, wrapper=SeqStepWise)
        thresholds = {s.name: s.threshold.item() for s in sites}
        done = replace_modules(snn, lambda n, m: n in thresholds, lambda n, m: make(n, thresholds[n]))
        snn.mode, snn.T = mode, T
        if hasattr(snn, "T_train") and mode == "lmht":
            snn.T_train = T
        if hasattr(snn, "L") and mode == "lmht":
            snn.L = self.L
        self.record = {
            "T": T,
            "L": self.L if mode == "lmht" else 1,
            "sites": [
                {"name": r.name, "neuron": type(r.new).__name__, "threshold": thresholds[r.name]}
                for r in done
            ],
            "calibrated": False,
            "warnings": [],
        }
        if mode == "lmht" and done:
            done[0].new.scale = float(self.L)
            self.record["first_neuron_scale"] = {"name": done[0].name, "scale": float(self.L)}
        self.record["lossless"] = {
            "exact": False,
            "reason": "IF conversion is exact only for constant inputs; the LM-HT init is an LT-level quantiser "
            "with clip L*theta and L-times currents, not the ANN's QCFS",
        }
        self.record["seconds"] = time.perf_counter() - t0
        return snn.eval()

    def convert(self, ann: nn.Module, calibration: Iterable[Any] | None = None) -> nn.Module:
        """QCFS ANN -> LM-HT SNN initialisation (Algorithm 1). ``calibration`` is not used."""
        rank = getattr(ann, "neuron_rank", lambda name: 5)
        return self._snn(
            ann, "lmht", self.T, lambda name, th: LMHTNeuron(self.L, self.T, th, 0.5, input_rank=rank(name))
        )

    def to_if(self, ann: nn.Module) -> nn.Module:
        """QCFS ANN -> IF SNN (``if_T`` steps, theta = lambda, initial membrane theta/2)."""
        return self._snn(ann, "if", self.if_T, lambda name, th: ConversionIF(th, init_mem=0.5))

    def training_step(
        self, model: nn.Module, batch: tuple[Tensor, Tensor], optimizer: torch.optim.Optimizer
    ) -> dict[str, float]:
        """One STBP fine-tuning step (cross-entropy on the mean-over-time logits)."""
        return self._bptt.training_step(model, batch, optimizer)
