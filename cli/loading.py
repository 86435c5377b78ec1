"""Building the network a command line asks for: registry + weights, or an export."""
import os
import sys

import mxnet as mx

from deployment.export import exported_files, import_model
from model import ParameterFileError, get_model, load_parameters

__all__ = ['load_network', 'is_export', 'network_label', 'MODEL_OPTIONS']

#: the options that describe a registry network (an export carries its own network)
MODEL_OPTIONS = ('net', 'blocks', 'channel_times', 'stem')


def is_export(path):
    """Whether ``path`` names an exported pair (a prefix or either of its files)."""
    symbol_file, params_file = exported_files(path)
    return path.endswith(('-symbol.json', '-0000.params')) or (
        os.path.isfile(symbol_file) and os.path.isfile(params_file) and not os.path.isfile(path))


def network_label(args):
    """``(name, blocks)`` that describe the network ``args`` loads, for reports: an
    export is named by its file prefix (its graph, not ``--net``, says what it is)."""
    if args.weights and is_export(args.weights):
        prefix = exported_files(args.weights)[0][:-len('-symbol.json')]
        return 'exported:%s' % os.path.basename(prefix), None
    return args.net, args.blocks


def load_network(args, ctx, require_weights=True, given=()):
    """The network described by ``args`` with its weights on ``ctx`` (a list of contexts).

    ``given``: the options the command line gave. With an exported model they are not used
    (its graph decides the network; reports name the export): a note on stderr says so.
    """
    if args.weights and is_export(args.weights):
        unused = [name for name in MODEL_OPTIONS + ('pretrained',) if name in given]
        if unused:
            sys.stderr.write('note: %s is an exported model, whose graph decides the network: '
                             '%s not used, and the results are labelled with the export\n'
                             % (args.weights, ', '.join('--' + n.replace('_', '-')
                                                        for n in unused)))
        return import_model(args.weights, ctx=ctx)
    net = get_model(args.net, blocks=args.blocks, channel_times=args.channel_times,
                    stem=args.stem, pretrained=args.pretrained, root=args.model_root,
                    ctx=ctx)
    if args.weights:
        load_parameters(net, args.weights, ctx=ctx)
    elif not args.pretrained:
        if require_weights:
            raise ParameterFileError('No weights given: pass --weights <params> (or an '
                                     'exported -symbol.json) or --pretrained for the released '
                                     'ACM-U-Net.')
        net.initialize(mx.init.MSRAPrelu(), ctx=ctx)
    return net
