#!/usr/bin/env python
"""Regenerate the static plugin tables (``zoo_index.json``) that let ``zoo list``/``info``/``plugins``/``neurons``
answer without importing torch (:mod:`zoo_core.plugin_index`; the same as ``python -m zoo_core.plugin_index``).

Loads the core and every installed plugin for real, then writes each one's table into its package folder (the
checkout, for editable installs). Run it after changing what a plugin (or the core) registers: the test suite
fails while a shipped table differs from the live registry, and the CLI ignores a table whose package changed
(it then imports the plugins: correct, but seconds slower).

Examples::

    python tools/make_index.py            # write the tables of the core and every installed plugin
    python tools/make_index.py --check    # exit 1 if any table is missing or stale (writes nothing)
    python tools/make_index.py empf stc   # only these plugins
"""

from __future__ import annotations

from zoo_core.plugin_index import main

if __name__ == "__main__":
    raise SystemExit(main())
