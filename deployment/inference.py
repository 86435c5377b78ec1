"""Execution forms for inference: the same weights run op by op, as a static graph, with
batch norm folded, through oneDNN's fused subgraphs, in INT8 or in bfloat16.

    fast = prepare(net, 'onednn', input_shape=(8, 3, 512, 512))
    logits = fast(images)

Every form but ``imperative`` runs an exported copy of the network (a ``SymbolBlock``);
``net`` keeps its parameters (it is hybridized to be exported).
"""
import json
import os
import tempfile
import warnings
from collections import OrderedDict

import mxnet as mx
from mxnet import gluon

from .folding import fold_batchnorm
from .rewrites import rewrite_for_inference

__all__ = ['FORMS', 'prepare', 'form_available', 'to_symbol', 'symbol_block',
           'inference_graph']

FORMS = OrderedDict([
    ('imperative', 'Gluon blocks run operator by operator'),
    ('hybrid', 'static graph (hybridize with static_alloc and static_shape)'),
    ('folded', 'exported graph, batch norm folded into the convolutions, hybridized'),
    ('onednn', "oneDNN subgraph backend: convolution + batch norm + ReLU (+ sum) fused"),
    ('int8', 'oneDNN INT8, thresholds calibrated on training images'),
    ('bf16', 'bfloat16 through AMP (oneDNN kernels need AVX-512 BF16/AMX)'),
])
EXACT_FORMS = ('imperative', 'hybrid', 'folded', 'onednn')  # FP32: same logits up to rounding
REWRITTEN_FORMS = ('folded', 'onednn')  # run the graph after deployment.rewrites' inference rewrites
CPU_ONLY_FORMS = ('onednn', 'int8', 'bf16')


def to_symbol(net, ctx=None):
    """``(symbol, arg_params, aux_params)`` of a Gluon network, through ``export``."""
    ctx = ctx or mx.cpu()
    with tempfile.TemporaryDirectory() as folder:
        prefix = os.path.join(folder, 'net')
        if not isinstance(net, gluon.SymbolBlock):
            net.hybridize(static_alloc=True, static_shape=True)
        # export needs one forward pass to trace the graph; its size does not matter
        net(mx.nd.zeros((1, 3, 32, 32), ctx=ctx)).wait_to_read()
        net.export(prefix, epoch=0)
        symbol, args, aux = mx.model.load_checkpoint(prefix, 0)
    return symbol, args, aux


def inference_graph(symbol, arg_params, aux_params, rewrite=True, fold_bn=False):
    """An exported graph as the fast forms run it: :mod:`deployment.rewrites`' inference
    rewrites (``rewrite``), then batch norm folded into the convolutions (``fold_bn``).
    Returns ``(symbol, arg_params, aux_params)``."""
    if rewrite:
        symbol, arg_params, aux_params, _ = rewrite_for_inference(symbol, arg_params, aux_params)
    if fold_bn:
        symbol, arg_params, aux_params, _ = fold_batchnorm(symbol, arg_params, aux_params)
    return symbol, arg_params, aux_params


def symbol_block(symbol, arg_params, aux_params, ctx=None):
    """A ``SymbolBlock`` with input ``data`` holding the given parameters."""
    ctx = ctx or mx.cpu()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        block = gluon.SymbolBlock(symbol, mx.sym.var('data'))
    params = block.collect_params()
    for name, value in list(arg_params.items()) + list(aux_params.items()):
        if name in params:
            params[name]._load_init(value, ctx)  # pylint: disable=protected-access
    return block


def form_available(form, ctx=None):
    """``(True, '')`` or ``(False, why)``: can ``form`` run on ``ctx`` here?"""
    ctx = ctx or mx.cpu()
    if form not in FORMS:
        return False, 'unknown form %r; valid: %s' % (form, ', '.join(FORMS))
    if form in CPU_ONLY_FORMS and ctx.device_type != 'cpu':
        return False, 'the %s form runs on the CPU only (oneDNN)' % form
    if form in CPU_ONLY_FORMS and not mx.runtime.Features().is_enabled('MKLDNN'):
        return False, 'this MXNet build has no oneDNN (MKLDNN)'
    if form == 'bf16':
        return _bf16_convolution_works()
    return True, ''


def faster_forms(ctx=None, flags=None):
    """One line naming the approximate forms that run faster than the exact ``onednn`` one
    on this CPU, or None (GPUs, CPUs without VNNI, BF16 or AMX). Measured on 2 cores with
    ACM-U-Net b = 4 at 512 (MXNET-NOTES.md, docs/benchmark/): INT8 6.1-7.7 images/s and
    bf16 3.7 (AVX-512 BF16) to 5.6 (AMX) against 3.0-4.1 for onednn."""
    from utils.cores import cpu_flags  # pylint: disable=import-outside-toplevel
    if (ctx or mx.cpu()).device_type != 'cpu':
        return None
    flags = cpu_flags() if flags is None else flags
    forms = []
    if flags & {'avx512_vnni', 'amx_int8'}:
        forms.append('--form int8')
    if flags & {'avx512_bf16', 'amx_bf16'}:
        forms.append('--form bf16')
    if not forms:
        return None
    return ('note: this CPU has %s kernels: %s may run faster than the exact onednn form '
            '(approximate; their speed and IoU: docs/benchmark/)'
            % ('/'.join(sorted(f for f in ('VNNI', 'BF16', 'AMX') if any(
                f.lower() in flag for flag in flags))), ' or '.join(forms)))


def _bf16_convolution_works():
    # oneDNN 2.4 has bf16 convolutions for AVX-512 (BF16) and AMX CPUs only; elsewhere the
    # primitive cannot be created. Ask it rather than parse CPU flags.
    try:
        from mxnet.contrib.amp.amp import bfloat16
        data = mx.nd.amp_cast(mx.nd.ones((1, 8, 8, 8)), dtype=bfloat16)
        weight = mx.nd.amp_cast(mx.nd.ones((8, 8, 3, 3)), dtype=bfloat16)
        mx.nd.Convolution(data, weight, kernel=(3, 3), num_filter=8, no_bias=True).wait_to_read()
    except mx.base.MXNetError:
        return False, 'this CPU has no bfloat16 convolution kernels in oneDNN (it needs AVX-512)'
    return True, ''


def prepare(net, form, input_shape, ctx=None, calib_data=None, calib_mode='naive',
            exclude_layers_match=None, warm_up=True, rewrite=True):
    """``net`` (a Gluon block with weights) as a block running in ``form``.

    ``input_shape`` is the (batch, 3, H, W) the block will be called with: the static
    forms are built for it. ``int8`` needs ``calib_data``: images (NDArray or numpy,
    N x 3 x H x W, or a list of such batches) whose layer outputs set the quantization thresholds
    (``calib_mode`` ``naive``: min/max; ``entropy``: KL-optimal). ``rewrite=False`` leaves
    out the graph rewrites of :mod:`deployment.rewrites` that the folded and oneDNN forms apply.
    """
    ctx = ctx or mx.cpu()
    ok, why = form_available(form, ctx)
    if not ok:
        raise ValueError('Cannot prepare the %s form: %s' % (form, why))
    if form == 'imperative':
        return net
    sample = mx.nd.zeros(input_shape, ctx=ctx)
    symbol, args, aux = inference_graph(*to_symbol(net, ctx),
                                        rewrite=rewrite and form in REWRITTEN_FORMS,
                                        fold_bn=form == 'folded')
    block = symbol_block(symbol, args, aux, ctx)
    if form == 'int8':
        block = _quantize(block, symbol, input_shape, calib_data, calib_mode,
                          exclude_layers_match)
    elif form == 'bf16':
        from mxnet.contrib import amp
        block.hybridize(static_alloc=True, static_shape=True)
        block = amp.convert_hybrid_block(block, target_dtype='bfloat16', ctx=ctx,
                                         cast_optional_params=True)
    block.hybridize(static_alloc=True, static_shape=True)
    if form == 'onednn':
        block.optimize_for(sample, backend='MKLDNN', static_alloc=True, static_shape=True)
    if warm_up:
        block(sample).wait_to_read()
    return block


def _sensitive_layers(symbol):
    """The layers INT8 hurts most: the first convolution (it sees the raw image) and the
    segmentation head (it makes the logits that are thresholded)."""
    nodes = json.loads(symbol.tojson())['nodes']
    first = next(n['name'] for n in nodes if n['op'] == 'Convolution')
    return [first, '_fcnhead']


def _quantize(block, symbol, input_shape, calib_data, calib_mode, exclude_layers_match):
    from mxnet.contrib.quantization import quantize_net_v2
    if calib_data is None:
        raise ValueError('The int8 form needs calibration images (calib_data)')
    if exclude_layers_match is None:
        exclude_layers_match = _sensitive_layers(symbol)
    if getattr(calib_data, 'ndim', None) == 4:  # one array of images
        calib_data = [calib_data]
    images = mx.nd.concat(*[mx.nd.array(b) if not isinstance(b, mx.nd.NDArray) else b
                            for b in calib_data], dim=0)
    calib = mx.io.NDArrayIter(data={'data': images}, batch_size=input_shape[0],
                              last_batch_handle='discard')
    # The attention products stay FP32: MXNet 1.9.1's quantized elemwise_mul stops with
    # "Expected: unsigned char v.s. given char" when it multiplies a ReLU (uint8) output.
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return quantize_net_v2(block, quantized_dtype='auto', calib_mode=calib_mode,
                               calib_data=calib, data_shapes=calib.provide_data,
                               num_calib_examples=images.shape[0], ctx=mx.cpu(),
                               exclude_layers_match=exclude_layers_match,
                               exclude_operators=['elemwise_mul'])
