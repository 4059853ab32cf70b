"""Train a registered classifier and write a weight folder; see ``zoo_core.train`` (also ``zoo train``).

python tools/train.py spiking_cnn --dataset digits --epochs 40 --out model_cards/spiking_cnn.digits_t4
torchrun --standalone --nproc_per_node=2 tools/train.py spiking_cnn --epochs 5
"""

from zoo_core.train import main

if __name__ == "__main__":
    raise SystemExit(main())
