"""Throughput of a network in every execution form the toolkit offers, measured in one
process: inference, a training step, the training data pipeline and the whole evaluation
pipeline. ``benchmark.py`` is its command line."""
import time

import mxnet as mx
import numpy as np
from mxnet import gluon

from model import get_model, load_parameters
from deployment.inference import EXACT_FORMS, FORMS, form_available, prepare
from model.summary import count_flops
from metric import METRIC_KEYS
from .precision import training_network
from .step import step_parts, train_step

__all__ = ['timed_rounds', 'bench_inference', 'bench_training', 'bench_loader',
           'bench_evaluation', 'TRAIN_FORMS']

#: oneDNN's fused subgraphs and INT8 are inference-only; bf16 is the hybrid step in bfloat16
#: with float32 master weights (engine/precision.py; CPUs with AVX-512 BF16 or AMX)
TRAIN_FORMS = ('imperative', 'hybrid', 'bf16')


def timed_rounds(steps, repeats=3, warmup=1):
    """``{name: [seconds of each run]}`` for a dict of steps, timed in turns (one run of
    each step per round) so that a machine whose speed drifts slows them all alike. Each
    step must wait for its own results (``wait_to_read``/``waitall``)."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    seconds = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def _rate_row(name, images, seconds, flops_per_image):
    median = float(np.median(seconds))
    return {'form': name, 'images_per_s': images / median,
            'images_per_s_min': images / max(seconds), 'images_per_s_max': images / min(seconds),
            'seconds_median': median, 'gflops_per_s': flops_per_image * images / median / 1e9,
            'runs': len(seconds)}


def _with_ratios(rows, baseline='imperative'):
    base = next((r['images_per_s'] for r in rows if r['form'] == baseline), None)
    for row in rows:
        row['ratio'] = row['images_per_s'] / base if base else None
    return rows


def network_factory(name, blocks=4, pretrained=False, model_root=None, weights=None, **kwargs):
    """A function returning a fresh network (released weights, the parameter file
    ``weights``, or MSRA-initialised)."""
    def make(ctx):
        net = get_model(name, blocks=blocks, pretrained=pretrained, root=model_root, ctx=ctx,
                        **kwargs)
        if weights:
            load_parameters(net, weights, ctx=ctx)
        elif not pretrained:
            mx.random.seed(0)
            net.initialize(mx.init.MSRAPrelu(), ctx=ctx)
            # shapes are inferred, and the weights drawn, at the first call: make it now,
            # so that every network made gives the same weights whatever ran in between
            net(mx.nd.zeros((1, 3, 32, 32), ctx=ctx))
        return net
    return make


def sample_batch(shape, dataset=None, seed=1):
    """``(images, masks)`` of ``shape``: SIRST samples from ``dataset`` when given (speed
    can depend on the data: oneDNN ran 12% slower on uniform [-2, 2] noise than on [0, 1]),
    else noise with a few target pixels."""
    if dataset is not None:
        picks = np.linspace(0, len(dataset) - 1, shape[0]).round().astype(int)
        images, masks = zip(*(dataset[int(i)] for i in picks))
        return mx.nd.array(np.stack(images)), mx.nd.array(np.stack(masks))
    mx.random.seed(seed)
    images = mx.nd.random.uniform(-2, 2, shape=shape)
    masks = mx.nd.random.uniform(shape=(shape[0], 1) + tuple(shape[2:])) > 0.999
    return images, masks.astype('float32')


def bench_inference(make_net, shape, forms=tuple(FORMS), ctx=None, repeats=3, warmup=1,
                    calib_data=None, dataset=None, log=print):
    """Inference throughput of each form on one batch of ``shape`` (SIRST images from
    ``dataset`` in ``testval`` mode when given, else noise).

    Each row: images/s (median, min, max), GFLOP/s, ratio to imperative and the largest
    absolute logit difference from the imperative (or first) form's output. Forms that
    cannot run here get a row with ``skipped`` and the reason.
    """
    ctx = ctx or mx.cpu()
    batch = sample_batch(shape, dataset)[0].as_in_context(ctx)
    flops = count_flops(make_net(ctx), input_size=shape[2:])
    rows, blocks = [], {}
    for form in forms:
        ok, why = form_available(form, ctx)
        if not ok:
            rows.append({'form': form, 'skipped': why})
            log('  %-10s skipped: %s' % (form, why))
            continue
        blocks[form] = prepare(make_net(ctx), form, shape, ctx=ctx, calib_data=calib_data)
    # every form is built first and then timed in turns: this VM's speed drifts by up to
    # 20 % over minutes, which would otherwise land in the ratios
    seconds = timed_rounds({form: (lambda b=block: b(batch).wait_to_read())
                            for form, block in blocks.items()}, repeats, warmup)
    reference = None
    for form, block in blocks.items():
        output = block(batch).asnumpy()
        reference = output if reference is None else reference
        row = _rate_row(form, shape[0], seconds[form], flops)
        row['max_abs_diff'] = float(np.abs(output - reference).max())
        row['exact_form'] = form in EXACT_FORMS
        rows.append(row)
        log('  %-10s %.3f images/s' % (form, row['images_per_s']))
    return _with_ratios([r for r in rows if 'skipped' not in r]) + \
        [r for r in rows if 'skipped' in r], flops


def _train_step(net, trainer, loss_fn, images, masks, batch_size):
    train_step(net, trainer, loss_fn, images, masks, [images.context], batch_size)
    mx.nd.waitall()


def bench_training(make_net, shape, forms=TRAIN_FORMS, ctx=None, repeats=3, warmup=1,
                   dataset=None, log=print):
    """Training-step throughput (forward, Soft-IoU loss, backward, NAG update) per form on
    one batch of ``shape`` (augmented SIRST crops from ``dataset`` in ``train`` mode when
    given, else noise with a few target pixels). The forms are built first and timed in
    turns, as in :func:`bench_inference`."""
    ctx = ctx or mx.cpu()
    images, masks = (x.as_in_context(ctx) for x in sample_batch(shape, dataset, seed=2))
    flops = 3 * count_flops(make_net(ctx), input_size=shape[2:])  # forward + 2x backward
    steps = {}
    for form in forms:
        net = make_net(ctx)
        if form != 'imperative':
            net.hybridize(static_alloc=True, static_shape=True)
        trainer, loss_fn = step_parts(net, hybridize=form != 'imperative')
        block = training_network(net, 'bfloat16' if form == 'bf16' else 'float32',
                                 (1,) + tuple(shape[1:]), [ctx])
        steps[form] = (lambda n=block, t=trainer, l=loss_fn:
                       _train_step(n, t, l, images, masks, shape[0]))
    seconds = timed_rounds(steps, repeats, warmup)
    rows = []
    for form in forms:
        rows.append(_rate_row(form, shape[0], seconds[form], flops))
        log('  %-10s %.3f images/s (training step)' % (form, rows[-1]['images_per_s']))
    return _with_ratios(rows), flops


def bench_loader(dataset, batch_size=8, num_workers=2, batches=10):
    """Images/s the training data pipeline (decode + augmentation + batching) delivers
    with ``num_workers`` processes and nothing else running."""
    loader = gluon.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                   last_batch='rollover', num_workers=num_workers)
    iterator, count = iter(loader), 0
    next(iterator)  # worker start-up is not throughput
    start = time.perf_counter()
    for images, _ in iterator:
        count += images.shape[0]
        if count >= batches * batch_size:
            break
    return {'workers': num_workers, 'images_per_s': count / (time.perf_counter() - start)}


def bench_pipelines(datasets, batch_size=8, num_workers=2, log=print):
    """:func:`bench_loader` for each ``(name, dataset)`` of ``datasets`` (training splits in
    ``train`` mode, e.g. from the registry at their protocol's sizes), one row each."""
    rows = []
    for name, dataset in datasets:
        row = dict(dataset=name, split=dataset.label, images=len(dataset),
                   crop_size=dataset.crop_size, base_size=dataset.base_size,
                   **bench_loader(dataset, batch_size, num_workers))
        rows.append(row)
        log('  %-11s %-16s crop %4d: %8.2f images/s' % (name, row['split'], row['crop_size'],
                                                          row['images_per_s']))
    return rows


def bench_evaluation(make_net, dataset, forms=('hybrid', 'onednn'), ctx=None, batch_size=8,
                     num_workers=2, calib_data=None, log=print):
    """Wall time of the whole evaluation pipeline (loading, inference, every metric) on
    ``dataset`` per form, with the metrics each form produced."""
    from .evaluation import evaluate_split
    ctx = ctx or mx.cpu()
    shape = (batch_size, 3, dataset.base_size, dataset.base_size)
    rows = []
    for form in forms:
        ok, why = form_available(form, ctx)
        if not ok:
            rows.append({'form': form, 'skipped': why})
            continue
        start = time.perf_counter()
        block = prepare(make_net(ctx), form, shape, ctx=ctx, calib_data=calib_data)
        prepared = time.perf_counter()
        scores = evaluate_split(block, dataset, [ctx], batch_size=batch_size,
                                num_workers=num_workers, progress=False).scores()
        done = time.perf_counter()
        rows.append(dict(form=form, seconds=done - start, prepare_seconds=prepared - start,
                         images=len(dataset), **{k: scores[k] for k in METRIC_KEYS}))
        log('  %-10s %.1f s  IoU %.4f nIoU %.4f' % (form, rows[-1]['seconds'], scores['IoU'],
                                                   scores['nIoU']))
    return rows
