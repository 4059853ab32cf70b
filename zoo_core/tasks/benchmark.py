"""``bench_neuron``: a neuron trained in ``spiking_cnn`` on digits, for a fixed budget (``zoo bench-neuron``)."""

from __future__ import annotations

from typing import Any

from ..neurons import BaseNeuron
from ..plugins import create
from .base import TrainConfig
from .classification import evaluate
from .training import train


def bench_neuron(
    neuron: str,
    neuron_kwargs: dict[str, Any] | None = None,
    epochs: int = 3,
    T: int = 4,
    seed: int = 0,
    max_steps: int | None = None,
) -> dict[str, Any]:
    """Train ``spiking_cnn`` with ``neuron`` (BPTT, AdamW, same seed and data as every other run) and measure it.

    Returns accuracy on the digits test split, mean firing rate, milliseconds per training step and the number
    of trainable parameters the neurons add.
    """
    create("neuron", neuron, **(neuron_kwargs or {}))  # fail fast with the registry's error on a bad name
    cfg = TrainConfig(
        model="spiking_cnn",
        model_kwargs={"T": T, "neuron": neuron, "neuron_kwargs": neuron_kwargs or {}},
        epochs=epochs,
        seed=seed,
        max_steps=max_steps,
        verbose=False,
    )
    result = train(cfg, return_model=True)
    model = result["model"]
    report = evaluate(model, create("dataset", "digits", split="test"), progress=False)
    neuron_params = sum(
        p.numel() for m in model.modules() if isinstance(m, BaseNeuron) for p in m.parameters()
    )
    return {
        "neuron": neuron,
        "accuracy": report["accuracy"],
        "mean_firing_rate": report["mean_firing_rate"],
        "ms_per_step": 1000 * result["seconds"] / max(result["steps"], 1),
        "steps": result["steps"],
        "neuron_params": neuron_params,
    }
