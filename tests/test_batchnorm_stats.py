"""Batch norm's statistics recomputed from the current weights before validation."""
import random

import numpy as np
import mxnet as mx
import pytest
from mxnet import autograd

from data import SIRSTSegmentation
from model import get_model
from engine.batchnorm_stats import (batchnorm_layers, recompute_batchnorm_statistics,
                                   statistics_images)


@pytest.fixture
def images(sirst_root):
    return SIRSTSegmentation(root=sirst_root, split='train', mode='testval', base_size=64)


def _without_dropout(block):
    if isinstance(block, mx.gluon.nn.Dropout):
        block._rate = 0.0
    for child in block._children.values():
        _without_dropout(child)


@pytest.mark.parametrize('hybridize', [False, True])
def test_scoring_after_recomputation_matches_the_batch_statistics(images, hybridize):
    net = get_model('acm_unet', blocks=1)
    net.initialize(mx.init.MSRAPrelu())
    _without_dropout(net)  # the only other layer that trains and scores differently
    if hybridize:  # as training runs it
        net.hybridize(static_alloc=True, static_shape=True)
    batch = mx.nd.array(np.stack([images[i][0] for i in statistics_images(images, 4)]))
    net(batch)
    # oneDNN converts weights to its own layouts after a pass, asynchronously (a transposed
    # convolution's read back mid-conversion once came out permuted): let that finish first
    mx.nd.waitall()
    weights = {k: v.data().asnumpy() for k, v in net.collect_params().items()
               if not k.endswith(('running_mean', 'running_var'))}
    rng = (random.getstate(), np.random.get_state()[1].copy())

    # one batch of the four images the test scores: evaluation mode must then normalise
    # exactly as training mode does with that batch's own statistics
    assert recompute_batchnorm_statistics(net, images, mx.cpu(), 1, 4) == 4
    with autograd.train_mode():
        expected = net(batch).asnumpy()
    np.testing.assert_allclose(net(batch).asnumpy(), expected, rtol=1e-3, atol=1e-3)

    # the first layer normalises the input images: its statistics are theirs
    first = batchnorm_layers(net)[0]
    pixels = batch.asnumpy()
    np.testing.assert_allclose(first.running_mean.data().asnumpy(),
                               pixels.mean(axis=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(first.running_var.data().asnumpy(),
                               pixels.var(axis=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    # nothing else changes, and no random number is drawn (a resumed run stays exact)
    for key, value in weights.items():
        np.testing.assert_array_equal(net.collect_params()[key].data().asnumpy(), value)
    assert random.getstate() == rng[0]
    np.testing.assert_array_equal(np.random.get_state()[1], rng[1])


def test_several_batches_are_averaged(images):
    net = get_model('acm_unet', blocks=1)
    net.initialize(mx.init.MSRAPrelu())
    assert recompute_batchnorm_statistics(net, images, mx.cpu(), 2, 3) == 6
    first = batchnorm_layers(net)[0]
    picked = statistics_images(images, 6)
    assert picked[0] == 0 and picked[-1] == len(images) - 1  # spread over the split
    batches = [np.stack([images[i][0] for i in picked[:3]]),
               np.stack([images[i][0] for i in picked[3:]])]
    np.testing.assert_allclose(first.running_mean.data().asnumpy(),
                               np.mean([b.mean(axis=(0, 2, 3)) for b in batches], axis=0),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(first.running_var.data().asnumpy(),
                               np.mean([b.var(axis=(0, 2, 3)) for b in batches], axis=0),
                               rtol=1e-4, atol=1e-5)
    assert recompute_batchnorm_statistics(net, images, mx.cpu(), 0, 3) == 0


def test_a_training_step_keeps_the_input_layers_statistics(images):
    # MXNet 1.9.1 on the CPU updates running statistics in the backward pass, which autograd
    # skips for the input layer (no scale, no shift, an input without gradient): its
    # statistics stayed at 0 / 1 for whole runs before train_step marked the input
    from engine.loss import SoftIoULoss
    from engine.step import train_step
    net = get_model('acm_unet', blocks=1)
    net.initialize(mx.init.MSRAPrelu())
    net.hybridize(static_alloc=True, static_shape=True)
    trainer = mx.gluon.Trainer(net.collect_params(), 'nag', {'learning_rate': 0.05})
    batch = np.stack([images[i][0] for i in range(4)])
    masks = np.stack([images[i][1] for i in range(4)])[:, None].astype('float32')
    train_step(net, trainer, SoftIoULoss(), mx.nd.array(batch), mx.nd.array(masks),
               [mx.cpu()], 1)
    first = batchnorm_layers(net)[0]
    momentum = first._kwargs['momentum']
    np.testing.assert_allclose(first.running_mean.data().asnumpy(),
                               (1 - momentum) * batch.mean(axis=(0, 2, 3)), rtol=1e-4, atol=1e-6)


def test_bn_rescore_refuses_bad_input_in_one_line(sirst_root, tmp_path):
    import subprocess
    import sys
    from tests.conftest import REPO
    corrupt = tmp_path / 'corrupt.params'
    corrupt.write_bytes(b'not parameters')
    for args, culprit in ((['/nope.params', '--data-root', sirst_root], '/nope.params'),
                          ([str(corrupt), '--data-root', sirst_root], 'corrupt.params'),
                          ([str(corrupt), '--batches', 'x'], "'x'"),
                          ([str(corrupt), '--batches', '-1'], '--batches')):
        result = subprocess.run([sys.executable, 'tools/bn_rescore.py'] + args, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = [l for l in result.stderr.splitlines() if 'arning' not in l and l.strip()]
        assert result.returncode == 2 and 'Traceback' not in result.stderr
        assert culprit in lines[-1], lines
