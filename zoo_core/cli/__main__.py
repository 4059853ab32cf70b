"""``python -m zoo_core.cli ...`` (also under ``torchrun``): the ``zoo`` command line."""

from zoo_core.cli import main

raise SystemExit(main())
