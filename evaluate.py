"""Score a network on a dataset of the registry (SIRST by default): IoU, nIoU, Pd, Fa and
ROC AUC, with JSON, a ROC plot and optional side-by-side images.

    python evaluate.py --net acm_unet --blocks 4 --weights <params or -symbol.json>
    python evaluate.py --net acm_unet --blocks 4 --pretrained --split-set idx_427
    python evaluate.py --pretrained --dataset nudt-sirst --data-root ../shared/nudt-sirst
    python evaluate.py --pretrained --dataset folder --data-root mydata --mask-pattern '{id}_mask.png'

Images are resized to the dataset's protocol size (SIRST 512, NUDT-SIRST its native 256)
unless --base-size is given; ``metrics.json`` records the dataset, split and size used.
    python evaluate.py --net acm_unet --blocks 4 --pretrained --form int8   # faster, approximate
    python evaluate.py --predictions maps/ --sweep 256    # saved maps of any method

On the CPU the network runs through oneDNN's fused subgraphs (``--form onednn``), which
gives the same logits as the Gluon network up to float rounding; ``--form hybrid`` is the
plain static graph (the default on GPUs), ``--form int8`` is calibrated on training images.
"""
import utils.cores  # noqa: F401  (first: sizes MXNet's thread pool before it loads)
import os
import sys
import time

from cli.devices import parse_contexts
from cli.loading import load_network, network_label
from cli.options import (CommandParser, add_data_options, add_device_options, add_map_options,
                         add_model_options, add_weights_options, count, side, weights_path)
from cli.outputs import OutputError, check_output_folder, output_folder
from data import DatasetError
from data.selection import DatasetSelection
from data.files import UnsafePathError, safe_join
from deployment.inference import FORMS, faster_forms, form_available, prepare
from engine.evaluation import evaluate_split, resize_logits
from engine.predictions import map_saver, score_predictions
from model import ParameterFileError
from utils.visualize import side_by_side


def build_parser():
    parser = CommandParser(description=__doc__.split('\n\n')[0])
    add_model_options(parser)
    add_weights_options(parser)
    add_data_options(parser, split='test')
    side(parser, '--base-size', default=None,
         help='images and masks are resized to this square size, as the original toolkit '
              'evaluated (default: the dataset\'s protocol: sirst 512, nudt-sirst 256, '
              'folder 512)')
    count(parser, '--test-batch-size', default=8)
    count(parser, '--workers', default=None, at_least=0,
          help='data loading processes (default 2 with GPUs; 0 on the CPU, where they would '
               'take cores from the network: 59 s instead of 65 s for idx_320 test on 2 cores)')
    add_device_options(parser)
    parser.add_argument('--out', default=None,
                        help='folder for metrics.json, roc.png and images '
                             '(default runs/evaluate/<net>-<split-set>-<split>)')
    parser.add_argument('--save-images', action='store_true',
                        help='save input | ground truth | prediction for every scored image')
    parser.add_argument('--form', default=None, choices=[f for f in FORMS if f != 'imperative'],
                        help='execution form (default: onednn on the CPU, hybrid on GPUs)')
    count(parser, '--calib-images', default=32,
          help='training images (trainval where the dataset has it) that calibrate --form int8')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    add_map_options(parser)
    return parser


def fast_network(net, args, ctx, selection, size):
    """``net`` in the execution form ``args.form`` asks for (or the best exact one), for
    inputs of ``size`` x ``size`` from ``selection``'s dataset."""
    form = args.form or ('onednn' if form_available('onednn', ctx[0])[0] else 'hybrid')
    hint = faster_forms(ctx[0]) if args.form is None and form == 'onednn' else None
    if hint:
        print(hint, file=sys.stderr)
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
        from deployment.calibration import calibration_images
        options = selection.kwargs(selection.names[0])
        calib = calibration_images(options.pop('root', None), args.calib_images,
                                   base_size=size, dataset=selection.names[0], **options)
    shape = (args.test_batch_size, 3, size, size)
    return prepare(net, form, shape, ctx=ctx[0], calib_data=calib, warm_up=False), form


def _run_label(dataset):
    """The default output folder's tail: SIRST keeps its old ``<split-set>-<split>``."""
    label = dataset.label.replace('/', '-').replace(os.sep, '-')
    return label if dataset.NAME == 'sirst' else '%s-%s' % (dataset.NAME, label)


def main(argv=None):
    parser = build_parser()
    args, given = parser.parse(argv), parser.given(argv)
    if args.predictions or args.threshold is not None or args.sweep is not None:
        return score_predictions(args)
    try:
        weights_path(args)
        name, blocks = network_label(args)
        selection = DatasetSelection.of(args)
        if selection.is_union:
            parser.error('--dataset %s: evaluate.py scores one dataset at a time; run it '
                         'once per dataset' % args.dataset)
        dataset = selection.get(selection.names[0], args.split, base_size=args.base_size)
        out = check_output_folder(args.out or os.path.join(
            'runs', 'evaluate', '%s-%s' % (name.replace(':', '-'), _run_label(dataset))))
        dataset.verify()  # a bad file stops us before any result is written
        if dataset.mask_threshold is not None:
            print(dataset.describe())  # how many masks the threshold changed
        ctx = parse_contexts(args.gpus)
        net = load_network(args, ctx, given=given)
        start = time.time()
        net, form = fast_network(net, args, ctx, selection, dataset.base_size)
        output_folder(out)
    except (DatasetError, ParameterFileError, FileNotFoundError, OutputError, ValueError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2

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
        suite = evaluate_split(net, dataset, ctx, batch_size=args.test_batch_size,
                               num_workers=workers, on_batch=on_batch,
                               progress=not args.no_progress)
    except (DatasetError, UnsafePathError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    seconds = time.time() - start
    where = '%s %s' % (dataset.NAME, dataset.label)
    size_from = 'protocol' if args.base_size is None else '--base-size'
    metrics_path, _, roc_path = suite.write(
        out, title='%s on %s' % (name, where), seconds=round(seconds, 2), net=name,
        blocks=blocks, weights=args.weights or ('pretrained' if args.pretrained else None),
        dataset=dataset.NAME, split_set=getattr(dataset, 'split_set', None), split=args.split,
        split_label=dataset.label, base_size=dataset.base_size, size_from=size_from,
        mask_threshold=dataset.mask_threshold, form=form)
    print('%s on %s (%d images at %dx%d, %s, %.1f s, %s form)' % (
        name, where, suite.images, dataset.base_size, dataset.base_size,
        'the protocol\'s size' if size_from == 'protocol' else 'as --base-size asks',
        seconds, form))
    print(suite.table())
    print('  metrics: %s\n  ROC:     %s' % (metrics_path, roc_path))
    return 0


if __name__ == '__main__':
    sys.exit(main())
