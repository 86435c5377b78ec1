"""Tabulate and plot training runs of several recipes and seeds, with their test scores.

    python tools/recipe_report.py runs/recipes/* --budget 10 --threshold 0.3 \\
        --out docs/training/recipes

For each run directory written by train.py: its recipe (from args.json, or matched to
``engine.recipes.RECIPES`` by its options for runs from before recipes had names), its seed,
the first epoch whose selection-split IoU reaches ``--threshold``, the best selection IoU
within ``--budget`` epochs and its epoch, and the test split's IoU/nIoU of that epoch's
``best_IoU.params`` (scored here with the run's own evaluation size). Writes
``README-table.md`` (the table), ``val-iou.png`` (selection IoU against epoch, every run) and
``runs.json`` (the figures) into ``--out``; each run's ``args.json`` and ``history.jsonl``
are copied under ``--out``/runs/<name>.
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import utils.cores  # noqa: E402,F401  (before mxnet)
import matplotlib  # noqa: E402
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import mxnet as mx  # noqa: E402

from data.selection import DatasetSelection  # noqa: E402
from engine.config import TrainConfig  # noqa: E402
from model import get_model, load_parameters  # noqa: E402
from engine.evaluation import evaluate_split  # noqa: E402
from engine.recipes import RECIPES, matching_recipe  # noqa: E402
from utils.atomic import write_json  # noqa: E402

COLOURS = {'default': 'tab:green', 'default before --bn-batches': 'tab:olive', 'paper': 'tab:red',
           'toolkit': 'tab:blue'}


def recipe_of(arguments):
    """The recipe a run used: named in its arguments, else the one its options match; a run
    from before ``--bn-batches`` existed (scored with running averages) that matches a
    recipe in every other option is that recipe "before --bn-batches"."""
    if arguments.get('recipe'):
        return arguments['recipe']
    name = matching_recipe(arguments)
    if name is None:
        return 'custom'
    if 'bn_batches' not in arguments:
        return '%s before --bn-batches' % name
    return name if arguments['bn_batches'] == RECIPES[name].bn_batches else 'custom'


def _options_text(arguments):
    bn_batches = arguments.get('bn_batches', 0)
    return '%s lr %g, prior %g, gradient / %s, BN %s' % (
        arguments['optimizer'], arguments['lr'], arguments.get('output_prior', 0.0),
        'batch' if arguments.get('grad_normalization', 'batch') == 'batch' else '1',
        'from %d batches' % bn_batches if bn_batches else 'running averages')


def summarise(run_dir, budget, threshold, data_root=None, score_test=True):
    """The figures of one run (see the module's docstring)."""
    with open(os.path.join(run_dir, 'args.json')) as handle:
        arguments = json.load(handle)
    with open(os.path.join(run_dir, 'history.jsonl')) as handle:
        history = [json.loads(line) for line in handle if line.strip()]
    scored = [r for r in history if 'IoU' in r and r['epoch'] <= budget]
    if not scored:
        raise ValueError('%s has no scored epoch within %d' % (run_dir, budget))
    best = max(scored, key=lambda r: r['IoU'])
    reached = [r['epoch'] for r in scored if r['IoU'] >= threshold]
    row = {'run': os.path.basename(os.path.normpath(run_dir)), 'recipe': recipe_of(arguments),
           'options': _options_text(arguments),
           'seed': arguments['seed'], 'epochs_run': max(r['epoch'] for r in history),
           'first_epoch_at_threshold': reached[0] if reached else None,
           'best_val_IoU': best['IoU'], 'best_epoch': best['epoch'],
           'val_IoU_by_epoch': [(r['epoch'], r['IoU']) for r in scored],
           'loss_by_epoch': [(r['epoch'], r['loss']) for r in history if r['epoch'] <= budget]}
    if score_test:
        row.update(_test_scores(run_dir, arguments, data_root))
    return row


def _test_scores(run_dir, arguments, data_root):
    net = get_model(arguments['net'], blocks=arguments['blocks'],
                    channel_times=arguments['channel_times'], stem=arguments['stem'])
    load_parameters(net, os.path.join(run_dir, 'best_IoU.params'), ctx=[mx.cpu()])
    net.hybridize(static_alloc=True, static_shape=True)
    # the run's own data (an args.json from before datasets were named is SIRST's); a
    # union's first dataset
    config = TrainConfig.from_dict(dict(arguments, data_root=data_root or
                                        arguments.get('data_root')))
    selection = DatasetSelection.of(config)
    test_set = selection.get(selection.names[0], config.test_split, base_size=config.base_size,
                             crop_size=config.crop_size)
    scores = evaluate_split(net, test_set, [mx.cpu()], batch_size=8, num_workers=0,
                            progress=False).scores()
    return {'test_IoU': scores['IoU'], 'test_nIoU': scores['nIoU']}


def markdown_table(rows, budget, threshold):
    def fmt(value, pattern='%.4f'):
        return '-' if value is None else pattern % value
    lines = ['| recipe | options | seed | epochs run | first epoch with val IoU >= %g '
             '| best val IoU (epoch) within %d | its test IoU | its test nIoU |'
             % (threshold, budget), '|---|---|---|---|---|---|---|---|']
    for row in rows:
        lines.append('| %s | %s | %d | %d | %s | %.4f (%d) | %s | %s |' % (
            row['recipe'], row['options'], row['seed'], row['epochs_run'],
            fmt(row['first_epoch_at_threshold'], '%d') if row['first_epoch_at_threshold']
            else 'not within %d' % budget,
            row['best_val_IoU'], row['best_epoch'], fmt(row.get('test_IoU')),
            fmt(row.get('test_nIoU'))))
    return '\n'.join(lines) + '\n'


def plot(rows, path, threshold):
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
    labelled = set()
    for row in rows:
        colour = COLOURS.get(row['recipe'], 'tab:gray')
        label = row['recipe'] if row['recipe'] not in labelled else None
        labelled.add(row['recipe'])
        epochs, values = zip(*row['val_IoU_by_epoch'])
        left.plot(epochs, values, marker='o', markersize=3, color=colour, alpha=0.8,
                  label=label)
        epochs, losses = zip(*row['loss_by_epoch'])
        right.plot(epochs, losses, color=colour, alpha=0.8, label=label)
    left.axhline(threshold, color='black', linestyle=':', linewidth=1)
    left.set_xlabel('epoch')
    left.set_ylabel('validation IoU (threshold: logit > 0)')
    left.set_ylim(0, 1)
    right.set_xlabel('epoch')
    right.set_ylabel('training Soft-IoU loss')
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('runs', nargs='+', help='run directories written by train.py')
    parser.add_argument('--budget', type=int, default=10, help='epochs compared')
    parser.add_argument('--threshold', type=float, default=0.3)
    parser.add_argument('--data-root', default=None, help='SIRST folder for the test scores')
    parser.add_argument('--no-test', action='store_true', help='skip scoring the test split')
    parser.add_argument('--out', required=True, help='folder for the table, plot and copies')
    args = parser.parse_args(argv)
    rows = []
    for run_dir in args.runs:
        try:
            rows.append(summarise(run_dir, args.budget, args.threshold, args.data_root,
                                  score_test=not args.no_test))
        except (OSError, ValueError, KeyError) as err:
            print('error: %s: %s' % (run_dir, err), file=sys.stderr)
            return 2
    order = list(RECIPES)

    def place(row):  # each recipe's rows, then its runs from before --bn-batches
        base = row['recipe'].split(' ')[0]
        return (order.index(base) if base in order else len(order), row['recipe'] != base,
                row['seed'])
    rows.sort(key=place)
    os.makedirs(args.out, exist_ok=True)
    for run_dir in args.runs:
        copy = os.path.join(args.out, 'runs', os.path.basename(os.path.normpath(run_dir)))
        os.makedirs(copy, exist_ok=True)
        for name in ('args.json', 'history.jsonl', 'train.log'):
            if os.path.isfile(os.path.join(run_dir, name)):
                shutil.copy(os.path.join(run_dir, name), copy)
    table = markdown_table(rows, args.budget, args.threshold)
    with open(os.path.join(args.out, 'README-table.md'), 'w') as handle:
        handle.write(table)
    write_json(os.path.join(args.out, 'runs.json'), rows)
    plot(rows, os.path.join(args.out, 'val-iou.png'), args.threshold)
    print(table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
