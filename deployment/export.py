"""Export a network to MXNet's deployable ``-symbol.json`` / ``-0000.params`` pair."""
import json
import os
import warnings

import mxnet as mx
from mxnet import gluon

from model.parameters import ParameterFileError
from utils.messages import one_line
from .inference import inference_graph

__all__ = ['export_model', 'import_model', 'exported_files', 'ExportedModelError']


class ExportedModelError(ParameterFileError):
    """An exported pair that cannot be loaded: not a symbol, corrupt or mismatched files."""


def exported_files(path):
    """``(symbol_file, params_file)`` for a prefix, a ``-symbol.json`` or a ``-0000.params``."""
    for suffix in ('-symbol.json', '-0000.params'):
        if path.endswith(suffix):
            path = path[:-len(suffix)]
    return path + '-symbol.json', path + '-0000.params'


def export_model(net, prefix, input_shape=(1, 3, 512, 512), ctx=None, fold_bn=False,
                 rewrite=False):
    """Hybridize ``net``, run it once on ``input_shape`` and write the exported pair.

    ``rewrite`` applies :func:`deployment.rewrites.rewrite_for_inference` (less work, the same
    logits up to float rounding); ``fold_bn`` then folds every batch norm that follows a
    convolution into it. Either gives an inference-only graph; both give the graph that
    the ``folded`` form of :func:`deployment.inference.prepare` runs.
    Returns ``(symbol_file, params_file)``.
    """
    ctx = ctx or mx.cpu()
    folder = os.path.dirname(os.path.abspath(prefix))
    os.makedirs(folder, exist_ok=True)
    net.hybridize(static_alloc=True, static_shape=True)
    net(mx.nd.zeros(input_shape, ctx=ctx)).wait_to_read()
    net.export(prefix, epoch=0)
    if fold_bn or rewrite:
        symbol_file, params_file = exported_files(prefix)
        symbol, args, aux = inference_graph(*mx.model.load_checkpoint(prefix, 0),
                                            rewrite=rewrite, fold_bn=fold_bn)
        symbol.save(symbol_file)
        mx.nd.save(params_file, dict([('arg:' + k, v) for k, v in args.items()] +
                                     [('aux:' + k, v) for k, v in aux.items()]))
    return exported_files(prefix)


def import_model(path, ctx=None):
    """Load an exported pair (given by prefix or either file) as a ``SymbolBlock``."""
    symbol_file, params_file = exported_files(path)
    for required in (symbol_file, params_file):
        if not os.path.isfile(required):
            raise FileNotFoundError('Exported model file %s does not exist; export.py writes '
                                    '<prefix>-symbol.json and <prefix>-0000.params together.'
                                    % required)
    _check_symbol_file(symbol_file)
    try:
        with warnings.catch_warnings():  # imports() warns about the input name on every call
            warnings.simplefilter('ignore')
            return gluon.SymbolBlock.imports(symbol_file, ['data'], params_file,
                                             ctx=ctx or mx.cpu())
    except (mx.base.MXNetError, AssertionError, KeyError, TypeError, ValueError) as err:
        raise ExportedModelError('%s and %s do not make an exported model (truncated or '
                                 'corrupt parameters, or files of two different models): %s. '
                                 'Export the network again with export.py.'
                                 % (symbol_file, params_file, one_line(err))) from None


def _check_symbol_file(symbol_file):
    """Refuse a symbol file that is not JSON, or JSON that is not an MXNet graph, naming it
    (MXNet's own messages are pages of C++ stack)."""
    try:
        with open(symbol_file, encoding='utf-8') as handle:
            graph = json.load(handle)
    except (UnicodeDecodeError, ValueError) as err:
        raise ExportedModelError('%s is not a symbol file (not JSON: %s); export the network '
                                 'again with export.py' % (symbol_file, err)) from None
    if not (isinstance(graph, dict) and isinstance(graph.get('nodes'), list)
            and 'heads' in graph and 'arg_nodes' in graph):
        raise ExportedModelError('%s is JSON but not an MXNet symbol (no nodes, arg_nodes and '
                                 'heads); export the network again with export.py' % symbol_file)
