"""Why a training run stops with an error (train.py turns each into one line on stderr)."""
from model import CheckpointError

__all__ = ['TrainingDiverged', 'RunStateError']


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class RunStateError(CheckpointError):
    """A run directory's saved state (args.json, last.json, history.jsonl, optimizer states)
    is missing, cut short or not what train.py wrote."""
