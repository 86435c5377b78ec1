"""Batch-norm statistics recomputed from the current weights before scoring ("precise BN",
Wu & Johnson, *Rethinking "Batch" in BatchNorm*, 2021).

Why: batch norm's running statistics are a moving average (momentum 0.9) of batches seen
while the weights were still moving. Early in training NAG changes the weights so fast that
this average no longer describes the current network, and the evaluation-mode output swings
from one epoch to the next (validation IoU 0.19 at epoch 10 of a run whose weights score
0.38 once the statistics are recomputed; see ``docs/training/recipes/``). Training itself is
unchanged: it normalises with each batch's own statistics.

The pass runs the network forward in training mode on a fixed set of training images at
the evaluation size (no augmentation, nothing drawn from Python's or numpy's generators; the
head's dropout draws from MXNet's, which the next epoch re-seeds, so a resumed run still
repeats an uninterrupted one), reads every batch-norm layer's input on the way (the
statistics training would normalise it with) and sets its running mean and variance to the
average of those batches' statistics. Forward only, operator by operator, each batch whole
on the first device (the statistics of the whole batch, as batch norm across devices has
them): an earlier pass back-propagated each batch through the static training graph,
because MXNet 1.9.1 on the CPU updates running statistics in the backward pass, and at
512 x 512 that graph held about 14 GB beside the training one (a run was killed for
memory at its validation).
"""
import contextlib

import numpy as np
import mxnet as mx
from mxnet import autograd, gluon

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
    """Replace the running statistics of every batch-norm layer in ``net`` (on every device
    it lives on) by the average statistics of ``batches`` batches of ``batch_size`` images
    from ``dataset`` (a ``testval``-mode dataset: ``dataset[i][0]`` is an image array), each
    batch run whole on the first of ``ctx``. A hybridized ``net`` runs operator by operator
    meanwhile (score a copy of a training network: see ``Trainer._scoring_copy``).
    ``on_batch(number, batches)`` is called as each batch starts (the watchdog). Returns the
    number of images used; 0 (nothing done) if ``batches`` is 0."""
    layers = batchnorm_layers(net)
    if not batches or not layers:
        return 0
    device = (ctx if isinstance(ctx, (list, tuple)) else [ctx])[0]
    indices = statistics_images(dataset, batches * batch_size)
    chunks = _batches(dataset, indices, batch_size)
    sums = [[0.0, 0.0] for _ in layers]
    with _operator_by_operator(net), _inputs_statistics(layers) as seen:
        for number, chunk in enumerate(chunks, 1):
            if on_batch is not None:
                on_batch(number, len(chunks))
            images = mx.nd.array(np.stack([dataset[i][0] for i in chunk]), ctx=device)
            with autograd.train_mode():  # normalised by each batch's own statistics
                net(images)
            for total, (mean, var) in zip(sums, seen):
                total[0] = total[0] + mean.asnumpy()
                total[1] = total[1] + var.asnumpy()
    for layer, (mean, var) in zip(layers, sums):
        _assign(layer.running_mean, mx.nd.array(mean / len(chunks)))
        _assign(layer.running_var, mx.nd.array(var / len(chunks)))
    return len(indices)


@contextlib.contextmanager
def _operator_by_operator(net):
    """``net`` not hybridized inside the block (its layers' hooks then run), as before after."""
    # pylint: disable=protected-access  (Gluon keeps the hybridize flags there)
    active, flags = getattr(net, '_active', False), dict(getattr(net, '_flags', []))
    if active:
        net.hybridize(False)
    try:
        yield
    finally:
        if active:
            net.hybridize(True, **flags)


@contextlib.contextmanager
def _inputs_statistics(layers):
    """A list that holds, after each forward pass, ``(mean, variance)`` of every layer's
    input over all but its channel axis (the biased variance, as batch norm's)."""
    seen = [None] * len(layers)

    def keeper(index, layer):
        eps, axis = layer._kwargs['eps'], layer._kwargs['axis']  # pylint: disable=protected-access

        def hook(_, inputs):
            x = inputs[0]
            channels = x.shape[axis]
            ones, zeros = mx.nd.ones(channels, ctx=x.context), mx.nd.zeros(channels, ctx=x.context)
            # the batch's statistics as batch norm computes them in training (oneDNN's own
            # rounding: scoring then normalises exactly as training did), which it returns
            # as the mean and 1 / sqrt(variance + eps)
            _, mean, inverse_std = mx.nd.BatchNorm(x, ones, zeros, zeros, ones, eps=eps,
                                                   axis=axis, fix_gamma=True,
                                                   output_mean_var=True)
            var = 1.0 / mx.nd.square(inverse_std) - eps
            var.wait_to_read()  # one layer's activations at a time, not the whole pass's
            seen[index] = (mean, var)
        return hook

    # pylint: disable=protected-access
    handles = [layer.register_forward_pre_hook(keeper(index, layer))
               for index, layer in enumerate(layers)]
    try:
        yield seen
    finally:
        for handle in handles:
            handle.detach()


def _assign(param, value):
    """Write ``value`` into every device's copy of ``param`` in place. Not
    ``Parameter.set_data``: with several devices the trainer keeps the weights and the
    optimizer's state in its kvstore, and ``set_data`` resets that kvstore, losing NAG's
    momentum at every validation (or raising on a distributed kvstore)."""
    for array in param.list_data():
        array[:] = value
