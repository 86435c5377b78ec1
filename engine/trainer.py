"""The training loop: the paper's recipe through ``gluon.Trainer``, resumable."""
import json
import math
import os
import platform
import random
import time

import gluoncv
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from gluoncv.utils import LRScheduler, LRSequential
from tqdm import tqdm

from data import SIRSTSegmentation
from deployment.export import export_model
from model import get_model, load_checkpoint
from .batchnorm_stats import recompute_batchnorm_statistics, track_input_statistics
from .checkpoint import (checkpoint_file, load_checkpoint_state, restore_trainer_states,
                            save_checkpoint, save_parameters, write_json)
from .evaluation import evaluate_split
from .history import RunLog
from .loss import SoftIoULoss

__all__ = ['train', 'train_step', 'TrainingDiverged', 'seed_everything']


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def seed_everything(seed):
    """Seed Python, numpy and MXNet (augmentation, shuffling, dropout)."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    mx.random.seed(seed)


def _norm_kwargs(args, ctx):
    if args.syncbn and len(ctx) > 1:
        return {'norm_layer': mx.gluon.contrib.nn.SyncBatchNorm,
                'norm_kwargs': {'num_devices': len(ctx)}}
    return {}


def _lr_scheduler(args, iters_per_epoch, mxnet_only=False):
    if args.optimizer == 'adagrad':  # the toolkit's default: constant learning rate
        return None
    # a resumed run given a new --epochs keeps the schedule it started with (schedule_epochs)
    epochs = getattr(args, 'schedule_epochs', args.epochs)
    if mxnet_only:
        # dist_async sends the optimizer, pickled, to servers that have only MXNet loaded:
        # the same warm-up and poly(0.9) decay from MXNet's own class
        warmup = args.warmup_epochs * iters_per_epoch
        return mx.lr_scheduler.PolyScheduler(
            max_update=warmup + max(2, (epochs - args.warmup_epochs) * iters_per_epoch) - 1,
            base_lr=args.lr, pwr=0.9, warmup_steps=warmup)
    # GluonCV's schedulers divide by (iterations - 1): give each at least two
    poly = LRScheduler('poly', base_lr=args.lr, power=0.9,
                       niters=max(2, (epochs - args.warmup_epochs) * iters_per_epoch))
    if not args.warmup_epochs:
        return poly
    warmup = LRScheduler('linear', base_lr=0, target_lr=args.lr,
                         niters=max(2, args.warmup_epochs * iters_per_epoch))
    return LRSequential([warmup, poly])


def _optimizer(args, iters_per_epoch, dist=None):
    params = {'learning_rate': args.lr, 'wd': args.weight_decay}
    if args.optimizer in ('nag', 'sgd'):
        params['momentum'] = args.momentum
    if dist is not None and not dist.asynchronous:
        params['rescale_grad'] = 1.0 / dist.num_workers  # the servers sum the gradients
    scheduler = _lr_scheduler(args, iters_per_epoch,
                              mxnet_only=dist is not None and dist.asynchronous)
    if scheduler is not None:
        params['lr_scheduler'] = scheduler
    return args.optimizer, params


def _datasets(args, train_split_as_scored=False):
    common = dict(root=args.data_root, split_set=args.split_set, base_size=args.base_size,
                  crop_size=args.crop_size)
    if train_split_as_scored:
        return SIRSTSegmentation(split=args.train_split, mode='testval', **common)
    return (SIRSTSegmentation(split=args.train_split, mode='train', **common),
            SIRSTSegmentation(split=args.val_split, mode='testval', **common),
            SIRSTSegmentation(split=args.test_split, mode='testval', **common))


def _versions():
    return {'python': platform.python_version(), 'mxnet': mx.__version__,
            'gluoncv': gluoncv.__version__, 'numpy': np.__version__}


def train(args, ctx, echo=print, dist=None):
    """Run (or resume) training as ``args`` says; returns the run summary dict.

    ``dist``: this process's :class:`engine.distributed.ClusterWorker` in a distributed run.
    Every worker trains on its own shard; only worker 0 validates, writes files and
    exports (the others return None).
    """
    chief = dist is None or dist.rank == 0
    if chief:
        os.makedirs(args.save_dir, exist_ok=True)
    else:
        echo = dist.prefixed(echo)
    log = RunLog(args.save_dir, echo=echo, files=chief)
    resumed = load_checkpoint_state(args.save_dir, missing_ok=True) if args.resuming else None
    train_set, val_set, test_set = _datasets(args)
    # the training images as validation sees them, for batch norm's statistics
    statistics_set = _datasets(args, train_split_as_scored=True) if args.bn_batches else None
    if dist is None:
        loader = gluon.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                                       last_batch='keep', num_workers=args.workers)
    else:
        loader = dist.loader(train_set, args.batch_size, args.workers, args.seed)
    iters_per_epoch = len(loader)
    # dist_async's servers count one update per worker's push
    schedule_iters = iters_per_epoch * (dist.num_workers if dist and dist.asynchronous else 1)

    net = get_model(args.net, blocks=args.blocks, channel_times=args.channel_times,
                    stem=args.stem, **_norm_kwargs(args, ctx))
    seed_everything(args.seed)
    if dist is not None:  # known shapes: the initial values are drawn now, from the shared seed
        net.infer_shape(mx.nd.zeros((1, 3, args.crop_size, args.crop_size)))
    net.initialize(mx.init.MSRAPrelu(), ctx=ctx)
    if args.output_prior:
        net.set_output_prior(args.output_prior)
    if not (args.syncbn and len(ctx) > 1):
        # MXNet 1.9.1's SyncBatchNorm in a hybridized graph either hangs (static_alloc
        # alone) or leaves the running statistics untouched (with static_shape), measured
        # on CPU contexts: across devices it runs operator by operator.
        net.hybridize(static_alloc=True, static_shape=True)
    optimizer, optimizer_params = _optimizer(args, schedule_iters, dist)
    trainer = gluon.Trainer(net.collect_params(), optimizer, optimizer_params,
                            kvstore=dist.kv if dist else args.kvstore,
                            update_on_kvstore=dist.update_on_kvstore() if dist else None)
    loss_fn = SoftIoULoss()
    loss_fn.hybridize(static_alloc=True, static_shape=True)

    state = {'epoch': 0, 'best': {'IoU': -1.0, 'nIoU': -1.0}, 'best_epoch': {}}
    if resumed:
        load_checkpoint(net, checkpoint_file(args.save_dir, resumed['params']), ctx=ctx)
        state = {k: resumed[k] for k in state}
        if dist is not None and dist.asynchronous:
            # the servers held the optimizer: only the schedule's position can be restored
            trainer.optimizer.begin_num_update = state['epoch'] * schedule_iters
            log.say('Note: dist_async kept the optimizer state (momentum) on the servers, '
                    'where it cannot be saved; resuming with the saved parameters and the '
                    'learning-rate schedule, momentum restarts from zero.')
        else:
            restore_trainer_states(trainer, net, args.save_dir, resumed['states'],
                                   trusted=args.trust_states)
        log.truncate_after(state['epoch'])
        log.say('Resumed %s at epoch %d (best IoU %.4f, nIoU %.4f)'
                % (args.save_dir, state['epoch'], state['best']['IoU'], state['best']['nIoU']))
    else:
        log.truncate_after(0)  # records of an earlier start that never reached a checkpoint
        log.say('Training %s (blocks=%d) on %s/%s (%d images), selecting on %s, %d epochs, '
                'recipe %s: %s lr %g, output prior %g, gradient divided by %s, batch norm '
                'scored with %s; batch %d on %s, base %d, crop %d'
                % (args.net, args.blocks, args.split_set, args.train_split, len(train_set),
                   args.val_split, args.epochs, args.recipe, args.optimizer, args.lr,
                   args.output_prior, 'the batch size' if args.grad_normalization == 'batch'
                   else 'nothing', 'statistics of %d training batches' % args.bn_batches
                   if args.bn_batches else 'running averages', args.batch_size,
                   ','.join(str(c) for c in ctx), args.base_size, args.crop_size))
        if len(ctx) > 1:
            log.say('Data parallel on %d devices: each computes the batch-level Soft-IoU of '
                    'its share of the batch (%d of %d images on the first) and the gradients '
                    'are summed%s.'
                    % (len(ctx), args.batch_size // len(ctx), args.batch_size,
                       '; batch norm statistics span all devices (--syncbn)' if args.syncbn
                       else '; each device normalises its own share'))
        if args.val_split == args.test_split:
            log.say('Note: the %r split selects the best epoch and is also the one reported '
                    '(the paper\'s protocol), so its figures are optimistic.' % args.val_split)
    if dist is not None:
        log.say(dist.describe(args.batch_size, args.lr, len(train_set), len(dist.sampler)))
        dist.share_initial_parameters(trainer)
        dist.save_worker_parameters(net, getattr(args, 'dist_param_dir', None), state['epoch'])

    stop_at = args.epochs if args.stop_after is None else min(args.epochs, args.stop_after)
    for epoch in range(state['epoch'] + 1, stop_at + 1):
        # Re-seeding from the epoch makes a resumed run repeat an uninterrupted one (each
        # worker of a distributed run augments with its own stream).
        seed_everything(args.seed * 100003 + epoch + (dist.rank * 1000003 if dist else 0))
        if dist is not None:
            dist.start_epoch(epoch)
        start = time.time()
        mean_loss = _train_epoch(net, trainer, loss_fn, loader, ctx, epoch, args)
        extra = {}
        if dist is not None:  # averaged over the workers; worker 0's watchdog rests after
            mean_loss, extra = dist.end_epoch(net, mean_loss)
            if dist.asynchronous:  # the servers run the schedule: log where it stands
                dist.follow_schedule(trainer.optimizer, epoch * schedule_iters)
        record = dict({'epoch': epoch, 'loss': mean_loss, 'lr': trainer.learning_rate,
                       'train_seconds': round(time.time() - start, 2)}, **extra)
        if chief and (epoch % args.val_every == 0 or epoch == args.epochs):
            recompute_batchnorm_statistics(net, statistics_set, ctx, args.bn_batches,
                                           args.batch_size)
            scores = evaluate_split(net, val_set, ctx, batch_size=args.test_batch_size,
                                    num_workers=min(args.workers, 2), progress=False)
            scores.pop('roc')
            record.update({k: scores[k] for k in ('IoU', 'nIoU', 'Pd', 'Fa', 'AUC')},
                          split=args.val_split)
            for key in ('IoU', 'nIoU'):
                if scores[key] > state['best'][key]:
                    state['best'][key] = scores[key]
                    state['best_epoch'][key] = epoch
                    save_parameters(net, os.path.join(args.save_dir, 'best_%s.params' % key))
        record['seconds'] = round(time.time() - start, 2)
        state['epoch'] = epoch
        if not chief:
            log.say('epoch %3d  loss %.4f  %.0fs' % (epoch, mean_loss, record['seconds']))
            continue
        log.add(record)  # before the checkpoint: a resume drops records past its epoch
        save_checkpoint(args.save_dir, net,
                        None if dist is not None and dist.asynchronous else trainer, state)
        log.say('epoch %3d  loss %.4f  lr %.5f  %s  %.0fs' % (
            epoch, mean_loss, record['lr'],
            ('%s IoU %.4f nIoU %.4f Pd %.4f Fa %.2fe-6' % (
                args.val_split, record['IoU'], record['nIoU'], record['Pd'],
                record['Fa'] * 1e6)) if 'IoU' in record else '(not scored)',
            record['seconds']))

    if dist is not None:
        dist.save_worker_parameters(net, getattr(args, 'dist_param_dir', None), state['epoch'])
    if state['epoch'] < args.epochs:
        log.say('Stopped after epoch %d of %d; continue with --resume %s'
                % (state['epoch'], args.epochs, args.save_dir))
        return None
    if not chief:
        return None
    if dist is not None and dist.asynchronous:  # its parameters stay tied to the servers
        net = get_model(args.net, blocks=args.blocks, channel_times=args.channel_times,
                        stem=args.stem, **_norm_kwargs(args, ctx))
    return _finish(args, net, ctx, test_set, state, log)


def train_step(net, trainer, loss_fn, images, masks, ctx, grad_divisor):
    """One data-parallel step: the batch split across ``ctx``, one loss per device (the
    batch-level Soft-IoU of that device's share, as in the original toolkit), all
    back-propagated in one call (SyncBatchNorm needs every device's backward at once), the
    summed gradient divided by ``grad_divisor``. Returns the per-device losses (not
    waited for)."""
    images = gluon.utils.split_and_load(images, ctx, even_split=False)
    masks = gluon.utils.split_and_load(masks, ctx, even_split=False)
    track_input_statistics(images)
    with autograd.record():
        losses = [loss_fn(net(x), y) for x, y in zip(images, masks)]
    autograd.backward(losses)
    trainer.step(grad_divisor)
    return losses


def _train_epoch(net, trainer, loss_fn, loader, ctx, epoch, args):
    total, count, pending = 0.0, 0, None

    def check(losses, iteration):
        value = float(sum(l.asscalar() for l in losses) / len(losses))
        if not math.isfinite(value):
            raise TrainingDiverged(
                'The loss became %s at epoch %d, iteration %d (lr %g); stopped without '
                'saving this epoch. The last good checkpoint is in %s. Lower --lr or use '
                '--warmup-epochs.' % (value, epoch, iteration, trainer.learning_rate,
                                      args.save_dir))
        return value

    bar = tqdm(loader, desc='epoch %d' % epoch, unit='batch', leave=False,
               disable=args.no_progress)
    for iteration, (images, masks) in enumerate(bar, 1):
        losses = train_step(net, trainer, loss_fn, images, masks, ctx,
                            args.batch_size if args.grad_normalization == 'batch' else 1)
        # Read the previous iteration's loss while the engine runs this one.
        if pending is not None:
            total += check(*pending)
            count += 1
            bar.set_postfix(loss='%.4f' % (total / count))
        pending = (losses, iteration)
    if pending is not None:
        total += check(*pending)
        count += 1
    return total / max(count, 1)


def _finish(args, net, ctx, test_set, state, log):
    best_path = os.path.join(args.save_dir, 'best_IoU.params')
    load_checkpoint(net, best_path, ctx=ctx)
    prefix = os.path.join(args.save_dir, 'best')
    export_model(net, prefix, input_shape=(1, 3, args.base_size, args.base_size), ctx=ctx[0])
    scores = evaluate_split(net, test_set, ctx, batch_size=args.test_batch_size,
                            num_workers=min(args.workers, 2), progress=not args.no_progress)
    scores.pop('roc')
    summary = {
        'arguments': vars(args), 'versions': _versions(), 'seed': args.seed,
        'best_epoch': state['best_epoch'], 'best_selection_scores': state['best'],
        'selection_split': args.val_split, 'test_split': args.test_split,
        'test': scores, 'exported': [prefix + '-symbol.json', prefix + '-0000.params'],
    }
    write_json(os.path.join(args.save_dir, 'summary.json'), summary)
    log.say('Best epoch by IoU on %s: %d. %s/%s: IoU %.4f nIoU %.4f Pd %.4f Fa %.2fe-6 AUC %.4f'
            % (args.val_split, state['best_epoch'].get('IoU', 0), args.split_set,
               args.test_split, scores['IoU'], scores['nIoU'], scores['Pd'],
               scores['Fa'] * 1e6, scores['AUC']))
    log.say('Exported %s-symbol.json / -0000.params; summary in %s'
            % (prefix, os.path.join(args.save_dir, 'summary.json')))
    return summary


def save_arguments(args):
    write_json(os.path.join(args.save_dir, 'args.json'), vars(args))


def load_arguments(run_dir):
    with open(os.path.join(run_dir, 'args.json')) as handle:
        return json.load(handle)
