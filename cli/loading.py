"""Building the network a command line asks for: registry + checkpoint, or an export."""
import os

import mxnet as mx

from deployment.export import exported_files, import_model
from model import CheckpointError, get_model, load_checkpoint

__all__ = ['add_model_arguments', 'load_network']


def add_model_arguments(parser):
    """The model options shared by evaluate.py, predict.py, export.py and train.py."""
    parser.add_argument('--net', default='acm_unet', help='registry name, e.g. acm_unet, fpn')
    parser.add_argument('--blocks', type=int, default=4, help='residual blocks per stage (b)')
    parser.add_argument('--channel-times', type=float, default=1, help='width multiplier')
    parser.add_argument('--stem', default='paper', choices=['paper', 'regular'])
    parser.add_argument('--resume', default=None,
                        help='parameters to load: a .params file saved by Gluon, or an '
                             'exported <prefix>-symbol.json / <prefix>-0000.params')
    parser.add_argument('--pretrained', action='store_true',
                        help='load the weights released with the paper from the model store')
    parser.add_argument('--model-root', default=None,
                        help='model store folder (default $ACM_MODEL_ROOT or ~/.mxnet/models)')


def _is_export(path):
    symbol_file, params_file = exported_files(path)
    return path.endswith(('-symbol.json', '-0000.params')) or (
        os.path.isfile(symbol_file) and os.path.isfile(params_file) and not os.path.isfile(path))


def load_network(args, ctx, require_weights=True):
    """The network described by ``args`` with its weights on ``ctx`` (a list of contexts)."""
    if args.resume and _is_export(args.resume):
        return import_model(args.resume, ctx=ctx)
    net = get_model(args.net, blocks=args.blocks, channel_times=args.channel_times,
                    stem=args.stem, pretrained=args.pretrained, root=args.model_root,
                    ctx=ctx)
    if args.resume:
        load_checkpoint(net, args.resume, ctx=ctx)
    elif not args.pretrained:
        if require_weights:
            raise CheckpointError('No weights given: pass --resume <params> (or an exported '
                                  '-symbol.json) or --pretrained for the released ACM-U-Net.')
        net.initialize(mx.init.MSRAPrelu(), ctx=ctx)
    return net
