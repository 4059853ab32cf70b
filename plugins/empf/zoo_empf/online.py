r"""The online learning rule of EM-PF (official ``train_one_epoch``) and a saved-activation memory meter.

:class:`EMPFOnline` (registered as ``empf_online``). Per batch, with the model's neurons in streaming mode
(state carried from step to step, membrane detached by the neuron):

.. code-block:: text

    for t in 0..T-1:                       # opt_backprop: k ~ U{0..T-1}; steps t < k forward only (no_grad)
        z_t = model.forward_step(x[t])     # graph of this step only
        L_t = CE(z_t, y)
        zero_grad; L_t.backward(); optimizer.step()   # T optimiser steps per batch (1 with opt_backprop)
                                           # opt_backprop: stop after step k

Because the EM-PF membrane enters the next step detached and the spike is an exact ReLU, the gradient of
:math:`\sum_t L_t` over the unrolled graph equals the sum of the per-step gradients ("separable temporal
gradients"), and the activations kept for backward never span more than one step: memory does not grow with T.
The BPTT baseline is the core's ``bptt`` rule (one loss on the mean logits, backward through all steps).

:class:`SavedTensorMeter` measures the bytes autograd keeps for backward (``saved_tensors_hooks``), per storage,
holding only a detached alias so the measurement itself creates no reference cycles.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, TrainingRule, streaming

__all__ = ["EMPFOnline", "SavedTensorMeter", "measure_saved", "online_gradients", "training_step_memory"]


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)  # DataParallel / DDP wrappers


class EMPFOnline(TrainingRule):
    """Online training (per-step loss, backward and optimiser step; see the module docstring).

    Args:
        opt_backprop: random back-propagation: one step ``k`` per batch, drawn uniformly; earlier steps only
            advance the state (run under ``no_grad``, unlike the official loop, which keeps their graphs),
            later steps are skipped.
        label_smoothing: cross-entropy label smoothing (0 in the original code; 0.1 in the AutoSOTA copy).
        seed: seed of the generator drawing ``k``.
    """

    def __init__(self, opt_backprop: bool = False, label_smoothing: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"empf_online: label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.opt_backprop = bool(opt_backprop)
        self.label_smoothing = float(label_smoothing)
        self.seed = int(seed)
        self._gen = torch.Generator().manual_seed(self.seed)

    def prepare(self, model: nn.Module) -> nn.Module:
        if not callable(getattr(_unwrap(model), "forward_step", None)):
            raise ConfigError(
                f"empf_online needs a model with forward_step(x_t) (the EM-PF models); {type(model).__name__} has none"
            )
        return model

    def training_step(
        self, model: nn.Module, batch: tuple[Tensor, Tensor], optimizer: torch.optim.Optimizer
    ) -> dict[str, float]:
        net = self.prepare(model)
        net = _unwrap(net)
        x, y = batch
        net.train()
        seq = net.encode(x)
        T = seq.shape[0]
        k = int(torch.randint(T, (1,), generator=self._gen)) if self.opt_backprop else None
        losses, total = [], None
        with streaming(net):
            for t, x_t in enumerate(seq.unbind(0)):
                if k is not None and t < k:
                    with torch.no_grad():
                        z = net.forward_step(x_t)
                        loss = F.cross_entropy(z, y, label_smoothing=self.label_smoothing)
                else:
                    z = net.forward_step(x_t)
                    loss = F.cross_entropy(z, y, label_smoothing=self.label_smoothing)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                losses.append(float(loss.detach()))
                total = z.detach() if total is None else total + z.detach()
                if k is not None and t == k:
                    break
        assert total is not None
        acc = float((total.argmax(-1) == y).float().mean())
        out = {"loss": sum(losses) / len(losses), "acc": acc, "steps": float(len(losses))}
        if k is not None:
            out["backprop_step"] = float(k)
        return out


def online_gradients(model: nn.Module, x: Tensor, y: Tensor) -> dict[str, Tensor]:
    """Sum over steps of the per-step gradients of :math:`L_t = \\mathrm{CE}(z_t, y)` (no optimiser step):
    what the online rule's T backward passes accumulate for fixed weights."""
    net = _unwrap(model)
    net.zero_grad(set_to_none=True)
    with streaming(net):
        for x_t in net.encode(x).unbind(0):
            F.cross_entropy(net.forward_step(x_t), y).backward()
    grads = {n: p.grad.detach().clone() for n, p in net.named_parameters() if p.grad is not None}
    net.zero_grad(set_to_none=True)
    return grads


class _Held:
    """A saved tensor as autograd holds it: a detached alias plus this meter's bookkeeping."""

    __slots__ = ("__weakref__", "t")

    def __init__(self, t: Tensor) -> None:
        self.t = t


class SavedTensorMeter:
    """Peak bytes of tensors saved for backward, counted once per storage, while the meter is active.

    >>> meter = SavedTensorMeter()
    >>> with meter:
    ...     loss = model(x).sum(); loss.backward()
    >>> meter.peak_bytes

    A pack hook records the storage of every saved tensor (reference-counted: a storage saved by several nodes is
    counted once) and stores a *detached* alias; the count drops when autograd frees the saved tensor (after
    backward, or when the graph is discarded). Holding the saved tensor itself would tie outputs to their own
    graph nodes (reference cycles) and keep graphs alive past backward.
    """

    def __init__(self) -> None:
        self.live_bytes = 0
        self.peak_bytes = 0
        self._refs: dict[tuple[str, int], list[int]] = {}  # storage -> [count, bytes]
        self._ctx: Any = None

    def reset_peak(self) -> None:
        self.peak_bytes = self.live_bytes

    def _release(self, key: tuple[str, int]) -> None:
        entry = self._refs.get(key)
        if entry is None:
            return
        entry[0] -= 1
        if entry[0] == 0:
            self.live_bytes -= entry[1]
            del self._refs[key]

    def _pack(self, t: Tensor) -> _Held:
        st = t.untyped_storage()
        key = (str(t.device), st.data_ptr())
        entry = self._refs.get(key)
        if entry is None:
            self._refs[key] = [1, st.nbytes()]
            self.live_bytes += st.nbytes()
            self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        else:
            entry[0] += 1
        held = _Held(t.detach())
        weakref.finalize(held, self._release, key)
        return held

    @staticmethod
    def _unpack(held: _Held) -> Tensor:
        return held.t

    def __enter__(self) -> SavedTensorMeter:
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)
        self._ctx = None


@contextlib.contextmanager
def measure_saved(meter: SavedTensorMeter | None = None) -> Iterator[SavedTensorMeter]:
    """``with measure_saved() as m: ...`` then ``m.peak_bytes``."""
    m = meter or SavedTensorMeter()
    with m:
        yield m


def training_step_memory(
    model: nn.Module, rule: TrainingRule, batch: tuple[Tensor, Tensor], optimizer: torch.optim.Optimizer
) -> dict[str, float]:
    """Run ``rule.training_step`` once and report the peak bytes saved for backward (and, on CUDA, the peak
    allocated memory) and the wall time."""
    import time

    cuda = batch[0].is_cuda
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    meter = SavedTensorMeter()
    t0 = time.perf_counter()
    with meter:
        rule.training_step(model, batch, optimizer)
    if cuda:
        torch.cuda.synchronize()
    out = {"peak_saved_bytes": float(meter.peak_bytes), "seconds": time.perf_counter() - t0}
    if cuda:
        out["cuda_peak_bytes"] = float(torch.cuda.max_memory_allocated() - base)
    return out
