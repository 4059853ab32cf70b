r"""The learning rule ``parallel_conversion``: any ReLU or QCFS network -> parallel SNN.

>>> rule = zoo.create_learning_rule("parallel_conversion", T=8)
>>> snn = rule.convert(ann, calibration=loader)     # loader: batches of images or (images, labels)
>>> snn(images)                                     # [B, C, H, W] -> logits [B, classes], the mean over T
>>> rule.record                                     # what was replaced, thresholds, calibration, timing

Three procedures (official ``main.py``), chosen from the network and the arguments:

1. **QCFS ANN, no calibration data** (``--direct_inference``): every QCFS activation (clip :math:`\lambda`,
   ``n`` levels) becomes a :class:`~zoo_parallel_conversion.neurons.ParallelIF` with ``T`` steps,
   :math:`\theta = \lambda`, :math:`\rho = 1/2`. With ``T = n`` (the default ``T=None`` takes ``n``) the SNN's
   time-averaged output equals the ANN's exactly (BN in eval mode; only linear operations between neurons).
2. **QCFS ANN with calibration data** (``--calibrate_th``, for ``T`` other than the training level): the
   QCFS layers on conv maps become DA-QCFS, are calibrated (:func:`~zoo_parallel_conversion.calibration.calibrate`)
   and become channel-wise parallel neurons; the others become :class:`ParallelIF`.
3. **ReLU ANN** (timm, torchvision, any ``nn.Module`` whose activations are ``nn.ReLU`` modules or
   ``F.relu``/``torch.relu`` calls; training-free, calibration data required): a statistics pass records the
   per-channel maximum :math:`\lambda_c` of every activation's input (:class:`RecReLU`), the activations become
   DA-QCFS with clip :math:`\lambda_c` and ``T`` levels, the calibration pass fits the shifts, and every
   activation becomes a channel-wise parallel neuron.

``neuron="if"`` builds the sequential IF baseline instead (:class:`zoo_core.sdk.ConversionIF`,
:math:`\theta = \lambda` or :math:`\lambda_c`, no calibration), for comparisons.

How networks are rewritten. The zoo's own QCFS models (``vgg16_qcfs``, ...) convert in place: the result is the
same class in ``mode="parallel"`` with the official converted state-dict keys, saveable with
``zoo.save_pretrained``. Any other network is traced with ``torch.fx``: every activation *call site* gets its
own module (torchvision's ``BasicBlock`` calls one ``relu`` twice; the official copy has ``relu1``/``relu2``),
and the returned ``torch.fx.GraphModule`` repeats the input ``T`` times, runs on the time-folded batch and
averages the output over time (state-dict keys are the ANN's, plus the neurons' buffers). A ReLU whose output
goes straight into a max-pool stays an analog ReLU by default (``analog_before_maxpool``): this is the ResNet
stem, which the official training-free code applies functionally and never converts. A network fx cannot
trace is converted by module replacement inside a wrapper (``.net``), which needs every activation to be a
module called once per forward.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn
from zoo_core.sdk import (
    ConfigError,
    ConversionIF,
    ConversionRule,
    InputError,
    check_choice,
    check_number,
    check_positive,
    check_positive_int,
    check_time_steps,
    qcfs_threshold,
)

from .calibration import DAQCFS, RecReLU, _device_dtype, batch_input, calibrate, collect_thresholds
from .neurons import ChannelwiseParallelIF, ParallelIF
from .tracing import (
    Site,
    Wrapper,
    add_time_coding,
    decode_time,
    encode_time,
    module_sites,
    set_submodule,
    trace,
)

__all__ = ["ParallelConversion", "decode_time", "encode_time"]


def _threshold_summary(t: Tensor) -> dict[str, Any]:
    t = t.detach().reshape(-1).double()
    if t.numel() == 1:
        return {"threshold": float(t[0])}
    return {
        "threshold": {"min": float(t.min()), "mean": float(t.mean()), "max": float(t.max())},
        "channels": int(t.numel()),
        "nonpositive_thresholds": int((t <= 0).sum()),
    }


# ------------------------------------------------------------------------------------------------ the rule
class ParallelConversion(ConversionRule):
    r"""Parallel ANN-to-SNN conversion (Hao et al., ICML 2025); see the module docstring.

    Args:
        T: time steps of the SNN. ``None``: the QCFS levels of the ANN (ReLU networks need ``T``).
            For a QCFS ANN with ``n != T`` levels the QCFS layers are re-levelled to ``T`` (the official
            builders take ``t = T``): without calibration the SNN then equals the ANN *at T levels*.
        neuron: ``"parallel"`` (parallel neurons; channel-wise where calibrated) or ``"if"`` (sequential IF
            baseline).
        init_mem: :math:`\rho`, the initial membrane fraction / per-step shift (0.5; lossless only then).
        calibrate: run distribution-aware calibration. ``None``: whenever calibration data is given.
        reference_levels: levels of the calibration reference for QCFS networks (official: 8, hard-coded,
            "use the ANN's training level"). ReLU networks use :math:`\mathrm{clip}(z, 0, \lambda_c)`.
        momentum: EMA momentum of the calibration shifts (0.99).
        min_threshold: clamp recorded per-channel maxima :math:`\lambda_c` of ReLU networks to at least this
            value, and let the statistics pass output exactly ``relu(x)`` (``None``: as the official code, where
            a channel that never fires records :math:`\lambda_c \le 0`, outputs a negative constant during the
            statistics pass and breaks the SNN <-> DA-QCFS equality).
        analog_before_maxpool: keep a ReLU whose output feeds a max-pool analog (the ResNet stem; official).
        max_batches: use at most this many calibration batches per pass.
        keep_ann: keep the exact quantized ANN the SNN was built from (QCFS / DA-QCFS activations, after
            calibration) as ``rule.quantized_ann``, e.g. to check the SNN against it (costs one model copy).

    ``record`` after :meth:`convert`: ``T``, ``levels`` (of the ANN), ``procedure``, ``calibrated``,
    ``sites`` (one entry per activation: name, kind, neuron, threshold summary), ``analog`` (kept ReLUs),
    ``statistics``/``calibration`` (batches, samples), ``lossless`` (whether the SNN's time-averaged output
    equals its (DA-)QCFS ANN exactly, with the reason), ``warnings`` and ``seconds``.
    """

    category = "conversion"

    def __init__(
        self,
        T: int | None = None,
        neuron: str = "parallel",
        init_mem: float = 0.5,
        calibrate: bool | None = None,
        reference_levels: int = 8,
        momentum: float = 0.99,
        min_threshold: float | None = None,
        analog_before_maxpool: bool = True,
        max_batches: int | None = None,
        keep_ann: bool = False,
    ) -> None:
        super().__init__()
        who = "parallel_conversion"
        if T is not None:
            check_time_steps(T, who)
        check_choice(neuron, "neuron", who, ("parallel", "if"))
        init_mem = check_number(init_mem, "init_mem", who)
        check_positive_int(reference_levels, "reference_levels", who)
        if not 0.0 <= check_number(momentum, "momentum", who) < 1.0:
            raise ConfigError(f"{who}: momentum must be in [0, 1), got {momentum!r}")
        check_positive(min_threshold, "min_threshold", who, allow_none=True)
        if max_batches is not None:
            check_positive_int(max_batches, "max_batches", who)
        self.T = T
        self.neuron = neuron
        self.init_mem = float(init_mem)
        self.calibrate = calibrate
        self.reference_levels = reference_levels
        self.momentum = float(momentum)
        self.min_threshold = min_threshold
        self.analog_before_maxpool = bool(analog_before_maxpool)
        self.max_batches = max_batches
        self.keep_ann = bool(keep_ann)
        self.quantized_ann: nn.Module | None = None

    def __repr__(self) -> str:
        keys = ("T", "neuron", "init_mem", "calibrate", "reference_levels", "momentum", "min_threshold")
        keys += ("analog_before_maxpool", "max_batches", "keep_ann")
        return f"ParallelConversion({', '.join(f'{k}={getattr(self, k)!r}' for k in keys)})"

    # -- entry point ----------------------------------------------------------------------------------------
    def convert(self, ann: nn.Module, calibration: Iterable[Any] | None = None) -> nn.Module:
        """Convert ``ann`` (left unchanged) into a parallel SNN; ``calibration``: batches of inputs or
        ``(inputs, targets)`` (a list or a re-iterable loader: it is read twice for ReLU networks)."""
        if not isinstance(ann, nn.Module):
            raise ConfigError(f"parallel_conversion: expected an nn.Module, got {type(ann).__name__}")
        t0 = time.perf_counter()
        self.record = {
            "rule": "parallel_conversion",
            "source": type(ann).__name__,
            "neuron": self.neuron,
            "init_mem": self.init_mem,
            "warnings": [],
        }
        data = None if calibration is None else self._reiterable(calibration)
        from .models import QCFSNet

        if isinstance(ann, QCFSNet):
            snn = self._convert_zoo(ann, data)
        else:
            snn = self._convert_generic(ann, data)
        snn.eval()
        self.record["seconds"] = time.perf_counter() - t0
        snn.conversion_record = self.record
        return snn

    def _reiterable(self, calibration: Iterable[Any]) -> Iterable[Any]:
        if iter(calibration) is calibration:  # a one-shot iterator: keep the batches (read twice)
            batches = list(calibration)[: self.max_batches] if self.max_batches else list(calibration)
            self.record["warnings"].append(
                f"the calibration data is a one-shot iterator: its {len(batches)} batches were kept in memory"
            )
            return batches
        return calibration

    def _want_calibration(self, data: Any) -> bool:
        if self.calibrate is None:
            return data is not None and self.neuron == "parallel"
        if self.calibrate and data is None:
            raise ConfigError(
                "parallel_conversion: calibrate=True needs calibration data (convert(ann, data))"
            )
        if self.calibrate and self.neuron == "if":
            raise ConfigError(
                "parallel_conversion: calibration fits the parallel neurons' shifts; the sequential IF "
                "baseline (neuron='if') takes none"
            )
        return bool(self.calibrate)

    def _resolve_T(self, levels: set[int]) -> int:
        if self.T is not None:
            if levels and levels != {self.T}:
                self.record["warnings"].append(
                    f"the ANN's QCFS layers have {sorted(levels)} levels and the SNN runs T={self.T}: the QCFS "
                    f"layers are re-levelled to T (official semantics); the SNN equals the ANN at {self.T} levels"
                )
            return self.T
        if not levels:
            raise ConfigError(
                "parallel_conversion: a ReLU network has no quantization level to take T from; "
                "create the rule with T=..., e.g. zoo.create_learning_rule('parallel_conversion', T=8)"
            )
        if len(levels) > 1:
            raise ConfigError(
                f"parallel_conversion: the QCFS layers use different levels {sorted(levels)}; give T=..."
            )
        return next(iter(levels))

    # -- shapes ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def _probe(self, model: nn.Module, sites: list[Site], data: Iterable[Any], fwd: Any = None) -> int:
        """Record each site's per-sample input shape on the first batch; returns the input's rank."""
        hooks = []
        for s in sites:
            m = model.get_submodule(s.name)

            def hook(mod: nn.Module, inputs: Any, out: Any, s: Site = s) -> None:
                s.info["calls"] = s.info.get("calls", 0) + 1
                if s.shape is None:
                    s.shape = tuple(inputs[0].shape[1:])

            hooks.append(m.register_forward_hook(hook))
        device, dtype = _device_dtype(model)
        try:
            model.eval()
            for batch in data:
                x = batch_input(batch).to(device=device, dtype=dtype)
                (fwd or model)(x)
                return x.dim()
        finally:
            for h in hooks:
                h.remove()
        raise InputError("parallel_conversion: calibration data is empty")

    # -- neurons -----------------------------------------------------------------------------------------
    def _neuron_for(self, module: nn.Module, T: int, folded: bool, site: Site) -> nn.Module:
        """The SNN neuron replacing one (DA-)QCFS module."""
        lam = qcfs_threshold(module).detach()
        scalar = lam.numel() == 1
        if self.neuron == "if":
            new: nn.Module = ConversionIF(
                lam if not scalar else float(lam.reshape(-1)[0]), self.init_mem, fold_T=T
            )
            new = new.to(lam.dtype)
        elif isinstance(module, DAQCFS):
            psi, phi = module.rec_in_mean, module.rec_th_mean
            lam_item = float(lam.reshape(-1)[0]) if scalar else None
            if scalar:  # official: up.item() * ones_like(rec_th_mean), 0.5 * up.item() + rec_in_mean * t
                pre = lam_item * torch.ones_like(phi)
                bias = self.init_mem * lam_item + psi * T
            else:  # official ReLU path: up, 0.5 * up + rec_in_mean * t
                pre = lam
                bias = self.init_mem * lam + psi * T
            new = ChannelwiseParallelIF(T, pre_th=pre, post_bias=phi, bias=bias, folded=folded)
        else:
            if not scalar:
                raise ConfigError(
                    f"parallel_conversion: {site.name}: a per-channel clip needs a DA-QCFS layer"
                )
            new = ParallelIF(T, v_threshold=float(lam.reshape(-1)[0]), init_mem=self.init_mem, folded=folded)
        site.info.update({"neuron": type(new).__name__, **_threshold_summary(lam)})
        if isinstance(module, DAQCFS):
            site.info["calibrated"] = bool(module.use_shifts)
        return new

    def _lossless(self, sites: list[Site], relevelled: bool) -> dict[str, Any]:
        if self.neuron == "if":
            return {"exact": False, "reason": "sequential IF neurons: equal to the ANN only in expectation"}
        if self.init_mem != 0.5:
            return {"exact": False, "reason": "init_mem != 0.5: the per-step shifts differ from QCFS's 1/2"}
        bad = sum(int(s.info.get("nonpositive_thresholds", 0)) for s in sites)
        bad += sum(
            1 for s in sites if isinstance(s.info.get("threshold"), float) and s.info["threshold"] <= 0
        )
        if bad:
            return {
                "exact": False,
                "reason": f"{bad} thresholds <= 0: the parallel neuron then differs from (DA-)QCFS "
                "(use min_threshold=...)",
            }
        what = "its DA-QCFS ANN" if any(s.info.get("calibrated") for s in sites) else "its QCFS ANN"
        extra = " at T levels (re-levelled)" if relevelled else ""
        return {
            "exact": True,
            "reason": f"every neuron equals {what}{extra} on its time-mean input (T = levels, theta = lambda, "
            "rho = 1/2, BN in eval mode); max-pools after neurons are exact too (spikes are sorted)",
        }

    # -- zoo QCFS models: in place --------------------------------------------------------------------------
    def _convert_zoo(self, ann: nn.Module, data: Any) -> nn.Module:
        from zoo_core.sdk import find_qcfs

        if ann.mode != "ann":
            raise ConfigError(f"parallel_conversion: the model is already an SNN (mode={ann.mode!r})")
        model = copy.deepcopy(ann).eval()
        found = find_qcfs(model)
        levels = {s.levels for s in found}
        T = self._resolve_T(levels)
        do_cal = self._want_calibration(data)
        sites = [Site(s.name, "qcfs") for s in found]
        self.record.update(
            {"procedure": "qcfs-calibrated" if do_cal else "qcfs", "T": T, "levels": sorted(levels)}
        )
        for s in found:
            s.module.levels = T
        if do_cal:
            self._probe(model, sites, data)
            for s in sites:
                s.info.pop("calls", None)
            for s in sites:
                m = model.get_submodule(s.name)
                if s.shape is not None and len(s.shape) == 3 and not isinstance(m, DAQCFS):
                    new = DAQCFS.from_qcfs(
                        m,
                        channels=s.shape[0],
                        levels=T,
                        reference_levels=self.reference_levels,
                        momentum=self.momentum,
                    )
                    set_submodule(model, s.name, new)
                elif isinstance(m, DAQCFS):
                    m.reference_levels, m.momentum = self.reference_levels, self.momentum
            self.record["calibration"] = {
                **calibrate(model, data, max_batches=self.max_batches),
                "reference_levels": self.reference_levels,
                "momentum": self.momentum,
            }
            model.is_cab = True
        elif model.is_cab and self.neuron == "parallel":
            for s in sites:  # an is_cab model keeps channel-wise neurons (its shifts as loaded)
                m = model.get_submodule(s.name)
                if isinstance(m, DAQCFS):
                    m.use_shifts = True
        if self.keep_ann:
            self.quantized_ann = copy.deepcopy(model).eval()
        for s in sites:
            set_submodule(model, s.name, self._neuron_for(model.get_submodule(s.name), T, True, s))
        model.mode = "parallel" if self.neuron == "parallel" else "if"
        model.T = T
        self.record["sites"] = [{"name": s.name, "kind": s.kind, **s.info} for s in sites]
        self.record["analog"] = []
        self.record["calibrated"] = do_cal
        self.record["lossless"] = self._lossless(sites, relevelled=levels != {T})
        args = dict(getattr(ann, "zoo_args", {}) or {})
        if args or hasattr(ann, "zoo_name"):
            model.zoo_args = {**args, "T": T, "mode": model.mode, "is_cab": bool(model.is_cab)}
        return model

    def _convert_generic(self, ann: nn.Module, data: Any) -> nn.Module:
        model = copy.deepcopy(ann).eval()
        try:
            gm, sites = trace(model, self.analog_before_maxpool)
            traced = True
        except Exception as exc:  # untraceable: module replacement inside a wrapper
            gm, sites = Wrapper(model), module_sites(model)
            traced = False
            self.record["warnings"].append(
                f"torch.fx could not trace {type(ann).__name__} ({type(exc).__name__}: {exc}); converted by "
                "module replacement (every activation must be a module called once per forward)"
            )
        self.record["traced"] = traced
        convert_sites = [s for s in sites if not s.analog]
        self.record["analog"] = [s.name for s in sites if s.analog]
        relu_sites = [s for s in convert_sites if s.kind == "relu"]
        qcfs_sites = [s for s in convert_sites if s.kind == "qcfs"]
        if not convert_sites:
            raise ConfigError(
                f"parallel_conversion: found no activation to convert in {type(ann).__name__} "
                "(looked for nn.ReLU modules, F.relu/torch.relu calls and QCFS layers)"
            )
        levels = {int(gm.get_submodule(s.name).t) for s in qcfs_sites}
        if relu_sites and self.T is None:
            raise ConfigError(
                "parallel_conversion: a ReLU network needs T, e.g. zoo.create_learning_rule('parallel_conversion', T=8)"
            )
        T = self._resolve_T(levels)
        do_cal = self._want_calibration(data)
        if relu_sites and data is None:
            raise ConfigError(
                "parallel_conversion: converting a ReLU network is training-free but needs calibration data: "
                "a statistics pass records each channel's maximum activation (the neuron threshold); pass "
                "convert(ann, calibration=batches)"
            )
        self.record.update(
            {
                "procedure": ("relu" if relu_sites else "qcfs") + ("-calibrated" if do_cal else ""),
                "T": T,
                "levels": sorted(levels),
            }
        )
        rank = 4
        if data is not None:
            for s in relu_sites:
                set_submodule(gm, s.name, RecReLU(self.min_threshold))
            rank = self._probe(gm, convert_sites, data)
            shared = [s.name for s in convert_sites if s.info.pop("calls", 1) > 1]
            if shared:
                raise ConfigError(
                    f"parallel_conversion: activation module(s) {', '.join(shared)} are called more than once per "
                    "forward and the network could not be traced to tell the calls apart; give every call its "
                    "own module"
                )
            if relu_sites:
                self.record["statistics"] = collect_thresholds(gm, data, self.max_batches)
        for s in qcfs_sites:
            gm.get_submodule(s.name).t = T
        for s in relu_sites:
            rec = gm.get_submodule(s.name)
            lam = rec.up.detach().clone()
            if self.min_threshold is not None:
                lam = torch.clamp(lam, min=self.min_threshold)
            new = DAQCFS(
                int(lam.shape[0]),
                levels=T,
                threshold=lam,
                channel_shape=tuple(lam.shape),
                relu_reference=True,
                reference_levels=self.reference_levels,
                momentum=self.momentum,
            )
            set_submodule(gm, s.name, new)
        if do_cal:
            for s in qcfs_sites:
                m = gm.get_submodule(s.name)
                if s.shape is not None and len(s.shape) == 3 and not isinstance(m, DAQCFS):
                    new = DAQCFS.from_qcfs(
                        m,
                        channels=s.shape[0],
                        levels=T,
                        reference_levels=self.reference_levels,
                        momentum=self.momentum,
                    )
                    set_submodule(gm, s.name, new)
            self.record["calibration"] = {
                **calibrate(gm, data, max_batches=self.max_batches),
                "reference_levels": self.reference_levels,
                "momentum": self.momentum,
            }
        if self.keep_ann:
            self.quantized_ann = copy.deepcopy(gm).eval()
        for s in convert_sites:
            set_submodule(gm, s.name, self._neuron_for(gm.get_submodule(s.name), T, True, s))
        self.record["sites"] = [
            {"name": s.name, "kind": s.kind, **({"input_shape": list(s.shape)} if s.shape else {}), **s.info}
            for s in convert_sites
        ]
        self.record["calibrated"] = do_cal
        self.record["lossless"] = self._lossless(convert_sites, relevelled=bool(levels) and levels != {T})
        dead = sum(int(s.info.get("nonpositive_thresholds", 0)) for s in convert_sites)
        if dead:
            self.record["warnings"].append(
                f"{dead} channels never had a positive input in the statistics pass (threshold <= 0): the SNN "
                "differs from its DA-QCFS ANN there and the official statistics pass fed their negative maxima "
                "forward; pass min_threshold=... (e.g. 1e-3 x the typical activation) to avoid both"
            )
        if traced:
            snn = add_time_coding(gm, T, rank)
        else:
            gm.T, gm.rank = T, rank
            snn = gm
        snn.T = T
        return snn
