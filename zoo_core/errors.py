"""Exceptions raised by zoo-core. Every message names what is wrong and what would be right."""

from __future__ import annotations

import difflib


class ZooError(Exception):
    """Base class of zoo-core errors."""


class UnknownNameError(ZooError, LookupError):
    """A name that no registry entry has. The message lists the closest registered names, and all of them when
    there are few (``of_what`` narrows the kind: ``UnknownNameError("weight tag", "x", tags, "of spiking_cnn")``)."""

    #: up to this many known names are listed in full
    LIST_ALL = 12

    def __init__(self, kind: str, name: str, known: list[str], of_what: str = ""):
        self.kind, self.name, self.known = kind, name, known
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        if not close:
            close = [k for k in known if name.split("_")[0] in k][:5]
        hint = f"; closest: {', '.join(close)}" if close else ""
        where = f" {of_what}" if of_what else ""
        if not known:
            listing = f" No {kind}s{where} are registered."
        elif len(known) <= self.LIST_ALL:
            listing = f" Registered {kind}s{where}: {', '.join(known)}."
        else:
            listing = (
                f" Registered {kind}s{where}: {len(known)} (zoo.list_{kind.replace(' ', '_')}s() shows them)"
            )
        super().__init__(f"unknown {kind} {name!r}{where}{hint}.{listing}")

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError otherwise
        return self.args[0]


class RegistrationConflictError(ZooError):
    """Two owners registered the same name."""


class PluginError(ZooError):
    """A plugin failed to load or register (raised only under ``ZOO_PLUGINS_STRICT=1``)."""


class InputError(ZooError, ValueError):
    """A tensor handed to a model or neuron does not match what it accepts."""


class ConfigError(ZooError, ValueError):
    """A constructor argument is invalid (e.g. T <= 0)."""


class WeightsError(ZooError, ValueError):
    """A weight folder or file is missing, corrupt or does not fit the model."""
