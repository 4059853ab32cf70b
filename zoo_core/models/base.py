r"""The base class of spiking image classifiers: checked sizes, the mean-over-time readout and timm's head API.

A subclass builds its layers after ``super().__init__(T=..., num_classes=..., in_chans=..., img_size=...)`` and
implements :meth:`SpikingClassifier.forward_steps`, the per-step logits :math:`y_t` ``[T, B, num_classes]``;
the model's output is their mean over time,

.. math:: \bar y = \frac{1}{T} \sum_{t=1}^{T} y_t ,

the readout of the group's papers (a model that reads out otherwise overrides :meth:`forward` and says so in
its card). ``head_name`` names the classifier module (a dotted path, e.g. ``"fc"`` or ``"classifier"``); from
it the class provides timm's head API: :attr:`num_features`, :meth:`forward_features` (what the head receives,
per step), :meth:`forward_head`, :meth:`get_classifier` and :meth:`reset_classifier`. The base adds no
parameter or buffer, so a model's state-dict layout is its own.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from ..checks import check_positive_int, check_time_steps
from ..errors import ConfigError
from ..layers import encode_image_input

__all__ = ["SpikingClassifier"]


class SpikingClassifier(nn.Module):
    """A spiking image classifier: ``[B, C, H, W]`` images (repeated ``T`` times inside) or ``[T, B, C, H, W]``
    frames in, logits ``[B, num_classes]`` out (the mean of :meth:`forward_steps` over time).

    Args (keyword-only):
        T: time steps a static image is repeated for (``>= 1``).
        num_classes: output classes (``>= 1``).
        in_chans: input channels (``>= 1``).
        img_size: input height and width (``>= 1``; ``None`` where the architecture takes any size).

    Attributes:
        head_name: class attribute, the dotted path of the classifier module (default ``"head"``).
    """

    head_name: ClassVar[str] = "head"

    def __init__(self, *, T: int, num_classes: int, in_chans: int, img_size: int | None) -> None:
        super().__init__()
        who = type(self).__name__
        self.T = check_time_steps(T, who)
        self.num_classes = check_positive_int(num_classes, "num_classes", who)
        self.in_chans = check_positive_int(in_chans, "in_chans", who)
        self.img_size = None if img_size is None else check_positive_int(img_size, "img_size", who)

    # -- the model ---------------------------------------------------------------------------------------------
    def encode(self, x: Tensor, T: int | None = None) -> Tensor:
        """The input as ``[T, B, C, H, W]`` (a static image repeated ``T`` times), validated
        (:func:`zoo_core.layers.encode_image_input`: rank, channels, dtype, NaN)."""
        return encode_image_input(x, self.T if T is None else T, self.in_chans, type(self).__name__)

    def forward_steps(self, x: Tensor) -> Tensor:
        """Per-step logits ``[T, B, num_classes]``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward_steps(x) -> [T, B, classes]")

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, num_classes]``: the mean over time of :meth:`forward_steps`."""
        return self.forward_steps(x).mean(0)

    # -- timm's head API ---------------------------------------------------------------------------------------
    def head_module(self) -> nn.Module:
        """The classifier module named by ``head_name``."""
        try:
            return self.get_submodule(self.head_name)
        except AttributeError:
            raise ConfigError(
                f"{type(self).__name__}: head_name={self.head_name!r} names no submodule; set it to the "
                "classifier's attribute path"
            ) from None

    def _linears(self) -> list[tuple[str, nn.Linear]]:
        found = [(n, m) for n, m in self.head_module().named_modules() if isinstance(m, nn.Linear)]
        if not found:
            raise ConfigError(f"{type(self).__name__}: the head {self.head_name!r} holds no nn.Linear")
        return found

    @property
    def num_features(self) -> int:
        """Width of the features the head receives (the input width of its first linear layer; kept when
        ``reset_classifier(0)`` leaves the head without one)."""
        found = [m for m in self.head_module().modules() if isinstance(m, nn.Linear)]
        return found[0].in_features if found else int(getattr(self, "_head_in_features", 0))

    def get_classifier(self) -> nn.Module:
        """The final linear layer (timm's ``get_classifier``)."""
        return self._linears()[-1][1]

    def reset_classifier(self, num_classes: int, global_pool: Any = None) -> None:
        """Replace the final linear layer by a fresh one with ``num_classes`` outputs (``0``: identity, the
        head then returns its input features). ``global_pool`` is accepted for timm and must stay ``None``."""
        if global_pool not in (None, ""):
            raise ConfigError(
                f"{type(self).__name__}: the pooling is part of the architecture; global_pool must be None"
            )
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ConfigError(
                f"{type(self).__name__}: num_classes must be an integer >= 0, got {num_classes!r}"
            )
        site = getattr(self, "_classifier_site", None)  # where a reset already put its layer
        if site is None:
            self._head_in_features = self.num_features
            name, old = self._linears()[-1]
            site = self._classifier_site = (name, old.in_features, old.bias is not None)
        name, in_features, bias = site
        ref = next(iter(self.parameters()), None)
        new: nn.Module = nn.Identity()
        if num_classes > 0:
            new = nn.Linear(in_features, num_classes, bias=bias)
            if ref is not None:
                new.to(device=ref.device, dtype=ref.dtype)
        head = self.head_module()
        if name:
            parent, _, attr = name.rpartition(".")
            setattr(head.get_submodule(parent) if parent else head, attr, new)
        else:
            parent, _, attr = self.head_name.rpartition(".")
            setattr(self.get_submodule(parent) if parent else self, attr, new)
        self.num_classes = num_classes

    def forward_features(self, x: Tensor) -> Tensor:
        """What the head receives for input ``x``: per-step features (``[T, B, num_features]`` for a head on
        flattened features). ``forward_head(forward_features(x))`` equals ``forward(x)``."""
        captured: list[Tensor] = []
        handle = self.head_module().register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
        try:
            self.forward_steps(x)
        finally:
            handle.remove()
        if len(captured) != 1:
            raise ConfigError(
                f"{type(self).__name__}: the head ran {len(captured)} times in one forward pass; a model that "
                "calls its head per step overrides forward_features and forward_head"
            )
        return captured[0]

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Logits ``[B, num_classes]`` from :meth:`forward_features` (the mean over time of the head's per-step
        output); ``pre_logits=True`` returns the features unchanged."""
        if pre_logits:
            return x
        return self.head_module()(x).mean(0)
