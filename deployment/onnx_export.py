"""Export a network to ONNX for ONNX Runtime and TensorRT, and check the file.

    path = export_onnx(net, 'deploy/acm_unet.onnx', fold_bn=True, rewrite=True)
    results = check_onnx(path, net, [batch1, batch2])     # onnx.reference vs the network

MXNet 1.9.1's converter (``mxnet.onnx``) translates the operators. On top of it this module
translates the FPN's ``BilinearResize2D(mode='like')``, which MXNet's converter refuses, into
an ONNX ``Resize`` that takes its output size from the ``like`` tensor at run time; keeps the
weights as initializers only (MXNet also lists each one as a graph input); names the input
``data`` and the output ``logits``; and leaves the batch and the spatial size dynamic. Every
registry network, hosts and fusion modes alike, runs at any batch and any input size from one
file.

The opset is :data:`ONNX_OPSET`. MXNet's translations are written for opsets 12 and 13 and
their nodes mean the same at 14; 14 is chosen because its ``BatchNormalization`` states
inference mode explicitly (``training_mode=0``): ONNX's reference evaluator treats the
opset-9..13 form, which carries a ``momentum``, as training and normalises with the
batch's statistics.

The ``onnx`` package is optional (``pip install -e '.[onnx]'``); this module imports without
it and :func:`require_onnx` says how to install it.
"""
import contextlib
import functools
import json
import os

import mxnet as mx
import numpy as np

from .inference import inference_graph, to_symbol

__all__ = ['ONNX_OPSET', 'INPUT_NAME', 'OUTPUT_NAME', 'CHECK_TOLERANCE', 'OnnxExportError',
           'require_onnx', 'onnx_path', 'symbol_to_onnx', 'export_onnx', 'check_onnx']

ONNX_OPSET = 14
INPUT_NAME, OUTPUT_NAME = 'data', 'logits'
#: named (dynamic) dimensions of the input and output, ``None`` where fixed
DYNAMIC_DIMS = ('batch', None, 'height', 'width')
#: largest logit difference :func:`check_onnx` accepts, relative to the logits' scale
#: (their largest magnitude, at least 1): float32 rounding of the same arithmetic in another
#: order stays near 1e-6 of it
CHECK_TOLERANCE = 1e-4
INSTALL_HINT = "pip install -e '.[onnx]'"


class OnnxExportError(ValueError):
    """The network cannot be written as ONNX (or the ``onnx`` package is missing)."""


def require_onnx():
    """The ``onnx`` module, or :class:`OnnxExportError` saying how to install it."""
    try:
        import onnx
        import onnx.reference  # noqa: F401  (the checker's evaluator; absent before onnx 1.13)
    except ImportError:
        raise OnnxExportError('ONNX export needs the onnx package: %s' % INSTALL_HINT) from None
    return onnx


def onnx_path(prefix):
    """``<prefix>.onnx`` (a path that already ends in ``.onnx`` is kept)."""
    return prefix if prefix.endswith('.onnx') else prefix + '.onnx'


def _resize_like(node, fallback, **kwargs):
    """``BilinearResize2D(data, like, mode='like')`` as ``Resize`` to ``like``'s height and
    width, read from its shape at run time: the FPN keeps a dynamic input size, and sizes
    that do not halve evenly still resize to exactly the skip feature's size. Other modes go
    to MXNet's translation (``fallback``)."""
    from onnx import helper, numpy_helper
    attrs = node.get('attrs', {})
    if attrs.get('mode') != 'like':
        return fallback(node, **kwargs)
    if attrs.get('align_corners', 'True').lower() not in ('true', '1'):
        raise NotImplementedError('only align_corners=True is translated')
    name = node['name']
    data, like = [kwargs['outputs_lookup'][source][index].name
                  for source, index, _ in node['inputs']]
    for suffix, values in (('_0', [0]), ('_2', [2]), ('_4', [4])):
        kwargs['initializer'].append(numpy_helper.from_array(np.array(values, np.int64),
                                                             name + suffix))
    return [
        helper.make_node('Shape', [data], [name + '_data_shape']),
        helper.make_node('Shape', [like], [name + '_like_shape']),
        helper.make_node('Slice', [name + '_data_shape', name + '_0', name + '_2'],
                         [name + '_batch_channels']),
        helper.make_node('Slice', [name + '_like_shape', name + '_2', name + '_4'],
                         [name + '_height_width']),
        helper.make_node('Concat', [name + '_batch_channels', name + '_height_width'],
                         [name + '_sizes'], axis=0),
        # MXNet's default align_corners=True maps corner pixel centres onto each other,
        # which is ONNX's 'align_corners' transformation
        helper.make_node('Resize', [data, '', '', name + '_sizes'], [name], name=name,
                         mode='linear', coordinate_transformation_mode='align_corners'),
    ]


#: our translations, used instead of MXNet's (which they get as ``fallback``)
_OWN_TRANSLATIONS = {'_contrib_BilinearResize2D': _resize_like}


def _mxnet_translation(registry, op):
    """MXNet's translation of ``op`` for :data:`ONNX_OPSET` (its newest at or below it)."""
    for version in range(ONNX_OPSET, 11, -1):
        if op in registry.get(version, {}):
            return registry[version][op]
    return None


def _translating(translate, network):
    """``translate`` raising :class:`OnnxExportError` that names the network and node."""
    def translation(node, **kwargs):
        try:
            return translate(node, **kwargs)
        except (AttributeError, NotImplementedError, AssertionError, ValueError) as err:
            raise OnnxExportError('%s: mxnet.onnx cannot translate operator %s (node %s): %s'
                                  % (network, node['op'], node['name'], err)) from None
    return translation


@contextlib.contextmanager
def _translations(ops, network):
    """MXNet's converter set up for one graph, restored afterwards: our translation of
    ``BilinearResize2D(mode='like')`` (other modes go to MXNet's), and every translation
    naming the node it fails on."""
    from mxnet.onnx.mx2onnx._export_onnx import MXNetGraph
    registry = MXNetGraph.registry_
    translations = {op: _mxnet_translation(registry, op) for op in ops}
    missing = sorted(op for op, translate in translations.items() if translate is None)
    if missing:
        raise OnnxExportError('%s: mxnet %s has no ONNX translation of operator %s'
                              % (network, mx.__version__, ', '.join(missing)))
    saved = registry.get(ONNX_OPSET)
    table = registry[ONNX_OPSET] = dict(saved or {})
    for op, translate in translations.items():
        if op in _OWN_TRANSLATIONS:
            translate = functools.partial(_OWN_TRANSLATIONS[op], fallback=translate)
        table[op] = _translating(translate, network)
    try:
        yield
    finally:
        if saved is None:
            del registry[ONNX_OPSET]
        else:
            registry[ONNX_OPSET] = saved


def _rename(graph, old, new):
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]


def _with_fixed_gammas(nodes, params):
    """``params`` with the scale of each ``BatchNorm(fix_gamma=True)`` set to one: MXNet
    ignores the stored value there (the stem's input normalisation), its ONNX translation
    does not."""
    params = dict(params)
    for node in nodes:
        if node['op'] == 'BatchNorm' and \
                node.get('attrs', {}).get('fix_gamma', 'True').lower() in ('true', '1'):
            gamma = nodes[node['inputs'][1][0]]['name']
            params[gamma] = mx.nd.ones_like(params[gamma])
    return params


def symbol_to_onnx(symbol, arg_params, aux_params, sample_shape=(1, 3, 512, 512),
                   network='network'):
    """An exported graph (as ``mx.model.load_checkpoint`` gives it, input ``data``) as an
    ONNX ``ModelProto``: weights as initializers only, input ``data`` and output ``logits``
    with a dynamic batch, height and width, opset :data:`ONNX_OPSET`.

    ``sample_shape`` is one shape the graph runs at (MXNet's converter infers shapes from
    it); ``network`` names the network in errors. Raises :class:`OnnxExportError` naming the
    operator that cannot be translated.
    """
    onnx = require_onnx()
    from onnx import helper
    # mxnet.onnx.export_model always targets the newest opset of the installed onnx package,
    # for which MXNet's translations were not written; the graph converter takes the opset
    from mxnet.onnx.mx2onnx._export_onnx import MXNetGraph
    nodes = json.loads(symbol.tojson())['nodes']
    params = _with_fixed_gammas(nodes, dict(arg_params, **aux_params))
    ops = sorted({node['op'] for node in nodes})
    dims = [dim or size for dim, size in zip(DYNAMIC_DIMS, sample_shape)]
    with _translations(ops, network):
        graph = MXNetGraph().create_onnx_graph_proto(
            symbol, params, [tuple(sample_shape)], [onnx.TensorProto.FLOAT],
            opset_version=ONNX_OPSET, dynamic=True, dynamic_input_shapes=[tuple(dims)])
    # MXNet's converter declares every weight a graph input too, so that a runtime could feed
    # it; ONNX Runtime then warns for each and cannot fold them as constants
    weights = {tensor.name for tensor in graph.initializer}
    inputs = [value for value in graph.input if value.name not in weights]
    del graph.input[:]
    graph.input.extend(inputs)
    if [value.name for value in graph.input] != [INPUT_NAME] or len(graph.output) != 1:
        raise OnnxExportError('%s: expected one input %r and one output, got inputs %s and %d '
                              'outputs' % (network, INPUT_NAME, [v.name for v in graph.input],
                                           len(graph.output)))
    _rename(graph, graph.output[0].name, OUTPUT_NAME)
    _, (out_shape,), _ = symbol.infer_shape(**{INPUT_NAME: tuple(sample_shape)})
    del graph.output[:]
    graph.output.extend([helper.make_tensor_value_info(
        OUTPUT_NAME, onnx.TensorProto.FLOAT,
        [dim or size for dim, size in zip(DYNAMIC_DIMS, out_shape)])])
    graph.name = network
    opsets = [helper.make_opsetid('', ONNX_OPSET)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name='acm-sirst',
                              doc_string='%s: input %s (batch, 3, height, width), RGB as '
                                         '(pixel / 255 - mean) / std with ImageNet mean and '
                                         'std; output %s (batch, classes, height, width)'
                                         % (network, INPUT_NAME, OUTPUT_NAME))
    # the oldest IR version that carries this opset, so that older runtimes load the file
    model.ir_version = helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(net, path, input_shape=(1, 3, 512, 512), fold_bn=False, rewrite=False,
                network=None, ctx=None):
    """Write ``net`` (a Gluon network with weights, or an imported ``SymbolBlock``) to the
    ONNX file ``path``; returns ``path``.

    ``rewrite`` and ``fold_bn`` give the graph of :func:`deployment.export.export_model` with the
    same options. ``input_shape`` is one shape the network runs at; the file runs at any
    batch and size. ``network`` names it in errors (default: its registry name).
    """
    onnx = require_onnx()
    network = network or getattr(net, 'model_name', None) or net.name
    symbol, args, aux = inference_graph(*to_symbol(net, ctx), rewrite=rewrite, fold_bn=fold_bn)
    model = symbol_to_onnx(symbol, args, aux, input_shape, network)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    onnx.save(model, path)
    return path


def _interpolation_matrix(size_in, size_out):
    """(size_out, size_in) weights of 1-D linear interpolation, corners aligned."""
    step = (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
    position = np.arange(size_out) * step
    left = np.minimum(np.floor(position).astype(int), size_in - 1)
    right = np.minimum(left + 1, size_in - 1)
    weights = np.zeros((size_out, size_in))
    np.add.at(weights, (np.arange(size_out), left), 1 - (position - left))
    np.add.at(weights, (np.arange(size_out), right), position - left)
    return weights


def _fast_resize():
    """ONNX's reference ``Resize`` with a vectorised path for the one form the exporter
    writes (linear, corners aligned, to given sizes of the last two axes of a 4-D tensor).

    The reference interpolates element by element in Python: the FPN at 64x64 took minutes.
    The same interpolation as two small matrix products takes milliseconds; the tests compare
    the two on odd sizes. Any other form goes to the reference implementation.
    """
    from onnx.reference.ops.op_resize import Resize as ReferenceResize

    class Resize(ReferenceResize):  # the evaluator finds an op's implementation by class name
        op_domain = ''

        # pylint: disable-next=arguments-differ
        def _run(self, X, roi=None, scales=None, sizes=None, **attrs):
            if (attrs.get('mode') != 'linear' or attrs.get('antialias')
                    or attrs.get('coordinate_transformation_mode') != 'align_corners'
                    or attrs.get('axes') is not None or X.ndim != 4 or sizes is None
                    or tuple(sizes[:2]) != X.shape[:2] or (scales is not None and len(scales))):
                return super()._run(X, roi, scales, sizes, **attrs)
            rows = _interpolation_matrix(X.shape[2], int(sizes[2]))
            cols = _interpolation_matrix(X.shape[3], int(sizes[3]))
            return (np.matmul(np.matmul(rows, X), cols.T).astype(X.dtype),)
    return Resize


def check_onnx(path, net, batches, tolerance=CHECK_TOLERANCE):
    """Run the ONNX file with ONNX's reference evaluator (numpy only) on each batch (float32
    N x 3 x H x W arrays, normalised images) and compare its logits with ``net``'s.

    Returns one dict per batch: ``shape``, ``max_diff`` (largest absolute logit difference),
    ``scale`` (largest absolute logit of ``net``) and ``ok`` (``max_diff`` at most
    ``tolerance * max(scale, 1)``).
    """
    require_onnx()
    from onnx.reference import ReferenceEvaluator
    evaluator = ReferenceEvaluator(path, new_ops=[_fast_resize()])
    results = []
    for batch in batches:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        expected = net(mx.nd.array(batch)).asnumpy()
        (output,) = evaluator.run([OUTPUT_NAME], {INPUT_NAME: batch})
        if output.shape != expected.shape:
            raise OnnxExportError('%s gave logits of shape %s for input %s; the network gives %s'
                                  % (path, output.shape, batch.shape, expected.shape))
        max_diff, scale = float(np.abs(output - expected).max()), float(np.abs(expected).max())
        results.append({'shape': batch.shape, 'max_diff': max_diff, 'scale': scale,
                        'ok': max_diff <= tolerance * max(scale, 1.0)})
    return results
