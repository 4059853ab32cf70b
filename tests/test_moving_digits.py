"""The Moving-digits generator: the official Moving MNIST rules, on scikit-learn's digits."""

import numpy as np
import pytest
import torch

import zoo_core as zoo
from zoo_core.data.moving_digits import digit_images, random_trajectory, render_sequence


def test_registered_with_its_task_and_shapes():
    assert zoo.dataset_info("moving_digits").task == "video-prediction"
    ds = zoo.create_dataset("moving_digits", split="test", num_samples=4)
    x, y = ds[0]
    assert len(ds) == 4
    assert x.shape == (5, 1, 32, 32) and y.shape == (5, 1, 32, 32)
    assert (
        x.dtype == torch.float32
        and float(torch.cat([x, y]).min()) >= 0
        and float(torch.cat([x, y]).max()) <= 1
    )


def test_trajectory_moves_by_the_step_and_bounces_by_reflection():
    walls = 0
    for seed in range(20):
        xs, ys, theta = random_trajectory(np.random.default_rng(seed), 60, 0.1)
        for pos, v in ((xs, np.cos(theta)), (ys, np.sin(theta))):
            assert pos.min() >= 0 and pos.max() <= 1  # clamped to the unit square
            step = abs(v) * 0.1
            for k in range(len(pos) - 1):
                d = pos[k + 1] - pos[k]
                if pos[k + 1] not in (0.0, 1.0):  # free flight keeps the speed
                    assert abs(abs(d) - step) < 1e-12
                else:
                    assert abs(d) <= step + 1e-12
                if pos[k] == 0.0 and step > 1e-9:  # reflection: after a wall the motion points away from it
                    walls += 1
                    assert d > 0
                if pos[k] == 1.0 and step > 1e-9:
                    walls += 1
                    assert d < 0
    assert walls > 10  # the walls were actually hit


def test_first_frame_is_one_step_after_the_start():
    rng = np.random.default_rng(7)
    x0, y0, th = rng.random(), rng.random(), rng.random() * 2 * np.pi
    xs, ys, theta = random_trajectory(np.random.default_rng(7), 1, 0.1)
    assert float(theta) == th
    assert xs[0] == pytest.approx(min(max(x0 + 0.1 * np.cos(th), 0), 1))
    assert ys[0] == pytest.approx(min(max(y0 + 0.1 * np.sin(th), 0), 1))


def test_digits_stay_on_the_canvas_and_are_drawn_whole():
    imgs = digit_images(2)
    assert imgs.shape == (1797, 16, 16) and imgs.max() == 1.0
    for seed in range(10):
        frames = render_sequence(np.random.default_rng(seed), imgs, 30, 32, num_digits=1)
        rng = np.random.default_rng(seed)
        random_trajectory(rng, 30)
        digit = imgs[int(rng.integers(len(imgs)))]
        for f in frames:  # one digit: its whole mass is on the canvas in every frame
            assert f.sum() == pytest.approx(digit.sum(), rel=1e-6)


def test_two_digits_combine_by_maximum():
    imgs = digit_images(2)
    a = render_sequence(np.random.default_rng(3), imgs, 4, 32, num_digits=2)
    rng = np.random.default_rng(3)
    canvas = np.zeros((4, 32, 32), np.float32)
    for _ in range(2):
        xs, ys, _ = random_trajectory(rng, 4)
        img = imgs[int(rng.integers(len(imgs)))]
        for t in range(4):
            r, c = int(16 * ys[t]), int(16 * xs[t])
            canvas[t, r : r + 16, c : c + 16] = np.maximum(canvas[t, r : r + 16, c : c + 16], img)
    assert np.array_equal(a, canvas)


def test_deterministic_by_seed_and_index_and_splits_use_disjoint_images():
    a = zoo.create_dataset("moving_digits", split="train", num_samples=8, seed=1)
    b = zoo.create_dataset("moving_digits", split="train", num_samples=8, seed=1)
    c = zoo.create_dataset("moving_digits", split="train", num_samples=8, seed=2)
    assert torch.equal(a[5][0], b[5][0]) and torch.equal(a[5][1], b[5][1])
    assert torch.equal(a[3][0], b[3][0])  # access order does not matter
    assert not torch.equal(a[5][0], c[5][0])
    assert not torch.equal(a[5][0], a[6][0])
    test = zoo.create_dataset("moving_digits", split="test", num_samples=8, seed=1)
    assert len(a.images) == 1500 and len(test.images) == 297
    all_imgs = digit_images(2)
    assert np.array_equal(test.images, all_imgs[1500:])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"split": "val"}, "split"),
        ({"canvas": 12}, "fit on the canvas"),
        ({"num_samples": 0}, "num_samples"),
        ({"pre_seq_length": 0}, "pre_seq_length"),
        ({"train_digits": 1797}, "train_digits"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        zoo.create_dataset("moving_digits", **kwargs)
