"""Inference-only rewrites of an exported graph: the same function with less work.

Each rewrite takes ``(symbol, arg_params, aux_params)`` as ``mx.model.load_checkpoint``
gives them and returns them rewritten, plus the number of places it changed. The logits
change by float rounding only. They assume an inference graph (batch norm on running
statistics), which is why they are not applied to the network that trains.

``resize_after_reduction``
    Bilinear resizing is linear per channel with weights that sum to one, so it commutes
    with a following 1x1 convolution and batch norm. The FPN's resize -> 1x1 conv -> BN
    -> ReLU becomes 1x1 conv -> BN -> resize -> ReLU: 4x fewer pixels to convolve and
    half the channels to resize.
``scale_into_convolution``
    ``conv(s * x)`` is ``conv(x)`` with its weight times ``s``: the doubling of the ACM
    fusion (Eq. 5) moves into the ``post`` convolution's weights, which is exact for 2.
``broadcast_products``
    ``x * broadcast_like(w, x)`` (the form that trains fastest) becomes
    ``broadcast_mul(x, w)``, which does not write the broadcast weights out first.
"""
import json

import mxnet as mx

__all__ = ['INFERENCE_REWRITES', 'rewrite_for_inference', 'resize_after_reduction',
           'scale_into_convolution', 'broadcast_products', 'readers_of', 'load_graph']


def readers_of(nodes):
    """{node id: [ids of the nodes that read it]} for a graph's JSON node list."""
    readers = {}
    for node_id, node in enumerate(nodes):
        for source, _, _ in node['inputs']:
            readers.setdefault(source, []).append(node_id)
    return readers


def load_graph(graph, nodes, heads):
    """A ``Symbol`` from ``graph`` (parsed symbol JSON) with a new node list and heads;
    nodes no head depends on any more are dropped."""
    seen, stack = set(), [h[0] for h in heads]
    while stack:
        node_id = stack.pop()
        if node_id not in seen:
            seen.add(node_id)
            stack.extend(source for source, _, _ in nodes[node_id]['inputs'])
    compact = {old: new for new, old in enumerate(sorted(seen))}
    nodes = [dict(nodes[old], inputs=[[compact[s], i, v] for s, i, v in nodes[old]['inputs']])
             for old in sorted(seen)]
    graph = dict(graph, nodes=nodes, heads=[[compact[s], i, v] for s, i, v in heads],
                 arg_nodes=[i for i, n in enumerate(nodes) if n['op'] == 'null'])
    graph.pop('node_row_ptr', None)  # recomputed by the loader
    return mx.sym.load_json(json.dumps(graph))


def _redirect(graph, rewire):
    """The graph with input ``k`` of node ``n`` read from ``rewire[(n, k)]`` (an old node
    id) instead; nodes left unread are dropped."""
    nodes = [dict(node, inputs=[[rewire.get((node_id, k), source), i, v]
                                for k, (source, i, v) in enumerate(node['inputs'])])
             for node_id, node in enumerate(graph['nodes'])]
    return load_graph(graph, nodes, graph['heads'])


def _attr(node, key, default=''):
    return node.get('attrs', {}).get(key, default).replace(' ', '')


def _is_pointwise_conv(node):
    return (node['op'] == 'Convolution' and _attr(node, 'kernel') == '(1,1)'
            and _attr(node, 'stride', '(1,1)') == '(1,1)'
            and _attr(node, 'pad', '(0,0)') == '(0,0)' and _attr(node, 'num_group', '1') == '1')


def resize_after_reduction(symbol, arg_params, aux_params):
    """Move each bilinear resize read only by a 1x1 convolution (and that convolution's
    batch norm, when it is its only reader) to after them."""
    graph = json.loads(symbol.tojson())
    old = graph['nodes']
    readers = readers_of(old)
    moves = {}  # id of the last layer the resize moves past -> resize id
    for node_id, node in enumerate(old):
        if node['op'] not in ('_contrib_BilinearResize2D', 'BilinearResize2D') \
                or len(readers.get(node_id, ())) != 1:
            continue
        conv_id = readers[node_id][0]
        if not (_is_pointwise_conv(old[conv_id]) and old[conv_id]['inputs'][0][0] == node_id):
            continue
        last = conv_id
        if len(readers.get(conv_id, ())) == 1 and old[readers[conv_id][0]]['op'] == 'BatchNorm':
            last = readers[conv_id][0]
        moves[last] = node_id
    conv_reads = {}  # conv id -> what its resize read
    for resize_id in moves.values():
        conv_reads[readers[resize_id][0]] = old[resize_id]['inputs'][0]

    nodes, new_id = [], {}
    for node_id, node in enumerate(old):
        inputs = node['inputs']
        if node_id in conv_reads:
            inputs = [conv_reads[node_id]] + inputs[1:]
        nodes.append(dict(node, inputs=[[new_id[s], i, v] for s, i, v in inputs]))
        new_id[node_id] = len(nodes) - 1
        if node_id in moves:  # the resize now reads this layer and is read in its place
            resize = old[moves[node_id]]
            nodes.append(dict(resize, inputs=[[new_id[node_id], 0, 0]] + [
                [new_id[s], i, v] for s, i, v in resize['inputs'][1:]]))
            new_id[node_id] = len(nodes) - 1
    # the moved resizes' old positions are now unread; load_graph drops them
    heads = [[new_id[s], i, v] for s, i, v in graph['heads']]
    return load_graph(graph, nodes, heads), dict(arg_params), dict(aux_params), len(moves)


def scale_into_convolution(symbol, arg_params, aux_params):
    """Fold each ``_mul_scalar`` read only as a convolution's data into its weight."""
    graph = json.loads(symbol.tojson())
    nodes, readers = graph['nodes'], readers_of(graph['nodes'])
    args, rewire = dict(arg_params), {}
    for node_id, node in enumerate(nodes):
        users = readers.get(node_id, ())
        if node['op'] != '_mul_scalar' or len(users) != 1:
            continue
        conv = nodes[users[0]]
        if conv['op'] != 'Convolution' or conv['inputs'][0][0] != node_id:
            continue
        weight = nodes[conv['inputs'][1][0]]['name']
        args[weight] = args[weight] * float(node['attrs']['scalar'])
        rewire[(users[0], 0)] = node['inputs'][0][0]
    return _redirect(graph, rewire), args, dict(aux_params), len(rewire)


def broadcast_products(symbol, arg_params, aux_params):
    """``elemwise_mul(x, broadcast_like(w, x))`` as ``broadcast_mul(x, w)``."""
    graph = json.loads(symbol.tojson())
    nodes, readers = graph['nodes'], readers_of(graph['nodes'])
    rewritten = 0
    for node_id, node in enumerate(nodes):
        if node['op'] != 'elemwise_mul':
            continue
        for k, (source, _, _) in enumerate(node['inputs']):
            spread = nodes[source]
            other = node['inputs'][1 - k]
            if spread['op'] == 'broadcast_like' and spread['inputs'][1][0] == other[0] \
                    and len(readers[source]) == 1:
                node['op'] = 'broadcast_mul'
                node['inputs'] = [other, spread['inputs'][0]]
                rewritten += 1
                break
    return _redirect(graph, {}), dict(arg_params), dict(aux_params), rewritten


#: applied in this order by :func:`rewrite_for_inference`
INFERENCE_REWRITES = (resize_after_reduction, scale_into_convolution, broadcast_products)


def rewrite_for_inference(symbol, arg_params, aux_params):
    """All :data:`INFERENCE_REWRITES`; returns ``(symbol, args, aux, {rewrite: count})``."""
    counts = {}
    for rewrite in INFERENCE_REWRITES:
        symbol, arg_params, aux_params, counts[rewrite.__name__] = rewrite(
            symbol, arg_params, aux_params)
    return symbol, arg_params, aux_params, counts
