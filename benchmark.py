"""Measure a network's speed in every execution form, in one process, and print the table.

    python benchmark.py --net acm_unet --blocks 4                 # inference + training step
    python benchmark.py --net acm_unet --blocks 4 --data-root ../shared/sirst \
        --model-root ../shared/checkpoints/open-acm --evaluate --json bench.json

Inference runs a batch of --batch-size at --size, the training step a batch at
--train-size; each form is warmed up once and timed --repeats times (median, min, max).
With --data-root the batches are images of --dataset (SIRST by default; test images for
inference, augmented training crops -- trainval where the dataset has it -- for training),
the INT8 form is calibrated on those training images, the
training data pipeline is timed, and --evaluate times the whole evaluation of the test
split per form. Without it they are random data. --pipeline-datasets times the training data
pipeline of each named dataset (through the dataset registry, at its protocol's crop size).
"""
import utils.cores  # noqa: F401  (first: sizes MXNet's thread pool before it loads)
import os
import platform
import sys

import mxnet as mx

from cli.devices import parse_contexts
from cli.loading import is_export
from cli.options import (CommandParser, add_data_options, add_device_options,
                         add_model_options, add_weights_options, count, side, weights_path)
from data.selection import DatasetSelection
from deployment.inference import FORMS
from engine.benchmark import (TRAIN_FORMS, bench_evaluation, bench_inference, bench_loader,
                              bench_pipelines, bench_training, network_factory)
from engine.precision import dtype_problem
from metric import format_scores
from utils.atomic import write_json


def build_parser():
    parser = CommandParser(description=__doc__.split('\n\n')[0])
    add = parser.add_argument
    add_model_options(parser)
    add_weights_options(parser)
    add_data_options(parser)
    count(parser, '--batch-size', default=8)
    side(parser, '--size', default=512, help='inference input side')
    side(parser, '--train-size', default=480, help='training input side (the crop size)')
    count(parser, '--repeats', default=3)
    add('--forms', default=','.join(FORMS),
        help="inference forms, comma separated; '' to skip inference")
    add('--train-forms', default='imperative,hybrid',
        help="training forms (%s; bf16: the hybrid step in bfloat16, CPUs with AVX-512 BF16 "
             "or AMX), timed in turns, so their memory adds up (ACM-U-Net b=4, batch 8 at "
             "480: about 23 GB); '' to skip training" % ', '.join(TRAIN_FORMS))
    count(parser, '--calib-images', default=32, help='training images for INT8 calibration')
    add('--evaluate', action='store_true', help='also time the whole evaluation per form')
    add('--evaluate-forms', default='hybrid,onednn,int8')
    count(parser, '--workers', default=2, at_least=0)
    add_device_options(parser)
    add('--pipeline-datasets', default='',
        help='time the training data pipeline of each NAME=ROOT, comma separated (e.g. '
             'sirst=../shared/sirst,nudt-sirst=../shared/nudt-sirst)')
    add('--json', default=None, help='write every figure to this JSON file')
    return parser


def pipeline_datasets(text):
    """``'a=root,b=root'`` -> ``[(name, dataset)]``: each dataset's training split from the
    registry in ``train`` mode at its protocol's sizes (SIRST crops 480, NUDT-SIRST 256),
    all made (and so checked) before any timing."""
    from data import get_dataset
    datasets = []
    for item in filter(None, (part.strip() for part in text.split(','))):
        name, sep, root = item.partition('=')
        if not sep or not root:
            raise ValueError('--pipeline-datasets takes NAME=ROOT items, not %r' % item)
        datasets.append((name, get_dataset(name, root=root, split='train', mode='train')))
    return datasets


def _fmt(value, spec):
    return format(value, spec) if isinstance(value, (int, float)) else '-'


def print_table(title, rows, unit_flops, diff=True):
    print('\n%s (%.2f GFLOP per image)' % (title, unit_flops / 1e9))
    print('%-11s %9s %17s %8s %9s %s' % ('form', 'images/s', '(min-max)', 'x imper', 'GFLOP/s',
                                        'max |diff|' if diff else ''))
    for row in rows:
        if 'skipped' in row:
            print('%-11s skipped: %s' % (row['form'], row['skipped']))
            continue
        print('%-11s %9.3f %17s %8s %9.1f %s' % (
            row['form'], row['images_per_s'],
            '(%.3f-%.3f)' % (row['images_per_s_min'], row['images_per_s_max']),
            _fmt(row.get('ratio'), '.2f'), row['gflops_per_s'],
            _fmt(row.get('max_abs_diff'), '.2e') if diff else ''))


def main(argv=None):
    parser = build_parser()
    args = parser.parse(argv)
    weights = weights_path(args)
    if weights and is_export(weights):
        parser.error('--weights %s is an exported model; the benchmark builds every form from '
                     'a registry network: pass a .params file' % weights)
    unknown = [f for f in args.forms.split(',') + args.train_forms.split(',')
               + args.evaluate_forms.split(',') if f and f not in FORMS]
    if unknown:
        parser.error('unknown form %s; the forms are %s' % (unknown[0], ', '.join(FORMS)))
    try:
        pipelines = pipeline_datasets(args.pipeline_datasets)
        selection = DatasetSelection.of(args)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    if selection.is_union:
        parser.error('--dataset %s: the benchmark reads one dataset; time the pipelines of '
                     'several with --pipeline-datasets' % args.dataset)
    name = selection.names[0]
    ctx = parse_contexts(args.gpus)[0]
    unknown = [f for f in args.train_forms.split(',') if f and f not in TRAIN_FORMS]
    if unknown:
        parser.error('unknown training form %s; they are %s' % (unknown[0], ', '.join(TRAIN_FORMS)))
    if 'bf16' in args.train_forms.split(','):
        problem = dtype_problem('bfloat16', [ctx])
        if problem:
            parser.error('--train-forms bf16: %s' % problem)
    make_net = network_factory(args.net, args.blocks, pretrained=args.pretrained,
                               model_root=args.model_root, weights=weights,
                               channel_times=args.channel_times, stem=args.stem)
    report = {'net': args.net, 'blocks': args.blocks, 'batch_size': args.batch_size,
              'context': str(ctx), 'mxnet': mx.__version__, 'python': platform.python_version(),
              'cpu_count': os.cpu_count(), 'amx': utils.cores.amx_state()}
    print(report['amx'])
    forms = [f for f in args.forms.split(',') if f]
    calib = None
    train_set = test_set = None
    if args.data_root:  # made (and so checked) before any timing
        train_split = 'trainval' if selection.has_split(name, 'trainval') else 'train'
        try:
            test_set = selection.get(name, 'test', base_size=args.size)
            train_set = selection.get(name, train_split, mode='train', base_size=args.size,
                                      crop_size=args.train_size)
        except (ValueError, FileNotFoundError) as err:  # DatasetError: one line
            print('error: %s' % err, file=sys.stderr)
            return 2
    if args.data_root and 'int8' in forms + args.evaluate_forms.split(','):
        from deployment.calibration import calibration_images  # reads data: only when asked
        options = selection.kwargs(name)
        calib = calibration_images(options.pop('root', None), args.calib_images,
                                   split=train_set.split, base_size=args.size, dataset=name,
                                   **options)
    elif 'int8' in forms:
        calib = mx.nd.random.uniform(-2, 2, shape=(args.calib_images, 3, args.size, args.size))
        print('note: no --data-root, INT8 is calibrated on random images', file=sys.stderr)

    print('%s b=%d on %s, batch %d, %s' % (args.net, args.blocks, ctx, args.batch_size,
                                           '%s images' % name if test_set else 'random data'))
    shape = (args.batch_size, 3, args.size, args.size)
    if forms:
        rows, flops = bench_inference(make_net, shape, forms, ctx, args.repeats,
                                      calib_data=calib, dataset=test_set)
        report['inference'] = {'input': list(shape), 'flops_per_image': flops, 'rows': rows}
        print_table('Inference, batch %d at %dx%d' % (args.batch_size, args.size, args.size),
                    rows, flops)

    train_forms = [f for f in args.train_forms.split(',') if f]
    if train_forms:
        shape = (args.batch_size, 3, args.train_size, args.train_size)
        rows, flops = bench_training(make_net, shape, train_forms, ctx, args.repeats,
                                     dataset=train_set)
        report['training'] = {'input': list(shape), 'flops_per_image': flops, 'rows': rows}
        print_table('Training step, batch %d at %dx%d (forward + backward + update)'
                    % (args.batch_size, args.train_size, args.train_size), rows, flops,
                    diff=False)

    if train_set is not None:
        loader = bench_loader(train_set, args.batch_size, args.workers)
        report['training_data_pipeline'] = loader
        print('\nTraining data pipeline (decode + augment, %d workers): %.2f images/s'
              % (loader['workers'], loader['images_per_s']))

    if pipelines:
        print('\nTraining data pipeline per dataset (decode + augment, %d workers)' % args.workers)
        report['data_pipelines'] = bench_pipelines(pipelines, args.batch_size, args.workers)

    if args.evaluate:
        if test_set is None:
            print('error: --evaluate needs --data-root', file=sys.stderr)
            return 2
        print('\nWhole evaluation of %s %s (%d images; loading + inference + metrics)'
              % (name, test_set.label, len(test_set)))
        report['evaluation'] = bench_evaluation(
            make_net, test_set, args.evaluate_forms.split(','), ctx, args.batch_size,
            args.workers, calib_data=calib)
        for row in report['evaluation']:
            if 'skipped' in row:
                print('%-11s skipped: %s' % (row['form'], row['skipped']))
            else:
                print('%-11s %7.1f s (%.1f preparing)  %s' % (
                    row['form'], row['seconds'], row['prepare_seconds'],
                    format_scores(row, separator='  ')))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        write_json(args.json, report)
        print('\nJSON: %s' % args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
