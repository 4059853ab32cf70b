r"""The LM-HT neuron (training) and its reparameterised single-threshold inference neuron.

Hao, Shi, Liu, Yu, Huang, "LM-HT SNN: Enhancing the Performance of SNN to ANN Counterpart through Learnable
Multi-hierarchical Threshold Model", NeurIPS 2024 (arXiv 2402.00411), and the official ``modules.py``.

:class:`LMHTNeuron` (registered as ``lmht``), per layer, on a whole sequence ``X`` of ``T`` steps
(input and output ``[T, B, ...]``), with :math:`\theta` the threshold and :math:`s` the input ``scale``:

.. math::

    \lambda &= \sigma(\alpha) + 1/2, \qquad \Omega_{tj} = 2\,\sigma(M_{tj}) / T, \qquad V_0 = \rho\,\theta \\
    I_t &= \textstyle\sum_{j=1}^{T} \Omega_{tj}\, s X_j \qquad \text{(temporal-global information matrix)} \\
    H_t &= \lambda\,\mathrm{sg}(V_{t-1}) + I_t \\
    S_t &= \theta\,\mathrm{clip}(\lfloor H_t/\theta \rfloor, 0, L) \qquad \text{(graded spike, } k\theta,\ k \in \{0..L\}) \\
    V_t &= H_t - \mathrm{sg}(S_t)

``sg`` = stop-gradient. Surrogate: :math:`\partial S_t/\partial H_t = 1` on
:math:`\theta/2 \le H_t \le (L + 1/2)\theta`, else 0; no gradient to :math:`\theta`. Gradients reach
:math:`\Omega` (through :math:`I`) and :math:`\alpha` (through :math:`\lambda\,\mathrm{sg}(V)`).
Because every step mixes all ``T`` input steps (also future ones) the neuron is **not causal**.

:class:`LMHTInferenceNeuron` (registered as ``lmht_inference``): ``T' = L T`` steps, binary spikes of
amplitude :math:`\theta`:

.. math::

    H_{t'} = \lambda'_{t'} V_{t'-1} + \textstyle\sum_{j'} \Omega'_{t'j'} s X'_{j'}, \quad
    S_{t'} = \theta\,[H_{t'} \ge \theta], \quad V_{t'} = H_{t'} - S_{t'}

with :math:`\lambda'_{t'} = \sigma(\alpha) + 1/2` at window starts (:math:`t' \bmod L = 0`) and 1 elsewhere,
:math:`\Omega'_{t'j'} = 2\sigma(M_{\lfloor t'/L\rfloor \lfloor j'/L\rfloor}) / (LT)` (block-constant).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo_core.sdk import (
    BaseNeuron,
    ConfigError,
    InputError,
    State,
    check_number,
    check_positive,
    check_positive_int,
)

__all__ = ["LMHTInferenceNeuron", "LMHTNeuron", "multi_level_spike"]


class _MultiLevelSpike(torch.autograd.Function):
    """Graded spike ``theta * #{k in 1..L : m >= k theta}`` with the rectangular window surrogate."""

    @staticmethod
    def forward(ctx, m: Tensor, th: Tensor, L: int) -> Tensor:  # type: ignore[override]
        count = (m >= th).to(m.dtype)
        for k in range(2, L + 1):
            count = count + (m >= float(k) * th).to(m.dtype)
        md = m.detach()
        window = (md >= 0.5 * th) & (md <= (L + 0.5) * th)
        ctx.save_for_backward(window)
        return count * th

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        (window,) = ctx.saved_tensors
        return grad_out * window.to(grad_out.dtype), None, None


def multi_level_spike(m: Tensor, th: Tensor, L: int) -> Tensor:
    r""":math:`\theta\,\mathrm{clip}(\lfloor m/\theta\rfloor, 0, L)` evaluated as in the official code (a sum of
    the comparisons :math:`m \ge k\theta`), surrogate gradient 1 on :math:`[\theta/2, (L+1/2)\theta]`."""
    return _MultiLevelSpike.apply(m, th, L)


def _time_weights(row: Tensor, x: Tensor) -> Tensor:
    """One row ``Omega[t, :]`` shaped ``[T, 1, ..., 1]`` to broadcast against ``x`` ``[T, B, ...]`` along time
    only (the official ``mask_linear`` shape ``[T, T, 1, 1, 1]`` mis-broadcasts on 3-D ``[T, B, N]`` inputs)."""
    return row.reshape(row.shape[0], *([1] * (x.dim() - 1)))


class LMHTNeuron(BaseNeuron):
    r"""Learnable multi-hierarchical threshold neuron (official ``modules.LMHTNeuron``); equations in the
    module docstring.

    Args:
        L: threshold levels (graded spikes :math:`k\theta`, :math:`k \in \{0..L\}`). The official code supports
            L in {2, 4} (L = 1 there switches to the IF neuron); any L >= 1 works here.
        T: time steps; the input must have ``T`` steps, or 1 step (the official DVS stem: every output step
            then gets :math:`\sum_j 2\sigma(M_{tj})\, sX_1`, the official broadcast, divided by 1).
        v_threshold: :math:`\theta`; ``None`` = the direct-training value ``2 / L``; hybrid training uses the
            QCFS clip. Stored as the non-trainable parameter ``v_threshold`` ``[1]`` (as the official code).
        init_mem: :math:`\rho`, initial membrane as a fraction of :math:`\theta` (0 direct, 0.5 hybrid).
        scale: input multiplier :math:`s` (a plain attribute; the pipelines set it on the first neuron).
        input_rank: ``None`` (official): 5-D inputs use ``mask``, others ``mask_linear``, both trainable. An int
            freezes the matrix that rank does not use (for code that knows its ranks, e.g. the conformance kit).

    Parameters (the official state-dict layout): ``v_threshold`` [1] (frozen), ``alpha`` [1] (leak logit,
    init 0 -> :math:`\lambda = 1`), ``mask`` [T, T, 1, 1, 1, 1] and ``mask_linear`` [T, T, 1, 1, 1] (T-GIM logits,
    init 0 -> :math:`\Omega = 1/T`). Checkpoints of the official code also hold ``core`` (an alias of one of the
    masks); ``zoo.from_official`` drops it.
    """

    spike_kind = "graded"  # multiples k theta of the threshold: events of a few amplitudes

    causal = False

    def __init__(
        self,
        L: int = 2,
        T: int = 2,
        v_threshold: float | None = None,
        init_mem: float = 0.0,
        scale: float = 1.0,
        input_rank: int | None = None,
    ) -> None:
        super().__init__()
        who = "LMHTNeuron"
        self.L = check_positive_int(L, "L", who)
        self.T = check_positive_int(T, "T", who)
        th = 2.0 / self.L if v_threshold is None else check_positive(v_threshold, "v_threshold", who)
        self.init_mem = check_number(init_mem, "init_mem", who)
        self.scale = check_number(scale, "scale", who)
        self.v_threshold = nn.Parameter(torch.tensor([th]), requires_grad=False)
        self.alpha = nn.Parameter(torch.tensor([0.0]))
        self.mask = nn.Parameter(torch.zeros(self.T, self.T, 1, 1, 1, 1))
        self.mask_linear = nn.Parameter(torch.zeros(self.T, self.T, 1, 1, 1))
        if input_rank is not None:
            check_positive_int(input_rank, "input_rank", who)
            (self.mask_linear if input_rank == 5 else self.mask).requires_grad_(False)
        self.input_rank = input_rank

    # -- derived quantities ----------------------------------------------------------------------------------
    @property
    def leak(self) -> Tensor:
        r""":math:`\lambda = \sigma(\alpha) + 1/2` (shape [1])."""
        return self.alpha.sigmoid() + 0.5

    def omega(self, rank: int = 5) -> Tensor:
        r"""The T-GIM :math:`\Omega` ``[T, T]`` used for inputs of ``rank`` dimensions."""
        M = self.mask if rank == 5 else self.mask_linear
        return (2 * M.sigmoid() / self.T).reshape(self.T, self.T)

    def v0(self) -> float:
        return self.init_mem * float(self.v_threshold)

    # -- BaseNeuron ----------------------------------------------------------------------------------------
    def initial_state(self, x_t: Tensor) -> State:
        return {"v": torch.ones_like(x_t) * self.v0()}

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        if x_seq.shape[0] not in (self.T, 1):
            raise InputError(
                f"LMHTNeuron: built for T={self.T} steps (its T x T mixing matrix needs the whole sequence), "
                f"got {x_seq.shape[0]} steps"
            )
        x = x_seq * self.scale
        M = self.mask if x.dim() == 5 else self.mask_linear
        th = self.v_threshold
        v = state["v"]
        out = []
        for t in range(self.T):
            # the leak is recomputed every step as officially: autograd then sums the T contributions to
            # d/d alpha in the same order, so float64 gradients agree bit for bit
            lam = self.alpha.sigmoid() + 0.5
            v = lam * v.detach() + ((2 * _time_weights(M[t], x).sigmoid() / x.shape[0]) * x).sum(dim=0)
            s = multi_level_spike(v, th, self.L)
            v = v - s.detach()
            out.append(s)
        return torch.stack(out, dim=0), {"v": v}

    def extra_repr(self) -> str:
        return (
            f"L={self.L}, T={self.T}, v_threshold={float(self.v_threshold):.4g}, init_mem={self.init_mem}"
            + (f", scale={self.scale}" if self.scale != 1.0 else "")
        )


class LMHTInferenceNeuron(BaseNeuron):
    r"""Reparameterised single-threshold neuron (official ``modules.LMHT_Inference_Neuron``): ``T = L * T_train``
    steps, binary spikes of amplitude :math:`\theta`, leak only at window starts, block-constant mixing
    (equations in the module docstring). Build it from a trained neuron with :meth:`from_training`; the
    constructor gives the reparameterisation of a freshly initialised :class:`LMHTNeuron` (alpha = 0, M = 0).

    Args:
        L: levels of the source neuron (sub-steps per window).
        T: inference steps ``L * T_train`` (must be a multiple of ``L``).
        v_threshold, init_mem, scale: as :class:`LMHTNeuron` (the official pipeline uses ``init_mem = 0``).

    Parameters (all frozen; the official state-dict layout): ``v_threshold`` [1], ``alpha`` [T] (the per-step
    leak itself), ``mask`` [T, T, 1, 1, 1, 1], ``mask_linear`` [T, T, 1, 1] (the mixing weights themselves, not
    logits).
    Backward (not used by the paper): rectangular surrogate on :math:`[\theta/2, 3\theta/2]`.
    """

    spike_kind = "graded"  # spikes of amplitude theta

    causal = False

    def __init__(
        self,
        L: int = 2,
        T: int = 4,
        v_threshold: float = 1.0,
        init_mem: float = 0.0,
        scale: float = 1.0,
    ) -> None:
        super().__init__()
        who = "LMHTInferenceNeuron"
        self.L = check_positive_int(L, "L", who)
        self.T = check_positive_int(T, "T", who)
        if self.T % self.L:
            raise ConfigError(f"{who}: T={T} must be a multiple of L={L} (T = L * T_train)")
        self.init_mem = check_number(init_mem, "init_mem", who)
        self.scale = check_number(scale, "scale", who)
        self.v_threshold = nn.Parameter(
            torch.tensor([check_number(v_threshold, "v_threshold", who)]), requires_grad=False
        )
        self.alpha = nn.Parameter(torch.ones(self.T), requires_grad=False)
        self.mask = nn.Parameter(torch.zeros(self.T, self.T, 1, 1, 1, 1), requires_grad=False)
        self.mask_linear = nn.Parameter(torch.zeros(self.T, self.T, 1, 1), requires_grad=False)
        Tt = self.T // self.L
        self.reparameterize(torch.zeros(1), torch.zeros(Tt, Tt), torch.zeros(Tt, Tt))

    @torch.no_grad()
    def reparameterize(self, alpha: Tensor, mask: Tensor, mask_linear: Tensor) -> None:
        """Fill the parameters from a training neuron's ``alpha`` / ``mask`` / ``mask_linear`` (official
        ``reparameterization``: Python-float arithmetic on each sigmoid, in that order)."""
        L, T = self.L, self.T
        mask = mask.reshape(T // L, T // L)
        mask_linear = mask_linear.reshape(T // L, T // L)
        for t in range(0, T, L):
            self.alpha[t] = alpha.sigmoid().item() + 0.5
            for j in range(0, T, L):
                self.mask[t : t + L, j : j + L] = 2.0 * mask[t // L, j // L].sigmoid().item() / T
                self.mask_linear[t : t + L, j : j + L] = (
                    2.0 * mask_linear[t // L, j // L].sigmoid().item() / T
                )

    @classmethod
    def from_training(cls, neuron: LMHTNeuron, init_mem: float | None = 0.0) -> LMHTInferenceNeuron:
        """The inference neuron of a trained :class:`LMHTNeuron` (``init_mem=None`` keeps the neuron's; the
        official ``replace_by_LMHT_Inference`` uses 0). ``scale`` is reset to 1, as in the official code."""
        p = neuron.v_threshold
        new = cls(
            neuron.L,
            neuron.L * neuron.T,
            float(p),
            neuron.init_mem if init_mem is None else init_mem,
        ).to(device=p.device, dtype=p.dtype)
        new.reparameterize(neuron.alpha, neuron.mask, neuron.mask_linear)
        return new

    def initial_state(self, x_t: Tensor) -> State:
        return {"v": torch.ones_like(x_t) * (self.init_mem * float(self.v_threshold))}

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        if x_seq.shape[0] != self.T:
            raise InputError(f"LMHTInferenceNeuron: built for T={self.T} steps, got {x_seq.shape[0]} steps")
        x = x_seq * self.scale
        M = self.mask if x.dim() == 5 else self.mask_linear
        th = self.v_threshold
        v = state["v"]
        out = []
        for t in range(self.T):
            v = self.alpha[t] * v + (_time_weights(M[t], x) * x).sum(dim=0)
            s = multi_level_spike(v, th, 1)
            v = v - s
            out.append(s)
        return torch.stack(out, dim=0), {"v": v}

    def extra_repr(self) -> str:
        return f"L={self.L}, T={self.T}, v_threshold={float(self.v_threshold):.4g}, init_mem={self.init_mem}"
