"""Compare training runs by wall time: best-so-far IoU on the selection split against the
minutes spent, for each run directory's ``history.jsonl``, optionally beside reference
points (e.g. another toolkit's curve measured on the same machine).

    python tools/compare_runs.py runs/train/a runs/train/b \\
        --reference 32:0.43,37:0.47,42:0.55,46:0.60 --out wall-time.png

Minutes are the sum of the epochs' durations (training and scoring), so start-up time is
not counted. Prints each run's best-so-far IoU at the reference minutes.
"""
import argparse
import json
import os
import sys

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file backend)


def best_so_far(run_dir, metric='IoU'):
    """``[(minutes, epoch, best metric so far)]`` of a run, one entry per epoch."""
    path = os.path.join(run_dir, 'history.jsonl')
    if not os.path.isfile(path):
        raise FileNotFoundError('%s has no history.jsonl; pass run directories that '
                                'train.py wrote' % run_dir)
    points, minutes, best = [], 0.0, 0.0
    with open(path) as handle:
        for line in handle:
            record = json.loads(line)
            minutes += record['seconds'] / 60
            best = max(best, record.get(metric, 0.0))  # epochs not scored (--val-every)
            points.append((minutes, record['epoch'], best))
    return points


def value_at(points, minute):
    """The best-so-far value reached by ``minute`` (0 before the first epoch ends)."""
    reached = [best for minutes, _, best in points if minutes <= minute]
    return reached[-1] if reached else 0.0


def parse_reference(text):
    pairs = [item.split(':') for item in text.split(',') if item]
    return [(float(m), float(v)) for m, v in pairs]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('runs', nargs='+', help='run directories written by train.py')
    parser.add_argument('--labels', default=None, help='comma-separated names for the runs')
    parser.add_argument('--reference', default='', help='minutes:IoU points, comma-separated')
    parser.add_argument('--reference-label', default='reference')
    parser.add_argument('--out', default='wall-time.png')
    args = parser.parse_args(argv)
    labels = args.labels.split(',') if args.labels else [os.path.basename(os.path.normpath(r))
                                                         for r in args.runs]
    try:
        curves = [best_so_far(run) for run in args.runs]
        reference = parse_reference(args.reference)
    except (FileNotFoundError, ValueError, KeyError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for label, points in zip(labels, curves):
        axis.step([0] + [p[0] for p in points], [0] + [p[2] for p in points], where='post',
                  label=label)
    if reference:
        axis.plot(*zip(*reference), 'ko', label=args.reference_label)
    axis.set_xlabel('minutes (sum of epoch times)')
    axis.set_ylabel('best IoU so far')
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(args.out, dpi=100)

    if reference:
        print('best IoU so far at the reference minutes:')
        columns = [args.reference_label] + labels
        print('minutes  ' + '  '.join('%-*s' % (max(len(c), 6), c) for c in columns))
        for minute, value in reference:
            values = [value] + [value_at(points, minute) for points in curves]
            print('%7.1f  ' % minute + '  '.join('%-*.4f' % (max(len(c), 6), v)
                                                for c, v in zip(columns, values)))
    print('plot: %s' % args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
