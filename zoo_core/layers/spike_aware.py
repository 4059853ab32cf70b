r"""Route a model's convolutions and linear layers through the spike-aware kernels (``spike_conv2d`` /
``spike_linear``, :mod:`zoo_core.kernels.spike_conv`).

:func:`spike_aware` changes no module type, parameter or state-dict key: it gives each eligible ``nn.Conv2d`` /
``nn.Linear`` (subclasses included, e.g. multi-step convs that fold time into the batch) an instance-level
forward that calls the kernel dispatcher instead of ``F.conv2d`` / ``F.linear``. Per call the dispatcher then
runs a spike-aware alternate (``lut``: spikes of one amplitude; ``gather``: any input, cost proportional to the
active inputs) where it can and where it measured faster (inference, wide expanding layers, low firing rates;
``kernel="lut"`` / ``"gather"`` forces one wherever it can run), and the dense reference otherwise, so layers
that read real values (a stem conv on images, a head on pooled features) or run under autograd compute exactly
what they computed before.
Eligible: convs that are a per-pixel linear map (1x1, or ``k x k`` with stride ``k``; no padding, one group,
``padding_mode="zeros"``) and linear layers whose ``in_features`` is a multiple of 8 and whose class keeps
``nn.Linear.forward``.
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn

from ..kernels import dispatch

__all__ = ["spike_aware"]

_ATTR = "_zoo_spike_kernel"


def _conv_forward(mod: nn.Conv2d, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    kernel = getattr(mod, _ATTR, None) or None
    return dispatch(
        "spike_conv2d", x, weight, bias, mod.stride, mod.padding, mod.dilation, mod.groups, kernel=kernel
    )


def _linear_forward(mod: nn.Linear, x: Tensor) -> Tensor:
    kernel = getattr(mod, _ATTR, None) or None
    return dispatch("spike_linear", x, mod.weight, mod.bias, kernel=kernel)


def _eligible_conv(m: nn.Module) -> bool:
    if not isinstance(m, nn.Conv2d) or m.groups != 1 or m.padding_mode != "zeros":
        return False
    if isinstance(m.padding, str) or tuple(m.padding) != (0, 0) or tuple(m.dilation) != (1, 1):
        return False
    k = tuple(m.kernel_size)
    return (k == (1, 1) or tuple(m.stride) == k) and m.in_channels * k[0] * k[1] % 8 == 0


def _eligible_linear(m: nn.Module) -> bool:
    return isinstance(m, nn.Linear) and type(m).forward is nn.Linear.forward and m.in_features % 8 == 0


def spike_aware(model: nn.Module, enable: bool = True, kernel: str | None = None) -> list[str]:
    """Make ``model``'s eligible convs and linears (module docstring) dispatch to ``spike_conv2d`` /
    ``spike_linear``, in place; ``enable=False`` undoes it. Returns the names of the layers changed.

    ``kernel``: ``None`` lets each call choose (an alternate only under no_grad, on the shapes and firing rates
    where it measured faster than dense; ``ZOO_KERNELS`` applies), ``"lut"`` / ``"gather"`` forces that
    alternate wherever it can run, ``"dense"`` the reference. The model's outputs equal the dense model's within float
    rounding (bit for bit where every call runs dense).
    """
    changed = []
    for name, m in model.named_modules():
        conv, linear = _eligible_conv(m), _eligible_linear(m)
        if not (conv or linear):
            continue
        attr = "_conv_forward" if conv else "forward"
        if enable:
            m.__dict__[attr] = partial(_conv_forward if conv else _linear_forward, m)
            m.__dict__[_ATTR] = kernel
        else:
            if attr not in m.__dict__:
                continue
            m.__dict__.pop(attr, None)
            m.__dict__.pop(_ATTR, None)
        changed.append(name)
    return changed
