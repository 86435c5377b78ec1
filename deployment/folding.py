"""Batch-norm folding of an exported network: every inference ``BatchNorm`` that directly
follows a ``Convolution`` or ``Deconvolution`` (and is that layer's only reader) is merged
into the layer's weight and bias, so the deployed graph has fewer operators and passes."""
import json

import mxnet as mx
import numpy as np

from .rewrites import load_graph, readers_of

__all__ = ['fold_batchnorm']

_OUTPUT_AXIS = {'Convolution': 0, 'Deconvolution': 1}  # weight axis of the output channels


def _truthy(value):
    return str(value).lower() in ('true', '1')


def _foldable_pairs(nodes):
    """{batchnorm node id: conv node id} for convs read by nothing but that BatchNorm."""
    readers = readers_of(nodes)
    pairs = {}
    for node_id, node in enumerate(nodes):
        if node['op'] != 'BatchNorm':
            continue
        conv_id = node['inputs'][0][0]
        conv = nodes[conv_id]
        if conv['op'] in _OUTPUT_AXIS and len(readers[conv_id]) == 1 \
                and int(conv.get('attrs', {}).get('num_group', 1)) == 1:
            pairs[node_id] = conv_id
    return pairs


def _fold_parameters(conv, bn, nodes, params):
    """Scale the conv's weight and shift its bias in ``params``; returns the bias name."""
    gamma, beta, mean, var = (nodes[source]['name'] for source, _, _ in bn['inputs'][1:5])
    attrs = bn.get('attrs', {})
    scale = params[beta] * 0 + 1 if _truthy(attrs.get('fix_gamma', True)) else params[gamma]
    scale = scale / np.sqrt(params[var] + float(attrs.get('eps', 1e-3)))
    weight = nodes[conv['inputs'][1][0]]['name']
    shape = [1] * params[weight].ndim
    shape[_OUTPUT_AXIS[conv['op']]] = -1
    params[weight] = params[weight] * scale.reshape(shape)
    if len(conv['inputs']) > 2:
        bias = nodes[conv['inputs'][2][0]]['name']
    else:
        bias = conv['name'][:-len('_fwd')] if conv['name'].endswith('_fwd') else conv['name']
        bias += '_bias'
    params[bias] = (params.get(bias, 0) - params[mean]) * scale + params[beta]
    return bias


def fold_batchnorm(symbol, arg_params, aux_params):
    """Fold conv/deconv -> BatchNorm pairs of an inference graph.

    Takes a ``Symbol`` and the two name -> NDArray dicts of an exported model (as
    ``mx.model.load_checkpoint`` returns them) and returns ``(symbol, arg_params,
    aux_params, folded)``, ``folded`` being the number of BatchNorm layers merged. A
    BatchNorm that follows no convolution (the stem's input normalisation) is kept.
    """
    graph = json.loads(symbol.tojson())
    nodes = graph['nodes']
    params = {k: v.asnumpy().astype(np.float64) for k, v in
              list(arg_params.items()) + list(aux_params.items())}
    pairs = _foldable_pairs(nodes)
    biases = {conv_id: _fold_parameters(nodes[conv_id], nodes[bn_id], nodes, params)
              for bn_id, conv_id in pairs.items()}

    # Rebuild the node list: a folded BatchNorm's readers read its convolution instead, and
    # a convolution that had no bias gets a bias variable just before it.
    new_nodes, new_id = [], {}
    for node_id, node in enumerate(nodes):
        if node_id in pairs:
            new_id[node_id] = new_id[pairs[node_id]]
            continue
        node = dict(node, inputs=[[new_id[s], i, v] for s, i, v in node['inputs']])
        if node_id in biases:
            node['attrs'] = dict(node.get('attrs', {}), no_bias='False')
            if len(node['inputs']) == 2:
                node['inputs'].append([len(new_nodes), 0, 0])
                new_nodes.append({'op': 'null', 'name': biases[node_id], 'inputs': []})
        new_id[node_id] = len(new_nodes)
        new_nodes.append(node)
    heads = [[new_id[s], i, v] for s, i, v in graph['heads']]
    folded = load_graph(graph, new_nodes, heads)  # drops the folded layers' variables

    def subset(names):
        return {k: mx.nd.array(params[k], dtype='float32') for k in names}
    return (folded, subset(folded.list_arguments()[1:]),
            subset(folded.list_auxiliary_states()), len(pairs))
