"""Validators for constructor arguments and inputs: each returns the checked value or raises a zoo error.

Every message names who complains (a class or registry name), the argument, what was given and what would be
right. Arguments raise :class:`~zoo_core.errors.ConfigError`; tensors handed to a forward pass raise
:class:`~zoo_core.errors.InputError` (both are ``ValueError`` subclasses, so ``except ValueError`` still works).
Plugins reach these through :mod:`zoo_core.sdk`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TypeVar

from torch import Tensor

from .errors import ConfigError, InputError

T_ = TypeVar("T_")

__all__ = [
    "check_choice",
    "check_finite",
    "check_number",
    "check_positive",
    "check_positive_int",
    "check_time_steps",
]


def check_time_steps(T: object, who: str) -> int:
    """A number of time steps: an ``int >= 1`` (not a bool)."""
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ConfigError(f"{who}: T (number of time steps) must be an integer >= 1, got {T!r}")
    return T


def check_positive_int(value: object, name: str, who: str) -> int:
    """A size-like argument: an ``int >= 1`` (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{who}: {name} must be a positive integer, got {value!r}")
    return value


def check_number(value: object, name: str, who: str, allow_none: bool = False) -> float | None:
    """A finite real number (not a bool); ``None`` passes when ``allow_none``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        extra = " or None" if allow_none else ""
        raise ConfigError(f"{who}: {name} must be a finite number{extra}, got {value!r}")
    return float(value)


def check_positive(value: object, name: str, who: str, allow_none: bool = False) -> float | None:
    """A positive finite number (``> 0``); ``None`` passes when ``allow_none``."""
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"{who}: {name} must be a positive finite number, got {value!r}")
    return float(value)


def check_choice(value: T_, name: str, who: str, choices: Iterable[T_]) -> T_:
    """One of ``choices``."""
    options = tuple(choices)
    if value not in options:
        raise ConfigError(f"{who}: {name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


def check_finite(x: Tensor, who: str) -> Tensor:
    """A tensor without NaN or Inf (an :class:`InputError` says which one it holds)."""
    if not bool(x.isfinite().all()):
        bad = "NaN" if bool(x.isnan().any()) else "Inf"
        raise InputError(
            f"{who}: the input contains {bad} values; clean or mask them before the forward pass"
        )
    return x
