r"""Built-in neurons: IF, LIF and PLIF (SpikingJelly semantics).

All three run the ``lif_multistep`` kernel operation (:mod:`zoo_core.kernels.lif` has the reference and the
exact equations). Per time step, element-wise, with :math:`\Theta(x) = [x \ge 0]`:

.. math::

    H_t &= f(V_{t-1}, X_t) \quad\text{(charge)} \\
    S_t &= \Theta(H_t - V_{th}) \quad\text{(fire; backward: surrogate)} \\
    V_t &= \begin{cases} (1 - S_t) H_t + S_t V_{reset} & \text{hard reset} \\
                         H_t - S_t V_{th} & \text{soft reset (v\_reset=None)} \end{cases}

with :math:`f = V + X` (IF), :math:`f = V + (X - (V - V_{reset}))/\tau` (LIF, ``decay_input=True``),
:math:`f = V - (V - V_{reset})/\tau + X` (LIF, ``decay_input=False``); PLIF replaces :math:`1/\tau` by
:math:`\mathrm{sigmoid}(w)` with a learnable scalar :math:`w`, initialised to :math:`-\ln(\tau_0 - 1)`.

Initial membrane: every sequence starts from :math:`V_0` = ``v_init`` if given, else the rest potential
(``v_reset``, or 0 with a soft reset). ANN-to-SNN conversion starts IF neurons half-way to threshold
(:math:`V_0 = \theta/2`, Bu et al. ICLR 2022), which is ``IF(v_threshold=theta, v_reset=None, v_init=theta/2)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..checks import check_number, check_positive
from ..errors import ConfigError
from ..kernels import dispatch
from .base import BaseNeuron, State, check_sequence, resolve_surrogate


class _LIFFamily(BaseNeuron):
    """Shared state handling and kernel dispatch of IF/LIF/PLIF."""

    #: the kernel operations this module dispatches; ``zoo.create_model(name, kernel=...)`` sets ``self.kernel``
    #: on every module that declares one with an implementation of that name
    kernel_ops: tuple[str, ...] = ("lif_multistep",)

    def __init__(
        self,
        v_threshold: float,
        v_reset: float | None,
        detach_reset: bool,
        surrogate: str | nn.Module,
        alpha: float | None,
        kernel: str | None,
        v_init: float | None = None,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        if not isinstance(v_threshold, int | float) or not math.isfinite(v_threshold):
            raise ConfigError(f"{who}: v_threshold must be a finite number, got {v_threshold!r}")
        if v_reset is not None and (not isinstance(v_reset, int | float) or not math.isfinite(v_reset)):
            raise ConfigError(f"{who}: v_reset must be a finite number or None (soft reset), got {v_reset!r}")
        check_number(v_init, "v_init (None: the rest potential)", who, allow_none=True)
        self.v_threshold = float(v_threshold)
        self.v_reset = None if v_reset is None else float(v_reset)
        self.v_init = None if v_init is None else float(v_init)
        self.detach_reset = bool(detach_reset)
        self.surrogate = resolve_surrogate(surrogate, alpha, who)
        self.kernel = kernel

    def initial_state(self, x_t: Tensor) -> State:
        """``V_0``: ``v_init`` if set, else the rest potential (``v_reset``; 0 with a soft reset).

        One value broadcast to the step's shape (a stride-0 view, never written): the kernels read it from cache
        instead of a tensor of the layer's size allocated, filled and read again for every sequence.
        """
        v0 = self.v_init if self.v_init is not None else (0.0 if self.v_reset is None else self.v_reset)
        return {"v": x_t.new_full((), v0).expand_as(x_t)}

    def _charge_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        spikes, v = self._dispatch(x_seq, state["v"], keep_state=True)
        return spikes, {"v": v}

    def forward(self, x_seq: Tensor) -> Tensor:
        if self.streaming or type(self).multi_step is not _LIFFamily.multi_step:
            return super().forward(x_seq)
        # outside streaming mode V_T is thrown away: the kernel may skip writing it
        check_sequence(x_seq, type(self).__name__)
        return self._dispatch(x_seq, self.initial_state(x_seq[0])["v"], keep_state=False)[0]

    def _dispatch(self, x_seq: Tensor, v0: Tensor, keep_state: bool) -> tuple[Tensor, Tensor | None]:
        return dispatch(  # type: ignore[no-any-return]
            "lif_multistep",
            x_seq,
            v0,
            kernel=self.kernel,
            v_threshold=self.v_threshold,
            v_reset=self.v_reset,
            detach_reset=self.detach_reset,
            surrogate=self.surrogate,
            keep_state=keep_state,
            **self._charge_kwargs(),
        )

    def _common_repr(self) -> str:
        reset = "soft" if self.v_reset is None else f"v_reset={self.v_reset}"
        init = "" if self.v_init is None else f", v_init={self.v_init}"
        return f"v_threshold={self.v_threshold}, {reset}{init}, detach_reset={self.detach_reset}"


class IF(_LIFFamily):
    r"""Integrate-and-fire: :math:`H_t = V_{t-1} + X_t`, then fire and reset.

    Args:
        v_threshold: firing threshold :math:`V_{th}`.
        v_reset: reset potential for a hard reset, or ``None`` for a soft reset (subtract :math:`V_{th}`).
        detach_reset: stop gradients through the reset term.
        surrogate: registered surrogate name (``zoo.list_surrogates()``) or a surrogate module.
        alpha: surrogate sharpness (``None``: the surrogate's default).
        kernel: force a ``lif_multistep`` implementation (``"reference"``, ``"inplace"``, ``"native"``,
            ``"compiled"``, ``"triton"``: ``zoo_core.kernels.implementations("lif_multistep")``); ``None``: the
            automatic choice.
        v_init: initial membrane potential :math:`V_0` of every sequence (``None``: the rest potential,
            ``v_reset`` or 0 with a soft reset).
    """

    def __init__(
        self,
        v_threshold: float = 1.0,
        v_reset: float | None = 0.0,
        detach_reset: bool = False,
        surrogate: str | nn.Module = "atan",
        alpha: float | None = None,
        kernel: str | None = None,
        v_init: float | None = None,
    ) -> None:
        super().__init__(v_threshold, v_reset, detach_reset, surrogate, alpha, kernel, v_init)

    def _charge_kwargs(self) -> dict[str, Any]:
        return {"tau": None, "k": None, "decay_input": False}

    def extra_repr(self) -> str:
        return self._common_repr()


class LIF(_LIFFamily):
    r"""Leaky integrate-and-fire with time constant :math:`\tau`.

    Charge: :math:`H_t = V_{t-1} + (X_t - (V_{t-1} - V_{reset}))/\tau` (``decay_input=True``) or
    :math:`H_t = V_{t-1} - (V_{t-1} - V_{reset})/\tau + X_t`; fire :math:`S_t = [H_t \ge V_{th}]`; reset hard
    (to ``v_reset``) or soft (``v_reset=None``: subtract :math:`V_{th}`).

    Example: ``tau=2, v_threshold=1``, hard reset to 0, constant input 1.5 gives
    :math:`H = 0.75, 1.125, 0.75, 1.125` and spikes ``0, 1, 0, 1``.

    Args:
        tau: membrane time constant (> 0; 2.0 as in SpikingJelly and the group's papers).
        decay_input: whether the input is also divided by :math:`\tau`.
        v_threshold, v_reset, detach_reset, surrogate, alpha, kernel, v_init: as for :class:`IF`.
    """

    def __init__(
        self,
        tau: float = 2.0,
        decay_input: bool = True,
        v_threshold: float = 1.0,
        v_reset: float | None = 0.0,
        detach_reset: bool = False,
        surrogate: str | nn.Module = "atan",
        alpha: float | None = None,
        kernel: str | None = None,
        v_init: float | None = None,
    ) -> None:
        super().__init__(v_threshold, v_reset, detach_reset, surrogate, alpha, kernel, v_init)
        check_positive(tau, "tau", "LIF")
        self.tau = float(tau)
        self.decay_input = bool(decay_input)

    def _charge_kwargs(self) -> dict[str, Any]:
        return {"tau": self.tau, "k": None, "decay_input": self.decay_input}

    def extra_repr(self) -> str:
        return f"tau={self.tau}, decay_input={self.decay_input}, {self._common_repr()}"


class PLIF(_LIFFamily):
    r"""Parametric LIF: LIF with a learnable time constant, :math:`1/\tau = \mathrm{sigmoid}(w)`.

    One scalar parameter ``w`` per layer (shared by all neurons of the layer), initialised to
    :math:`w_0 = -\ln(\tau_0 - 1)` so that :math:`\mathrm{sigmoid}(w_0) = 1/\tau_0`
    (Fang et al., ICCV 2021). Charge: :math:`H_t = V_{t-1} + (X_t - (V_{t-1} - V_{reset}))\,\mathrm{sigmoid}(w)`
    (``decay_input=True``) or :math:`H_t = V_{t-1} - (V_{t-1} - V_{reset})\,\mathrm{sigmoid}(w) + X_t`.

    Args:
        init_tau: initial time constant :math:`\tau_0 > 1`.
        decay_input, v_threshold, v_reset, detach_reset, surrogate, alpha, kernel, v_init: as for
            :class:`LIF`.
    """

    def __init__(
        self,
        init_tau: float = 2.0,
        decay_input: bool = True,
        v_threshold: float = 1.0,
        v_reset: float | None = 0.0,
        detach_reset: bool = False,
        surrogate: str | nn.Module = "atan",
        alpha: float | None = None,
        kernel: str | None = None,
        v_init: float | None = None,
    ) -> None:
        super().__init__(v_threshold, v_reset, detach_reset, surrogate, alpha, kernel, v_init)
        check_positive(init_tau, "init_tau", "PLIF")
        if init_tau <= 1:
            raise ConfigError(f"PLIF: init_tau must be > 1 (sigmoid(w) = 1/tau < 1), got {init_tau!r}")
        self.decay_input = bool(decay_input)
        self.w = nn.Parameter(torch.tensor(-math.log(init_tau - 1.0)))

    def _charge_kwargs(self) -> dict[str, Any]:
        return {"tau": None, "k": self.w.sigmoid(), "decay_input": self.decay_input}

    @property
    def tau(self) -> float:
        return 1.0 / float(torch.sigmoid(self.w.detach()))

    def extra_repr(self) -> str:
        return f"tau={self.tau:.4g} (learnable), decay_input={self.decay_input}, {self._common_repr()}"
