"""The number format a training step computes in: float32, or bfloat16 on CPUs that have
bf16 kernels (AVX-512 BF16, AMX), with float32 master weights.

Why not ``amp.init``: MXNet 1.9.1's AMP wraps every operator it creates, and in a
hybridized ACM-U-Net the backward pass then fails ("could not execute a primitive", or a
crash) as soon as the graph holds a transposed convolution; a 2-layer network (a
``Conv2DTranspose`` and a 1x1 convolution) shows it, also with every operator left in
float32 (``target_precision_ops=['Deconvolution']``), while the same network without
``amp.init`` trains. Imperatively it runs, 3.5x slower than the hybridized float32 step.

What works: convert the hybridized float32 graph as the bf16 inference form does
(``amp.convert_symbol``: convolutions and the operators that follow them in bfloat16,
transposed convolutions and the rest in float32, casts between) and build the training
block from it around the network's own float32 parameters (``SymbolBlock(params=...)``
shares them). The optimizer, checkpoints, validation and export see the float32 network
only; the converted graph is rebuilt from it whenever a run starts or resumes.
"""
import warnings

import mxnet as mx
from mxnet import gluon

__all__ = ['DTYPES', 'dtype_problem', 'training_network']

DTYPES = ('float32', 'bfloat16')


def dtype_problem(dtype, ctx):
    """Why ``dtype`` cannot train on the contexts ``ctx`` (None when it can)."""
    if dtype == 'float32':
        return None
    if any(c.device_type != 'cpu' for c in ctx):
        return ('bfloat16 training runs on CPUs with bf16 kernels (oneDNN); on GPUs use '
                '--dtype float32')
    from deployment.inference import form_available  # pylint: disable=import-outside-toplevel
    ok, why = form_available('bf16', ctx[0])
    return None if ok else '%s: use --dtype float32' % why


def training_network(net, dtype, sample_shape, ctx):
    """The block a training step calls: ``net`` itself for float32; for bfloat16 its
    hybridized graph converted by AMP, computing on ``net``'s own float32 parameters.
    ``net`` must be hybridized; ``sample_shape`` (one image) builds its graph."""
    if dtype == 'float32':
        return net
    from mxnet.contrib import amp  # pylint: disable=import-outside-toplevel
    # the graph without a forward pass: an inference pass would let oneDNN reorder the
    # weights in place, and a resumed run would then round differently (README,
    # Repeatability)
    # pylint: disable=protected-access
    inputs, symbol = net._get_graph(mx.nd.zeros(sample_shape, ctx=ctx[0]))
    converted = amp.convert_symbol(symbol, 'bfloat16', data_names=[i.name for i in inputs],
                                   cast_optional_params=False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # SymbolBlock warns about parameters it shares
        block = gluon.SymbolBlock(converted, inputs, params=net.collect_params())
    block.hybridize(static_alloc=True, static_shape=True)
    return block
