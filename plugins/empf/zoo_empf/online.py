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

Memory is measured with the core's :class:`zoo_core.memory.SavedTensorMeter` (bytes autograd keeps for backward).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from zoo_core.sdk import (
    ConfigError,
    SavedTensorMeter,
    TrainingRule,
    class_indices,
    measure_saved,
    streaming,
)

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

    #: per-step cross-entropy takes mixup/cutmix soft targets as well as class indices
    soft_targets = True

    def state_dict(self) -> dict[str, Tensor]:
        """The generator drawing the back-propagation step ``k`` (checkpointed with a run: a resumed run draws
        the same steps)."""
        return {"generator": self._gen.get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self._gen.set_state(state["generator"])

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
        acc = float((total.argmax(-1) == class_indices(y)).float().mean())
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
