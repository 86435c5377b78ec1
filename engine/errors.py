"""Why a training run stops with an error (train.py turns each into one line on stderr)."""

__all__ = ['TrainingDiverged', 'RunStateError', 'RunStateUnreadable']


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class RunStateError(ValueError):
    """A run directory's checkpoint cannot be used: it names files outside the run, holds
    optimizer states of another network or optimizer, or states in the pickle format that
    only ``--trust-states`` reads."""


class RunStateUnreadable(RunStateError):
    """A run directory's saved state (args.json, last.json, history.jsonl, optimizer states)
    is missing, cut short or not what train.py wrote."""
