"""Tasks: what a model does, and everything that depends on it (evaluation, training, cards, checks).

The registry holds one :class:`Task` per task name (``zoo.list_tasks()``); the core's are
``image-classification`` (:mod:`.classification`) and ``video-prediction`` (:mod:`.prediction`). The loops
shared by tasks are in :mod:`.training`; the adversarial attacks of classifiers in :mod:`.attacks`.
"""

from .base import DTYPES, TRAIN_BASICS, Task, TrainConfig, cast_input, cast_model, get_task
from .classification import CLASSIFICATION_IO, ImageClassification, accuracy, evaluate
from .prediction import PREDICTION_IO, VideoPrediction, evaluate_prediction, prediction_dataset
from .training import build_model, fit, train

__all__ = [
    "CLASSIFICATION_IO",
    "DTYPES",
    "PREDICTION_IO",
    "TRAIN_BASICS",
    "ImageClassification",
    "Task",
    "TrainConfig",
    "VideoPrediction",
    "accuracy",
    "build_model",
    "cast_input",
    "cast_model",
    "evaluate",
    "evaluate_prediction",
    "fit",
    "get_task",
    "prediction_dataset",
    "train",
]
