r"""The pulse-coupled (PCNN) neuron of DPCNN, with intra- and inter-channel coupling.

Per neuron (channel :math:`c`, position :math:`p`), time step :math:`t = 1..T`, synaptic input :math:`X[t]`
(the output of the preceding conv/linear layer and its normalisation), output spikes :math:`Y[t]`:

.. math::

    K[t]      &= \mathcal{K} \circledast Y[t-1]                          \quad\text{(coupling input)} \\
    F[t]      &= a_F F[t-1] + X[t] + V_F K[t]                             \quad\text{(feeding)} \\
    L[t]      &= a_L L[t-1] + V_L K[t]                                    \quad\text{(linking)} \\
    U[t]      &= F[t]\,(1 + \beta L[t])                                   \quad\text{(internal activity)} \\
    Y[t]      &= [\,U[t] > \Theta[t]\,]                                   \quad\text{(fire; backward: surrogate)}

with :math:`F[0] = L[0] = 0`, :math:`Y[0] = 0` and a dynamic threshold :math:`E` (``e_init`` = :math:`E[0]`):

* ``threshold_update="after"`` (default): :math:`\Theta[t] = E[t-1]`, then :math:`E[t] = a_E E[t-1] + V_E Y[t]`;
* ``threshold_update="before"`` (the order of the public classical PCNN code): :math:`E[t] = a_E E[t-1] +
  V_E Y[t-1]`, :math:`\Theta[t] = E[t]`. The two differ only by one decay of the initial threshold.

``threshold_mode="additive"`` is the classical jump :math:`a_E E + V_E Y`; ``"reset"`` sets the threshold to
:math:`V_E` on a spike and lets it decay otherwise: :math:`(1 - Y)\,a_E E + Y V_E`. There is no membrane reset:
refractoriness comes from the threshold alone (classical PCNN). The linking term is multiplicative, so with no
feeding input (and ``V_F = 0``, a positive threshold) coupling alone can never make a neuron fire.

The coupling kernel :math:`\mathcal{K}` (a ``k x k`` "same" convolution over the spatial positions) decides how
neurons interact; it acts on the previous step's spikes only, so :math:`Y[1]` never depends on it:

=============  ==========================================================================================
``coupling``   :math:`\mathcal{K}`
=============  ==========================================================================================
``"none"``     no coupling: :math:`K = 0`, :math:`U = F` (an exponential integrator with a dynamic threshold)
``"intra"``    depthwise ``[C, 1, k, k]``: a neuron sees the spikes of its own feature map (classical PCNN)
``"inter"``    full ``[C, C, k, k]``: a neuron sees the spikes of every feature map (DPCNN's inter-channel
               coupling; contains intra coupling as its block diagonal)
``"both"``     the sum of a full and a depthwise kernel (two separate weights)
=============  ==========================================================================================

The kernels are learnable (trained by BPTT like the synapses); the scalars are fixed unless named in
``learnable``. What follows the paper and what is our reading is listed in the plugin README.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn
from zoo_core.sdk import (
    BaseNeuron,
    ConfigError,
    InputError,
    State,
    check_choice,
    check_number,
    check_positive_int,
    resolve_surrogate,
)

COUPLINGS = ("none", "intra", "inter", "both")
SCALARS = ("a_F", "a_L", "a_E", "V_F", "V_L", "V_E", "beta", "e_init")
_CONVS = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def decay_from_alpha(alpha: float) -> float:
    r"""The decay factor :math:`a = e^{-\alpha}` of a PCNN time constant :math:`\alpha` (classical notation)."""
    return math.exp(-alpha)


def classic_kernel(kernel_size: int, ndim: int = 2) -> Tensor:
    """The classical PCNN linking kernel: inverse Euclidean distance to the centre, 0 at the centre."""
    r = kernel_size // 2
    grid = torch.stack(torch.meshgrid(*[torch.arange(-r, r + 1, dtype=torch.float64)] * ndim, indexing="ij"))
    d = grid.square().sum(0).sqrt()
    return torch.where(d > 0, 1.0 / d.clamp_min(1e-12), torch.zeros_like(d))


class PCNN(BaseNeuron):
    r"""Multi-step PCNN neuron on ``[T, B, C, *spatial]`` (see the module docstring for the equations).

    Args:
        channels: number of channels ``C`` (required unless ``coupling="none"``).
        coupling: ``"none"``, ``"intra"``, ``"inter"`` or ``"both"``.
        kernel_size: odd spatial size ``k`` of the coupling kernel (1 for ``[C]`` inputs).
        ndim: dimensions per sample: 3 for ``[C, H, W]`` (conv layers), 2 for ``[C, L]``, 1 for ``[C]``
            (a fully connected layer; the coupling is then a ``C x C`` matrix or a per-channel self term).
        a_F, a_L, a_E: decay factors of feeding, linking and threshold in ``[0, 1]``
            (classical notation :math:`a = e^{-\alpha}`, see :func:`decay_from_alpha`).
        V_F, V_L, V_E: gains of the coupling input on feeding and linking, and the threshold jump.
        beta: linking strength :math:`\beta`.
        e_init: initial threshold :math:`E[0]`.
        threshold_update: ``"after"`` or ``"before"`` (order of threshold update and comparison).
        threshold_mode: ``"additive"`` (classical jump) or ``"reset"`` (set to ``V_E`` on a spike).
        strict: fire on ``U > Theta`` (classical) rather than ``U >= Theta``.
        surrogate, alpha: a registered surrogate name (``zoo.list_surrogates()``) or module, and its sharpness.
        learnable: names of scalars (from ``a_F, a_L, a_E, V_F, V_L, V_E, beta, e_init``) to train as
            parameters (not clamped during training); the coupling kernels are always learnable.
        coupling_init: ``"default"`` (PyTorch's conv initialisation), ``"classic"`` (the inverse-distance PCNN
            kernel on each channel's own map, zero across channels) or ``"zeros"``.
    """

    def __init__(
        self,
        channels: int | None = None,
        coupling: str = "inter",
        kernel_size: int = 3,
        ndim: int = 3,
        a_F: float = 0.5,
        a_L: float = 0.5,
        a_E: float = 0.5,
        V_F: float = 0.0,
        V_L: float = 1.0,
        V_E: float = 1.0,
        beta: float = 0.5,
        e_init: float = 1.0,
        threshold_update: str = "after",
        threshold_mode: str = "additive",
        strict: bool = True,
        surrogate: str | nn.Module = "atan",
        alpha: float | None = None,
        learnable: Iterable[str] = (),
        coupling_init: str = "default",
    ) -> None:
        super().__init__()
        who = type(self).__name__
        check_choice(coupling, "coupling", who, COUPLINGS)
        check_choice(threshold_update, "threshold_update", who, ("after", "before"))
        check_choice(threshold_mode, "threshold_mode", who, ("additive", "reset"))
        check_choice(coupling_init, "coupling_init", who, ("default", "classic", "zeros"))
        if isinstance(ndim, bool) or not isinstance(ndim, int) or not 1 <= ndim <= 4:
            raise ConfigError(f"{who}: ndim (dimensions per sample, C included) must be 1..4, got {ndim!r}")
        if coupling != "none" and (
            isinstance(channels, bool) or not isinstance(channels, int) or channels < 1
        ):
            raise ConfigError(
                f"{who}: coupling={coupling!r} needs channels (a positive int), got {channels!r}"
            )
        if check_positive_int(kernel_size, "kernel_size", who) % 2 == 0:
            raise ConfigError(f"{who}: kernel_size must be a positive odd int, got {kernel_size!r}")
        if ndim == 1 and kernel_size != 1:
            kernel_size = 1  # a [C] input has no spatial neighbourhood
        learnable = tuple(learnable)
        unknown = sorted(set(learnable) - set(SCALARS))
        if unknown:
            raise ConfigError(f"{who}: learnable names unknown scalars {unknown}; choose from {SCALARS}")
        values = dict(a_F=a_F, a_L=a_L, a_E=a_E, V_F=V_F, V_L=V_L, V_E=V_E, beta=beta, e_init=e_init)
        for name, v in values.items():
            check_number(v, name, who)
            if name.startswith("a_") and not 0.0 <= v <= 1.0:
                raise ConfigError(f"{who}: the decay factor {name} must lie in [0, 1], got {v!r}")
            if name in learnable:
                setattr(self, name, nn.Parameter(torch.tensor(float(v))))
            else:
                setattr(self, name, float(v))
        self.channels = channels
        self.coupling_mode = coupling
        self.kernel_size = kernel_size
        self.ndim = ndim
        self.threshold_update = threshold_update
        self.threshold_mode = threshold_mode
        self.strict = bool(strict)
        self.surrogate = resolve_surrogate(surrogate, alpha, who)
        self.coupling: nn.Module | None = None
        self.coupling_intra: nn.Module | None = None
        if coupling in ("intra", "inter", "both"):
            self.coupling = self._make_conv(groups=channels if coupling == "intra" else 1)
        if coupling == "both":
            self.coupling_intra = self._make_conv(groups=channels)
        self._init_coupling(coupling_init)

    # -- construction --------------------------------------------------------------------------------------
    def _make_conv(self, groups: int) -> nn.Module:
        conv = _CONVS[max(self.ndim - 1, 1)]
        k = self.kernel_size
        return conv(self.channels, self.channels, k, padding=k // 2, groups=groups, bias=False)

    def _init_coupling(self, how: str) -> None:
        if how == "default" or self.coupling is None:
            return
        with torch.no_grad():
            for conv in (self.coupling, self.coupling_intra):
                if conv is not None:
                    conv.weight.zero_()
            if how == "classic":  # on each map's own spikes; "both": on the full kernel, depthwise part zero
                conv = self.coupling
                kern = classic_kernel(self.kernel_size, max(self.ndim - 1, 1)).to(conv.weight.dtype)
                if conv.groups == 1:
                    idx = torch.arange(conv.out_channels)
                    conv.weight[idx, idx] = kern
                else:
                    conv.weight[:, 0] = kern

    # -- dynamics ------------------------------------------------------------------------------------------
    def initial_state(self, x_t: Tensor) -> State:
        zero = torch.zeros_like(x_t)
        return {"f": zero, "l": zero, "e": zero + self.e_init, "y": zero}

    def couple(self, y: Tensor) -> Tensor:
        r"""The coupling input :math:`\mathcal{K} \circledast Y` of spikes ``y`` ``[B, C, *spatial]``."""
        if self.coupling is None:
            return torch.zeros_like(y)
        z = y.unsqueeze(-1) if self.ndim == 1 else y  # [B, C] -> [B, C, 1] for a 1-d conv
        k = self.coupling(z)
        if self.coupling_intra is not None:
            k = k + self.coupling_intra(z)
        return k.squeeze(-1) if self.ndim == 1 else k

    def fire(self, u: Tensor, theta: Tensor) -> Tensor:
        """``[u > theta]`` (strict) or ``[u >= theta]``, with the surrogate gradient in the backward pass."""
        if self.strict:  # 1 - [theta - u >= 0] = [u > theta]; d/du = sigma'(theta - u)
            return 1.0 - self.surrogate(theta - u)
        return self.surrogate(u - theta)

    def _check(self, x_seq: Tensor) -> None:
        if x_seq.dim() != 2 + self.ndim:
            raise InputError(
                f"PCNN(ndim={self.ndim}): expected a [T, B, C{', ...' * (self.ndim > 1)}] sequence with "
                f"{2 + self.ndim} dimensions, got shape {tuple(x_seq.shape)}"
            )
        if self.channels is not None and x_seq.shape[2] != self.channels:
            raise InputError(
                f"PCNN: built for {self.channels} channels (dim 2 of [T, B, C, ...]), got {x_seq.shape[2]} "
                f"in shape {tuple(x_seq.shape)}"
            )

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        self._check(x_seq)
        f, link, e, y = state["f"], state["l"], state["e"], state["y"]
        feed = isinstance(self.V_F, Tensor) or (self.coupling is not None and self.V_F != 0.0)
        out = []
        for x in x_seq:
            k = self.couple(y)
            f = self.a_F * f + x + self.V_F * k if feed else self.a_F * f + x
            link = self.a_L * link + self.V_L * k
            u = f * (1.0 + self.beta * link)
            if self.threshold_update == "before":
                e = self._next_threshold(e, y)
                y = self.fire(u, e)
            else:
                y_new = self.fire(u, e)
                e = self._next_threshold(e, y_new)
                y = y_new
            out.append(y)
        return torch.stack(out), {"f": f, "l": link, "e": e, "y": y}

    def _next_threshold(self, e: Tensor, y: Tensor) -> Tensor:
        if self.threshold_mode == "additive":
            return self.a_E * e + self.V_E * y
        return (1.0 - y) * (self.a_E * e) + self.V_E * y

    def extra_repr(self) -> str:
        s = ", ".join(f"{n}={float(getattr(self, n)):.4g}" for n in SCALARS)
        return (
            f"channels={self.channels}, coupling={self.coupling_mode!r}, kernel_size={self.kernel_size}, "
            f"ndim={self.ndim}, {s}, threshold_update={self.threshold_update!r}, "
            f"threshold_mode={self.threshold_mode!r}, strict={self.strict}"
        )


__all__ = ["COUPLINGS", "PCNN", "SCALARS", "classic_kernel", "decay_from_alpha"]
