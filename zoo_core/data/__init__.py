"""Data sets the core registers (all offline): scikit-learn's digits, Moving digits, CIFAR10-DVS from a local
folder, and image folders; ``load_dataset`` resolves a registered name or a folder."""

from .digits import digits, digits_70_30
from .dvs import CIFAR10_DVS_CLASSES, EventFrameFolder, cifar10_dvs, collate_time_first, events_to_frames
from .folders import image_folder, load_dataset
from .moving_digits import MovingDigits

__all__ = [
    "CIFAR10_DVS_CLASSES",
    "EventFrameFolder",
    "MovingDigits",
    "cifar10_dvs",
    "collate_time_first",
    "digits",
    "digits_70_30",
    "events_to_frames",
    "image_folder",
    "load_dataset",
]
