"""Score saved parameters on SIRST's validation split with batch norm's running statistics
as saved, and with them recomputed from N batches of training images (the default recipe's
``--bn-batches``), to see how much the statistics alone change the score.

    python tools/bn_rescore.py RUN/epoch-0010.params --data-root ../shared/sirst \\
        --base-size 256 --batches 0,4,20

The network is ACM-U-Net with ``--blocks`` (default 4); one line per batch count, 0 being the
statistics as saved.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import utils.cores  # noqa: E402,F401  (before mxnet)
import mxnet as mx  # noqa: E402

from data import DatasetError, get_dataset  # noqa: E402
from engine.batchnorm_stats import recompute_batchnorm_statistics  # noqa: E402
from engine.evaluation import evaluate_split  # noqa: E402
from model import ParameterFileError, get_model, load_parameters  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('params', help='a .params file saved by train.py')
    parser.add_argument('--net', default='acm_unet')
    parser.add_argument('--blocks', type=int, default=4)
    parser.add_argument('--data-root', default=None)
    parser.add_argument('--base-size', type=int, default=256)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--batches', default='0,4,20', help='batch counts, 0: as saved')
    args = parser.parse_args(argv)
    try:
        counts = [int(b) for b in args.batches.split(',')]
    except ValueError:
        parser.error('--batches takes whole numbers separated by commas, not %r' % args.batches)
    if any(b < 0 for b in counts) or args.base_size < 1 or args.batch_size < 1:
        parser.error('--batches must not be negative; --base-size and --batch-size must be '
                     'at least 1')
    common = dict(root=args.data_root, mode='testval', base_size=args.base_size,
                  crop_size=args.base_size)
    try:
        train = get_dataset('sirst', split='train', **common)
        val = get_dataset('sirst', split='val', **common)
        load_parameters(get_model(args.net, blocks=args.blocks), args.params)
    except (DatasetError, ParameterFileError, FileNotFoundError, ValueError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    for batches in counts:
        net = get_model(args.net, blocks=args.blocks)
        load_parameters(net, args.params)
        net.hybridize(static_alloc=True, static_shape=True)
        recompute_batchnorm_statistics(net, train, mx.cpu(), batches, args.batch_size)
        scores = evaluate_split(net, val, mx.cpu(), num_workers=0, progress=False).scores()
        print('%s  batches %2d  val IoU %.4f  nIoU %.4f  Pd %.4f  Fa %.2e'
              % (os.path.basename(args.params), batches, scores['IoU'], scores['nIoU'],
                 scores['Pd'], scores['Fa']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
