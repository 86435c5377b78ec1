"""Parameter counts and FLOPs of registry networks (the paper argues about budgets).

FLOPs count the multiply-adds of convolutions and transposed convolutions, two FLOPs
each, for one image; batch norm, activations and resizes are left out.
"""
import argparse
import json

import mxnet as mx
from mxnet.gluon import nn

__all__ = ['summarize', 'count_flops']


def _conv_macs(block, inputs, output):
    kernel = 1
    for k in block._kwargs['kernel']:  # pylint: disable=protected-access
        kernel *= k
    groups = block._kwargs['num_group']  # pylint: disable=protected-access
    if isinstance(block, nn.Conv2DTranspose):
        # every input pixel scatters a kernel for each output channel
        return inputs[0].size * block._channels * kernel // groups  # pylint: disable=protected-access
    return output.size * (block._in_channels // groups) * kernel  # pylint: disable=protected-access


def count_flops(net, input_size=(480, 480)):
    """FLOPs (2 x multiply-adds of convolutions) of one forward pass of one image."""
    total = [0]
    handles = []

    def visit(block):
        if isinstance(block, (nn.Conv2D, nn.Conv2DTranspose)):
            def hook(blk, inputs, output):
                total[0] += _conv_macs(blk, inputs, output)
            handles.append(block.register_forward_hook(hook))
        for child in block._children.values():  # pylint: disable=protected-access
            visit(child)

    visit(net)
    try:
        net(mx.nd.zeros((1, 3) + tuple(input_size)))
    finally:
        for handle in handles:
            handle.detach()
    return 2 * total[0]


def summarize(net, input_size=(480, 480)):
    """Dict with trainable ``params``, all saved ``values`` and ``gflops`` at ``input_size``.

    ``net`` must be initialized (or loaded) and not hybridized, since hooks see layers only
    in imperative mode.
    """
    gflops = count_flops(net, input_size) / 1e9
    params = net.collect_params().values()
    return {
        'params': sum(p.data().size for p in params if p.grad_req != 'null'),
        'values': sum(p.data().size for p in params),
        'gflops': gflops,
        'input_size': list(input_size),
    }


def main(argv=None):
    from .registry import get_model, list_models
    parser = argparse.ArgumentParser(description='Parameter count and GFLOPs of networks.')
    parser.add_argument('--net', nargs='+', default=['fpn', 'sk_fpn', 'gau_fpn', 'acm_fpn',
                                                     'unet', 'sk_unet', 'gau_unet', 'acm_unet'],
                        help='model names (%s)' % ', '.join(list_models()))
    parser.add_argument('--blocks', type=int, default=4)
    parser.add_argument('--channel-times', type=float, default=1)
    parser.add_argument('--stem', default='paper', choices=['paper', 'regular'])
    parser.add_argument('--size', type=int, nargs=2, default=[480, 480], metavar=('H', 'W'))
    parser.add_argument('--json', action='store_true', help='print JSON instead of a table')
    args = parser.parse_args(argv)
    rows = []
    for name in args.net:
        net = get_model(name, blocks=args.blocks, channel_times=args.channel_times,
                        stem=args.stem)
        net.initialize(mx.init.MSRAPrelu())
        rows.append(dict(net=name, blocks=args.blocks, **summarize(net, args.size)))
    if args.json:
        print(json.dumps(rows, indent=2))
        return rows
    print('%-16s %6s %12s %10s   (input %dx%d)' % ('model', 'blocks', 'params', 'GFLOPs',
                                                  args.size[0], args.size[1]))
    for row in rows:
        print('%-16s %6d %12d %10.2f' % (row['net'], row['blocks'], row['params'], row['gflops']))
    return rows


if __name__ == '__main__':
    main()
