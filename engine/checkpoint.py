"""Checkpoints a killed run can always resume from.

Every file is written beside its target and renamed into place, and ``last.json`` (which
names the epoch's parameter and trainer-state files) is replaced only after they are
complete, so at any moment the run directory holds one loadable checkpoint.

The optimizer's states are saved in a form that cannot run code when read: their arrays in
MXNet's NDArray file format (``epoch-NNNN.states.nd``, ``mx.nd.save``) and their layout
and the optimizer's update counters in JSON beside it (``epoch-NNNN.states.json``).
``Trainer.save_states``/``load_states`` pickle them, and unpickling a file runs whatever
code it carries: runs from before this format are resumed only when the user says the run
directory is trusted (``train.py --resume RUN --trust-states``).
"""
import json
import os

import mxnet as mx

from data.files import UnsafePathError, safe_join
from utils.atomic import atomic_write, write_json
from utils.messages import one_line
from .config import read_json
from .errors import RunStateError, RunStateUnreadable

__all__ = ['save_parameters', 'save_checkpoint', 'load_checkpoint_state', 'last_state',
           'resume_advice',
           'checkpoint_file', 'save_trainer_states', 'load_trainer_states',
           'restore_trainer_states', 'initialise_trainer', 'LAST', 'STATES_SUFFIX']

LAST = 'last.json'
STATES_SUFFIX = '.states.nd'
_LAYOUT_SUFFIX = '.states.json'
_STATES_FORMAT = 'acm-trainer-states-1'


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
    states = None if trainer is None else 'epoch-%04d%s' % (epoch, STATES_SUFFIX)
    save_parameters(net, os.path.join(run_dir, params))
    if states:
        save_trainer_states(trainer, net, os.path.join(run_dir, states))
    previous = load_checkpoint_state(run_dir, missing_ok=True)
    write_json(os.path.join(run_dir, LAST), dict(state, params=params, states=states))
    if previous and previous['epoch'] != epoch:  # only now is the older one redundant
        old_states = previous.get('states')
        names = [previous.get('params'), old_states]
        if old_states and old_states.endswith(STATES_SUFFIX):
            names.append(_layout_name(old_states))
        for name in names:
            try:
                old = name and checkpoint_file(run_dir, name)
            except RunStateError:  # a last.json naming files elsewhere: leave them
                continue
            if old and os.path.exists(old):
                os.remove(old)


def load_checkpoint_state(run_dir, missing_ok=False):
    path = os.path.join(run_dir, LAST)
    if not os.path.isfile(path):
        if missing_ok:
            return None
        raise FileNotFoundError('%s has no %s: it is not a train.py run directory, or the run '
                                'was stopped before its first checkpoint.' % (run_dir, LAST))
    state = read_json(path, 'the run\'s last checkpoint')
    if not (isinstance(state, dict) and isinstance(state.get('epoch'), int)
            and isinstance(state.get('params'), str) and 'states' in state
            and isinstance(state.get('best'), dict) and isinstance(state.get('best_epoch'), dict)):
        raise RunStateUnreadable('%s is not a checkpoint train.py wrote (it must name the epoch, its '
                            'parameter and optimizer-state files and the best scores)' % path)
    return state


def last_state(run_dir):
    """The run's last checkpoint state, or None when there is none or it is unreadable
    (for messages written while the run is failing or stopping)."""
    try:
        return load_checkpoint_state(run_dir, missing_ok=True)
    except RunStateUnreadable:
        return None


def resume_advice(run_dir):
    """Where a run that stopped stands, and how to continue it, for its error message."""
    state = last_state(run_dir)
    if not state:
        return 'no checkpoint had been written yet'
    return ('the last checkpoint (epoch %d) is intact: continue with python train.py '
            '--resume %s' % (state['epoch'], run_dir))


def checkpoint_file(run_dir, name):
    """The file ``name`` (from ``last.json``) inside ``run_dir``; refuses names leading out."""
    try:
        return safe_join(run_dir, name)
    except UnsafePathError as err:
        raise RunStateError('%s names a file outside the run directory: %s. Repair or '
                              'remove %s.' % (os.path.join(run_dir, LAST), err, LAST)) from None


# --- optimizer states ---------------------------------------------------------------------

def _layout_name(states_path):
    return states_path[:-len(STATES_SUFFIX)] + _LAYOUT_SUFFIX


def initialise_trainer(trainer):
    """Make ``trainer`` create its kvstore and updaters now rather than at its first step
    (which also copies the first device's value of every parameter to the others)."""
    # pylint: disable=protected-access
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    if trainer._params_to_init:
        trainer._init_params()


def _state_updaters(trainer):
    """The updaters holding ``trainer``'s optimizer states: the kvstore's when it updates
    the parameters (several devices), else one per device (the first one's is saved, as
    ``Trainer.save_states`` does: every device applies the same update)."""
    initialise_trainer(trainer)
    # pylint: disable=protected-access
    if trainer._update_on_kvstore:
        if getattr(trainer._kvstore, '_updater', None) is None:
            raise RunStateError('the optimizer runs on parameter servers; its states cannot '
                                  'be saved or restored here')
        return [trainer._kvstore._updater]
    return trainer._updaters


def _parameter_names(trainer, net):
    """Structural parameter names (as in .params files) by the trainer's index."""
    # pylint: disable=protected-access
    by_object = {id(param): name for name, param in net._collect_params_with_prefix().items()}
    return [by_object.get(id(param), param.name) for param in trainer._params]


def _index_order(index):
    """Parameter indices in numeric order (MXNet uses ints; strings sort after them)."""
    return (0, index, '') if isinstance(index, int) else (1, 0, str(index))


def _flatten(state, key, arrays):
    """A JSON description of ``state`` (None, an NDArray or a tuple/list of them); its
    arrays go into ``arrays`` under ``key``, ``key/0``, ``key/1``..."""
    if state is None:
        return None
    if isinstance(state, mx.nd.NDArray):
        arrays[key] = state
        return key
    if isinstance(state, (tuple, list)):
        return {type(state).__name__: [_flatten(part, '%s/%d' % (key, slot), arrays)
                                       for slot, part in enumerate(state)]}
    raise RunStateError('cannot save an optimizer state of type %s' % type(state).__name__)


def _unflatten(layout, arrays, used):
    if layout is None:
        return None
    if isinstance(layout, str):
        used.add(layout)
        return arrays[layout]
    (kind, parts), = layout.items()
    return {'tuple': tuple, 'list': list}[kind](_unflatten(p, arrays, used) for p in parts)


def save_trainer_states(trainer, net, path):
    """Write ``trainer``'s optimizer states to ``path`` (``*.states.nd``) and their layout
    beside it (``*.states.json``), both atomically; nothing in them is code."""
    updater = _state_updaters(trainer)[0]
    optimizer = updater.optimizer
    names = _parameter_names(trainer, net)
    arrays, entries = {}, []
    for index in sorted(updater.states, key=_index_order):
        entries.append({'index': index, 'name': names[int(index)],
                        'state': _flatten(updater.states[index], str(index), arrays)})
    # pylint: disable=protected-access
    layout = {'format': _STATES_FORMAT, 'optimizer': type(optimizer).__name__,
              'num_update': optimizer.num_update,
              'begin_num_update': optimizer.begin_num_update,
              'index_update_counts': [
                  [device, [[index, counts[index]] for index in sorted(counts, key=_index_order)]]
                  for device, counts in optimizer._all_index_update_counts.items()],
              'states': entries}
    atomic_write(path, lambda tmp: mx.nd.save(tmp, arrays))
    write_json(_layout_name(path), layout)


def _read_states(path):
    """The arrays and the checked layout of a states file."""
    layout_path = _layout_name(path)
    try:
        with open(layout_path) as handle:
            layout = json.load(handle)
        arrays = mx.nd.load(path) or {}  # mx.nd.load gives [] for a file of no arrays
    except (OSError, ValueError, mx.base.MXNetError) as err:
        raise RunStateUnreadable('Cannot read the optimizer states %s (or their layout %s): %s'
                            % (path, os.path.basename(layout_path), one_line(err))) from None
    keys = ('optimizer', 'num_update', 'begin_num_update', 'index_update_counts', 'states')
    if not (isinstance(layout, dict) and layout.get('format') == _STATES_FORMAT
            and all(key in layout for key in keys) and isinstance(arrays, dict)):
        raise RunStateUnreadable('%s is not a layout of optimizer states this toolkit wrote; '
                            'it may have been cut short' % layout_path)
    return layout, arrays


def _check_network(layout, names, path):
    """Refuse states saved for parameters other than ``names`` (this network's, by index)."""
    try:
        saved = sorted((int(entry['index']), entry['name']) for entry in layout['states'])
    except (KeyError, TypeError, ValueError):
        raise RunStateError('%s does not list its parameters; resume from a complete '
                              'checkpoint.' % _layout_name(path)) from None
    for index, name in saved:
        here = names[index] if 0 <= index < len(names) else '(none)'
        if here != name:
            raise RunStateError('%s was written for another network: its parameter %d is %s, '
                                  'this network\'s is %s.' % (path, index, name, here))


def load_trainer_states(trainer, net, path):
    """Restore what :func:`save_trainer_states` wrote into every updater of ``trainer``, so
    that the next step is the one the saving run would have taken."""
    layout, arrays = _read_states(path)
    updaters = _state_updaters(trainer)
    optimizers = {id(u.optimizer): u.optimizer for u in updaters}.values()
    kind = type(updaters[0].optimizer).__name__
    if layout['optimizer'] != kind:
        raise RunStateError('%s holds %s states, but this run uses %s.'
                              % (path, layout['optimizer'], kind))
    _check_network(layout, _parameter_names(trainer, net), path)
    try:
        states = []
        for number, _ in enumerate(updaters):
            own = arrays if number == 0 else {k: v.copy() for k, v in arrays.items()}
            used = set()
            states.append({entry['index']: _unflatten(entry['state'], own, used)
                           for entry in layout['states']})
            if used != set(arrays):
                raise ValueError('arrays the layout does not name')
        counts = {device: {index: count for index, count in per_index}
                  for device, per_index in layout['index_update_counts']}
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
        raise RunStateError('%s and its layout %s do not match (%s: %s); resume from a '
                              'complete checkpoint.' % (path, _layout_name(path),
                                                        type(err).__name__, err)) from None
    for updater, own in zip(updaters, states):
        updater.states = own
        updater.states_synced = dict.fromkeys(own, False)  # moved to its device when used
    # pylint: disable=protected-access
    for optimizer in optimizers:
        optimizer.num_update = layout['num_update']
        optimizer.begin_num_update = layout['begin_num_update']
        optimizer._all_index_update_counts = {d: dict(c) for d, c in counts.items()} or {0: {}}
        optimizer._index_update_count = next(iter(optimizer._all_index_update_counts.values()))


def restore_trainer_states(trainer, net, run_dir, name, trusted=False):
    """Load the states file ``name`` of ``run_dir`` (from ``last.json``) into ``trainer``.

    A states file of the older pickle format is read (by ``Trainer.load_states``) only when
    ``trusted``: unpickling runs whatever code the file holds.
    """
    path = checkpoint_file(run_dir, name)
    if name.endswith(STATES_SUFFIX):
        load_trainer_states(trainer, net, path)
    elif trusted:
        try:
            trainer.load_states(path)
        except Exception as err:  # pylint: disable=broad-except  (whatever the pickle held)
            raise RunStateError('Cannot read the pickled optimizer states %s: %s: %s'
                                  % (path, type(err).__name__, err)) from None
    else:
        raise RunStateError(
            '%s holds the optimizer states as a Python pickle (the format of older runs), and '
            'reading a pickle runs any code it contains. If you trust this run directory and '
            'where it came from, resume with --trust-states (its next checkpoint is written in '
            'the safe format); otherwise start a new run.' % path)
