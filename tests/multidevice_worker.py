"""One training step on two CPU contexts and its one-context references, saved for
``test_multidevice.py`` (run in a process of its own, so that a stuck run cannot hang the
test session).

    python tests/multidevice_worker.py SIRST_ROOT OUT.npz
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import utils.cores  # noqa: E402,F401
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from mxnet import autograd, gluon  # noqa: E402

from data import SIRSTSegmentation  # noqa: E402
from model import get_model  # noqa: E402
from model.syncbn import CrossDeviceBatchNorm  # noqa: E402
from engine.checkpoint import initialise_trainer  # noqa: E402
from engine.batchnorm_stats import track_input_statistics  # noqa: E402
from engine.loss import SoftIoULoss  # noqa: E402
from engine.step import train_step  # noqa: E402

BATCH, HALF, SIZE = 8, 4, 64
TWO = [mx.cpu(0), mx.cpu(1)]


def network(ctx, syncbn):
    kwargs = {'norm_layer': CrossDeviceBatchNorm} if syncbn else {}
    net = get_model('acm_unet', blocks=1, **kwargs)
    mx.random.seed(7)
    net.infer_shape(mx.nd.zeros((1, 3, SIZE, SIZE)))
    net.initialize(mx.init.MSRAPrelu(), ctx=ctx)
    net.set_output_prior(0.001)
    # the head's dropout draws other masks for other splits of the batch: off, so that the
    # runs compared differ only in how the batch is spread over devices
    net.head.block[3]._rate = 0  # pylint: disable=protected-access
    return net


def trainer(net):
    made = gluon.Trainer(net.collect_params(), 'nag',
                         {'learning_rate': 0.05, 'momentum': 0.9, 'wd': 1e-4})
    # A Trainer's first step copies the first device's values of every parameter, running
    # statistics included, to the others. Initialising it now does that before the step, so
    # that the statistics read after the step are those the step's forward passes left.
    initialise_trainer(made)
    return made


def arrays(net, ctx, tag, into):
    for name, param in net._collect_params_with_prefix().items():  # pylint: disable=protected-access
        into['%s/%s' % (tag, name)] = param.data(ctx).asnumpy()


def main(sirst_root, out):
    data = SIRSTSegmentation(root=sirst_root, split='test', mode='testval', base_size=SIZE)
    images, masks = (mx.nd.array(np.stack([np.asarray(data[i][part]) for i in range(BATCH)]))
                     for part in (0, 1))
    loss_fn = SoftIoULoss()
    saved = {}
    for syncbn in (True, False):
        tag = 'sync' if syncbn else 'local'
        net = network(TWO, syncbn)
        train_step(net, trainer(net), loss_fn, images, masks, TWO, BATCH)
        for device, ctx in enumerate(TWO):
            arrays(net, ctx, '%s%d' % (tag, device), saved)
    # one context, the same two half-batch losses; batch norm sees all 8 images at once
    net = network([mx.cpu()], False)
    step = trainer(net)
    track_input_statistics([images])  # as train_step does
    with autograd.record():
        logits = net(images)
        loss = loss_fn(logits[:HALF], masks[:HALF]) + loss_fn(logits[HALF:], masks[HALF:])
    loss.backward()
    step.step(BATCH)
    arrays(net, mx.cpu(), 'whole', saved)
    # one context, each half through batch norm on its own, gradients summed (two passes
    # that add up their gradients: one graph through the same batch norm twice crashes
    # MXNet 1.9.1's oneDNN backward)
    net = network([mx.cpu()], False)
    step = trainer(net)
    for param in net.collect_params().values():
        param.grad_req = 'add' if param.grad_req != 'null' else 'null'
    net.collect_params().zero_grad()
    for part in (slice(0, HALF), slice(HALF, BATCH)):
        half, = track_input_statistics([images[part]])
        with autograd.record():
            loss = loss_fn(net(half), masks[part])
        loss.backward()
    step.step(BATCH)
    arrays(net, mx.cpu(), 'halves', saved)
    # the running statistics one half alone leaves (forward and backward, no update)
    for index, part in enumerate((slice(0, HALF), slice(HALF, BATCH))):
        net = network([mx.cpu()], False)
        half, = track_input_statistics([images[part]])
        with autograd.record():
            loss = loss_fn(net(half), masks[part])
        loss.backward()
        arrays(net, mx.cpu(), 'half%d' % index, saved)
    np.savez(out, **saved)


if __name__ == '__main__':
    main(*sys.argv[1:3])
