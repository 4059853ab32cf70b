"""Re-render every shipped model card from its folder's config.json: nothing is measured, the weights are untouched.

    python tools/render_cards.py           # rewrite the README.md of every shipped weight folder that differs
    python tools/render_cards.py --check   # only list the cards that differ (exit status 1 if any)

The shipped weight folders are ``zoo_core/weights/*/`` and ``plugins/*/zoo_*/weights/*/``; each card is what
``zoo_core.hub.folder_card`` renders from the folder's ``config.json`` and the registry (so every plugin must be
installed). Run it after changing the card renderer, a task's card methods or a model's registered description;
``tests/test_cards.py`` checks that every shipped card equals this rendering. To re-measure a card's numbers,
use ``tools/remeasure_card.py`` instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shipped_folders(root: Path = ROOT) -> list[Path]:
    """Every weight folder shipped in the repository's packages (holding a ``config.json``)."""
    found = [
        *root.glob("zoo_core/weights/*/config.json"),
        *root.glob("plugins/*/zoo_*/weights/*/config.json"),
    ]
    return sorted(p.parent for p in found)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a card differs")
    args = p.parse_args(argv)
    from zoo_core.hub import CARD_NAME, folder_card, parse_card  # after argparse: --help needs no torch

    stale = []
    for folder in shipped_folders():
        text = folder_card(folder)
        parse_card(text)
        card = folder / CARD_NAME
        if card.is_file() and card.read_text() == text:
            continue
        stale.append(folder)
        if not args.check:
            card.write_text(text)
        print(f"{'differs' if args.check else 'rewrote'}: {card.relative_to(ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
