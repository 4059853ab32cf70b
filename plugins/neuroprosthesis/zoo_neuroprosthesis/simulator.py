r"""The authors' 3-layer spiking retina model (Jia, Xing, Yu, Liu, PLoS Comput Biol 2021): synthetic RGC data.

Time runs in two resolutions: stimulus frames of :math:`\Delta t_f = 40` ms (25 Hz) and a 1 ms simulation step.

Stimulus
    an 8x8 binary checkerboard, each pixel :math:`\pm 0.5` per frame, from a seeded generator.
Layer 1: subunits (:class:`RetinaSubunits`)
    six subunits, each a 2x2-pixel box filter (rows 2-3 or 4-5, columns 1-2, 3-4 or 5-6, 0-based) times the
    temporal filter :func:`difference_of_gammas` (20 frames, 2 frames of delay, OFF polarity), then
    rectified, :math:`r_j(n) = \max(0, \sum_k g_k \sum_{p \in j} s_{n-k}(p))`; spikes per frame: the sum of 2
    Bernoulli draws with :math:`p = r_j(n) \Delta t_f` (seconds).
Layers 2 and 3: LIF cells (:class:`RetinaLIFLayer`)
    two layer-2 cells each sum 4 subunit spike trains (subunits {0, 3, 1, 4} and {1, 4, 2, 5}, weights 1);
    one layer-3 cell sums the two layer-2 cells' trains. A frame's input count arrives at millisecond 19 of its
    40 (0-based), drives the registered ``retina_alpha_synapse``, plus membrane noise (a current
    :math:`\sigma \xi_t / R_m`, :math:`\sigma = 0.01`), into the registered ``retina_lif``; output spikes are
    counted per 40 ms frame (the next layer's input).

:class:`RetinaSimulator` runs the three layers; the registered data set ``retina_snn``
(:mod:`zoo_neuroprosthesis.data`) pairs stimulus windows with the simulated counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
import zoo_core as zoo
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, check_positive_int

__all__ = [
    "LAYER2_INPUTS",
    "RetinaLIFLayer",
    "RetinaSimulator",
    "RetinaSubunits",
    "checkerboard",
    "difference_of_gammas",
    "subunit_masks",
]

#: the subunits each layer-2 cell sums (0-based; the authors' lists {1,4,2,5} and {2,5,3,6})
LAYER2_INPUTS = ((0, 3, 1, 4), (1, 4, 2, 5))


def difference_of_gammas(
    n_frames: int = 20,
    frame_dt: float = 0.04,
    n: tuple[int, int] = (4, 5),
    theta: tuple[float, float] = (0.05, 0.05),
    amplitude: tuple[float, float] = (0.05, 0.05),
    delay_frames: int = 2,
) -> Tensor:
    r"""The temporal filter ``g`` ``[n_frames]`` (float64), ``g[k]`` = weight of the frame ``k`` frames back.

    With :math:`t_k = k \Delta t_f - \text{delay}` and the gamma cascade
    :math:`\Gamma_{n,\theta}(t) = (t/\theta)^{n-1} e^{-t/\theta} / (\theta (n-1)!)` for :math:`t > 0` (0 else):
    :math:`g = -h / \|h\|`, :math:`h_k = a_1 \Gamma_{n_1,\theta_1}(t_k) - a_2 \Gamma_{n_2,\theta_2}(t_k)`. The
    first ``delay_frames + 1`` lags are 0; the sign makes it an OFF filter (negative first lobe, then positive).
    """
    check_positive_int(n_frames, "n_frames", "difference_of_gammas")
    t = torch.arange(n_frames, dtype=torch.float64) * frame_dt - delay_frames * frame_dt

    def gamma(order: int, th: float) -> Tensor:
        tt = t.clamp_min(1e-300) / th
        return torch.where(t > 0, tt ** (order - 1) * torch.exp(-tt) / (th * math.factorial(order - 1)), 0.0)

    h = amplitude[0] * gamma(n[0], theta[0]) - amplitude[1] * gamma(n[1], theta[1])
    return -h / h.norm()


def subunit_masks(size: int = 8) -> Tensor:
    """The six 2x2 box subunits ``[6, size, size]`` (float64): rows 2-3 then 4-5, columns 1-2, 3-4, 5-6."""
    if size < 7:
        raise ConfigError(f"subunit_masks: the subunits need an image of at least 7x7 pixels, got {size}")
    m = torch.zeros(6, size, size, dtype=torch.float64)
    for j in range(6):
        r, c = 2 + 2 * (j // 3), 1 + 2 * (j % 3)
        m[j, r : r + 2, c : c + 2] = 1.0
    return m


def checkerboard(frames: int, size: int = 8, seed: int = 0, dtype: torch.dtype = torch.float64) -> Tensor:
    """A binary checkerboard movie ``[frames, size, size]`` of :math:`\\pm 0.5` pixels (seeded)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(frames, size, size, generator=g) >= 0.5).to(dtype) - 0.5


def temporal_filter(frames: Tensor, g: Tensor) -> Tensor:
    """Causal filter along the first axis: ``out[n] = sum_k g[k] frames[n - k]`` (zeros before the start)."""
    L = g.numel()
    x = frames.reshape(frames.shape[0], -1).T.unsqueeze(1)  # [pixels, 1, N]
    y = F.conv1d(F.pad(x, (L - 1, 0)), g.flip(0).to(x.dtype).view(1, 1, L))
    return y.squeeze(1).T.reshape(frames.shape)


class RetinaSubunits(nn.Module):
    """Layer 1: linear-rectified subunits with Bernoulli spike generation (module docstring).

    Args:
        size: stimulus side (8).
        frame_dt: frame duration in seconds (0.04).
        draws: Bernoulli draws per frame (2).
    """

    def __init__(self, size: int = 8, frame_dt: float = 0.04, draws: int = 2) -> None:
        super().__init__()
        self.size = size
        self.frame_dt = float(frame_dt)
        self.draws = check_positive_int(draws, "draws", "RetinaSubunits")
        self.register_buffer("masks", subunit_masks(size), persistent=False)
        self.register_buffer("g", difference_of_gammas(frame_dt=frame_dt), persistent=False)

    def rates(self, frames: Tensor) -> Tensor:
        """Rectified drive ``[N, 6]`` of a movie ``[N, size, size]``."""
        spatial = torch.einsum("nhw,jhw->nj", frames.to(self.masks.dtype), self.masks)
        return temporal_filter(spatial, self.g).clamp_min(0.0)

    def forward(self, frames: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Spike counts ``[N, 6]`` per frame."""
        p = (self.rates(frames) * self.frame_dt).clamp(0.0, 1.0)
        u = torch.rand((self.draws, *p.shape), generator=generator, dtype=p.dtype)
        return (u < p).sum(0).to(p.dtype)


class RetinaLIFLayer(nn.Module):
    """A layer of simulator LIF cells: frame counts ``[N, cells]`` in, frame counts ``[N, cells]`` out.

    Each frame's count arrives at millisecond ``arrival`` of its ``ms_per_frame`` (19 of 40), goes through the
    registered ``retina_alpha_synapse`` and, with the membrane noise current, into the registered ``retina_lif``
    (1 ms steps); output spikes are summed per frame. ``spikes_ms`` keeps the last run's millisecond spikes.
    """

    def __init__(
        self, ms_per_frame: int = 40, arrival: int = 19, noise: float = 0.01, lif: dict | None = None
    ) -> None:
        super().__init__()
        self.ms_per_frame = check_positive_int(ms_per_frame, "ms_per_frame", "RetinaLIFLayer")
        if not 0 <= arrival < ms_per_frame:
            raise ConfigError(f"RetinaLIFLayer: arrival must be in [0, {ms_per_frame}), got {arrival}")
        self.arrival = arrival
        self.noise = float(noise)
        self.synapse = zoo.create_neuron("retina_alpha_synapse")
        self.lif = zoo.create_neuron("retina_lif", **(lif or {}))

    def forward(self, counts: Tensor, generator: torch.Generator | None = None) -> Tensor:
        n, cells = counts.shape
        ms = counts.new_zeros(n * self.ms_per_frame, 1, cells)
        ms[self.arrival :: self.ms_per_frame, 0] = counts
        current = self.synapse(ms)
        if self.noise > 0:
            current = current + self.noise / self.lif.r_m * torch.randn(
                current.shape, generator=generator, dtype=current.dtype
            )
        spikes = self.lif(current)[:, 0]  # [N * ms, cells]
        self.spikes_ms = spikes
        return spikes.view(n, self.ms_per_frame, cells).sum(1)


class RetinaSimulator(nn.Module):
    """The 3-layer spiking retina: checkerboard -> 6 subunits -> 2 LIF cells -> 1 LIF cell (module docstring).

    ``forward(frames, seed)`` returns a dict of per-frame spike counts: ``subunits [N, 6]``, ``layer2 [N, 2]``,
    ``layer3 [N, 1]``. Runs in float64 without gradients (a data generator).

    Args:
        size: stimulus side (8).
        weights2: the layer-2 cells' weights on their 4 subunits (1, 1, 1, 1).
        weights3: the layer-3 cell's weights on the 2 layer-2 cells (1, 1).
        noise: membrane noise :math:`\\sigma` (0.01).
    """

    def __init__(
        self,
        size: int = 8,
        weights2: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
        weights3: Sequence[float] = (1.0, 1.0),
        noise: float = 0.01,
    ) -> None:
        super().__init__()
        if len(weights2) != 4 or len(weights3) != 2:
            raise ConfigError("RetinaSimulator: weights2 needs 4 entries and weights3 2")
        self.subunits = RetinaSubunits(size)
        w2 = torch.zeros(6, 2, dtype=torch.float64)
        for cell, inputs in enumerate(LAYER2_INPUTS):
            for w, j in zip(weights2, inputs):
                w2[j, cell] += w
        self.register_buffer("w2", w2, persistent=False)
        self.register_buffer(
            "w3", torch.tensor(list(weights3), dtype=torch.float64).view(2, 1), persistent=False
        )
        self.layer2 = RetinaLIFLayer(noise=noise)
        self.layer3 = RetinaLIFLayer(noise=noise)

    @torch.no_grad()
    def forward(self, frames: Tensor, seed: int = 0) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(seed)
        sub = self.subunits(frames.double(), g)
        l2 = self.layer2(sub @ self.w2, g)
        l3 = self.layer3(l2 @ self.w3, g)
        return {"subunits": sub, "layer2": l2, "layer3": l3}
