"""Why the paper's recipe stalls at the start: the Soft-IoU's gradients at initialisation.

    python tools/start_gradients.py --data-root ../shared/sirst

For a freshly initialised network (He initialisation, the same draw for every row) and one
batch of augmented SIRST training crops, prints for each output prior (bias 0 is prior
0.5): the batch-level Soft-IoU, the mean probability, the gradient of the loss with
respect to a uniform shift of every logit (the last bias), and the norm of the gradient of
all weights, plus the first NAG step's size (lr x gradient / divisor) with the toolkit's
division by the batch size and without it.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import utils.cores  # noqa: E402,F401  (before mxnet)
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from mxnet import autograd  # noqa: E402

from data import get_dataset  # noqa: E402
from model import get_model  # noqa: E402
from engine.loss import SoftIoULoss  # noqa: E402
from engine.step import seed_everything  # noqa: E402


def start_gradients(net, images, masks, prior):
    """Soft-IoU, mean probability, d(loss)/d(last bias) and the weights' gradient norm."""
    if prior != 0.5:
        net.set_output_prior(prior)
    else:
        net.head.block[-1].bias.set_data(mx.nd.zeros((1,)))
    with autograd.record():
        logits = net(images)
        loss = SoftIoULoss()(logits, masks)
    loss.backward()
    grads = [p.grad().asnumpy() for p in net.collect_params().values() if p.grad_req != 'null']
    return {'prior': prior, 'loss': float(loss.asscalar()),
            'mean_probability': float(mx.nd.sigmoid(logits).mean().asscalar()),
            'bias_gradient': float(net.head.block[-1].bias.grad().asscalar()),
            'gradient_norm': float(np.sqrt(sum((g.astype(np.float64) ** 2).sum()
                                               for g in grads)))}


def _priors(text):
    """``'0.5,0.001'`` -> [0.5, 0.001]; each must be a probability strictly inside (0, 1)."""
    try:
        priors = [float(p) for p in text.split(',')]
    except ValueError:
        raise argparse.ArgumentTypeError('%r is not a comma-separated list of numbers'
                                         % text) from None
    if not all(0 < p < 1 for p in priors):
        raise argparse.ArgumentTypeError('every prior must lie strictly between 0 and 1')
    return priors


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root', default=None)
    parser.add_argument('--base-size', type=int, default=256)
    parser.add_argument('--crop-size', type=int, default=240)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--lr', type=float, default=0.05)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--priors', type=_priors, default='0.5,0.01,0.001,0.0001',
                        help='output priors to compare (0.5: bias 0)')
    args = parser.parse_args(argv)
    seed_everything(args.seed)
    data = get_dataset('sirst', root=args.data_root, split='train', mode='train',
                       base_size=args.base_size, crop_size=args.crop_size)
    samples = [data[i] for i in range(args.batch_size)]
    images = mx.nd.array(np.stack([np.asarray(s[0]) for s in samples]))
    masks = mx.nd.array(np.stack([np.asarray(s[1]) for s in samples]))
    print('batch of %d crops %dx%d, %d target pixels of %d (%.3f %%)'
          % (args.batch_size, args.crop_size, args.crop_size, int(masks.sum().asscalar()),
             masks.size, 100 * masks.mean().asscalar()))
    print('%-8s %-10s %-10s %-14s %-12s %-14s %-14s' % (
        'prior', 'loss', 'mean p', 'd loss/d bias', '|gradient|', 'step /batch', 'step as is'))
    for prior in args.priors:
        net = get_model('acm_unet', blocks=4)
        mx.random.seed(args.seed)
        net.initialize(mx.init.MSRAPrelu())
        row = start_gradients(net, images, masks, prior)
        print('%-8g %-10.6f %-10.4g %-14.3e %-12.3e %-14.3e %-14.3e' % (
            prior, row['loss'], row['mean_probability'], row['bias_gradient'],
            row['gradient_norm'], args.lr * row['gradient_norm'] / args.batch_size,
            args.lr * row['gradient_norm']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
