"""Training the attention ranker: next-item examples from the events, uniform and hard negatives, the losses, the
time-based validation, the fitting loop, and a run that writes and registers a version (``recadmin train``)."""

from ranker.training.api import TrainRun, train_and_register
from ranker.training.fit import FitResult, fit
from ranker.training.options import TrainOptions

__all__ = ["FitResult", "TrainOptions", "TrainRun", "fit", "train_and_register"]
