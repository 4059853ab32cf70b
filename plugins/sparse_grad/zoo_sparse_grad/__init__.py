"""zoo-core plugin: sparse-gradient regularisation for adversarially robust SNNs (Liu et al., ICML 2024)."""

from __future__ import annotations

__version__ = "0.1.0"
