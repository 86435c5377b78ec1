"""Train ACM-U-Net (b = 4) with the paper's recipe on a GPU and follow it, epoch by epoch,
against the training log released with the paper's checkpoint.

    python scripts/reproduce_gpu.py --gpus 0 --data-root /data/sirst
    python scripts/reproduce_gpu.py --follow runs/reproduce/acm_unet_b4   # compare only

The run is train.py under the paper's protocol (idx_320 trainval, best epoch on test, as
the released log was made) with ``--recipe paper``; options after ``--`` go to train.py
(``-- --recipe default`` for this toolkit's default). While it trains, each epoch at which
the released log has an entry prints both best-so-far IoUs side by side, so a run that is
off track shows within minutes; at the end the whole comparison is printed. An interrupted
run is resumed by the same command. A third column shows this toolkit's own CPU run
(docs/training/reproduction/, the default recipe with progressive resizing, scored on test
at 512 every 5 epochs) at the same epochs, for as far as it has got; ``--plot FILE`` draws
the three curves.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import time

import train_runs

LOG_PATTERN = '*_best_IoU.log'
#: the toolkit's own long CPU run, committed with its history (docs/training/reproduction/)
REFERENCE_RUN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             'docs', 'training', 'reproduction', 'acm_unet_b4-seed0')
#: a released log line: "20/09/2020 11:37:52 - 0007:\t0.2248" (epoch, best IoU so far)
LOG_LINE = re.compile(r'-\s*(\d+):\s*([0-9.]+)\s*$')


def read_released_log(path):
    """``[(epoch, best IoU so far)]`` from the released ``*_best_IoU.log``."""
    points = []
    with open(path, encoding='utf-8', errors='replace') as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip() or line.strip() == 'Finished':  # the log's last line
                continue
            match = LOG_LINE.search(line)
            if not match:
                raise ValueError('%s line %d is not "<date> <time> - <epoch>: <IoU>": %r'
                                 % (path, number, line.strip()))
            points.append((int(match.group(1)), float(match.group(2))))
    if not points:
        raise ValueError('%s holds no epochs' % path)
    return points


def find_released_log(model_root):
    root = model_root or os.environ.get('ACM_MODEL_ROOT') or \
        os.path.join(os.path.expanduser('~'), '.mxnet', 'models')
    found = sorted(glob.glob(os.path.join(root, LOG_PATTERN)))
    if not found:
        raise FileNotFoundError('no released training log (%s) in %s; pass --released-log '
                                'or --model-root' % (LOG_PATTERN, root))
    return found[0]


def run_best_so_far(run_dir):
    """``{epoch: best IoU so far}`` of a train.py run (epochs not scored keep the best)."""
    path = os.path.join(run_dir, 'history.jsonl')
    best, table = 0.0, {}
    if not os.path.isfile(path):
        return table
    with open(path) as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:  # a line still being written
                break
            best = max(best, record.get('IoU', 0.0))
            table[record['epoch']] = best
    return table


def comparison_rows(released, ours, reference=None):
    """``[(epoch, released best, our best or None, reference best or None)]`` at the
    released log's epochs (the released value at an epoch is its latest entry at or before
    it); ``reference`` is the toolkit's own run (:data:`REFERENCE_RUN`), if any."""
    reference = reference or {}
    return [(epoch, value, ours.get(epoch), reference.get(epoch)) for epoch, value in released]


def _value(best, released):
    return '%.4f (%+.4f)' % (best, best - released) if best is not None else '-'


def format_row(epoch, released, ours, reference=None, third=True):
    """One comparison line; ``third`` False leaves out our CPU run's column."""
    return 'epoch %4d   released %.4f   this run %s%s' % (
        epoch, released, _value(ours, released),
        '   our CPU run %s' % _value(reference, released) if third else '')


def follow(run_dir, released, printed, reference=None, out=print):
    """Print the comparison rows that became available since ``printed`` (a set);
    ``reference`` None: no third column."""
    for row in comparison_rows(released, run_best_so_far(run_dir), reference):
        if row[2] is not None and row[0] not in printed:
            printed.add(row[0])
            out(format_row(*row, third=reference is not None))


def plot(path, released, runs):
    """Best IoU so far against epoch: the released log, then each ``(label, table)``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    figure, axes = plt.subplots(figsize=(7, 4.2))
    axes.step([e for e, _ in released], [v for _, v in released], where='post',
              label='released checkpoint\'s log (GPU, 300 epochs)', color='black')
    for label, table in runs:
        if table:
            epochs = sorted(table)
            axes.step(epochs, [table[e] for e in epochs], where='post', label=label)
    axes.set_xlabel('epoch')
    axes.set_ylabel('best test IoU so far (idx_320, at 512)')
    axes.set_ylim(0, 0.8)
    axes.grid(alpha=0.3)
    axes.legend(loc='lower right')
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def train_command(args):
    return train_runs.train_command(args.out, ['--net', 'acm_unet', '--blocks', '4',
                                         '--paper-protocol', '--recipe', 'paper'], args)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--gpus', default='0', help="GPUs for train.py, e.g. '0' or '0,1'")
    parser.add_argument('--data-root', default=None, help='SIRST folder (default $SIRST_ROOT)')
    parser.add_argument('--out', default=os.path.join('runs', 'reproduce', 'acm_unet_b4'),
                        help='run directory')
    parser.add_argument('--model-root', default=None,
                        help='folder of the released checkpoint and its log '
                             '(default $ACM_MODEL_ROOT or ~/.mxnet/models)')
    parser.add_argument('--released-log', default=None, help='the released *_best_IoU.log')
    parser.add_argument('--follow', metavar='RUN_DIR', default=None,
                        help='only compare a run (finished or in progress) with the log')
    parser.add_argument('--poll', type=float, default=10, help='seconds between checks')
    parser.add_argument('--reference', default=REFERENCE_RUN, metavar='RUN_DIR',
                        help='the third column: a run of this toolkit to compare with '
                             '(default: our committed CPU run, %(default)s)')
    parser.add_argument('--plot', default=None, metavar='PNG',
                        help='also draw the curves (best IoU so far by epoch) into this file')
    parser.add_argument('train_args', nargs=argparse.REMAINDER,
                        help='after --, more options for train.py')
    args = parser.parse_args(argv)
    args.train_args = [a for a in args.train_args if a != '--']
    try:
        released = read_released_log(args.released_log or find_released_log(args.model_root))
    except (OSError, ValueError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    problem = _option_problem(args)
    if problem:
        print('error: %s' % problem, file=sys.stderr)
        return 2
    reference = run_best_so_far(args.reference) if args.reference else None
    if args.follow and args.reference and _same(args.follow, args.reference):
        reference = None  # following our CPU run itself
    if args.follow:
        if not os.path.isfile(os.path.join(args.follow, 'history.jsonl')):
            print('error: %s has no history.jsonl (not a train.py run, or no epoch finished '
                  'yet)' % args.follow, file=sys.stderr)
            return 2
        follow(args.follow, released, set(), reference)
        _plot(args, released, args.follow, reference)
        return 0
    printed = set()
    process = subprocess.Popen(train_command(args), cwd=os.getcwd())
    while process.poll() is None:
        time.sleep(args.poll)
        follow(args.out, released, printed, reference)
    follow(args.out, released, printed, reference)
    print('\nBest IoU so far, at the epochs of the released log:')
    for row in comparison_rows(released, run_best_so_far(args.out), reference):
        print(format_row(*row, third=reference is not None))
    _plot(args, released, args.out, reference)
    return process.returncode


def _option_problem(args):
    """What is wrong with ``--reference`` or ``--plot``, checked before any work."""
    if args.reference and not _same(args.reference, REFERENCE_RUN) and not os.path.isfile(
            os.path.join(args.reference, 'history.jsonl')):
        return '--reference %s has no history.jsonl (not a train.py run)' % args.reference
    if args.plot:
        folder = os.path.dirname(os.path.abspath(args.plot))
        if not os.path.isdir(folder):
            return '--plot %s: the folder %s does not exist' % (args.plot, folder)
        if os.path.isdir(args.plot):
            return '--plot %s is a folder; name a .png file' % args.plot
    return None


def _same(left, right):
    return os.path.abspath(left) == os.path.abspath(right)


def _plot(args, released, run_dir, reference):
    if not args.plot:
        return
    plot(args.plot, released, [('this run (%s)' % run_dir, run_best_so_far(run_dir))] +
         ([] if reference is None else [('our CPU run (docs/training/reproduction)', reference)]))
    print('plot: %s' % args.plot)


if __name__ == '__main__':
    sys.exit(main())
