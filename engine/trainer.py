"""The training run: the paper's recipe through ``gluon.Trainer``, resumable.

:class:`Trainer` builds the data, the network and the optimizer from a
:class:`engine.config.TrainConfig`, restores a checkpoint when the run is resumed, and runs
the epochs: :meth:`Trainer.training` (one pass over this worker's batches),
:meth:`Trainer.validation` (score the selection split, keep the best parameters),
:meth:`Trainer.checkpoint`, and at the end :meth:`Trainer.finish` (export the best network,
score the test split, ``summary.json``). Whatever depends on running alone or as one worker
of a parameter-server job goes through the worker's hooks (:mod:`engine.workers`).
"""
import os
import platform
import time

import gluoncv
import mxnet as mx
import numpy as np
from gluoncv.utils import LRScheduler, LRSequential
from mxnet import gluon
from tqdm import tqdm

from data.selection import DatasetSelection
from data.union import members_of, union_of
from deployment.export import export_model
from metric import METRIC_KEYS, format_scores
from model import get_model, load_parameters
from model.syncbn import CrossDeviceBatchNorm
from utils.atomic import write_json
from utils.cores import amx_state
from .batchnorm_stats import recompute_batchnorm_statistics
from .checkpoint import (checkpoint_file, load_checkpoint_state, restore_trainer_states,
                         resume_advice, save_checkpoint, save_parameters)
from .evaluation import evaluate_members, evaluate_split
from .history import RunLog
from .loss import SoftIoULoss
from .precision import training_network
from .recipes import optimizer_params
from .step import run_epoch, seed_everything
from .workers import LocalWorker

__all__ = ['Trainer', 'train', 'lr_scheduler', 'optimizer_for']


def lr_scheduler(config, iters_per_epoch, mxnet_only=False):
    """The learning-rate schedule of ``config`` (None: constant, as AdaGrad's recipe)."""
    if config.optimizer == 'adagrad':  # the toolkit's default: constant learning rate
        return None
    # a resumed run given a new --epochs keeps the schedule it started with
    epochs = config.lr_schedule_epochs
    if mxnet_only:
        # dist_async sends the optimizer, pickled, to servers that have only MXNet loaded:
        # the same warm-up and poly(0.9) decay from MXNet's own class
        warmup = config.warmup_epochs * iters_per_epoch
        return mx.lr_scheduler.PolyScheduler(
            max_update=warmup + max(2, (epochs - config.warmup_epochs) * iters_per_epoch) - 1,
            base_lr=config.lr, pwr=0.9, warmup_steps=warmup)
    # GluonCV's schedulers divide by (iterations - 1): give each at least two
    poly = LRScheduler('poly', base_lr=config.lr, power=0.9,
                       niters=max(2, (epochs - config.warmup_epochs) * iters_per_epoch))
    if not config.warmup_epochs:
        return poly
    warmup = LRScheduler('linear', base_lr=0, target_lr=config.lr,
                         niters=max(2, config.warmup_epochs * iters_per_epoch))
    return LRSequential([warmup, poly])


def optimizer_for(config, updates_per_epoch, worker=None):
    """``(optimizer name, params)`` for ``gluon.Trainer``: the recipe's settings, the
    worker's additions and the schedule over ``updates_per_epoch``."""
    worker = worker or LocalWorker(config.kvstore)
    params = worker.optimizer_params(optimizer_params(config.optimizer, config.lr,
                                                      config.momentum, config.weight_decay))
    scheduler = lr_scheduler(config, updates_per_epoch,
                             mxnet_only=worker.servers_hold_optimizer)
    if scheduler is not None:
        params['lr_scheduler'] = scheduler
    return config.optimizer, params


def _versions():
    return {'python': platform.python_version(), 'mxnet': mx.__version__,
            'gluoncv': gluoncv.__version__, 'numpy': np.__version__}


class Trainer(object):
    """One training run of ``config`` on the devices ``ctx``, as ``worker`` says (a
    :class:`engine.workers.LocalWorker` when None). The run directory
    (``config.save_dir``) must exist; only a chief worker writes into it."""

    def __init__(self, config, ctx, worker=None, echo=print):
        self.config, self.ctx = config, ctx
        self.worker = worker or LocalWorker(config.kvstore, config.stall_timeout)
        self.worker.watch(ctx, lambda: resume_advice(config.save_dir))
        self.log = RunLog(config.save_dir, echo=self.worker.echo(echo),
                          files=self.worker.chief)
        self.state = {'epoch': 0, 'best': {'IoU': -1.0, 'nIoU': -1.0}, 'best_epoch': {}}
        self._build_data()
        self.net = self._build_network()
        seed_everything(config.seed)
        sample = (1, 3, config.crop_size, config.crop_size)
        self.worker.before_initialize(self.net, sample)
        if config.dtype != 'float32':  # its graph shares the weights: draw them now
            self.net.infer_shape(mx.nd.zeros(sample))
        self.net.initialize(mx.init.MSRAPrelu(), ctx=ctx)
        if config.output_prior:
            self.net.set_output_prior(config.output_prior)
        if not self._syncbn:
            # batch norm across devices exchanges its statistics between the devices'
            # threads in Python (model/syncbn.py): that network runs operator by operator
            self.net.hybridize(static_alloc=True, static_shape=True)
        # what a training step calls: the network, or its bfloat16 graph on its weights
        self.train_net = training_network(self.net, config.dtype, sample, ctx)
        kvstore, update_on_kvstore = self.worker.trainer_kvstore()
        self.trainer = gluon.Trainer(self.net.collect_params(),
                                     *optimizer_for(config, self.updates_per_epoch, self.worker),
                                     kvstore=kvstore, update_on_kvstore=update_on_kvstore)
        self.loss_fn = SoftIoULoss()
        self.loss_fn.hybridize(static_alloc=True, static_shape=True)
        self._scorer = None  # validation's copy of the network (_scoring_copy)

    # --- building -------------------------------------------------------------------------

    @property
    def _syncbn(self):
        return self.config.syncbn and len(self.ctx) > 1

    def _build_data(self):
        """The datasets of the run, all made (and so checked) before any work: training and
        validation through the registry (validation carved off where a dataset has none),
        and the test splits scored at the end."""
        config = self.config
        selection = DatasetSelection.of(config)
        self.train_set, self.val_set, self.validation_notes = selection.training_sets(
            config.train_split, config.val_split, config.val_fraction, config.test_split,
            config.base_size, config.crop_size)
        self.test_sets = selection.test_sets(config.test_split, config.base_size)
        self._train_size = (config.base_size, config.crop_size)
        # the training images as validation sees them, for batch norm's statistics (each
        # once: a training list may repeat ids to oversample them)
        self.statistics_set = union_of(
            member.subset(list(dict.fromkeys(member.ids)), mode='testval')
            for _, member in members_of(self.train_set)) if config.bn_batches else None
        self.loader = self.worker.loader(self.train_set, config.batch_size, config.workers,
                                         config.seed)
        self.updates_per_epoch = len(self.loader) * self.worker.updates_per_step

    def _use_training_size(self, epoch):
        """Train ``epoch`` at its ``--train-size-from`` stage: rebuild the training set and
        its loader when the size changes (a stage begins, or a resumed run sits in one).
        The selection and test splits keep the run's base size."""
        config = self.config
        size = config.training_size(epoch)
        if size != self._train_size:
            self.train_set = DatasetSelection.of(config).training_sets(
                config.train_split, config.val_split, config.val_fraction,
                config.test_split, *size)[0]
            self.loader = self.worker.loader(self.train_set, config.batch_size,
                                             config.workers, config.seed)
            self._train_size = size
        if any(first == epoch for first, _, _ in config.train_sizes or ()):
            self.log.say('From epoch %d: training at base %d / crop %d' % ((epoch,) + size))

    def _build_network(self):
        config = self.config
        norm = {'norm_layer': CrossDeviceBatchNorm} if self._syncbn else {}
        return get_model(config.net, blocks=config.blocks, channel_times=config.channel_times,
                         stem=config.stem, **norm)

    # --- the run --------------------------------------------------------------------------

    def run(self):
        """Train to ``config.final_epoch``; returns the summary dict when the run ended and
        this worker is the chief, else None."""
        config = self.config
        resumed = (load_checkpoint_state(config.save_dir, missing_ok=True)
                   if config.resuming else None)
        if resumed:
            self.resume(resumed)
        else:
            self.log.truncate_after(0)  # records of an earlier start that never checkpointed
            self.describe()
        self.worker.joined(self.trainer, self.net, self.log.say,
                           (config.batch_size, config.lr, len(self.train_set)),
                           self.state['epoch'])
        for epoch in range(self.state['epoch'] + 1, config.final_epoch + 1):
            self.run_epoch(epoch)
        self.worker.finished(self.net, self.state['epoch'])
        if self.state['epoch'] < config.epochs:
            self.log.say('Stopped after epoch %d of %d; continue with --resume %s'
                         % (self.state['epoch'], config.epochs, config.save_dir))
            return None
        if not self.worker.chief:
            return None
        return self.finish()

    def resume(self, resumed):
        """Restore the parameters, optimizer and selection state of a checkpoint."""
        config = self.config
        load_parameters(self.net, checkpoint_file(config.save_dir, resumed['params']),
                        ctx=self.ctx)
        self.state = {key: resumed[key] for key in self.state}
        self.worker.restore_optimizer(
            self.trainer,
            lambda: restore_trainer_states(self.trainer, self.net, config.save_dir,
                                           resumed['states'], trusted=config.trust_states),
            self.state['epoch'] * self.updates_per_epoch, self.log.say)
        self.log.truncate_after(self.state['epoch'])
        self.log.say('Resumed %s at epoch %d (best IoU %.4f, nIoU %.4f); training computes in %s'
                     % (config.save_dir, self.state['epoch'], self.state['best']['IoU'],
                        self.state['best']['nIoU'], config.dtype))

    def describe(self):
        """The log lines that state what a new run trains, and how."""
        config, ctx = self.config, self.ctx
        self.log.say(
            'Training %s (blocks=%d) on %s (%d images), selecting on %s, %d epochs, '
            'recipe %s: %s lr %g, output prior %g, gradient divided by %s, batch norm '
            'scored with %s; batch %d on %s, base %s, crop %d'
            % (config.net, config.blocks, _named(self.train_set), len(self.train_set),
               _named(self.val_set), config.epochs, config.recipe,
               config.optimizer, config.lr, config.output_prior,
               'the batch size' if config.grad_normalization == 'batch' else 'nothing',
               'statistics of %d training batches' % config.bn_batches
               if config.bn_batches else 'running averages', config.batch_size,
               ','.join(str(c) for c in ctx),
               ', '.join('%s %d' % (m.NAME, m.base_size) for _, m in members_of(self.train_set)),
               members_of(self.train_set)[0][1].crop_size))
        if config.train_sizes:
            self.log.say('Progressive resizing: %s; scored at base %d' % (', '.join(
                'from epoch %d base %d / crop %d' % tuple(stage)
                for stage in config.train_sizes), config.base_size))
        self.log.say('%s; training computes in %s%s' % (
            amx_state(), config.dtype,
            ' (float32 master weights)' if config.dtype != 'float32' else ''))
        for note in self.validation_notes:
            self.log.say(note)
        for member in [m for _, m in members_of(self.train_set)] + [s for _, s in self.test_sets]:
            if member.mask_threshold is not None:
                member.binarised_masks()  # reads the masks once: describe() counts them
                self.log.say(member.describe())  # how many masks the threshold changed
        self.log.say('Scored at the end: %s' % ', '.join(
            '%s %s (%d images at %d)' % (name, test.label, len(test), test.base_size)
            for name, test in self.test_sets))
        if len(ctx) > 1:
            self.log.say(
                'Data parallel on %d devices: each computes the batch-level Soft-IoU of its '
                'share of the batch (%d of %d images on the first) and the gradients are '
                'summed%s.' % (len(ctx), config.batch_size // len(ctx), config.batch_size,
                               '; batch norm statistics span all devices (--syncbn)'
                               if config.syncbn else '; each device normalises its own share'))

    def run_epoch(self, epoch):
        """Train, validate when due, record and checkpoint one epoch."""
        config = self.config
        self._use_training_size(epoch)
        seed_everything(self.worker.epoch_seed(config.seed, epoch))
        self.worker.start_epoch(epoch)
        start = time.time()
        mean_loss = self.training(epoch)
        # averaged over the workers of a job; worker 0's watchdog rests afterwards
        mean_loss, extra = self.worker.end_epoch(self.net, mean_loss, self.trainer.optimizer,
                                                 epoch * self.updates_per_epoch)
        record = dict({'epoch': epoch, 'loss': mean_loss, 'lr': self.trainer.learning_rate,
                       'train_seconds': round(time.time() - start, 2)}, **extra)
        if config.train_sizes:
            record['train_size'] = list(self._train_size)
        if epoch % config.val_every == 0 or epoch == config.epochs:
            # on every worker of a job, so that their parameters stay identical; on the
            # scoring copy, then kept by the training network (checkpoints, best weights)
            scorer = self._scoring_copy()
            recompute_batchnorm_statistics(
                scorer, self.statistics_set, self.ctx, config.bn_batches, config.batch_size,
                on_batch=lambda done, total: self.worker.arm(
                    'recomputing batch-norm statistics after epoch %d, batch %d of %d'
                    % (epoch, done, total)))
            self.worker.rest()
            _copy_values(scorer, self.net, self.ctx, statistics_only=True)
            if self.worker.chief:
                record.update(self.validation(epoch, scorer), split=self.val_name)
        record['seconds'] = round(time.time() - start, 2)
        self.state['epoch'] = epoch
        if not self.worker.chief:
            self.log.say('epoch %3d  loss %.4f  %.0fs' % (epoch, mean_loss, record['seconds']))
            return
        self.log.add(record)  # before the checkpoint: a resume drops records past its epoch
        self.checkpoint()
        self.log.say('epoch %3d  loss %.4f  lr %.5f  %s  %.0fs' % (
            epoch, mean_loss, record['lr'],
            '%s %s' % (self.val_name, format_scores(record, METRIC_KEYS[:4]))
            if 'IoU' in record else '(not scored)', record['seconds']))

    def training(self, epoch):
        """One pass over this worker's training batches; returns the mean loss."""
        config = self.config
        bar = tqdm(self.loader, desc='epoch %d' % epoch, unit='batch', leave=False,
                   disable=config.no_progress)
        return run_epoch(self.train_net, self.trainer, self.loss_fn, bar, self.ctx,
                         config.grad_divisor, epoch,
                         on_loss=lambda mean: bar.set_postfix(loss='%.4f' % mean),
                         recovery=' The last good checkpoint is in %s.' % config.save_dir)

    def validation(self, epoch, scorer=None):
        """Score the selection split with ``scorer`` (the scoring copy of the network);
        keep the parameters of the best IoU and nIoU so far. Returns the figures."""
        config = self.config
        scores = evaluate_split(scorer or self._scoring_copy(), self.val_set, self.ctx,
                                batch_size=config.test_batch_size,
                                num_workers=min(config.workers, 2), progress=False).scores()
        for key in ('IoU', 'nIoU'):
            if scores[key] > self.state['best'][key]:
                self.state['best'][key] = scores[key]
                self.state['best_epoch'][key] = epoch
                save_parameters(self.net, os.path.join(config.save_dir, 'best_%s.params' % key))
        return {key: scores[key] for key in METRIC_KEYS}

    def _scoring_copy(self):
        """A second network holding the training network's current parameters, for scoring.

        On MXNet 1.9.1 with oneDNN, one inference pass of the training network between
        epochs changed the training after it at float-rounding level (a tiny run's
        parameters by up to 2.9e-5 after 3 epochs), so runs that validated did not repeat;
        with oneDNN off or the NaiveEngine it did not (likely oneDNN converting the weights
        to its own layout in place). Scoring a copy leaves the training arrays as they would
        be without validation: tests/test_train.py checks it to the bit."""
        # pylint: disable=protected-access  (the names and the loading load_parameters uses)
        source = self.net._collect_params_with_prefix()
        if self._scorer is None:
            self._scorer = self._build_network()
            for name, param in self._scorer._collect_params_with_prefix().items():
                param._load_init(source[name].data(self.ctx[0]), self.ctx)
            if not self._syncbn:
                self._scorer.hybridize(static_alloc=True, static_shape=True)
        _copy_values(self.net, self._scorer, self.ctx)  # each device's own statistics
        return self._scorer

    def checkpoint(self):
        """Save the run's state at the end of the current epoch (atomically)."""
        save_checkpoint(self.config.save_dir, self.net,
                        self.worker.optimizer_to_save(self.trainer), self.state)

    @property
    def val_name(self):
        """How history and log name the selection split: the split asked for, else the
        validation set's label (a carved one says so)."""
        return self.config.val_split or self.val_set.label

    def finish(self):
        """Export the best network, score it on the test split of every dataset of the
        run (and of ``--eval-dataset``), write ``summary.json``."""
        config, ctx = self.config, self.ctx
        net = self.worker.final_network(self.net, self._build_network)
        load_parameters(net, os.path.join(config.save_dir, 'best_IoU.params'), ctx=ctx)
        prefix = os.path.join(config.save_dir, 'best')
        side = self.test_sets[0][1].base_size
        export_model(net, prefix, input_shape=(1, 3, side, side), ctx=ctx[0])
        score = dict(batch_size=config.test_batch_size, num_workers=min(config.workers, 2),
                     progress=not config.no_progress)
        trained = len(DatasetSelection.of(config).names)
        # the datasets trained on: one pass, pooled (as selection saw them) and per dataset
        pooled, own = evaluate_members(net, union_of(s for _, s in self.test_sets[:trained]),
                                       ctx, **score)
        suites = own + [evaluate_split(net, test, ctx, **score)
                        for _, test in self.test_sets[trained:]]
        tests = {name: dict(suite.scores(), split=test.label, base_size=test.base_size)
                 for (name, test), suite in zip(self.test_sets, suites)}
        scores = pooled.scores()
        summary = {
            'arguments': config.to_dict(), 'versions': _versions(), 'seed': config.seed,
            'best_epoch': self.state['best_epoch'], 'best_selection_scores': self.state['best'],
            'selection_split': self.val_name, 'test_split': config.test_split,
            'test': scores, 'tests': tests,
            'exported': [prefix + '-symbol.json', prefix + '-0000.params'],
        }
        path = os.path.join(config.save_dir, 'summary.json')
        write_json(path, summary)
        self.log.say('Best epoch by IoU on %s: %d.'
                     % (self.val_name, self.state['best_epoch'].get('IoU', 0)))
        if trained > 1:
            self.log.say('%s (pooled): %s' % (' + '.join(
                '%s %s' % (name, test.label) for name, test in self.test_sets[:trained]),
                format_scores(scores)))
        for name, result in tests.items():
            self.log.say('%s %s (at %d): %s' % (name, result['split'], result['base_size'],
                                                format_scores(result)))
        self.log.say('Exported %s-symbol.json / -0000.params; summary in %s' % (prefix, path))
        return summary


def _copy_values(source, target, ctx, statistics_only=False):
    """``source``'s parameters (only batch norm's running statistics with
    ``statistics_only``) written into ``target``'s in place, on every device (not
    ``set_data``: see ``engine.batchnorm_stats._assign``)."""
    # pylint: disable=protected-access  (the structural names parameter files use)
    values = source._collect_params_with_prefix()
    for name, param in target._collect_params_with_prefix().items():
        if not statistics_only or name.endswith(('running_mean', 'running_var')):
            for device in ctx:
                param.data(device)[:] = values[name].data(device)


def _named(dataset):
    """A dataset's split named with its dataset (a union's label names its members)."""
    return dataset.label if hasattr(dataset, 'members') else '%s %s' % (dataset.NAME,
                                                                         dataset.label)


def train(config, ctx, echo=print, worker=None):
    """Run (or resume) the training ``config`` describes; returns the summary dict (None
    when stopped early, and on the workers other than 0 of a job)."""
    return Trainer(config, ctx, worker=worker, echo=echo).run()
