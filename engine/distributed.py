"""One worker of a multi-machine run on MXNet's parameter-server kvstore.

``train.py --kvstore dist_sync`` (or ``dist_device_sync``, ``dist_async``) runs as one of
the workers of a job that ps-lite assembles from the ``DMLC_*`` environment variables (a
scheduler, servers and workers; ``tools/launch_local.py`` starts them all on one machine).
This module holds what the training loop needs for that:

- :class:`ShardSampler`: one shuffled order per epoch, the same on every worker, of which
  worker ``r`` reads every ``num_workers``-th image from position ``r``; every worker gets
  the same number of images (at most ``num_workers - 1`` are left out per epoch, a
  different few each time) so that all of them run the same number of synchronous steps.
- the watchdog (:mod:`engine.watchdog`, the one every training process has): ps-lite has
  no failure detection, and a worker whose peer died waits in a push, pull or barrier
  forever. Every phase that depends on the other processes runs against ``--dist-timeout``;
  a missed deadline prints what the worker was waiting for and ends the process with
  :data:`EXIT_STALLED`.
- :class:`ClusterWorker`: the kvstore, rank and worker count; the sharded loader; the
  averaging of the epoch's loss and of the parameters (batch-norm statistics included)
  over the workers in the synchronous modes, so that every worker ends each epoch with
  exactly the same parameters; the orderly end.
"""
import gc
import os
import sys

import mxnet as mx
import numpy as np
from mxnet import gluon

from .checkpoint import initialise_trainer
from .watchdog import EXIT_STALLED, Watchdog
from .workers import LocalWorker, WatchedLoader

__all__ = ['DIST_MODES', 'EXIT_STALLED', 'DistributedError', 'ShardSampler', 'ClusterWorker',
           'is_distributed']

DIST_MODES = ('dist_sync', 'dist_device_sync', 'dist_async')
REQUIRED_ENV = ('DMLC_PS_ROOT_URI', 'DMLC_PS_ROOT_PORT', 'DMLC_NUM_SERVER', 'DMLC_NUM_WORKER')
# kvstore keys for our own averaging, far above the Trainer's (one per parameter, from 0);
# below 2**31 / 9973, which ps-lite multiplies keys by (as int) to pick their server
_KEY_BASE = 100000
_PEER_LOST = ' A peer (worker, server or scheduler) has probably died or become unreachable'


class DistributedError(RuntimeError):
    """A distributed run cannot start (missing environment, too few images...)."""


def is_distributed(kvstore):
    return isinstance(kvstore, str) and kvstore.startswith('dist')


class ShardSampler(gluon.data.Sampler):
    """Indices of worker ``rank``'s share of a dataset of ``length`` items for one epoch.

    The permutation depends only on ``seed`` and the epoch (:meth:`set_epoch`), so all
    workers draw the same one and their shares are disjoint.
    """

    def __init__(self, length, rank, num_parts, seed=0):
        if not 0 <= rank < num_parts:
            raise ValueError('rank %d is not in [0, %d)' % (rank, num_parts))
        self.length, self.rank, self.num_parts, self.seed = length, rank, num_parts, seed
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return self.length // self.num_parts

    def __iter__(self):
        order = np.random.RandomState((self.seed * 100003 + self.epoch) % (2 ** 32)) \
            .permutation(self.length)
        return iter(order[self.rank::self.num_parts][:len(self)].tolist())


class ClusterWorker(LocalWorker):
    """This process as one worker of a parameter-server job (see the module notes), behind
    the hooks of :class:`engine.workers.LocalWorker`."""

    in_job = True

    def __init__(self, kv, watchdog, param_dir=None):
        super(ClusterWorker, self).__init__(kv.type)
        self.kv, self.watchdog, self.param_dir = kv, watchdog, param_dir
        self.kvstore = kv.type
        self.rank, self.num_workers = kv.rank, kv.num_workers
        self.num_servers = int(os.environ.get('DMLC_NUM_SERVER', 1))
        self.asynchronous = 'async' in kv.type
        self.sampler, self._keys = None, {}
        watchdog.who = 'worker %d of %d' % (self.rank, self.num_workers)
        watchdog.hint = _PEER_LOST + ' (worker 0 validates and saves between epochs while the ' \
            'others wait).'

    def watch(self, ctx, advice):
        """Name the devices; the watchdog keeps its hint (a peer lost, not a stuck step)."""
        self.devices = ','.join(str(c) for c in ctx)

    @classmethod
    def connect(cls, kvstore, timeout, param_dir=None):
        """Join the job the ``DMLC_*`` variables describe; gives up after ``timeout`` s.
        ``param_dir``: every worker saves its parameters there at its start and end."""
        if kvstore not in DIST_MODES:
            raise DistributedError('--kvstore %s: the distributed modes are %s'
                                   % (kvstore, ', '.join(DIST_MODES)))
        missing = [name for name in REQUIRED_ENV if not os.environ.get(name)]
        if missing or os.environ.get('DMLC_ROLE', 'worker') != 'worker':
            raise DistributedError(
                '--kvstore %s runs as a worker of a parameter-server job, which needs the '
                'environment variables DMLC_ROLE=worker, %s (missing: %s). Start it with '
                'tools/launch_local.py, or see "Distributed training" in README.md.'
                % (kvstore, ', '.join(REQUIRED_ENV), ', '.join(missing) or 'none'))
        watchdog = Watchdog(timeout, who='worker', setting='--dist-timeout')
        scheduler = '%s:%s' % (os.environ['DMLC_PS_ROOT_URI'], os.environ['DMLC_PS_ROOT_PORT'])
        watchdog.hint = _PEER_LOST + ' (is the scheduler at %s running and reachable?).' % scheduler
        watchdog.arm('joining the job through the scheduler at %s' % scheduler)
        kv = mx.kv.create(kvstore)
        watchdog.rest()
        return cls(kv, watchdog, param_dir)

    # --- the training loop's hooks (see engine.workers.LocalWorker) -----------------------

    @property
    def chief(self):
        """Worker 0 validates, logs to files, checkpoints and exports."""
        return self.rank == 0

    @property
    def servers_hold_optimizer(self):
        """dist_async must update on the servers; the synchronous modes update on every
        worker from the summed gradients, which keeps the optimizer state on the workers,
        where it can be checkpointed."""
        return self.asynchronous

    @property
    def updates_per_step(self):
        """dist_async's servers count one update per worker's push."""
        return self.num_workers if self.asynchronous else 1

    def echo(self, echo):
        return echo if self.chief else self.prefixed(echo)

    def trainer_kvstore(self):
        return self.kv, self.asynchronous

    def optimizer_params(self, params):
        if not self.asynchronous:
            params = dict(params, rescale_grad=1.0 / self.num_workers)  # the servers sum
        return params

    def epoch_seed(self, seed, epoch):
        """Each worker augments with its own stream."""
        return super(ClusterWorker, self).epoch_seed(seed, epoch) + self.rank * 1000003

    def before_initialize(self, net, input_shape):
        """Known shapes: the initial values are drawn now, from the shared seed."""
        net.infer_shape(mx.nd.zeros(input_shape))

    def restore_optimizer(self, trainer, restore, updates_done, say):
        if not self.asynchronous:
            restore()
            return
        # the servers held the optimizer: only the schedule's position can be restored
        trainer.optimizer.begin_num_update = updates_done
        say('Note: dist_async kept the optimizer state (momentum) on the servers, where it '
            'cannot be saved; resuming with the saved parameters and the learning-rate '
            'schedule, momentum restarts from zero.')

    def optimizer_to_save(self, trainer):
        return None if self.asynchronous else trainer

    def joined(self, trainer, net, say, describe, epoch):
        say(self.describe(*describe, shard=len(self.sampler)))
        self.share_initial_parameters(trainer)
        self.save_worker_parameters(net, self.param_dir, epoch)

    def finished(self, net, epoch):
        self.save_worker_parameters(net, self.param_dir, epoch)

    def final_network(self, net, rebuild):
        """dist_async's parameters stay tied to the servers: export a fresh copy."""
        return rebuild() if self.asynchronous else net

    def loader(self, dataset, batch_size, num_workers, seed):
        if len(dataset) < self.num_workers:
            raise DistributedError('%d training images cannot be shared among %d workers'
                                   % (len(dataset), self.num_workers))
        self.sampler = ShardSampler(len(dataset), self.rank, self.num_workers, seed)
        loader = gluon.data.DataLoader(dataset, batch_size=batch_size, sampler=self.sampler,
                                       last_batch='keep', num_workers=num_workers)
        return WatchedLoader(loader, self.watchdog, lambda iteration, total: (
            'training (epoch %d, iteration %d): waiting for the other workers\' gradients'
            % (self.sampler.epoch, iteration)))

    def share_initial_parameters(self, trainer):
        """Have the Trainer send worker 0's parameters to every worker now, and wait for them.

        Left to the first ``step`` (MXNet 1.9), a worker's pull of those initial values can
        reach the server after both workers' gradients have replaced them on the same key
        (the synchronous modes keep gradients, not weights, on the servers), and that worker
        silently trains from a sum of gradients instead: seen here in about one launch in
        three, as workers that end with different parameters.
        """
        self.watchdog.arm('receiving worker 0\'s initial parameters through the servers')
        initialise_trainer(trainer)
        mx.nd.waitall()

    def start_epoch(self, epoch):
        self.sampler.set_epoch(epoch)
        self.watchdog.arm('starting epoch %d' % epoch)

    def end_epoch(self, net, mean_loss, optimizer=None, updates=0):
        """Synchronous modes: average the epoch's loss and every parameter over the workers.

        Returns the mean loss and, for the log, ``param_spread``: how far this worker's
        trainable parameters were from the workers' mean before that (0 when the workers
        stayed bit-identical; it was ~1e-8 after worker 0 validated mid-run, when validation
        scored the training network itself and MKL-DNN reordered its weights, before
        validation scored a copy: ``Trainer._scoring_copy``). The batch-norm
        running statistics are each worker's own until averaged here. Afterwards all workers
        hold exactly the same values, which worker 0 checkpoints. dist_async keeps each
        worker's own. Worker 0's watchdog rests afterwards: validation and checkpoints are
        its local work."""
        self.watchdog.arm('averaging the loss and the parameters over the workers')
        extra = {}
        if not self.asynchronous:
            loss = mx.nd.array([mean_loss])
            params = sorted(net.collect_params().items())
            means = [sum(c.as_in_context(p.list_data()[0].context) for c in p.list_data())
                     / len(p.list_data()) for _, p in params]
            self._average(['loss'] + [name for name, _ in params], [loss] + means)
            spread = max(float(mx.nd.abs(mean - p.data()).max().asscalar())
                         for (_, p), mean in zip(params, means) if p.grad_req != 'null')
            for (_, param), mean in zip(params, means):
                for copy in param.list_data():
                    mean.copyto(copy)
            mx.nd.waitall()
            mean_loss, extra = float(loss.asscalar()), {'param_spread': spread}
        elif optimizer is not None:  # the servers run the schedule: log where it stands
            self.follow_schedule(optimizer, updates)
        if self.rank == 0:
            self.watchdog.rest()
        return mean_loss, extra

    def _average(self, names, arrays):
        """Replace each array by its mean over the workers (same names, same order on all)."""
        new = [(name, array) for name, array in zip(names, arrays) if name not in self._keys]
        if new:  # kv.init waits for all workers: one call for all new keys
            for name, _ in new:
                self._keys[name] = _KEY_BASE + len(self._keys)
            self.kv.init([self._keys[name] for name, _ in new],
                         [mx.nd.zeros(a.shape, ctx=a.context, dtype=a.dtype) for _, a in new])
        self.kv.pushpull([self._keys[name] for name in names], arrays)  # the servers sum
        for array in arrays:
            array /= self.num_workers

    @staticmethod
    def follow_schedule(optimizer, updates):
        """dist_async: set this worker's (unused) optimizer to the servers' update count, so
        that its learning rate, which the log shows, is the one the servers apply."""
        scheduler = optimizer.lr_scheduler
        optimizer.num_update = updates if scheduler is None else min(updates,
                                                                     scheduler.max_update)

    def describe(self, batch_size, lr, images, shard):
        """The log line that states the distribution, the effective batch and the lr."""
        if self.asynchronous:
            batch = ('batch %d per worker, and each worker\'s gradient updates the servers\' '
                     'parameters on its own (effective batch %d); lr %g as given; parameters '
                     'and optimizer state live on the servers (the momentum cannot be '
                     'checkpointed)' % (batch_size, batch_size, lr))
        else:
            batch = ('batch %d per worker, effective batch %d (%d x %d): each step averages '
                     'the gradients of all workers; lr %g as given, not scaled with the '
                     'workers (the linear scaling rule would give %g); every worker applies '
                     'the same update to identical parameters'
                     % (batch_size, batch_size * self.num_workers, batch_size,
                        self.num_workers, lr, lr * self.num_workers))
        return ('Distributed (%s): worker %d of %d, %d server(s); each worker reads its own %d '
                'of the %d training images per epoch (%d left out, different ones each epoch); '
                '%s' % (self.kvstore, self.rank, self.num_workers, self.num_servers, shard,
                        images, images - shard * self.num_workers, batch))

    def save_worker_parameters(self, net, folder, epoch):
        """``folder/worker<rank>-epoch<epoch>.params`` (for checking that workers agree)."""
        if folder:
            os.makedirs(folder, exist_ok=True)
            mx.nd.waitall()
            net.save_parameters(os.path.join(folder, 'worker%d-epoch%04d.params'
                                              % (self.rank, epoch)))

    def prefixed(self, echo):
        return lambda message: echo('[worker %d/%d] %s' % (self.rank, self.num_workers, message))

    # --- the end --------------------------------------------------------------------------

    def finish(self, code):
        """End this worker: on success meet the others and shut the kvstore down (both under
        the watchdog); on failure leave at once, since the kvstore's shutdown would wait for
        peers that may never come. Returns ``code`` (only on success)."""
        if code != 0:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        self.watchdog.arm('waiting for the other workers to finish (worker 0 exports the '
                          'network and scores the test split)')
        self.kv._barrier()  # pylint: disable=protected-access
        # Freeing the kvstore meets the others once more and stops the servers; do it here,
        # under the watchdog, rather than at interpreter exit.
        self.kv = None
        gc.collect()
        self.watchdog.rest()
        return code
