"""Score a network on SIRST: IoU, nIoU, Pd, Fa and ROC AUC, with JSON, a ROC plot and
optional side-by-side images.

    python evaluate.py --net acm_unet --blocks 4 --resume <params or -symbol.json>
    python evaluate.py --net acm_unet --blocks 4 --pretrained --split-set idx_427
    python evaluate.py --net acm_unet --blocks 4 --pretrained --form int8   # faster, approximate
    python evaluate.py --predictions maps/ --sweep 256    # saved maps of any method

On the CPU the network runs through oneDNN's fused subgraphs (``--form onednn``), which
gives the same logits as the Gluon network up to float rounding; ``--form hybrid`` is the
plain static graph (the default on GPUs), ``--form int8`` is calibrated on training images.
"""
import utils.cores  # noqa: F401  (first: sizes MXNet's thread pool before it loads)
import argparse
import json
import os
import sys
import time

import numpy as np

from data import DatasetError, SIRSTSegmentation
from data.files import UnsafePathError, safe_join
from model import CheckpointError
from model.inference import FORMS, form_available, prepare
from utils.context import parse_contexts
from utils.evaluation import evaluate_split, resize_logits
from utils.loading import add_model_arguments, load_network
from utils.predictions import add_prediction_arguments, map_saver, score_predictions
from utils.visualize import plot_roc, side_by_side


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_model_arguments(parser)
    parser.add_argument('--data-root', default=None,
                        help='SIRST folder (default $SIRST_ROOT or ~/.mxnet/datasets/sirst)')
    parser.add_argument('--split-set', default='idx_320', choices=SIRSTSegmentation.SPLIT_SETS)
    parser.add_argument('--split', default='test', choices=SIRSTSegmentation.SPLITS)
    parser.add_argument('--base-size', type=int, default=512,
                        help='images and masks are resized to this square size, as the '
                             'original toolkit evaluated')
    parser.add_argument('--test-batch-size', type=int, default=8)
    parser.add_argument('--workers', type=int, default=None,
                        help='data loading processes (default 2 with GPUs; 0 on the CPU, '
                             'where they would take cores from the network: 59 s instead of '
                             '65 s for idx_320 test on 2 cores)')
    parser.add_argument('--gpus', default='', help="e.g. '0' or '0,1'; empty for the CPU")
    parser.add_argument('--out', default=None,
                        help='folder for metrics.json, roc.png and images '
                             '(default runs/evaluate/<net>-<split-set>-<split>)')
    parser.add_argument('--save-images', action='store_true',
                        help='save input | ground truth | prediction for every scored image')
    parser.add_argument('--form', default=None, choices=[f for f in FORMS if f != 'imperative'],
                        help='execution form (default: onednn on the CPU, hybrid on GPUs)')
    parser.add_argument('--calib-images', type=int, default=32,
                        help='trainval images that calibrate --form int8')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    add_prediction_arguments(parser)
    return parser


def fast_network(net, args, ctx):
    """``net`` in the execution form ``args.form`` asks for (or the best exact one)."""
    form = args.form or ('onednn' if form_available('onednn', ctx[0])[0] else 'hybrid')
    if form == 'hybrid':  # the Gluon network itself: it may span several GPUs
        net.hybridize(static_alloc=True, static_shape=True)
        return net, form
    if len(ctx) > 1:
        raise ValueError('--form %s runs on one device; pass one GPU or --form hybrid' % form)
    ok, why = form_available(form, ctx[0])
    if not ok:
        raise ValueError('--form %s is not available here: %s' % (form, why))
    calib = None
    if form == 'int8':
        from utils.calibration import calibration_images
        calib = calibration_images(args.data_root, args.calib_images, split='trainval',
                                   split_set=args.split_set, base_size=args.base_size)
    shape = (args.test_batch_size, 3, args.base_size, args.base_size)
    return prepare(net, form, shape, ctx=ctx[0], calib_data=calib, warm_up=False), form


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.predictions or args.threshold is not None or args.sweep is not None:
        return score_predictions(args)
    out = args.out or os.path.join('runs', 'evaluate', '%s-%s-%s' % (args.net, args.split_set,
                                                                     args.split))
    try:
        dataset = SIRSTSegmentation(args.data_root, split=args.split, mode='testval',
                                    base_size=args.base_size, split_set=args.split_set)
        dataset.verify()  # a bad file stops us before any result is written
        ctx = parse_contexts(args.gpus)
        net = load_network(args, ctx)
        start = time.time()
        net, form = fast_network(net, args, ctx)
    except (DatasetError, CheckpointError, FileNotFoundError, ValueError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    os.makedirs(out, exist_ok=True)

    on_batch = None
    if args.save_images:
        image_dir = os.path.join(out, 'images')
        os.makedirs(image_dir, exist_ok=True)

        def on_batch(indices, logits):
            for idx, logit in zip(indices, logits):
                image = dataset.load_image(idx)
                native = dataset.native_mask(idx)
                pred = resize_logits(logit[0], native.shape) > 0
                path = safe_join(image_dir, dataset.ids[idx] + '.png')  # ids may hold folders
                os.makedirs(os.path.dirname(path), exist_ok=True)
                side_by_side(image, native, pred, path)
    if args.save_maps:
        on_batch = map_saver(os.path.join(out, 'maps'), dataset.ids, then=on_batch)

    workers = args.workers if args.workers is not None else (
        0 if all(c.device_type == 'cpu' for c in ctx) else 2)
    try:
        results = evaluate_split(net, dataset, ctx, batch_size=args.test_batch_size,
                                 num_workers=workers, on_batch=on_batch,
                                 progress=not args.no_progress)
    except (DatasetError, UnsafePathError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    seconds = time.time() - start
    roc = results.pop('roc')
    roc_path = os.path.join(out, 'roc.png')
    plot_roc(roc, roc_path, title='%s on %s/%s' % (args.net, args.split_set, args.split))
    fpr, tpr, thresholds = roc.curve()
    np.savetxt(os.path.join(out, 'roc.csv'), np.stack([thresholds, fpr, tpr], 1),
               delimiter=',', header='threshold,fpr,tpr', comments='')
    report = dict(results, seconds=round(seconds, 2), net=args.net, blocks=args.blocks,
                  weights=args.resume or ('pretrained' if args.pretrained else None),
                  split_set=args.split_set, split=args.split, base_size=args.base_size,
                  form=form)
    with open(os.path.join(out, 'metrics.json'), 'w') as handle:
        json.dump(report, handle, indent=2)
    print('%s on %s/%s (%d images, %.1f s, %s form)' % (
        args.net, args.split_set, args.split, results['images'], seconds, form))
    print('  IoU  %.4f\n  nIoU %.4f\n  Pd   %.4f\n  Fa   %.2f x 1e-6\n  AUC  %.4f'
          % (results['IoU'], results['nIoU'], results['Pd'], results['Fa'] * 1e6,
             results['AUC']))
    print('  metrics: %s\n  ROC:     %s' % (os.path.join(out, 'metrics.json'), roc_path))
    return 0


if __name__ == '__main__':
    sys.exit(main())
