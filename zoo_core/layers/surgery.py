"""Module surgery: swap activations for neurons and wrap stateless layers so they run per time step.

This is how a trained ANN becomes an SNN with the same module tree (and so the same state-dict keys):
:func:`replace_modules` swaps matching submodules in place, :func:`wrap_stepwise` wraps conv/linear/BN/pool
layers in :class:`~zoo_core.layers.StepWise` (keys gain ``.module``) or :class:`SeqStepWise` (keys gain ``.0``,
SpikingJelly's ``SeqToANNContainer`` layout of the official checkpoints).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

from .stepwise import StepWise

__all__ = ["STATELESS_LAYERS", "Replacement", "SeqStepWise", "replace_modules", "wrap_stepwise"]


@dataclass
class Replacement:
    """One module swapped by :func:`replace_modules`."""

    name: str
    old: nn.Module
    new: nn.Module


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, attr, module)


def replace_modules(
    model: nn.Module,
    predicate: Callable[[str, nn.Module], bool],
    factory: Callable[[str, nn.Module], nn.Module | None],
) -> list[Replacement]:
    """Replace, in place, every submodule for which ``predicate(name, module)`` holds by
    ``factory(name, module)`` (``None`` keeps it). Matches are collected first (module order) and a matched
    module's children are not visited. Returns what was replaced; the swapped-in module sits at the same
    attribute, so state-dict keys of everything else are unchanged.

    Example: ``replace_modules(ann, lambda n, m: isinstance(m, nn.ReLU), lambda n, m: QCFS(levels=4))``.
    """
    matches: list[tuple[str, nn.Module]] = []
    skip: list[str] = []
    for name, m in model.named_modules():
        if not name or any(name.startswith(s + ".") for s in skip):
            continue
        if predicate(name, m):
            matches.append((name, m))
            skip.append(name)
    done = []
    for name, m in matches:
        new = factory(name, m)
        if new is None or new is m:
            continue
        _set_submodule(model, name, new)
        done.append(Replacement(name, m, new))
    return done


#: layers without time dynamics that :func:`wrap_stepwise` wraps by default
STATELESS_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Linear,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.Flatten,
    nn.Dropout,
)


class SeqStepWise(nn.Sequential):
    """:class:`~zoo_core.layers.StepWise` with the state-dict layout of SpikingJelly's ``SeqToANNContainer``
    (0.0.0.0.14, an ``nn.Sequential``): the wrapped layer's keys gain ``.0`` (``conv1.0.weight`` ->
    ``conv1.0.0.weight``), which is how the official LM-HT checkpoints of converted models are laid out."""

    def forward(self, x: Tensor) -> Tensor:
        t, b = x.shape[:2]
        return super().forward(x.flatten(0, 1)).unflatten(0, (t, b))


def wrap_stepwise(
    model: nn.Module,
    predicate: Callable[[str, nn.Module], bool] | None = None,
    wrapper: Callable[[nn.Module], nn.Module] = StepWise,
) -> list[Replacement]:
    """Wrap stateless layers so they run per time step (``[T, B, ...] -> [T*B, ...]`` around each), in place,
    so an ANN's layers run on a multi-step ``[T, B, ...]`` tensor between neurons (SpikingJelly's
    ``SeqToANNContainer``). ``wrapper``: :class:`~zoo_core.layers.StepWise` (keys gain ``.module``) or
    :class:`SeqStepWise` (keys gain ``.0``, SpikingJelly's layout). Default predicate: instances of
    :data:`STATELESS_LAYERS`. Layers already inside a wrapper are left alone.
    """
    pred = predicate or (lambda n, m: isinstance(m, STATELESS_LAYERS))
    wrappers = (StepWise, SeqStepWise)
    # an existing wrapper matches (so its contents are skipped) and is kept as it is
    return replace_modules(
        model,
        lambda n, m: isinstance(m, wrappers) or pred(n, m),
        lambda n, m: None if isinstance(m, wrappers) else wrapper(m),
    )
