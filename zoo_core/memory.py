r"""Memory meters: the bytes autograd keeps for backward, and the bytes of module outputs alive at once.

:class:`SavedTensorMeter` (``saved_tensors_hooks``) gives the activation memory of training: every tensor saved
for backward is counted once per storage while autograd holds it, so ``peak_bytes`` is the largest amount kept
at any moment (an online rule that backpropagates step by step peaks at one step's worth; BPTT at all steps').
:class:`LiveOutputMeter` (forward hooks) gives the activation memory of inference without gradients: every
module output is counted from its creation until it is freed.

Both hold no strong reference to what they count (a detached alias, a weak reference), so measuring changes
neither what is kept nor when it is freed.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["LiveOutputMeter", "SavedTensorMeter", "measure_saved"]


def _key(t: Tensor) -> tuple[str, int]:
    return str(t.device), t.untyped_storage().data_ptr()


class _Held:
    """A saved tensor as autograd holds it: a detached alias plus this meter's bookkeeping."""

    __slots__ = ("__weakref__", "t")

    def __init__(self, t: Tensor) -> None:
        self.t = t


class SavedTensorMeter:
    """Peak bytes of tensors saved for backward, counted once per storage, while the meter is active
    (storages of the tensors in ``ignore``, e.g. a model's parameters, are not counted).

    >>> meter = SavedTensorMeter()
    >>> with meter:
    ...     loss = model(x).sum(); loss.backward()
    >>> meter.peak_bytes

    A pack hook records the storage of every saved tensor (reference-counted: a storage saved by several nodes is
    counted once) and stores a *detached* alias; the count drops when autograd frees the saved tensor (after
    backward, or when the graph is discarded). Holding the saved tensor itself would tie outputs to their own
    graph nodes (reference cycles) and keep graphs alive past backward.
    """

    def __init__(self, ignore: Iterable[Tensor] = ()) -> None:
        self.live_bytes = 0
        self.peak_bytes = 0
        self._refs: dict[tuple[str, int], list[int]] = {}  # storage -> [count, bytes]
        self._ctx: Any = None
        # e.g. the parameters: saved for backward too, but they exist whether or not anything is saved
        self._ignore = {_key(t) for t in ignore}

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

    def _pack(self, t: Tensor) -> _Held | Tensor:
        key = _key(t)
        if key in self._ignore:
            return t
        st = t.untyped_storage()
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
    def _unpack(held: _Held | Tensor) -> Tensor:
        return held.t if isinstance(held, _Held) else held

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


class LiveOutputMeter:
    """Peak bytes of module outputs alive at once (each storage once) during forward passes of ``model``.

    >>> with LiveOutputMeter(model) as meter, torch.no_grad():
    ...     model(x)
    >>> meter.peak_bytes
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.live_bytes = 0
        self.peak_bytes = 0
        self._live: dict[tuple[str, int], int] = {}
        self._handles: list[Any] = []

    def _release(self, key: tuple[str, int]) -> None:
        self.live_bytes -= self._live.pop(key, 0)

    def _track(self, module: nn.Module, args: object, out: object) -> None:
        for t in _tensors(out):
            st = t.untyped_storage()
            key = _key(t)
            if key not in self._live:
                self._live[key] = st.nbytes()
                self.live_bytes += st.nbytes()
                self.peak_bytes = max(self.peak_bytes, self.live_bytes)
                weakref.finalize(t, self._release, key)

    def __enter__(self) -> LiveOutputMeter:
        self._handles = [m.register_forward_hook(self._track) for m in self.model.modules()]
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


def _tensors(out: object) -> list[Tensor]:
    """The tensors in a module's output (nested tuples, lists and dicts)."""
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _tensors(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _tensors(o)]
    return []
