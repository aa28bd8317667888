"""A pure-NumPy feed-forward network for regression, and its trainer."""
from .network import Network
from .trainer import TrainConfig, TrainingDiverged, TrainResult, train

__all__ = ["Network", "TrainConfig", "TrainResult", "TrainingDiverged", "train"]
