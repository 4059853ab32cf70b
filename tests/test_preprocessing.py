"""Image folders are evaluated through each model's declared preprocessing (resize, centre crop, interpolation,
mean/std), checked against the same pipeline written out by hand with PIL and torch."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.data import image_folder
from zoo_core.data.preprocessing import ImagePreprocessing, model_preprocessing, takes_images
from zoo_core.errors import ConfigError
from zoo_core.sdk import preprocessing
from zoo_core.tasks import get_task

#: a non-square size, so "resize the shorter side" and "resize to a square" give different images
W, H = 37, 29


def make_folder(root, mode: str, n: int = 2, size=(W, H)):
    """``root/test/<class>/*.png``: ``n`` random images per class (class ``a`` and ``b``); returns their paths."""
    rng = np.random.default_rng(0)
    paths = []
    for cls in ("a", "b"):
        (root / "test" / cls).mkdir(parents=True)
        for i in range(n):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            path = root / "test" / cls / f"{i}.png"
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
            paths.append(path)
    return paths


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL -> [C, H, W] float32 in [0, 1], by hand."""
    a = torch.tensor(np.asarray(img), dtype=torch.float32)
    return (a[None] if a.dim() == 2 else a.permute(2, 0, 1)) / 255


def by_hand(path, *, chans, size, resize=None, crop=None, interpolation="bilinear", mean=None, std=None):
    """The declared pipeline with PIL and torch only: convert, resize (shorter side to ``resize`` keeping the
    aspect ratio, or straight to ``size``), centre crop, scale to [0, 1], normalise."""
    resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[interpolation]
    img = Image.open(path).convert("RGB").convert("L" if chans == 1 else "RGB")
    if resize is None:
        img = img.resize((size, size), resample)
    else:
        w, h = img.size
        short, long = min(w, h), max(w, h)
        other = int(resize * long / short)
        img = img.resize((other, resize) if w >= h else (resize, other), resample)
        w, h = img.size
        left, top = round((w - crop) / 2.0), round((h - crop) / 2.0)
        img = img.crop((left, top, left + crop, top + crop))
    x = to_tensor(img)
    if mean is not None:
        x = (x - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1)
    return x


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    # the pipelines are the same operations in the same order; 1e-6 absorbs float32 rounding only (a wrong
    # resize, crop or normalisation moves values by far more)
    assert a.shape == b.shape
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_imagenet_style_model_is_evaluated_with_its_resize_crop_interpolation_and_mean_std(tmp_path):
    paths = make_folder(tmp_path, "RGB", size=(250, 236))
    model = zoo.create_model("spikingresformer_ti")  # bicubic resize 235, centre crop 224, ImageNet mean/std
    pre = zoo.model_info("spikingresformer_ti").preprocessing
    assert (pre["resize"], pre["crop"], pre["interpolation"]) == (235, 224, "bicubic")
    name, data = get_task("image-classification").eval_data(model, dataset=str(tmp_path), split="test")
    assert name == str(tmp_path) and len(data) == len(paths)
    for (x, label), path in zip(data, paths):
        expected = by_hand(
            path, chans=3, size=224, resize=235, crop=224, interpolation="bicubic", mean=pre["mean"],
            std=pre["std"],
        )  # fmt: skip
        close(x, expected)
        assert label == (0 if path.parent.name == "a" else 1)
    # not the old loader's pipeline (resize to a square, no normalisation)
    plain = by_hand(paths[0], chans=3, size=224)
    assert (data[0][0] - plain).abs().max() > 0.5


def test_model_without_normalisation_gets_the_resized_unit_image(tmp_path):
    paths = make_folder(tmp_path, "RGB")
    model = zoo.create_model("spiking_cnn")  # [B, 1, 8, 8] in [0, 1]: grey, resized to 8x8, nothing else
    _, data = get_task("image-classification").eval_data(model, dataset=str(tmp_path), split="test")
    for (x, _), path in zip(data, paths):
        close(x, by_hand(path, chans=1, size=8))
        assert x.min() >= 0 and x.max() <= 1


def test_cifar_style_normalisation_without_resize(tmp_path):
    paths = make_folder(tmp_path, "RGB", size=(32, 32))
    pre = preprocessing("cifar10")
    data = image_folder(tmp_path, "test", 3, 32, pre)
    assert len(data) == len(paths) == 4  # every image is read: the comparison below is not vacuous
    for (x, _), path in zip(data, paths):
        assert x.shape == (3, 32, 32) and float(x.min()) < 0  # normalised, not just scaled to [0, 1]
        close(x, by_hand(path, chans=3, size=32, mean=pre["mean"], std=pre["std"]))


def test_another_input_size_keeps_the_declared_crop_fraction():
    pre = zoo.model_info("spikingresformer_ti").preprocessing
    p = ImagePreprocessing.from_declared(pre, 3, 48)
    assert p.resize == math.floor(48 / 0.95) == 50 and p.size == (48, 48)
    assert ImagePreprocessing.from_declared(pre, 3, 224).resize == 235


def test_registered_data_sets_keep_their_own_transforms():
    model = zoo.create_model("spiking_cnn")
    _, data = get_task("image-classification").eval_data(model, dataset="digits", split="test")
    ref = zoo.create_dataset("digits", split="test")
    assert len(data) == len(ref)
    for i in (0, 7, len(ref) - 1):
        assert torch.equal(data[i][0], ref[i][0]) and data[i][1] == ref[i][1]


def test_zoo_eval_on_a_folder(tmp_path, capsys):
    make_folder(tmp_path, "L", n=3)
    assert main(["eval", "spiking_cnn.digits_t4", "--pretrained", "--dataset", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 6 and report["dataset"] == str(tmp_path)


def test_every_registered_image_model_declares_a_usable_preprocessing():
    images = [n for n in zoo.list_models() if takes_images(n)]
    assert "spiking_cnn" in images
    for name in set(zoo.list_models()) - set(images):  # spike clips, text features: no image pipeline to make
        with pytest.raises(ConfigError, match="its input is not an image"):
            model_preprocessing(name)
    for name in images:
        info = zoo.model_info(name)
        d = info.defaults
        p = model_preprocessing(name)
        size = d["img_size"] if isinstance(d["img_size"], list | tuple) else (d["img_size"], d["img_size"])
        assert p.size == tuple(size) and p.in_chans == d["in_chans"], name
        pre = info.preprocessing
        if "mean" in pre:
            assert p.mean == tuple(pre["mean"]) and p.std == tuple(pre["std"]), name
        else:
            assert p.mean is None and p.std is None, name
        if "resize" in pre:
            assert p.resize == pre["resize"] and math.floor(pre["crop"] / p.crop_pct) == pre["resize"], name
        # a model that normalises inside must not also declare a mean/std to apply outside
        if "normalises inside" in pre.get("input", "") or "standardises it inside" in pre.get("input", ""):
            assert "mean" not in pre, name


@pytest.mark.parametrize(
    ("pre", "chans", "match"),
    [
        ({"mean": [0.5, 0.5, 0.5]}, 3, "without the other"),
        ({"mean": [0.5, 0.5], "std": [0.2, 0.2]}, 3, "needs 3 finite values"),
        ({"mean": [0.5], "std": [0.0]}, 1, "std' must be > 0"),
        ({"resize": 256, "crop": 224, "crop_pct": 0.95}, 3, "disagrees with crop=224 and resize=256"),
        ({"resize": 200, "crop": 224}, 3, "larger than resize"),
        ({"interpolation": "cubic"}, 3, "not one of"),
        ({"resize": True}, 3, "must be an integer"),
    ],
)
def test_malformed_preprocessing_is_a_clear_error(pre, chans, match):
    with pytest.raises(ConfigError, match=match):
        ImagePreprocessing.from_declared(pre, chans, 224)


def test_image_folder_refuses_models_that_take_no_images(tmp_path):
    make_folder(tmp_path, "RGB")
    with pytest.raises(ConfigError, match="in_chans=2"):
        image_folder(tmp_path, "test", 2, 48, {})
