r"""RFTD-BN: receptive-field- and time-dependent batch normalisation (our reading; see the plugin README).

The paper names RFTD-BN and says it speeds up convergence; its definition was not available. This module
implements the time-dependent part as a documented, testable definition. For an input ``[T, B, C, *spatial]``
and time step :math:`t`, channel :math:`c`:

.. math::

    \hat{x}_{t} = \frac{x_{t} - \mu_{t,c}}{\sqrt{\sigma^2_{t,c} + \epsilon}}, \qquad
    y_{t} = \gamma_{t,c}\,\lambda V_{th}\,\hat{x}_{t} + \beta_{t,c}

* ``time_dependent=True``: :math:`\mu_{t,c}, \sigma^2_{t,c}` are the (biased) batch statistics of step
  :math:`t` over the batch and every spatial position of channel :math:`c`, i.e. over every receptive field of
  the channel's neurons; each step keeps its own running statistics (momentum update, unbiased variance, as
  ``nn.BatchNorm``) and its own affine :math:`\gamma_{t,c}, \beta_{t,c}` (as BNTT, Kim & Panda 2021).
* ``time_dependent=False``: one set of statistics and affine over all ``T * B * positions`` (tdBN, Zheng et al.
  2021); with ``lam * v_th = 1`` this is exactly ``nn.BatchNorm`` applied to the ``[T*B, C, ...]`` fold.
* :math:`\lambda V_{th}` (``lam``, ``v_th``) is tdBN's threshold-dependent scale (1 by default).

The receptive-field dependence the name announces is NOT reconstructed beyond computing the statistics over all
receptive fields of a channel; see the README ("not done").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, InputError, check_positive, check_positive_int


class RFTDBatchNorm(nn.Module):
    """Per-time-step batch normalisation of ``[T, B, C, *spatial]`` sequences (see the module docstring).

    Args:
        num_features: channels ``C``.
        T: number of time steps (the input must have exactly ``T`` steps when ``time_dependent``).
        time_dependent: per-step statistics and affine (``True``) or shared over time (``False``).
        lam, v_th: the threshold-dependent scale ``lam * v_th`` of the normalised value.
        eps, momentum: as ``nn.BatchNorm`` (``momentum`` in (0, 1]).
        affine: learn :math:`\\gamma, \\beta` (shape ``[T, C]``, or ``[1, C]`` when shared).
    """

    #: a batch normalisation: its parameters are BN affine ones (``zoo_core.hub.parameter_counts``)
    zoo_batch_norm = True

    def __init__(
        self,
        num_features: int,
        T: int,
        time_dependent: bool = True,
        lam: float = 1.0,
        v_th: float = 1.0,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        for name, v in (("num_features", num_features), ("T", T)):
            check_positive_int(v, name, who)
        for name, v in (("lam", lam), ("v_th", v_th), ("eps", eps)):
            check_positive(v, name, who)
        if check_positive(momentum, "momentum", who) > 1:
            raise ConfigError(f"{who}: momentum must be in (0, 1], got {momentum!r}")
        self.num_features, self.T = num_features, T
        self.time_dependent = bool(time_dependent)
        self.lam, self.v_th, self.eps, self.momentum = float(lam), float(v_th), float(eps), float(momentum)
        steps = T if self.time_dependent else 1
        self.register_buffer("running_mean", torch.zeros(steps, num_features))
        self.register_buffer("running_var", torch.ones(steps, num_features))
        if affine:
            self.weight = nn.Parameter(torch.ones(steps, num_features))
            self.bias = nn.Parameter(torch.zeros(steps, num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def _check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.dim() < 3:
            raise InputError(
                f"RFTDBatchNorm: expected a sequence [T, B, C, ...], got "
                f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}"
            )
        if x.shape[2] != self.num_features:
            raise InputError(
                f"RFTDBatchNorm: expected {self.num_features} channels (dim 2), got shape {tuple(x.shape)}"
            )
        if self.time_dependent and x.shape[0] != self.T:
            raise InputError(
                f"RFTDBatchNorm: time-dependent statistics exist for T={self.T} steps, got a sequence of "
                f"{x.shape[0]} steps (shape {tuple(x.shape)}); feed T={self.T} steps or use time_dependent=False"
            )

    def _norm(self, x: Tensor, i: int) -> Tensor:
        """Normalise ``x`` ``[N, C, ...]`` with statistics row ``i`` (updated in place when training)."""
        y = F.batch_norm(
            x, self.running_mean[i], self.running_var[i], None, None, self.training, self.momentum, self.eps
        )
        shape = (1, -1) + (1,) * (x.dim() - 2)
        y = y * (self.lam * self.v_th)
        if self.weight is not None:
            y = y * self.weight[i].view(shape) + self.bias[i].view(shape)
        return y

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        if not self.time_dependent:
            return self._norm(x.flatten(0, 1), 0).unflatten(0, tuple(x.shape[:2]))
        return torch.stack([self._norm(x[t], t) for t in range(x.shape[0])])

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, T={self.T}, time_dependent={self.time_dependent}, lam={self.lam}, "
            f"v_th={self.v_th}, eps={self.eps}, momentum={self.momentum}, affine={self.weight is not None}"
        )


__all__ = ["RFTDBatchNorm"]
