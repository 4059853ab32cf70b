"""Event frames and the CIFAR10-DVS folder loader, on synthetic recordings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import zoo_core as zoo
from zoo_core.data.dvs import EventFrameFolder, collate_time_first, events_to_frames
from zoo_core.errors import ConfigError, InputError


def _events(n: int, seed: int, h: int = 8, w: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "t": np.sort(rng.integers(0, 10_000, n)),
        "x": rng.integers(0, w, n),
        "y": rng.integers(0, h, n),
        "p": rng.integers(0, 2, n),
    }


def _loop_frames(ev: dict[str, np.ndarray], bounds: list[tuple[int, int]], h: int, w: int) -> np.ndarray:
    """Independent reference: one event at a time."""
    out = np.zeros((len(bounds), 2, h, w), dtype=np.float32)
    for j, (lo, hi) in enumerate(bounds):
        for i in range(lo, hi):
            out[j, ev["p"][i], ev["y"][i], ev["x"][i]] += 1
    return out


def test_split_by_number_counts_every_event_once() -> None:
    ev = _events(103, 0)
    fr = events_to_frames(ev["t"], ev["x"], ev["y"], ev["p"], 4, 8, 8)
    # floor(103/4) = 25 events per slice, the last slice takes the remaining 28
    bounds = [(0, 25), (25, 50), (50, 75), (75, 103)]
    np.testing.assert_array_equal(fr, _loop_frames(ev, bounds, 8, 8))
    assert fr.reshape(4, -1).sum(1).tolist() == [25, 25, 25, 28]


def test_split_by_time_uses_equal_durations() -> None:
    ev = {
        "t": np.array([0, 1, 4, 5, 9, 10, 12]),
        "x": np.array([0, 1, 2, 3, 0, 1, 2]),
        "y": np.zeros(7, dtype=int),
        "p": np.array([1, 0, 1, 0, 1, 1, 0]),
    }
    fr = events_to_frames(ev["t"], ev["x"], ev["y"], ev["p"], 3, 1, 4, split_by="time")
    # dt = (12 - 0) // 3 = 4: [0, 4) -> events 0, 1; [4, 8) -> 2, 3; last slice [8, end] -> 4, 5, 6
    np.testing.assert_array_equal(fr, _loop_frames(ev, [(0, 2), (2, 4), (4, 7)], 1, 4))


def test_repeated_pixel_counts_accumulate() -> None:
    fr = events_to_frames([0, 1, 2], [3, 3, 3], [2, 2, 2], [1, 1, 1], 1, 4, 4)
    assert fr[0, 1, 2, 3] == 3 and fr.sum() == 3


@pytest.mark.parametrize(
    "kw,err,match",
    [
        ({"frames": 0}, ConfigError, "frames must be an integer >= 1"),
        ({"split_by": "count"}, ConfigError, "split_by must be 'number' or 'time'"),
        ({"x": [0, 9]}, InputError, "outside the 8x8 sensor"),
        ({"p": [0, -1]}, InputError, "polarity p must be 0 or 1"),
        ({"t": [5, 1]}, InputError, "must be sorted"),
        ({"y": [0]}, InputError, "differ in length"),
    ],
)
def test_bad_events_are_named(kw, err, match) -> None:
    args = {"t": [0, 1], "x": [0, 1], "y": [0, 1], "p": [0, 1], "frames": 2, "height": 8, "width": 8}
    args.update(kw)
    with pytest.raises(err, match=match):
        events_to_frames(**args)


@pytest.fixture
def dvs_root(tmp_path):
    """3 classes x 10 recordings: events in one class folder layout, stored frames in another."""
    for c, name in enumerate(["cat", "airplane", "dog"]):
        (tmp_path / name).mkdir()
        for i in range(10):
            ev = _events(60 + i, 100 * c + i, h=16, w=16)
            if c == 2:  # stored frames (SpikingJelly's frames folder layout)
                np.savez(
                    tmp_path / name / f"{i:04d}.npz",
                    frames=events_to_frames(**ev, frames=4, height=16, width=16),
                )
            else:
                np.savez(tmp_path / name / f"{i:04d}.npz", **ev)
    return tmp_path


def test_official_split_and_resize(dvs_root) -> None:
    train = zoo.create_dataset("cifar10_dvs", root=dvs_root, split="train", frames=4, img_size=8)
    test = zoo.create_dataset("cifar10_dvs", root=dvs_root, split="test", frames=4, img_size=8)
    assert train.classes == ["airplane", "cat", "dog"]  # sorted, as torchvision/SpikingJelly folders
    assert len(train) == 27 and len(test) == 3
    assert train.indices == [k * 10 + i for k in range(3) for i in range(9)]
    assert test.indices == [9, 19, 29]  # the last recording of each class (official DatasetSplitter)
    x, y = test[2]
    assert x.shape == (4, 2, 8, 8) and x.dtype == torch.float32 and y == 2
    raw = zoo.create_dataset("cifar10_dvs", root=dvs_root, split="all", frames=4, img_size=None)
    full = raw[29][0]
    assert full.shape == (4, 2, 16, 16)
    # frames are resized per (step, polarity) plane: bilinear, antialiased, as torchvision's Resize
    ref = torch.nn.functional.interpolate(
        full, size=(8, 8), mode="bilinear", antialias=True, align_corners=False
    )
    torch.testing.assert_close(x, ref)
    assert abs(float(x.sum()) - float(full.sum()) / 4) < 0.01 * float(full.sum())
    xb, yb = next(iter(DataLoader(train, batch_size=5, collate_fn=train.collate_fn)))
    assert xb.shape == (4, 5, 2, 8, 8) and yb.tolist() == [0] * 5


def test_time_first_collate_feeds_a_model() -> None:
    batch = [(torch.rand(3, 2, 8, 8), 1), (torch.rand(3, 2, 8, 8), 0)]
    xs, ys = collate_time_first(batch)
    torch.testing.assert_close(xs[:, 1], batch[1][0])
    assert ys.tolist() == [1, 0]


def test_folder_errors(tmp_path, dvs_root) -> None:
    with pytest.raises(FileNotFoundError, match="not a folder"):
        EventFrameFolder(tmp_path / "missing")
    with pytest.raises(InputError, match=r"frames have shape \(4, 2, 16, 16\); expected \[10, 2, H, W\]"):
        EventFrameFolder(dvs_root, frames=10)[25]
    (dvs_root / "dog" / "extra.npz").write_bytes(b"")
    with pytest.raises(InputError, match="same number per class"):
        zoo.create_dataset("cifar10_dvs", root=dvs_root, split="test", frames=4)


def test_evaluate_batches_event_data_time_first(dvs_root) -> None:
    """zoo_core.evaluate uses the data set's collate_fn: a [T, B, 2, S, S] batch reaches the model."""
    from zoo_core.tasks import evaluate

    data = zoo.create_dataset("cifar10_dvs", root=dvs_root, split="all", frames=4, img_size=8)
    model = zoo.create_model("spiking_cnn", T=4, in_chans=2, img_size=8, num_classes=3).eval()
    report = evaluate(model, data, batch_size=7, progress=False)
    assert report["samples"] == 30
    with torch.no_grad():
        expected = sum(
            int((model(x).argmax(-1) == y).sum()) for x, y in DataLoader(data, 7, collate_fn=data.collate_fn)
        )
    assert report["accuracy"] == expected / 30
    assert report["macs"] > 0  # per sample: profiled batches divided by B (dim 1), not T
    single = zoo.profile(model, next(iter(DataLoader(data, 30, collate_fn=data.collate_fn)))[0])
    assert report["macs"] == pytest.approx(single.macs)
