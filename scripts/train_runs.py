"""The train.py command the scripts start: a new run in a folder, or its resumption."""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_command(folder, new_run, args):
    """``train.py`` resuming ``folder`` when it holds a checkpoint, else starting it with the
    options ``new_run`` (and ``--data-root``); then ``--gpus``, ``--no-progress`` and the
    options the user gave after ``--`` (``args.gpus``, ``args.data_root``,
    ``args.train_args``)."""
    if os.path.isfile(os.path.join(folder, 'last.json')):
        command = ['--resume', folder]
    else:
        command = list(new_run) + ['--save-dir', folder]
        if args.data_root:
            command += ['--data-root', args.data_root]
    return [sys.executable, os.path.join(REPO, 'train.py')] + command + [
        '--gpus', args.gpus, '--no-progress'] + args.train_args
