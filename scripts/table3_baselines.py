"""The model-driven rows of the paper's Table 3 on SIRST (idx_320 test), beside the released
ACM-U-Net, under both protocols, in one command:

    python scripts/table3_baselines.py --data-root ../shared/sirst \
        --model-root ../shared/checkpoints/open-acm

Every baseline of ``baselines/`` runs on every test image (grayscale, native size) in
worker processes; each map is min-max normalised per image and scored by
``metric/protocol.py`` at threshold 0.5 and over a sweep of 256 thresholds (best IoU and
best nIoU, each with its threshold). The network row is evaluate.py's own run of the
released checkpoint with ``--save-maps``, scored from those saved maps by the same code
(its sigmoid output as the map; also min-max normalised, for comparison); ``--deep
NET=PARAMS`` adds other trained networks (b = 4) the same way. Writes
``table3.md``, ``table3.json`` and ``maps.png`` (a few test images and every method's map)
to ``--out`` (default docs/baselines), with the time it took and the CPU it ran on.
"""
import os
import sys

# one BLAS thread per worker process: the workers are the parallelism (set before numpy)
for _name in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(_name, '1')

import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402
from scipy.special import expit  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from baselines import BASELINES, PAPER, UnknownBaselineError, get_baseline  # noqa: E402
from cli.options import CommandParser, count  # noqa: E402
from cli.outputs import OutputError, check_output_folder, output_folder  # noqa: E402
from data import DatasetError, get_dataset  # noqa: E402
from metric.protocol import ScoredMap, evaluate_maps, prepare_map, score_maps  # noqa: E402
from engine.predictions import (PredictionError, load_prediction_maps,  # noqa: E402
                               split_masks)
from model import list_models  # noqa: E402
from utils.atomic import atomic_write, write_json  # noqa: E402

#: the paper's data-driven rows (scripts/table3.py trains them)
PAPER_DEEP = {'fpn': (0.720, 0.700), 'sk_fpn': (0.702, 0.695), 'gau_fpn': (0.701, 0.701),
              'acm_fpn': (0.731, 0.721), 'unet': (0.733, 0.709), 'sk_unet': (0.708, 0.699),
              'gau_unet': (0.718, 0.697), 'acm_unet': (0.743, 0.731)}
#: the methods that dominate the run time go first, so that the two workers end together
_SLOW_FIRST = ('ipi', 'nipps', 'nram', 'ript', 'fkrw', 'pstnn')
FIGURE_IDS = 4


def _run_one(task):
    """Worker: (method, index, image) -> (method, index, float32 map, CPU seconds)."""
    method, index, image = task
    start = time.process_time()
    saliency = get_baseline(method)(image)
    return method, index, saliency.astype(np.float32), time.process_time() - start


def run_baselines(methods, images, workers):
    """Every method's map of every image, and each method's CPU seconds in total."""
    order = sorted(methods, key=lambda m: _SLOW_FIRST.index(m) if m in _SLOW_FIRST
                   else len(_SLOW_FIRST))
    tasks = [(m, i, image) for m in order for i, image in enumerate(images)]
    maps = {m: [None] * len(images) for m in methods}
    cpu = dict.fromkeys(methods, 0.0)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_run_one, tasks, chunksize=4))
    else:
        results = [_run_one(t) for t in tasks]
    for method, index, saliency, seconds in results:
        maps[method][index] = saliency
        cpu[method] += seconds
    return maps, cpu


def peaks_on_target(maps, masks):
    """Images whose map peaks on a target pixel (or next to one): tells a method that finds
    targets but segments them badly from one that misses them."""
    hits = 0
    for values, (_, native) in zip(maps, masks):
        near = ndimage.binary_dilation(native > 0, iterations=1)
        values = np.asarray(values)
        if values.shape != near.shape:  # network maps are at the evaluation size
            continue
        hits += bool(near.flat[int(np.argmax(values))])
    return hits


def _protocols(maps, normalize):
    """Both protocols, and as a check the best-IoU threshold's IoU and nIoU at each image's
    native size instead of 512 x 512."""
    report = evaluate_maps(maps, normalize, threshold=0.5, sweep=256)
    report.pop('curve')
    native = [ScoredMap(m.native_mask, m.native_mask, m.native_scores, m.native_scores)
              for m in maps]
    check = score_maps(native, report['best_IoU']['threshold'], normalize, roc=False)
    report['native_size_at_best_IoU'] = {k: check[k] for k in ('IoU', 'nIoU')}
    return report


def run_network(args, dataset, masks, work, net='acm_unet', weights=None):
    """evaluate.py on a checkpoint (``weights``; the released one when None) with
    --save-maps; its own metrics and the protocol reports of its saved maps."""
    out = os.path.join(work, net)
    env = dict(os.environ, OMP_NUM_THREADS=str(len(os.sched_getaffinity(0))))
    env.pop('OPENBLAS_NUM_THREADS', None)
    env.pop('MKL_NUM_THREADS', None)
    command = [sys.executable, os.path.join(REPO, 'evaluate.py'), '--net', net,
               '--blocks', '4', '--data-root', dataset.root,
               '--split-set', 'idx_320', '--split', 'test', '--out', out, '--save-maps',
               '--no-progress']
    command += ['--weights', weights] if weights else ['--pretrained']
    if args.model_root and not weights:
        command += ['--model-root', args.model_root]
    if subprocess.call(command, env=env, cwd=REPO) != 0:
        raise RuntimeError('evaluate.py failed: %s' % ' '.join(command))
    with open(os.path.join(out, 'metrics.json')) as handle:
        own = json.load(handle)
    maps_dir = os.path.join(out, 'maps')
    reports = {}
    for normalize in ('sigmoid', 'minmax'):
        scored = load_prediction_maps(maps_dir, dataset, normalize, masks)
        reports[normalize] = _protocols(scored, normalize)
    logits = [np.load(os.path.join(maps_dir, i + '.npy')) for i in dataset.ids[:FIGURE_IDS]]
    return own, reports, [expit(l) for l in logits]


def _cpu_name():
    try:
        with open('/proc/cpuinfo') as handle:
            for line in handle:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def _fmt(value):
    return '%.3f' % value if value is not None else '-'


def _missing_row(name):
    title, iou, niou = PAPER[name]
    return ('| %s | %.3f | %.3f | not implemented: not identifiable from the paper\'s '
            'reference | | | | | | | | |' % (title, iou, niou))


def markdown(result):
    """Table 3's model-driven rows (and the network) as a Markdown table with notes."""
    lines = ['# Table 3, model-driven rows: SIRST idx_320 test (%d images)' % result['images'],
             '',
             'Ours under two protocols on each method\'s map min-max normalised per image: '
             '**T = 0.5** (score > 0.5) and **sweep** (256 thresholds k/256, the best IoU and '
             'the best nIoU, each with its threshold; "same" says whether one threshold '
             'gives both). IoU and nIoU at the evaluation size 512 x 512, as evaluate.py '
             'scores networks. d IoU is the size of ours (best IoU of the sweep) minus the '
             'paper\'s; bold above 0.05, discussed in README.md. "peak on target": images '
             'whose map is largest on (or next to) a target pixel. The network rows: the map '
             'is its sigmoid output, as is or min-max normalised.',
             '',
             '| method | paper IoU | paper nIoU | IoU T=0.5 | nIoU T=0.5 | best IoU (T) '
             '| best nIoU (T) | same | AUC | d IoU | peak on target | CPU s / image |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|']
    missing = list(result.get('missing', []))
    for row in result['rows']:
        if missing and row['name'] in PAPER and \
                list(PAPER).index(row['name']) > list(PAPER).index(missing[0]):
            lines.append(_missing_row(missing.pop(0)))  # in the paper's column order
        fixed, best_iou, best_niou = row['at_threshold'], row['best_IoU'], row['best_nIoU']
        delta = abs(best_iou['IoU'] - row['paper_iou']) if row['paper_iou'] is not None \
            else None
        lines.append('| %s | %s | %s | %.3f | %.3f | %.3f (%.3f) | %.3f (%.3f) | %s | %.3f '
                     '| %s | %s | %s |' % (
                         row['title'], _fmt(row['paper_iou']), _fmt(row['paper_niou']),
                         fixed['IoU'], fixed['nIoU'], best_iou['IoU'], best_iou['threshold'],
                         best_niou['nIoU'], best_niou['threshold'],
                         'yes' if row['same_threshold'] else 'no', row['AUC'],
                         ('**%.3f**' if delta > 0.05 else '%.3f') % delta
                         if delta is not None else '-',
                         '%d / %d' % (row['peaks_on_target'], result['images'])
                         if 'peaks_on_target' in row else '-',
                         '%.2f' % row['cpu_per_image'] if 'cpu_per_image' in row else '-'))
    lines += [_missing_row(name) for name in missing]
    for net in result.get('networks', []):
        lines += ['', '%s (%s) through the same code: evaluate.py\'s own run gave IoU %.4f, '
                  'nIoU %.4f; its saved logits scored with `--normalize sigmoid` at T = 0.5 '
                  'gave IoU %.4f, nIoU %.4f (%s).'
                  % (net['net'], net['weights'], net['evaluate']['IoU'],
                     net['evaluate']['nIoU'], net['rows'][0]['at_threshold']['IoU'],
                     net['rows'][0]['at_threshold']['nIoU'],
                     'identical, and Pd and Fa too' if net['reproduced'] else 'DIFFERENT')]
    lines += ['', 'Wall time %.0f s (%.1f min) for the whole command on %d cores (%s), %d '
              'worker processes; CPU seconds per image are per method, summed over workers.'
              % (result['seconds'], result['seconds'] / 60, result['cores'], result['cpu'],
                 result['workers']),
              '', 'Command: `%s`' % result['command'], '',
              '![maps](maps.png)', '']
    return '\n'.join(lines)


def figure(path, images, masks, columns):
    """A few test images (rows): image, truth, then each method's min-max normalised map."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    titles = ['image', 'truth'] + [t for t, _ in columns]
    fig, axes = plt.subplots(len(images), len(titles),
                             figsize=(1.6 * len(titles), 1.4 * len(images)), dpi=110)
    for r, image in enumerate(images):
        panels = [image, masks[r]] + [maps[r] for _, maps in columns]
        for c, panel in enumerate(panels):
            ax = axes[r, c]
            low, high = float(np.min(panel)), float(np.max(panel))
            ax.imshow((panel - low) / (high - low) if high > low else panel * 0, cmap='gray',
                      vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=7)
    fig.tight_layout(pad=0.2)
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    parser = CommandParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root', default=None,
                        help='SIRST folder (default $SIRST_ROOT or ~/.mxnet/datasets/sirst)')
    parser.add_argument('--model-root', default=None,
                        help='model store with the released checkpoint (for the network row)')
    parser.add_argument('--methods', nargs='+', default=list(BASELINES),
                        help='baselines to run (default: all of %s)' % ', '.join(BASELINES))
    parser.add_argument('--no-network', action='store_true',
                        help='leave out the released ACM-U-Net row')
    parser.add_argument('--deep', nargs='+', default=[], metavar='NET=PARAMS',
                        help='more deep rows: registry name (b = 4) and checkpoint, e.g. '
                             'acm_fpn=runs/table3/acm_fpn/best_IoU.params')
    count(parser, '--workers', default=len(os.sched_getaffinity(0)), at_least=0,
          help='worker processes (0 or 1: in this process)')
    count(parser, '--limit', default=None,
          help='only the first N test images (a quick look; not the table)')
    parser.add_argument('--out', default=os.path.join(REPO, 'docs', 'baselines'),
                        help='folder for table3.md, table3.json and maps.png (default '
                             'docs/baselines, the committed table)')
    parser.add_argument('--work', default=os.path.join('runs', 'table3_baselines'),
                        help='folder for the network\'s saved maps and its evaluate.py run')
    args = parser.parse(argv)
    start = time.time()
    deep = []
    for item in args.deep:
        net, _, weights = item.partition('=')
        if net not in list_models() or not weights or not os.path.isfile(weights):
            print('error: --deep %s must be NET=PARAMS: a network of the registry (%s) and '
                  'an existing checkpoint file' % (item, ', '.join(list_models())),
                  file=sys.stderr)
            return 2
        deep.append((net, weights))
    if args.limit and (deep or not args.no_network):
        print('error: --limit scores part of the split, the network row all of it; add '
              '--no-network', file=sys.stderr)
        return 2
    try:
        check_output_folder(args.out)
        if deep or not args.no_network:
            check_output_folder(args.work, '--work')
        for method in args.methods:
            get_baseline(method)
        dataset = get_dataset('sirst', root=args.data_root, split='test', mode='testval',
                              base_size=512, split_set='idx_320')
        if args.limit:
            dataset.ids = dataset.ids[:args.limit]
        dataset.verify()
    except (UnknownBaselineError, DatasetError, OutputError, FileNotFoundError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    methods = [m.lower() for m in args.methods]
    masks = split_masks(dataset)
    images = [np.asarray(dataset.load_image(i).convert('L'), dtype=np.float64)
              for i in range(len(dataset))]
    maps, cpu = run_baselines(methods, images, args.workers)
    rows, columns = [], []
    for method in methods:
        entry = BASELINES[method]
        scored = [prepare_map(m, e, n, 'minmax') for m, (e, n) in zip(maps[method], masks)]
        row = dict(name=method, title=entry.title, paper_iou=entry.paper_iou,
                   paper_niou=entry.paper_niou, cpu_seconds=round(cpu[method], 1),
                   cpu_per_image=cpu[method] / len(images),
                   peaks_on_target=peaks_on_target(maps[method], masks),
                   **_protocols(scored, 'minmax'))
        rows.append(row)
        columns.append((entry.title, maps[method][:FIGURE_IDS]))
        print('%-8s T=0.5 IoU %.3f nIoU %.3f | sweep IoU %.3f nIoU %.3f | paper %.3f %.3f'
              % (entry.title, row['at_threshold']['IoU'], row['at_threshold']['nIoU'],
                 row['best_IoU']['IoU'], row['best_nIoU']['nIoU'], entry.paper_iou,
                 entry.paper_niou), flush=True)
    result = dict(images=len(dataset), rows=rows,
                  missing=[n for n in PAPER if n not in BASELINES], workers=args.workers,
                  cores=len(os.sched_getaffinity(0)), cpu=_cpu_name(),
                  command='python scripts/table3_baselines.py ' + ' '.join(
                      argv if argv is not None else sys.argv[1:]))
    networks = [] if args.no_network else [('acm_unet', None)]
    networks += deep
    for net, weights in networks:
        try:
            own, reports, probs = run_network(args, dataset, masks, args.work, net, weights)
        except (RuntimeError, PredictionError) as err:
            print('error: %s' % err, file=sys.stderr)
            return 1
        label = 'released ACM-U-Net' if weights is None else '%s (%s)' % (net, weights)
        paper = PAPER_DEEP.get(net, (None, None))
        net_rows = [dict(name='%s_%s' % (net, normalize), title='%s (%s)' % (label, how),
                         paper_iou=paper[0], paper_niou=paper[1], **reports[normalize])
                    for normalize, how in (('sigmoid', 'sigmoid'), ('minmax', 'min-max'))]
        fixed = net_rows[0]['at_threshold']
        keys = ('IoU', 'nIoU', 'Pd', 'Fa')
        result.setdefault('networks', []).append(dict(
            net=net, weights=weights or 'released', rows=net_rows,
            evaluate={k: own[k] for k in keys + ('AUC',)},
            reproduced=all(fixed[k] == own[k] for k in keys)))
        result['rows'] += net_rows
        columns.append((net if weights else 'ACM-U-Net', probs))
    result['seconds'] = round(time.time() - start, 1)
    output_folder(args.out)
    write_json(os.path.join(args.out, 'table3.json'), result)

    def write_markdown(path):
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write(markdown(result))
    atomic_write(os.path.join(args.out, 'table3.md'), write_markdown)
    figure(os.path.join(args.out, 'maps.png'), images[:FIGURE_IDS],
           [native for _, native in masks[:FIGURE_IDS]], columns)
    print('wrote %s (%.0f s)' % (os.path.join(args.out, 'table3.md'), result['seconds']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
