"""Export a network to MXNet's deployable ``-symbol.json`` / ``-0000.params`` pair."""
import os
import warnings

import mxnet as mx
from mxnet import gluon

from .inference import inference_graph

__all__ = ['export_model', 'import_model', 'exported_files']


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
    with warnings.catch_warnings():  # imports() warns about the input name on every call
        warnings.simplefilter('ignore')
        return gluon.SymbolBlock.imports(symbol_file, ['data'], params_file, ctx=ctx or mx.cpu())
