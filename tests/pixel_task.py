"""A test plugin that brings a task the core does not know: per-pixel regression (denoising 8x8 digits).

It registers the task ``pixel-regression`` (its I/O spec, metrics, evaluation, training and a conformance check),
a data set made for it and a small spiking model, through the same hooks and SDK as any plugin; the core's
``zoo eval``, ``zoo train``, cards and conformance kit then serve its model without a line of core code knowing
the task (``tests/test_tasks.py``). Like every plugin it imports only ``zoo_core`` and ``zoo_core.sdk``.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import zoo_core as zoo
from zoo_core.sdk import (
    IOSpec,
    Metric,
    StepWise,
    Task,
    TensorSpec,
    TrainConfig,
    cast_model,
    check_positive_int,
    check_time_steps,
    encode_image_input,
    fit,
    hookimpl,
)

ZOO_API_VERSION = "1.2"

NOISE = 0.3


class PixelRegression(Task):
    """Map an image to an image of the same size, pixel by pixel (here: remove Gaussian noise)."""

    name = "pixel-regression"
    io = IOSpec(
        inputs=(TensorSpec(name="image", shape=("B", "in_chans", "img_size", "img_size"), kind="unit"),),
        output=TensorSpec(name="image_out", shape=("B", "in_chans", "img_size", "img_size")),
        description="a noisy image in, the clean image out",
    )
    metrics = (
        Metric(name="mse", direction="lower", definition="mean over pixels and samples of the squared error"),
        Metric(
            name="mae", direction="lower", definition="mean over pixels and samples of the absolute error"
        ),
    )
    default_dataset = "denoise_digits"

    @torch.no_grad()
    def evaluate(self, model: nn.Module, data: Dataset, **options: Any) -> dict[str, Any]:
        """MSE and MAE of the model and of the identity baseline (the noisy input itself)."""
        dtype = options.get("dtype")
        model = cast_model(model, dtype).eval()
        sums = {"model": torch.zeros(2, dtype=torch.float64), "identity": torch.zeros(2, dtype=torch.float64)}
        pixels = samples = 0
        for x, y in DataLoader(data, batch_size=options.get("batch_size", 256)):
            if dtype is not None:
                x, y = x.double(), y.double()
            for who, pred in (("model", model(x)), ("identity", x)):
                err = (pred - y).double()
                sums[who] += torch.stack([err.square().sum(), err.abs().sum()])
            pixels += y.numel()
            samples += len(y)

        def metrics(s: Tensor) -> dict[str, float]:
            return {"mse": float(s[0] / pixels), "mae": float(s[1] / pixels)}

        return {
            "samples": samples,
            "dtype": dtype,
            "metrics": metrics(sums["model"]),
            "identity": metrics(sums["identity"]),
        }

    def train(
        self, cfg: TrainConfig, command: str | None = None, return_model: bool = False
    ) -> dict[str, Any]:
        """Minimise the MSE with the shared loop; the card records float64 metrics beside the identity's."""
        torch.manual_seed(cfg.seed)
        model = zoo.create_model(cfg.model, **cfg.model_kwargs)
        dataset = cfg.dataset or self.default_dataset

        def step(net: nn.Module, batch: Any, opt: torch.optim.Optimizer) -> dict[str, float]:
            x, y = batch
            net.train()
            loss = F.mse_loss(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return {"loss": float(loss.detach())}

        t0 = time.perf_counter()
        result = fit(cfg, model, zoo.create_dataset(dataset, split="train"), step)
        report = self.evaluate(model, zoo.create_dataset(dataset, split="test"), dtype="float64")
        result.update(report)
        if cfg.out:
            extra = {
                "metrics": {
                    **report["metrics"],
                    **{f"identity_{k}": v for k, v in report["identity"].items()},
                },
                "evaluation": {"dtype": "float64", "command": f"zoo eval {cfg.model} --weights {cfg.out}"},
                "training": {
                    "command": command or "",
                    "dataset": dataset,
                    "seconds": time.perf_counter() - t0,
                },
            }
            zoo.save_pretrained(model, cfg.out, tag=cfg.tag, extra_config=extra)
        if return_model:
            result["model"] = model
        return result

    def check_model(self, who: str, model: nn.Module, inputs: Any, config: dict) -> None:
        """An image of zeros maps to an image (not NaN) of the input's size: what every denoiser must do."""
        x = torch.zeros(1, config["in_chans"], config["img_size"], config["img_size"])
        with torch.no_grad():
            y = model.eval()(x)
        if y.shape != x.shape:
            raise AssertionError(
                f"{who}: check 'same size out' failed: {tuple(x.shape)} gave {tuple(y.shape)}"
            )


class PixelSNN(nn.Module):
    """Conv3x3 -> BN -> neuron -> Conv3x3 per time step; the output image is the mean over T."""

    def __init__(
        self, *, in_chans: int = 1, img_size: int = 8, T: int = 2, width: int = 8, neuron: str = "lif"
    ):
        super().__init__()
        self.T = check_time_steps(T, "PixelSNN")
        self.in_chans = check_positive_int(in_chans, "in_chans", "PixelSNN")
        self.img_size = check_positive_int(img_size, "img_size", "PixelSNN")
        self.stem = StepWise(nn.Conv2d(in_chans, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
        self.neuron = zoo.create_neuron(neuron)
        self.head = StepWise(nn.Conv2d(width, in_chans, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        seq = encode_image_input(x, self.T, self.in_chans, "PixelSNN")
        return self.head(self.neuron(self.stem(seq))).mean(0)


def denoise_digits(split: str = "train", seed: int = 0) -> Dataset:
    """scikit-learn's digits with Gaussian noise (sigma 0.3, seeded): (noisy image, clean image)."""
    clean = zoo.create_dataset("digits", split=split, seed=seed).tensors[0]
    g = torch.Generator().manual_seed(seed + (split == "test"))
    return TensorDataset(clean + NOISE * torch.randn(clean.shape, generator=g), clean)


@hookimpl
def register_tasks(register: Any) -> None:
    register(PixelRegression.name, PixelRegression)


@hookimpl
def register_datasets(register: Any) -> None:
    register(
        "denoise_digits", denoise_digits, task="pixel-regression", defaults={"split": "train", "seed": 0}
    )


@hookimpl
def register_models(register: Any) -> None:
    register(
        "pixel_snn",
        PixelSNN,
        task="pixel-regression",
        defaults={"in_chans": 1, "img_size": 8, "T": 2, "width": 8, "neuron": "lif"},
        description="Tiny spiking denoiser (test plugin of the task registry)",
    )
