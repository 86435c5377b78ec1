"""Train any registry network on SIRST with the paper's recipe.

    python train.py --net acm_unet --blocks 4 --gpus 0
    python train.py --resume runs/train/acm_unet_b4-20261127-0210     # continue a run
    python tools/launch_local.py -n 2 -s 1 -- python train.py --kvstore dist_sync   # 2 workers

Defaults: Soft-IoU loss, Nesterov accelerated gradient (lr 0.05, momentum 0.9, wd 1e-4)
through gluon.Trainer with a poly(0.9) schedule, batch 8, 300 epochs, base 512 / crop 480,
He initialisation, the output bias at a target prior of 0.001 and the gradient not divided
by the batch size (`--recipe paper` is the paper's recipe exactly; see engine/recipes.py);
train on `train`, select the best epoch on `val`, report it on `test`.
`--paper-protocol` trains on `trainval` and selects on `test`, as the paper did.
"""
import utils.cores  # noqa: F401  (first: sizes MXNet's thread pool before it loads)
import argparse
import contextlib
import os
import sys
import time
import traceback

from data import DatasetError, SIRSTSegmentation
from model import CheckpointError, list_models
from cli.devices import check_cpu_devices, parse_contexts
from engine.distributed import ClusterWorker, DistributedError, is_distributed
from engine.checkpoint import load_checkpoint_state
from engine.recipes import MOMENTUM, RECIPES, WEIGHT_DECAY, apply_recipe
from engine.rundir import RunDirectoryError, run_directory_lock
from engine.trainer import TrainingDiverged, load_arguments, save_arguments, train

# Options a resumed run takes from its new command line when given there; everything else
# (the workers too, unless given: they change the augmentation's random streams) comes
# from the run's args.json.
RUNTIME_OPTIONS = ('gpus', 'cpus', 'workers', 'no_progress', 'data_root', 'dist_timeout',
                   'dist_param_dir')


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add = parser.add_argument
    add('--net', default='acm_unet', help='one of: %s' % ', '.join(list_models()))
    add('--blocks', type=int, default=4, help='residual blocks per stage (b)')
    add('--channel-times', type=float, default=1, help='width multiplier')
    add('--stem', default='paper', choices=['paper', 'regular'])
    add('--data-root', default=None, help='SIRST folder (default $SIRST_ROOT)')
    add('--split-set', default='idx_320', choices=SIRSTSegmentation.SPLIT_SETS)
    add('--train-split', default=None, choices=SIRSTSegmentation.SPLITS,
        help='default train (trainval with --paper-protocol)')
    add('--val-split', default=None, choices=SIRSTSegmentation.SPLITS,
        help='split that selects the best epoch; default val (test with --paper-protocol)')
    add('--test-split', default='test', choices=SIRSTSegmentation.SPLITS)
    add('--paper-protocol', action='store_true',
        help='train on trainval and select on test, as the paper did')
    add('--base-size', type=int, default=512)
    add('--crop-size', type=int, default=480)
    add('--batch-size', type=int, default=8)
    add('--test-batch-size', type=int, default=8)
    add('--epochs', type=int, default=300)
    add('--val-every', type=int, default=1, help='score the selection split every N epochs')
    add('--recipe', default='default', choices=list(RECIPES),
        help='; '.join('%s: %s' % (name, r.description) for name, r in RECIPES.items()) +
        ' (the five options below override it)')
    add('--optimizer', default=None, choices=['nag', 'sgd', 'adagrad'],
        help="nag (paper), sgd with momentum, or adagrad (the toolkit's default, constant lr)")
    add('--lr', type=float, default=None)
    add('--output-prior', type=float, default=None,
        help='start every pixel at this target probability through the last bias (0: bias 0)')
    add('--grad-normalization', default=None, choices=['batch', 'none'],
        help='batch: divide the gradient of the batch-level loss by the batch size')
    add('--bn-batches', type=int, default=None,
        help='recompute batch-norm statistics from this many training batches before each '
             'validation (0: score with the running averages, as the original toolkit)')
    add('--momentum', type=float, default=MOMENTUM)
    add('--weight-decay', type=float, default=WEIGHT_DECAY)
    add('--warmup-epochs', type=int, default=0)
    add('--workers', type=int, default=2, help='data loading processes')
    add('--gpus', default='', help="e.g. '0' or '0,1'; empty for the CPU")
    add('--cpus', type=int, default=0,
        help='train data-parallel on this many CPU contexts (the --gpus 0,1 code path)')
    add('--syncbn', action='store_true', help='batch norm across the devices')
    add('--kvstore', default='device',
        help='device or local on one machine; dist_sync, dist_device_sync or dist_async as '
             'one worker of a multi-machine job (see tools/launch_local.py)')
    add('--dist-timeout', type=float, default=300,
        help='distributed runs: a worker that waits this many seconds for its peers (or the '
             'scheduler) stops with an error; allow for worker 0\'s validation and saving')
    add('--dist-param-dir', default=None,
        help='distributed runs: every worker saves its parameters at its start and end here '
             '(worker<rank>-epoch<N>.params), to check that the workers agree')
    add('--seed', type=int, default=0)
    add('--save-dir', default=None, help='run directory (default runs/train/<net>_b<blocks>-<time>)')
    add('--resume', default=None,
        help='a run directory (or its last.json) to continue; with --epochs, to a new end')
    add('--trust-states', action='store_true',
        help='with --resume of a run from before the safe states format: read its optimizer '
             'states, a Python pickle that runs any code it holds; only for runs you trust')
    add('--stop-after', type=int, default=None,
        help='stop after this epoch (continue later with --resume)')
    add('--no-progress', action='store_true', help='no progress bars')
    return parser


def resolve_arguments(argv=None):
    """Parse, apply protocol defaults, merge a resumed run's arguments, validate."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.resume:
        run_dir = args.resume if os.path.isdir(args.resume) else os.path.dirname(args.resume)
        if not os.path.isfile(os.path.join(run_dir, 'args.json')):
            parser.error('--resume %s: no args.json there; pass a directory made by train.py'
                         % args.resume)
        saved = load_arguments(run_dir)
        for key in RUNTIME_OPTIONS:  # given again on the command line: the new value wins
            if getattr(args, key) != parser.get_default(key) or key not in saved:
                saved[key] = getattr(args, key)
        saved['stop_after'] = args.stop_after  # an earlier --stop-after is not inherited
        if args.epochs != parser.get_default('epochs'):  # shorten or extend the run
            if args.epochs != saved['epochs'] and saved['optimizer'] != 'adagrad':
                print('note: the learning-rate schedule restored from the checkpoint still '
                      'ends at epoch %d' % saved['epochs'], file=sys.stderr)
            saved['schedule_epochs'] = saved['epochs']  # the schedule the states belong to
            saved['epochs'] = args.epochs
        # runs from before recipes had these: bias 0, gradient divided by the batch size
        saved.setdefault('recipe', 'toolkit' if saved.get('optimizer') == 'adagrad' else 'paper')
        saved.setdefault('output_prior', 0.0)
        saved.setdefault('grad_normalization', 'batch')
        saved.setdefault('bn_batches', 0)
        args = argparse.Namespace(**dict(saved, resume=args.resume, save_dir=run_dir,
                                         trust_states=args.trust_states))  # never inherited
    else:
        if args.trust_states:
            parser.error('--trust-states goes with --resume (it lets a run\'s old optimizer '
                         'states be read)')
        args.train_split = args.train_split or ('trainval' if args.paper_protocol else 'train')
        args.val_split = args.val_split or ('test' if args.paper_protocol else 'val')
        args.save_dir = args.save_dir or os.path.join(
            'runs', 'train', '%s_b%d-%s' % (args.net, args.blocks, time.strftime('%Y%m%d-%H%M%S')))
        apply_recipe(args)
    problems = []
    if args.net not in list_models():
        problems.append('--net %s is unknown; valid: %s' % (args.net, ', '.join(list_models())))
    if args.crop_size > args.base_size:
        problems.append('--crop-size %d is larger than --base-size %d allows'
                        % (args.crop_size, args.base_size))
    for name in ('epochs', 'batch_size', 'test_batch_size', 'base_size', 'crop_size',
                 'val_every'):
        if getattr(args, name) < 1:
            problems.append('--%s must be at least 1' % name.replace('_', '-'))
    if args.lr <= 0:
        problems.append('--lr must be positive')
    if not 0 <= args.output_prior < 1:
        problems.append('--output-prior must be in [0, 1)')
    if args.cpus < 0:
        problems.append('--cpus must not be negative')
    if args.bn_batches < 0:
        problems.append('--bn-batches must not be negative')
    if args.dist_timeout <= 0:
        problems.append('--dist-timeout must be positive')
    if not 0 <= args.warmup_epochs < args.epochs:
        problems.append('--warmup-epochs must be in [0, --epochs)')
    if problems:
        parser.error('; '.join(problems))
    return parser, args


def main(argv=None):
    parser, args = resolve_arguments(argv)
    try:
        ctx = parse_contexts(args.gpus, cpus=args.cpus)
        check_cpu_devices(ctx, args.syncbn)
    except ValueError as err:
        parser.error(str(err))
    if args.batch_size < len(ctx):
        parser.error('--batch-size %d is smaller than the %d devices it is split across'
                     % (args.batch_size, len(ctx)))
    args.resuming = bool(args.resume)
    dist = None
    if is_distributed(args.kvstore):
        try:
            dist = ClusterWorker.connect(args.kvstore, args.dist_timeout)
        except DistributedError as err:
            parser.error(str(err))
        # any failure ends the worker at once; success waits for the others first
        return dist.finish(_train(args, ctx, dist))
    return _train(args, ctx)


def _start(args):
    """A new run in ``args.save_dir`` (locked by us): refuse a directory that holds a run."""
    previous = load_checkpoint_state(args.save_dir, missing_ok=True)
    if previous:
        raise RunDirectoryError('%s already holds a run (checkpoint of epoch %s); continue it '
                               'with --resume %s, or choose another --save-dir'
                               % (args.save_dir, previous.get('epoch'), args.save_dir))
    save_arguments(args)


def _train(args, ctx, dist=None):
    chief = dist is None or dist.rank == 0  # the other workers of a distributed run write nothing
    try:
        if chief:
            os.makedirs(args.save_dir, exist_ok=True)
        with run_directory_lock(args.save_dir) if chief else contextlib.nullcontext():
            if chief and not args.resuming:
                _start(args)
            train(args, ctx, dist=dist)
    except TrainingDiverged as err:
        print('error: %s' % err, file=sys.stderr)
        return 3
    except (DatasetError, CheckpointError, DistributedError, FileNotFoundError,
            RunDirectoryError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # checkpoints are written atomically at epoch ends: the last one is complete
        if load_checkpoint_state(args.save_dir, missing_ok=True):
            print('\ninterrupted; the last finished epoch is saved in %s. Continue with:\n'
                  '  python train.py --resume %s' % (args.save_dir, args.save_dir),
                  file=sys.stderr)
        else:
            print('\ninterrupted before the first epoch ended; nothing to resume',
                  file=sys.stderr)
        return 130
    except Exception:  # pylint: disable=broad-except
        if dist is None:
            raise
        traceback.print_exc()  # the worker must still end rather than wait for its peers
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
