r"""The spike camera's pixel as a zoo neuron: integrate-and-fire without leak, strict threshold, reset by
subtraction (the sensor model of :func:`zoo_usp_gaussian.spike_camera.simulate_spikes`, made differentiable).

.. math:: v_t = v_{t-1} + G\,x_t, \qquad s_t = \mathbb 1[v_t > V_{th}], \qquad
          v_t \leftarrow v_t \bmod V_{th} \text{ where } s_t = 1

with the sensor's gain :math:`G = 250 K \approx 1.985` and :math:`V_{th} = 4`; the input :math:`x_t` is the light
intensity in [0, 1]. The spikes take their gradient from a registered surrogate (forward: the strict Heaviside).
The simulator additionally starts each pixel at :math:`G g_0`, :math:`g_0 \sim U(0, 1)`, and adds inherent noise;
the neuron starts from ``v_init`` (default 0) so that every call is deterministic.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from zoo_core.sdk import BaseNeuron, State, check_number, check_positive, resolve_surrogate

from .spike_camera import GAIN, V_THRESHOLD

__all__ = ["SpikeCameraPixel"]


class SpikeCameraPixel(BaseNeuron):
    """Spike-camera pixel (module docstring).

    Args:
        gain: charge per frame at intensity 1 (the sensor's 250 K).
        v_threshold: firing threshold (4).
        surrogate: registered surrogate name or module for the spike's gradient.
        alpha: surrogate sharpness (``None``: its default).
        v_init: membrane at the start of every sequence.
    """

    DEFAULT_GAIN = GAIN

    def __init__(
        self,
        gain: float = GAIN,
        v_threshold: float = V_THRESHOLD,
        surrogate: str | nn.Module = "atan",
        alpha: float | None = None,
        v_init: float = 0.0,
    ):
        super().__init__()
        self.gain = check_number(gain, "gain", "spike_camera_pixel")
        self.v_threshold = check_positive(v_threshold, "v_threshold", "spike_camera_pixel")
        self.v_init = check_number(v_init, "v_init", "spike_camera_pixel")
        self.surrogate = resolve_surrogate(surrogate, alpha, "spike_camera_pixel")

    def initial_state(self, x_t: Tensor) -> State:
        return {"v": torch.full_like(x_t, self.v_init)}

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        v = state["v"]
        out = []
        for x in x_seq:
            v = v + self.gain * x
            hard = (v > self.v_threshold).to(v.dtype)
            soft = self.surrogate(v - self.v_threshold)
            s = hard + (soft - soft.detach())  # forward: the strict threshold; backward: the surrogate
            v = torch.where(hard > 0, torch.remainder(v, self.v_threshold), v)
            out.append(s)
        return torch.stack(out), {"v": v}

    def extra_repr(self) -> str:
        return f"gain={self.gain:.6g}, v_threshold={self.v_threshold}, v_init={self.v_init}"
