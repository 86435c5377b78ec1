"""Loading a parameter (weights) file into a network, with errors that say what does not fit.

A *checkpoint* is something else: a training run's state (``engine/checkpoint.py``)."""
import os

import mxnet as mx

from utils.messages import one_line

__all__ = ['ParameterFileError', 'load_parameters', 'describe']


class ParameterFileError(ValueError):
    """A parameter file is missing, unreadable, or does not fit the network."""


def describe(net):
    """A short human description of a registry network, used in messages."""
    name = getattr(net, 'model_name', type(net).__name__)
    parts = ['blocks=%s' % getattr(net, 'blocks', '?')]
    if getattr(net, 'channel_times', 1) != 1:
        parts.append('channel_times=%s' % net.channel_times)
    if getattr(net, 'stem_kind', 'paper') != 'paper':
        parts.append('stem=%r' % net.stem_kind)
    return '%s(%s)' % (name, ', '.join(parts))


def _read(path):
    if not os.path.isfile(path):
        raise ParameterFileError('Parameter file %s does not exist. Pass the path of a .params file '
                              'saved by train.py or released with the paper.' % path)
    try:
        arrays = mx.nd.load(path)
    except mx.base.MXNetError as err:
        first_line = one_line(err)
        raise ParameterFileError('Parameter file %s is not a readable MXNet parameter file (truncated '
                              'or corrupt?): %s' % (path, first_line)) from None
    if not isinstance(arrays, dict):
        raise ParameterFileError('Parameter file %s holds unnamed arrays, not the named parameters '
                              'that save_parameters writes.' % path)
    if arrays and all(k.startswith(('arg:', 'aux:')) for k in arrays):
        raise ParameterFileError('Parameter file %s is an exported (-0000.params) file; load it '
                              'together with its -symbol.json (deployment.export.import_model or '
                              'evaluate.py --weights <prefix>-symbol.json).' % path)
    return arrays


def _fits(expected, found):
    # Unknown (deferred) dimensions are 0 until the first forward pass.
    return len(expected) == len(found) and all(e in (0, f) for e, f in zip(expected, found))


def load_parameters(net, path, ctx=None, limit=5):
    """Load ``path`` into ``net`` by structural name, or raise :class:`ParameterFileError`.

    The error names the network, the file and the first ``limit`` missing, unexpected and
    mis-shaped parameters, so a file of another depth or fusion mode is obvious.
    """
    arrays = _read(path)
    params = net._collect_params_with_prefix()  # pylint: disable=protected-access
    missing = [k for k in params if k not in arrays]
    unexpected = [k for k in arrays if k not in params]
    misshaped = ['%s (model %s, file %s)' % (k, 'x'.join(map(str, params[k].shape)),
                                            'x'.join(map(str, arrays[k].shape)))
                 for k in params if k in arrays and not _fits(params[k].shape, arrays[k].shape)]
    if missing or unexpected or misshaped:
        lines = ['Parameter file %s does not fit %s:' % (path, describe(net))]
        for title, items in (('missing from the file', missing),
                             ('unexpected in the file', unexpected),
                             ('of another shape', misshaped)):
            if items:
                more = ' ... (+%d more)' % (len(items) - limit) if len(items) > limit else ''
                lines.append('  %d parameters %s: %s%s' % (len(items), title,
                                                          ', '.join(items[:limit]), more))
        lines.append('Check --net, --blocks, --channel-times and --stem against the run '
                     'that saved the file.')
        raise ParameterFileError('\n'.join(lines))
    net.load_parameters(path, ctx=ctx or mx.cpu())
    return net
