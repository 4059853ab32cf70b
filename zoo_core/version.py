"""The zoo-core version (one place; pyproject.toml, zoo --version and weight folders read it)."""

__version__ = "0.2.0"
