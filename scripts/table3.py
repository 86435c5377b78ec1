"""Reproduce the data-driven rows of the paper's Table 3 (b = 4) on GPUs.

    python scripts/table3.py --gpus 0 --data-root /data/sirst
    python scripts/table3.py --collect            # only print the table of finished runs

Each model is trained with train.py's defaults under the paper's protocol (train on
idx_320 trainval, select and report on test), one after another, in runs/table3/<net>;
finished runs are skipped, interrupted ones resumed. The table prints our figures beside
the paper's.
"""
import argparse
import json
import os
import subprocess
import sys

import train_runs

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

#: model -> (paper IoU, paper nIoU), Table 3, idx_320 test, b = 4
PAPER = {'fpn': (0.720, 0.700), 'sk_fpn': (0.702, 0.695), 'gau_fpn': (0.701, 0.701),
         'acm_fpn': (0.731, 0.721), 'unet': (0.733, 0.709), 'sk_unet': (0.708, 0.699),
         'gau_unet': (0.718, 0.697), 'acm_unet': (0.743, 0.731)}


def run_dir(out, net):
    return os.path.join(out, net)


def train_command(net, args):
    options = ['--net', net, '--blocks', '4', '--paper-protocol', '--epochs', str(args.epochs)]
    return train_runs.train_command(run_dir(args.out, net), options, args)


def table(out):
    """Rows of (net, our IoU, our nIoU, paper IoU, paper nIoU); None where not finished."""
    rows = []
    for net, (paper_iou, paper_niou) in PAPER.items():
        path = os.path.join(run_dir(out, net), 'summary.json')
        ours = (None, None)
        if os.path.isfile(path):
            with open(path) as handle:
                test = json.load(handle)['test']
            ours = (test['IoU'], test['nIoU'])
        rows.append((net,) + ours + (paper_iou, paper_niou))
    return rows


def format_table(rows):
    lines = ['%-10s %8s %8s   %8s %8s' % ('model', 'IoU', 'nIoU', 'paper', 'paper'),
             '%-10s %8s %8s   %8s %8s' % ('', '(ours)', '(ours)', 'IoU', 'nIoU')]
    for net, iou, niou, paper_iou, paper_niou in rows:
        ours = ['%8.4f' % v if v is not None else '%8s' % '-' for v in (iou, niou)]
        lines.append('%-10s %s %s   %8.3f %8.3f' % (net, ours[0], ours[1], paper_iou,
                                                    paper_niou))
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--gpus', default='0')
    parser.add_argument('--data-root', default=None)
    parser.add_argument('--epochs', type=int, default=300)
    parser.add_argument('--out', default=os.path.join('runs', 'table3'))
    parser.add_argument('--nets', nargs='+', default=list(PAPER), choices=list(PAPER))
    parser.add_argument('--collect', action='store_true', help='print the table only')
    parser.add_argument('--dry-run', action='store_true', help='print the commands only')
    parser.add_argument('train_args', nargs=argparse.REMAINDER,
                        help='after --, more options for train.py')
    args = parser.parse_args(argv)
    args.train_args = [a for a in args.train_args if a != '--']
    if not args.collect:
        for net in args.nets:
            if os.path.isfile(os.path.join(run_dir(args.out, net), 'summary.json')):
                continue
            command = train_command(net, args)
            print(' '.join(command), flush=True)
            if not args.dry_run and subprocess.call(command, cwd=REPO) != 0:
                print('%s failed; fix it and run this script again to resume' % net)
                return 1
    print(format_table(table(args.out)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
