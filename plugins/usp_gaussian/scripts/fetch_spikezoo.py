"""Fetch the real spike-camera recordings of the spikezoo package (set-up step; needs PyPI once).

    .venv/bin/python plugins/usp_gaussian/scripts/fetch_spikezoo.py [ROOT]

Runs ``pip download --no-deps spikezoo==0.2.3.7`` into a temporary folder and extracts only its
``data/base/{train,test}/{spike,gt}`` files (five 250 x 400 recordings of 301 frames and their ground truth, about
20 MB) to ROOT (default ``$ZOO_SPIKEZOO_ROOT``, else ``~/.cache/zoo/spikezoo-0.2.3.7``). spikezoo's code is never
installed or imported. The data set ``spikezoo_base`` reads them from there.
"""

from __future__ import annotations

import sys

from zoo_usp_gaussian.data import fetch_spikezoo


def main() -> int:
    root = fetch_spikezoo(sys.argv[1] if len(sys.argv) > 1 else None, quiet=False)
    print(f"spikezoo recordings in {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
