"""Export a network to <prefix>-symbol.json and <prefix>-0000.params for deployment.

    python export.py --net acm_unet --blocks 4 --pretrained --prefix deploy/acm_unet
    python export.py --net acm_unet --blocks 4 --pretrained --prefix deploy/acm_unet --fold-bn --rewrite
"""
import utils.cores  # noqa: F401  (first: sizes MXNet's thread pool before it loads)
import argparse
import sys

from model import CheckpointError, export_model
from utils.loading import add_model_arguments, load_network


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_model_arguments(parser)
    parser.add_argument('--prefix', required=True, help='output prefix, e.g. deploy/acm_unet')
    parser.add_argument('--input-size', type=int, nargs=2, default=[512, 512],
                        metavar=('H', 'W'), help='size of the one forward pass before export')
    parser.add_argument('--fold-bn', action='store_true',
                        help='fold batch norm into the convolutions (inference-only graph)')
    parser.add_argument('--rewrite', action='store_true',
                        help="apply model/rewrites.py's inference rewrites: less work, the same "
                             'logits up to float rounding (inference-only graph)')
    args = parser.parse_args(argv)
    try:
        net = load_network(args, None)
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    files = export_model(net, args.prefix, input_shape=(1, 3) + tuple(args.input_size),
                         fold_bn=args.fold_bn, rewrite=args.rewrite)
    print('wrote %s and %s' % files)
    return 0


if __name__ == '__main__':
    sys.exit(main())
