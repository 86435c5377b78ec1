"""The worker a :class:`engine.trainer.Trainer` talks to: where its batches come from, which
kvstore its optimizer uses, and what happens around each epoch.

:class:`LocalWorker` is this process alone (one or several devices of one machine);
:class:`engine.distributed.ClusterWorker` is one worker of a parameter-server job and
implements the same hooks. The trainer's loop calls the hooks and never asks which one it
has.
"""
from mxnet import gluon

from .watchdog import Watchdog

__all__ = ['LocalWorker', 'WatchedLoader', 'STALL_SCALE']

#: a training step may take this many times the slowest step so far before the watchdog
#: ends the run (when that is longer than --stall-timeout)
STALL_SCALE = 10


def _sentence(text):
    return text[:1].upper() + text[1:]


class WatchedLoader(object):
    """A loader that re-arms ``watchdog`` for every batch the training loop asks for;
    ``describe(iteration, batches)`` says what the step is doing."""

    def __init__(self, loader, watchdog, describe):
        self.loader, self.watchdog, self.describe = loader, watchdog, describe

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for iteration, batch in enumerate(self.loader, 1):
            self.watchdog.arm(self.describe(iteration, len(self.loader)))
            yield batch


class LocalWorker(object):
    """Training in this process alone. Every hook is the plain single-machine behaviour."""

    #: this worker validates, logs to files, checkpoints and exports
    chief = True
    #: part of a parameter-server job (a failure must end this process, not wait for peers)
    in_job = False
    #: the optimizer's state lives on parameter servers (dist_async): it cannot be saved
    servers_hold_optimizer = False
    #: optimizer updates per training step of this worker (the schedule counts them)
    updates_per_step = 1

    def __init__(self, kvstore='device', stall_timeout=None):
        self.kvstore = kvstore
        self.epoch, self.devices = 0, 'the CPU'
        # None: no watchdog (benchmarks and tools that take steps outside a run)
        self.watchdog = None if stall_timeout is None else Watchdog(
            stall_timeout, who='training', scale=STALL_SCALE, setting='--stall-timeout')

    def watch(self, ctx, advice):
        """Name the devices in the watchdog's message; ``advice()`` tells, when it fires,
        where the run stands and how to continue it."""
        self.devices = ','.join(str(c) for c in ctx)
        if self.watchdog is not None:
            self.watchdog.hint = lambda: ' %s.' % _sentence(advice())

    def arm(self, what):
        """Start the watchdog's clock for ``what`` (a step that must finish)."""
        if self.watchdog is not None:
            self.watchdog.arm('%s on %s' % (what, self.devices))

    def rest(self):
        if self.watchdog is not None:
            self.watchdog.rest()

    def echo(self, echo):
        """How this worker's messages reach the console."""
        return echo

    def trainer_kvstore(self):
        """``(kvstore, update_on_kvstore)`` for ``gluon.Trainer``."""
        return self.kvstore, None

    def optimizer_params(self, params):
        return params

    def epoch_seed(self, seed, epoch):
        """Re-seeding from the epoch makes a resumed run repeat an uninterrupted one."""
        return seed * 100003 + epoch

    def loader(self, dataset, batch_size, num_workers, seed):
        loader = gluon.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                       last_batch='keep', num_workers=num_workers)
        if self.watchdog is None:
            return loader
        return WatchedLoader(loader, self, lambda iteration, batches: (
            'training epoch %d, batch %d of %d' % (self.epoch, iteration, batches)))

    def before_initialize(self, net, input_shape):
        """Called before the network's weights are drawn (nothing to do here: shapes are
        inferred at the first forward pass)."""

    def restore_optimizer(self, trainer, restore, updates_done, say):
        """Bring the optimizer back to a checkpoint: ``restore()`` reads its saved state."""
        restore()

    def optimizer_to_save(self, trainer):
        """The ``gluon.Trainer`` whose state a checkpoint keeps (None: nothing to keep)."""
        return trainer

    def joined(self, trainer, net, say, describe, epoch):
        """Called once the network and optimizer are ready, before the first epoch."""

    def start_epoch(self, epoch):
        self.epoch = epoch

    def end_epoch(self, net, mean_loss, optimizer, updates):
        """The epoch's mean loss as the log shows it, and extra fields for its record.
        The watchdog rests: validation and checkpoints may take as long as they take."""
        self.rest()
        return mean_loss, {}

    def finished(self, net, epoch):
        """Called after the last epoch this process trains."""

    def final_network(self, net, rebuild):
        """The network to export and score at the end."""
        return net

    def finish(self, code):
        return code
