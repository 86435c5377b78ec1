"""Time the two parts of a distributed training step: computation and gradient exchange.

    python tools/dist_bench.py --compute --crop 128            # one process, no kvstore
    python tools/launch_local.py -n 2 -s 1 -- python tools/dist_bench.py --blocks 4

``--compute`` times forward, backward and update of one batch (random data, Soft-IoU loss,
Nesterov) in this process, without a kvstore. Otherwise the process must be a worker of a
job: every worker pushes and pulls one array per trainable parameter, as ``gluon.Trainer``
does in a synchronous step (``update_on_kvstore=False``), and worker 0 prints the gradient
size and the seconds per exchange, which is what a step adds to its computation.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mxnet as mx  # noqa: E402

from model import get_model  # noqa: E402
from cli.options import CommandParser, add_model_options, count, side  # noqa: E402
from engine.distributed import DIST_MODES  # noqa: E402
from engine.step import step_parts, train_step  # noqa: E402


def _network(args, crop):
    net = get_model(args.net, blocks=args.blocks, channel_times=args.channel_times,
                    stem=args.stem)
    net.infer_shape(mx.nd.zeros((1, 3, crop, crop)))
    net.initialize(mx.init.MSRAPrelu())
    return net


def time_compute(args):
    net = _network(args, args.crop)
    net.hybridize(static_alloc=True, static_shape=True)
    trainer, loss_fn = step_parts(net, kvstore=None, hybridize=False)
    images = mx.nd.random.normal(shape=(args.batch_size, 3, args.crop, args.crop))
    masks = mx.nd.random.uniform(shape=(args.batch_size, 1, args.crop, args.crop)) > 0.999
    seconds = []
    for _ in range(args.warmup + args.rounds):
        start = time.time()
        train_step(net, trainer, loss_fn, images, masks, [mx.cpu()], args.batch_size)
        mx.nd.waitall()
        seconds.append(time.time() - start)
    timed = seconds[args.warmup:]
    print('%s b=%d, batch %d at %dx%d, one process, no kvstore: %.2f s per step (min %.2f, '
          'max %.2f over %d steps after %d warm-up: %s)'
          % (args.net, args.blocks, args.batch_size, args.crop, args.crop,
             sum(timed) / len(timed), min(timed), max(timed), len(timed), args.warmup,
             ' '.join('%.2f' % s for s in seconds)))


def time_exchange(args):
    kv = mx.kv.create(args.kvstore)
    net = _network(args, 64)
    grads = [mx.nd.ones(p.shape) for _, p in sorted(net.collect_params().items())
             if p.grad_req != 'null']
    keys = list(range(len(grads)))
    kv.init(keys, [mx.nd.zeros(g.shape) for g in grads])
    seconds = []
    for round_ in range(args.warmup + args.rounds):
        start = time.time()
        for key, grad in zip(keys, grads):  # one pushpull per parameter, like the Trainer
            kv.pushpull(key, grad, priority=-key)
        mx.nd.waitall()
        if round_ >= args.warmup:
            seconds.append(time.time() - start)
        for grad in grads:
            grad[:] = 1
    kv._barrier()  # pylint: disable=protected-access
    if kv.rank == 0:
        size = sum(g.size for g in grads)
        mean = sum(seconds) / len(seconds)
        print('%s b=%d: %d gradient arrays, %d values = %.2f MB fp32; %s with %d worker(s): '
              '%.3f s per push+pull of all of them (min %.3f, max %.3f over %d rounds)'
              % (args.net, args.blocks, len(grads), size, size * 4 / 1e6, args.kvstore,
                 kv.num_workers, mean, min(seconds), max(seconds), len(seconds)))


def main(argv=None):
    parser = CommandParser(description=__doc__.split('\n\n')[0])
    add_model_options(parser)
    parser.add_argument('--compute', action='store_true',
                        help='time a training step in this process instead')
    side(parser, '--crop', default=128)
    count(parser, '--batch-size', default=8)
    parser.add_argument('--kvstore', default='dist_sync', choices=DIST_MODES)
    count(parser, '--rounds', default=20)
    count(parser, '--warmup', default=3, at_least=0)
    args = parser.parse(argv)
    if args.compute:
        time_compute(args)
    else:
        time_exchange(args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
