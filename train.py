"""Train any registry network on a dataset of the registry (SIRST by default) with the
paper's recipe.

    python train.py --net acm_unet --blocks 4 --gpus 0
    python train.py --dataset nudt-sirst --data-root ../shared/nudt-sirst --eval-dataset sirst
    python train.py --dataset sirst+nudt-sirst --data-root sirst=../shared/sirst,nudt-sirst=../shared/nudt-sirst
    python train.py --resume runs/train/acm_unet_b4-20261127-0210     # continue a run
    python tools/launch_local.py -n 2 -s 1 -- python train.py --kvstore dist_sync   # 2 workers

Defaults: Soft-IoU loss, Nesterov accelerated gradient (lr 0.05, momentum 0.9, wd 1e-4)
through gluon.Trainer with a poly(0.9) schedule, batch 8, 300 epochs, base 512 / crop 480,
He initialisation, the output bias at a target prior of 0.001 and the gradient not divided
by the batch size (`--recipe paper` is the paper's recipe exactly; see engine/recipes.py);
train on `train`, select the best epoch on `val`, report it on `test`.
`--paper-protocol` trains on `trainval` and selects on `test`, as the paper did.
A dataset without a validation split (NUDT-SIRST, most folders) gives up --val-fraction of
its training split, drawn with a fixed seed (the log says which), unless --val-split names
one. Sizes default to the dataset's protocol (SIRST base 512 / crop 480, NUDT-SIRST 256 /
256); a union trains on crops of its smallest member's crop size and scores each member at
its own base size. --eval-dataset B also scores B's test split at the end (at B's size).
"""
import utils.cores  # noqa: F401  (first: sizes MXNet's thread pool before it loads)
import argparse
import contextlib
import glob
import os
import signal
import sys
import time
import traceback

from cli.devices import parse_contexts
from cli.options import (KVSTORES, MIN_SIDE, CommandParser, add_data_options, add_device_options,
                         add_model_options, check_options, count, known_datasets, option,
                         side)
from data import DatasetError, dataset_protocol
from data.selection import CARVE_SEED, DatasetSelection
from engine.checkpoint import last_state, load_checkpoint_state, resume_advice
from engine.config import ARGS_FILE, RUNTIME_FIELDS, TrainConfig
from engine.distributed import ClusterWorker, DistributedError, is_distributed
from engine.errors import RunStateError, RunStateUnreadable, TrainingDiverged
from engine.precision import DTYPES, dtype_problem
from engine.recipes import MOMENTUM, RECIPES, WEIGHT_DECAY, apply_recipe
from engine.rundir import RunDirectoryError, run_directory_lock
from engine.trainer import train
from engine.workers import STALL_SCALE, LocalWorker
from model import ParameterFileError
from utils.atomic import DiskFullError

#: options of a resume that say how this process continues the run, not what it trains
RESUME_OPTIONS = ('resume', 'trust_states', 'stop_after', 'epochs') + RUNTIME_FIELDS


def build_parser():
    parser = CommandParser(description=__doc__.split('\n\n')[0])
    add = parser.add_argument
    add_model_options(parser)
    add_data_options(parser)
    option(parser, '--eval-dataset', default=None, valid=known_datasets,
           help='also score the best epoch on the test split of these datasets (A or A+B) '
                'at the end, each at its protocol size; roots from --data-root NAME=PATH '
                'or their environment variables')
    add('--train-split', default=None,
        help='default train (trainval with --paper-protocol)')
    add('--val-split', default=None,
        help='split that selects the best epoch; default the dataset\'s val split, else '
             '--val-fraction of the training split carved off (test with --paper-protocol)')
    option(parser, '--val-fraction', type=float, default=0.1, above=0, below=1,
           help='share of the training split carved off for validation where the dataset '
                'has no validation split (always with seed %d)' % CARVE_SEED)
    add('--test-split', default='test')
    add('--paper-protocol', action='store_true',
        help='train on trainval and select on test, as the paper did')
    side(parser, '--base-size', default=None,
         help='training scale and evaluation side (default: the dataset\'s protocol, '
              'sirst 512, nudt-sirst 256; a union\'s members each their own)')
    side(parser, '--crop-size', default=None,
         help='training crop (default: the protocol\'s, sirst 480, nudt-sirst 256; a '
              'union: its smallest member\'s)')
    add('--train-size-from', dest='train_sizes', action='append', type=_size_stage,
        default=None, metavar='EPOCH:BASE:CROP',
        help='progressive resizing: from epoch EPOCH on, train at base BASE / crop CROP '
             '(repeat for several stages, e.g. --train-size-from 1:256:240 '
             '--train-size-from 176:512:480); validation and the final scores stay at '
             '--base-size')
    count(parser, '--batch-size', default=8)
    count(parser, '--test-batch-size', default=8)
    count(parser, '--epochs', default=300)
    count(parser, '--val-every', default=1, help='score the selection split every N epochs')
    add('--recipe', default='default', choices=list(RECIPES),
        help='; '.join('%s: %s' % (name, r.description) for name, r in RECIPES.items()) +
        ' (the five options below override it)')
    add('--optimizer', default=None, choices=['nag', 'sgd', 'adagrad'],
        help="nag (paper), sgd with momentum, or adagrad (the toolkit's default, constant lr)")
    option(parser, '--lr', type=float, default=None, above=0)
    option(parser, '--output-prior', type=float, default=None, at_least=0, below=1,
           help='start every pixel at this target probability through the last bias (0: bias 0)')
    add('--grad-normalization', default=None, choices=['batch', 'none'],
        help='batch: divide the gradient of the batch-level loss by the batch size')
    count(parser, '--bn-batches', default=None, at_least=0,
          help='recompute batch-norm statistics from this many training batches before each '
               'validation (0: score with the running averages, as the original toolkit)')
    option(parser, '--momentum', type=float, default=MOMENTUM, at_least=0, below=1)
    option(parser, '--weight-decay', type=float, default=WEIGHT_DECAY, at_least=0)
    count(parser, '--warmup-epochs', default=0, at_least=0)
    count(parser, '--workers', default=2, at_least=0, help='data loading processes')
    add_device_options(parser, cpus=True)
    add('--syncbn', action='store_true', help='batch norm across the devices')
    add('--dtype', default='float32', choices=DTYPES,
        help='the number format of the training step: float32, or bfloat16 with float32 '
             'master weights (CPUs with AVX-512 BF16 or AMX); a resume may change it')
    add('--kvstore', default='device', choices=KVSTORES,
        help='device or local on one machine; dist_sync, dist_device_sync or dist_async as '
             'one worker of a multi-machine job (see tools/launch_local.py)')
    option(parser, '--dist-timeout', type=float, default=300, above=0,
           help='distributed runs: a worker that waits this many seconds for its peers (or '
                'the scheduler) stops with an error; allow for worker 0\'s validation and saving')
    add('--dist-param-dir', default=None,
        help='distributed runs: every worker saves its parameters at its start and end here '
             '(worker<rank>-epoch<N>.params), to check that the workers agree')
    option(parser, '--stall-timeout', type=float, default=300, above=0,
           help='a training step (or batch-norm batch) that makes no progress for this many '
                'seconds, or %d times the slowest step so far if longer, ends the run with '
                'an error (the last checkpoint stays intact)' % STALL_SCALE)
    count(parser, '--seed', default=0, at_least=0)
    add('--save-dir', default=None, help='run directory (default runs/train/<net>_b<blocks>-<time>)')
    add('--resume', default=None,
        help='a run directory (or its last.json) to continue; with --epochs, to a new end. '
             'The run keeps the network, data and recipe it was started with.')
    add('--trust-states', action='store_true',
        help='with --resume of a run from before the safe states format: read its optimizer '
             'states, a Python pickle that runs any code it holds; only for runs you trust')
    count(parser, '--stop-after', default=None,
          help='stop after this epoch (continue later with --resume)')
    add('--no-progress', action='store_true', help='no progress bars')
    return parser


def _size_stage(text):
    """``EPOCH:BASE:CROP`` of ``--train-size-from`` as ``[epoch, base, crop]``."""
    parts = text.split(':')
    if len(parts) != 3 or not all(part.strip().isdigit() for part in parts):
        raise argparse.ArgumentTypeError(
            '%r: give EPOCH:BASE:CROP as three whole numbers, e.g. 176:512:480' % text)
    return [int(part) for part in parts]


def _size_stage_problems(config, selection):
    """What is wrong with ``--train-size-from`` given the rest of the run."""
    stages = config.train_sizes or []
    if stages and selection.is_union:
        return ['--train-size-from: one dataset at a time (a union trains each member at '
                'its own protocol size)']
    problems, previous = [], 0
    for first, base, crop in stages:
        stage = '--train-size-from %d:%d:%d' % (first, base, crop)
        if first < 1 or (first > config.epochs and not config.resuming):
            problems.append('%s: epoch %d is outside the run (1..%d)'
                            % (stage, first, config.epochs))
        elif first <= previous:
            problems.append('%s: stages must start at increasing epochs (after %d)'
                            % (stage, previous))
        if min(base, crop) < MIN_SIDE:
            problems.append('%s: sides must be at least %d' % (stage, MIN_SIDE))
        if crop > base:
            problems.append('%s: the crop %d is larger than the base %d' % (stage, crop, base))
        previous = max(previous, first)
    return problems


def _resumed(parser, args, given):
    """The saved arguments of the run ``--resume`` names, with what this command line may
    change (where and how it runs, the end epoch); any other option given that differs from
    the run's is refused rather than silently ignored."""
    run_dir = args.resume if os.path.isdir(args.resume) else os.path.dirname(args.resume)
    if not os.path.isfile(os.path.join(run_dir, ARGS_FILE)):
        parser.error('--resume %s: no %s there; pass a directory made by train.py'
                     % (args.resume, ARGS_FILE))
    try:
        saved = TrainConfig.load_saved(run_dir)
    except RunStateUnreadable as err:
        parser.error('%s; the run cannot be continued without it (start a new run, or restore '
                     'the file from a copy)' % err)
    # pylint: disable=protected-access  (argparse keeps each option's flags there)
    flags = {a.dest: a.option_strings[0] for a in parser._actions if a.option_strings}
    conflicts = ['%s %s (the run has %s)' % (flags.get(key, '--' + key.replace('_', '-')),
                                             getattr(args, key), saved.get(key))
                 for key in sorted(given) if key not in RESUME_OPTIONS and key in saved
                 and getattr(args, key) != saved[key]]
    if conflicts:
        parser.error('--resume continues %s as it was started; %s: drop %s, or start a new '
                     'run with --save-dir' % (run_dir, ', '.join(conflicts),
                                              'it' if len(conflicts) == 1 else 'them'))
    for key in RUNTIME_FIELDS:  # given again on the command line: the new value wins
        if key in given or key not in saved:
            saved[key] = getattr(args, key)
    if 'epochs' in given and args.epochs != saved['epochs']:  # shorten or extend the run
        if saved['optimizer'] != 'adagrad':
            print('note: the learning-rate schedule restored from the checkpoint still '
                  'ends at epoch %d' % saved['epochs'], file=sys.stderr)
        saved['schedule_epochs'] = saved.get('schedule_epochs') or saved['epochs']
        saved['epochs'] = args.epochs
    # never inherited: an earlier --stop-after, the trust given to an earlier resume
    return dict(saved, resume=args.resume, save_dir=run_dir, stop_after=args.stop_after,
                trust_states=args.trust_states)


def resolve_arguments(argv=None):
    """Parse, apply protocol and recipe defaults, merge a resumed run's arguments and
    validate every option once; returns ``(parser, TrainConfig)``."""
    parser = build_parser()
    args, given = parser.parse_args(argv), parser.given(argv)
    if args.resume:
        values = _resumed(parser, args, given)
    else:
        if args.trust_states:
            parser.error('--trust-states goes with --resume (it lets a run\'s old optimizer '
                         'states be read)')
        args.train_split = args.train_split or ('trainval' if args.paper_protocol else 'train')
        args.val_split = args.val_split or ('test' if args.paper_protocol else None)
        args.save_dir = args.save_dir or os.path.join(
            'runs', 'train', '%s_b%d-%s' % (args.net, args.blocks, time.strftime('%Y%m%d-%H%M%S')))
        values = vars(apply_recipe(args))
    config = TrainConfig.from_dict(values)
    try:
        selection = DatasetSelection.of(config)
    except DatasetError as err:
        parser.error(str(err).rstrip('.'))
    if not config.resuming:
        _protocol_sizes(config, selection)
    problems = []
    for name in selection.names:
        base = selection.base_size(name, config.base_size)
        if config.crop_size > base:
            problems.append('--crop-size %d is larger than %s allows'
                            % (config.crop_size, '--base-size %d' % base if config.base_size
                               else 'the %s protocol\'s base size %d' % (name, base)))
    problems += _size_stage_problems(config, selection)
    if config.dtype != 'float32' and config.syncbn:
        problems.append('--dtype %s with --syncbn: batch norm across devices runs operator '
                        'by operator, in float32; drop one of them' % config.dtype)
    if config.warmup_epochs >= config.epochs:
        problems.append('--warmup-epochs %d: must be below --epochs (%d)'
                        % (config.warmup_epochs, config.epochs))
    problems = check_options(parser, config) + problems
    if problems:
        parser.error('; '.join(problems))
    return parser, config


def _protocol_sizes(config, selection):
    """Sizes not given come from the dataset's protocol (a union keeps base_size None:
    each member its own; its crop is the smallest member's)."""
    if config.base_size is None and not selection.is_union:
        config.base_size = dataset_protocol(selection.names[0])['base_size']
    config.crop_size = selection.crop_size(config.crop_size)


def main(argv=None):
    parser, config = resolve_arguments(argv)
    try:
        ctx = parse_contexts(config.gpus, cpus=config.cpus)
        problem = dtype_problem(config.dtype, ctx)
        if problem:
            raise ValueError('--dtype %s: %s' % (config.dtype, problem))
    except ValueError as err:
        parser.error(str(err))
    if config.batch_size < len(ctx):
        parser.error('--batch-size %d is smaller than the %d devices it is split across'
                     % (config.batch_size, len(ctx)))
    if not is_distributed(config.kvstore):
        return _train(config, ctx, LocalWorker(config.kvstore, config.stall_timeout))
    try:
        worker = ClusterWorker.connect(config.kvstore, config.dist_timeout,
                                       config.dist_param_dir)
    except DistributedError as err:
        parser.error(str(err))
    # any failure ends the worker at once; success waits for the others first
    return worker.finish(_train(config, ctx, worker))


def _start(config):
    """A new run in ``config.save_dir`` (locked by us): refuse a directory that holds a run."""
    previous = load_checkpoint_state(config.save_dir, missing_ok=True)
    if previous:
        raise RunDirectoryError('%s already holds a run (checkpoint of epoch %s); continue it '
                               'with --resume %s, or choose another --save-dir'
                               % (config.save_dir, previous.get('epoch'), config.save_dir))
    config.save(config.save_dir)


def _recovery(run_dir):
    """How to get on after a run directory's state turned out unreadable."""
    params = sorted(glob.glob(os.path.join(run_dir, 'epoch-*.params')))
    kept = ', '.join(os.path.basename(p) for p in params[-1:] +
                     glob.glob(os.path.join(run_dir, 'best_IoU.params')))
    return ('the run cannot be continued from it as it is; %s, or start a new run'
            % ('its parameters (%s) are intact and load with evaluate.py --weights' % kept
               if kept else 'restore the file from a copy'))


def _train(config, ctx, worker):
    try:
        if worker.chief:  # the other workers of a distributed run write nothing
            os.makedirs(config.save_dir, exist_ok=True)
        with run_directory_lock(config.save_dir) if worker.chief else contextlib.nullcontext():
            if worker.chief and not config.resuming:
                _start(config)
            train(config, ctx, worker=worker)
    except TrainingDiverged as err:
        print('error: %s' % err, file=sys.stderr)
        return 3
    except RunStateUnreadable as err:
        print('error: %s; %s' % (err, _recovery(config.save_dir)), file=sys.stderr)
        return 2
    except DiskFullError as err:
        print('error: %s; %s' % (err.strerror, resume_advice(config.save_dir)),
              file=sys.stderr)
        return 2
    except (DatasetError, ParameterFileError, RunStateError, DistributedError,
            FileNotFoundError, RunDirectoryError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # checkpoints are written atomically at epoch ends: the last one is complete
        if last_state(config.save_dir):
            print('\ninterrupted; the last finished epoch is saved in %s. Continue with:\n'
                  '  python train.py --resume %s' % (config.save_dir, config.save_dir),
                  file=sys.stderr)
        else:
            print('\ninterrupted before the first epoch ended; nothing to resume',
                  file=sys.stderr)
        return 130
    except Exception:  # pylint: disable=broad-except
        if not worker.in_job:
            raise
        traceback.print_exc()  # the worker must still end rather than wait for its peers
        return 1
    return 0


@contextlib.contextmanager
def _stopped_like_ctrl_c():
    """SIGTERM (a scheduler, ``kill``) and SIGINT end the run as Ctrl-C does: the message
    that says how to resume. SIGINT too, because a shell that starts a job in the background
    ignores SIGINT for it, and Python then leaves it ignored."""
    def interrupt(signum, frame):  # pylint: disable=unused-argument
        raise KeyboardInterrupt
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == '__main__':
    with _stopped_like_ctrl_c():
        sys.exit(main())
