"""Train a registered model the way its task does and write a weight folder (the same as ``zoo train``).

python tools/train.py spiking_cnn --dataset digits --epochs 40 --out zoo_core/weights/spiking_cnn.digits_t4
torchrun --standalone --nproc_per_node=2 tools/train.py spiking_cnn --epochs 5

The command line is recorded in the folder's card as ``python tools/train.py ...``.
"""

from __future__ import annotations

import argparse
import sys

from zoo_core.cli.jobs import add_train_arguments, run_training


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="tools/train.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    args = add_train_arguments(parser).parse_args(argv)
    return run_training(args, "python tools/train.py", argv)


if __name__ == "__main__":
    raise SystemExit(main())
