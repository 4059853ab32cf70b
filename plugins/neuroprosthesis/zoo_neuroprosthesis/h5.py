"""Turn an official Keras-2 ``.h5`` checkpoint into a safetensors file that ``zoo convert --official`` reads.

    python -m zoo_neuroprosthesis.h5 weights.h5 weights.safetensors                 # Keras names kept
    python -m zoo_neuroprosthesis.h5 weights.h5 weights.safetensors --model retina_crnn_lstm   # zoo layout
    zoo convert --official weights.safetensors --model retina_crnn_lstm --out FOLDER --tag movie2

``zoo convert`` reads safetensors and (opt-in) pickles, not HDF5. Without ``--model`` the tensors keep their Keras
names and layouts (``conv1/conv1/kernel:0``) and the model's ``from_official`` maps them by name when
``zoo convert`` runs; with ``--model`` they are mapped here already (which also handles files whose layers carry
other auto-numbered names, matched in the file's layer order). Needs h5py (``pip install
'zoo-neuroprosthesis[h5]'``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import zoo_core as zoo
from safetensors.torch import save_file
from zoo_core.sdk import ZooError

from .official import read_keras_h5


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zoo_neuroprosthesis.h5", description=__doc__.split("\n")[0])
    p.add_argument("h5", help="Keras-2 weight file (save_weights or model.save)")
    p.add_argument("out", help="safetensors file to write")
    p.add_argument("--model", default=None, help="registered model: write its state dict (zoo layout)")
    p.add_argument(
        "--model-kwargs", type=json.loads, default={}, help="JSON constructor overrides of --model"
    )
    args = p.parse_args(argv)
    try:
        state = read_keras_h5(args.h5)
        if args.model:
            kwargs = {**zoo.official_config(args.model, state), **args.model_kwargs}
            model = zoo.create_model(args.model, **kwargs)
            mapped = zoo.from_official(args.model, state)
            model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in mapped.items()})
            state = model.state_dict()
        save_file({k: v.contiguous() for k, v in state.items()}, str(Path(args.out)))
    except (ZooError, RuntimeError) as exc:
        print(f"zoo_neuroprosthesis.h5: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.out} ({len(state)} tensors{', ' + args.model + ' layout' if args.model else ', Keras names'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
