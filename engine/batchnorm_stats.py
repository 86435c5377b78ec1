"""Batch-norm statistics recomputed from the current weights before scoring ("precise BN",
Wu & Johnson, *Rethinking "Batch" in BatchNorm*, 2021).

Why: batch norm's running statistics are a moving average (momentum 0.9) of batches seen
while the weights were still moving. Early in training NAG changes the weights so fast that
this average no longer describes the current network, and the evaluation-mode output swings
from one epoch to the next (validation IoU 0.19 at epoch 10 of a run whose weights score
0.38 once the statistics are recomputed; see ``docs/training/recipes/``). Training itself is
unchanged: it normalises with each batch's own statistics.

The pass runs the network in training mode on a fixed set of training images at the
evaluation size (no augmentation, nothing drawn from Python's or numpy's generators; the
head's dropout draws from MXNet's, which the next epoch re-seeds, so a resumed run still
repeats an uninterrupted one), and sets every batch-norm layer's running mean and variance to the
average of those batches' statistics. MXNet 1.9.1 on the CPU updates the running statistics
during the backward pass, not the forward one, so each batch is back-propagated (the
gradients are overwritten by the next training step; no parameter changes).
"""
import numpy as np
import mxnet as mx
from mxnet import autograd, gluon

from model.syncbn import has_cross_device_norm, record_on_devices

__all__ = ['batchnorm_layers', 'recompute_batchnorm_statistics', 'statistics_images',
           'track_input_statistics']


def track_input_statistics(images):
    """Mark each device's input batch as needing a gradient, so that the input's
    batch-norm layer keeps its running statistics.

    That layer has neither scale nor shift, so with an input that needs no gradient autograd
    skips its backward pass, and MXNet 1.9.1 on the CPU updates running statistics only
    there: they would stay at mean 0 / variance 1 for the whole run, and every evaluation
    would feed the network unnormalised images (a CPU-trained ACM-U-Net kept 0 / 1 where
    the released GPU-trained one has about -0.5 / 1.3). The extra cost is the first
    convolution's gradient with respect to its 3-channel input.
    """
    for part in images:
        part.attach_grad()
    return images


def batchnorm_layers(block):
    """Every ``BatchNorm`` (and ``CrossDeviceBatchNorm``) layer inside ``block``, in order."""
    found = [block] if isinstance(block, gluon.nn.BatchNorm) else []
    for child in block._children.values():
        found.extend(batchnorm_layers(child))
    return found


def statistics_images(dataset, count):
    """Indices of ``count`` images spread evenly over ``dataset`` (all if it is smaller)."""
    count = min(count, len(dataset))
    return sorted(set(np.linspace(0, len(dataset) - 1, count).round().astype(int).tolist()))


def _batches(dataset, indices, batch_size):
    """``indices`` in batches of ``batch_size``; a union's batch stays within one member
    (its members' images may have different sizes)."""
    locate = getattr(dataset, 'locate', None)
    batches, member = [], None
    for idx in indices:
        own = locate(idx)[0] if locate is not None else 0
        if not batches or len(batches[-1]) == batch_size or own != member:
            batches.append([])
        batches[-1].append(idx)
        member = own
    return batches


def recompute_batchnorm_statistics(net, dataset, ctx, batches, batch_size, on_batch=None):
    """Replace the running statistics of every batch-norm layer in ``net`` by the average
    statistics of ``batches`` batches of ``batch_size`` images from ``dataset`` (a
    ``testval``-mode dataset: ``dataset[i][0]`` is an image array), split across ``ctx`` as
    in training. ``on_batch(number, batches)`` is called as each batch starts (the
    watchdog). Returns the number of images used; 0 (nothing done) if ``batches`` is 0."""
    layers = batchnorm_layers(net)
    if not batches or not layers:
        return 0
    ctx = ctx if isinstance(ctx, (list, tuple)) else [ctx]
    indices = statistics_images(dataset, batches * batch_size)
    sums = [[0.0, 0.0] for _ in layers]
    counted = 0
    chunks = list(_batches(dataset, indices, batch_size))
    for number, chunk in enumerate(chunks, 1):
        if on_batch is not None:
            on_batch(number, len(chunks))
        images = mx.nd.array(np.stack([dataset[i][0] for i in chunk]))
        parts = track_input_statistics(gluon.utils.split_and_load(images, ctx,
                                                                  even_split=False))
        if any(0 in layer.running_mean.shape for layer in layers):
            net(parts[0])  # a network not run yet: shapes are known after one pass
        for layer in layers:  # from zero, the update leaves (1 - momentum) x this batch's
            _assign(layer.running_mean, 0.0)
            _assign(layer.running_var, 0.0)
        outputs = record_on_devices(net, [(part,) for part in parts],
                                    lockstep=has_cross_device_norm(net))
        autograd.backward(outputs)
        for layer, total in zip(layers, sums):
            keep = 1.0 - layer._kwargs['momentum']
            for array, slot in ((layer.running_mean, 0), (layer.running_var, 1)):
                copies = [d.asnumpy() for d in array.list_data()]
                total[slot] = total[slot] + sum(copies) / (len(copies) * keep)
        counted += 1
    for layer, (mean, var) in zip(layers, sums):
        _assign(layer.running_mean, mx.nd.array(mean / counted))
        _assign(layer.running_var, mx.nd.array(var / counted))
    return len(indices)


def _assign(param, value):
    """Write ``value`` into every device's copy of ``param`` in place. Not
    ``Parameter.set_data``: with several devices the trainer keeps the weights and the
    optimizer's state in its kvstore, and ``set_data`` resets that kvstore, losing NAG's
    momentum at every validation (or raising on a distributed kvstore)."""
    for array in param.list_data():
        array[:] = value
