"""Checkpoints a killed run can always resume from.

Every file is written beside its target and renamed into place, and ``last.json`` (which
names the epoch's parameter and trainer-state files) is replaced only after they are
complete, so at any moment the run directory holds one loadable checkpoint.
"""
import json
import os
import tempfile

import mxnet as mx

__all__ = ['atomic_write', 'save_parameters', 'save_checkpoint', 'load_checkpoint_state', 'LAST']

LAST = 'last.json'


def atomic_write(path, write):
    """Call ``write(tmp_path)`` then rename the temporary file to ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path), suffix='.tmp')
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates files readable by their owner only
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _write_json(data):
    def write(tmp):
        with open(tmp, 'w') as handle:
            json.dump(data, handle, indent=2)
    return write


def save_parameters(net, path):
    """``net.save_parameters`` made safe after training steps, written atomically.

    With ``hybridize(static_alloc=True)`` MXNet 1.9 can hand ``save_parameters`` batch-norm
    running statistics from before the last training step unless every pending operation
    has finished (seen here: a resumed run then drifted from an uninterrupted one).
    """
    mx.nd.waitall()
    atomic_write(path, net.save_parameters)


def save_checkpoint(run_dir, net, trainer, state):
    """Save parameters, optimizer state and ``state`` (epoch, best scores...) for resuming.

    ``trainer`` None saves no optimizer state (``last.json`` says ``"states": null``): a
    dist_async run keeps it on the parameter servers, which cannot save it.
    """
    epoch = state['epoch']
    params = 'epoch-%04d.params' % epoch
    states = None if trainer is None else 'epoch-%04d.states' % epoch
    save_parameters(net, os.path.join(run_dir, params))
    if states:
        atomic_write(os.path.join(run_dir, states), trainer.save_states)
    previous = load_checkpoint_state(run_dir, missing_ok=True)
    atomic_write(os.path.join(run_dir, LAST), _write_json(dict(state, params=params,
                                                              states=states)))
    if previous and previous['epoch'] != epoch:  # only now is the older one redundant
        for key in ('params', 'states'):
            old = previous.get(key) and os.path.join(run_dir, previous[key])
            if old and os.path.exists(old):
                os.remove(old)


def load_checkpoint_state(run_dir, missing_ok=False):
    path = os.path.join(run_dir, LAST)
    if not os.path.isfile(path):
        if missing_ok:
            return None
        raise FileNotFoundError('%s has no %s: it is not a train.py run directory, or the run '
                                'was stopped before its first checkpoint.' % (run_dir, LAST))
    with open(path) as handle:
        return json.load(handle)


def write_json(path, data):
    atomic_write(path, _write_json(data))
