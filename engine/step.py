"""One training step and what it is built from: the one place that training, the speed
benchmark (``engine/benchmark.py``) and the distributed benchmark (``tools/dist_bench.py``)
take a step, a loss and an optimizer from."""
import math
import random

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from model.syncbn import finish_deferred_init, has_cross_device_norm, record_on_devices
from .batchnorm_stats import track_input_statistics
from .errors import TrainingDiverged
from .loss import SoftIoULoss
from .recipes import optimizer_settings

__all__ = ['train_step', 'run_epoch', 'seed_everything', 'step_parts']


def seed_everything(seed):
    """Seed Python, numpy and MXNet (augmentation, shuffling, dropout)."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    mx.random.seed(seed)


def step_parts(net, recipe='default', kvstore='device', hybridize=True):
    """``(trainer, loss_fn)`` for timing steps of ``net``: the recipe's optimizer (from
    :data:`engine.recipes.RECIPES`, without a schedule) and the Soft-IoU loss."""
    trainer = gluon.Trainer(net.collect_params(), *optimizer_settings(recipe), kvstore=kvstore)
    loss_fn = SoftIoULoss()
    if hybridize:
        loss_fn.hybridize(static_alloc=True, static_shape=True)
    return trainer, loss_fn


def train_step(net, trainer, loss_fn, images, masks, ctx, grad_divisor):
    """One data-parallel step: the batch split across ``ctx``, one loss per device (the
    batch-level Soft-IoU of that device's share, as in the original toolkit; in lockstep
    threads when batch norm spans the devices), all back-propagated in one call, the
    summed gradient divided by ``grad_divisor``. Returns the per-device losses (not
    waited for)."""
    images = gluon.utils.split_and_load(images, ctx, even_split=False)
    masks = gluon.utils.split_and_load(masks, ctx, even_split=False)
    track_input_statistics(images)
    lockstep = has_cross_device_norm(net)
    if lockstep:
        finish_deferred_init(net, images[0])
    outputs = record_on_devices(net, [(x,) for x in images], lockstep=lockstep)
    with autograd.record():  # the loss's cached graph is built once, here, not per thread
        losses = [loss_fn(logits, y) for logits, y in zip(outputs, masks)]
    autograd.backward(losses)
    trainer.step(grad_divisor)
    return losses


def run_epoch(net, trainer, loss_fn, batches, ctx, grad_divisor, epoch, on_loss=None,
              recovery=''):
    """Train on every batch of ``batches``; returns the mean loss. Each iteration's loss is
    read while the engine runs the next one; a NaN or infinite loss raises
    :class:`TrainingDiverged` (``recovery`` says where the last good checkpoint is).
    ``on_loss(mean so far)`` is called as losses arrive (progress bars)."""
    total, count, pending = 0.0, 0, None

    def check(losses, iteration):
        value = float(sum(l.asscalar() for l in losses) / len(losses))
        if not math.isfinite(value):
            raise TrainingDiverged(
                'The loss became %s at epoch %d, iteration %d (lr %g); stopped without '
                'saving this epoch.%s Lower --lr or use --warmup-epochs.'
                % (value, epoch, iteration, trainer.learning_rate, recovery))
        return value

    for iteration, (images, masks) in enumerate(batches, 1):
        losses = train_step(net, trainer, loss_fn, images, masks, ctx, grad_divisor)
        if pending is not None:
            total += check(*pending)
            count += 1
            if on_loss is not None:
                on_loss(total / count)
        pending = (losses, iteration)
    if pending is not None:
        total += check(*pending)
        count += 1
    return total / max(count, 1)
