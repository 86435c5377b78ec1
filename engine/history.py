"""Per-epoch records of a run: plain-text log, JSON lines, and a learning-curve PNG."""
import json
import os

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from utils.atomic import append_json_line, atomic_write  # noqa: E402
from utils.messages import one_line  # noqa: E402
from .errors import RunStateUnreadable  # noqa: E402

__all__ = ['RunLog']


class RunLog(object):
    """Appends to ``train.log`` and ``history.jsonl`` in the run directory and redraws
    ``curve.png``; messages are echoed to the console through ``echo``. With
    ``files=False`` (the workers other than 0 of a distributed run) it only echoes."""

    def __init__(self, run_dir, echo=print, files=True):
        self.run_dir, self.echo, self.files = run_dir, echo, files
        self.text = os.path.join(run_dir, 'train.log')
        self.jsonl = os.path.join(run_dir, 'history.jsonl')

    def say(self, message):
        self.echo(message)
        if self.files:
            with open(self.text, 'a') as handle:  # a plain-text log, for people to read
                handle.write(message + '\n')

    def records(self):
        """The epochs' records; a line that is not a whole record (a copy cut short, or a
        run of an older version killed while appending) is a :class:`RunStateUnreadable`."""
        if not os.path.isfile(self.jsonl):
            return []
        records = []
        with open(self.jsonl, 'rb') as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line.decode('utf-8'))
                    if not isinstance(record, dict) or not isinstance(record.get('epoch'), int):
                        raise ValueError('not an epoch record')
                except ValueError as err:
                    raise RunStateUnreadable(
                        '%s line %d is not a whole epoch record (%s); delete that line and the '
                        'ones after it (the checkpoint is kept apart, in last.json) and try again'
                        % (self.jsonl, number, one_line(err))) from None
                records.append(record)
        return records

    def truncate_after(self, epoch):
        """Drop records past ``epoch`` (a resumed run redoes them), rewriting the file
        atomically; a file that has none is left as it is."""
        if not self.files:
            return
        records = self.records()
        kept = [r for r in records if r['epoch'] <= epoch]
        if len(kept) == len(records):
            return
        lines = ''.join(json.dumps(r) + '\n' for r in kept)

        def write(tmp):
            with open(tmp, 'w', encoding='utf-8') as handle:
                handle.write(lines)
        atomic_write(self.jsonl, write)

    def add(self, record):
        """Append ``record`` as one line (written whole or not at all) and redraw the curve."""
        if not self.files:
            return
        append_json_line(self.jsonl, record)
        self.plot()

    def plot(self):
        records = self.records()
        if not records:
            return
        epochs = [r['epoch'] for r in records]
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
        left.plot(epochs, [r['loss'] for r in records], label='train Soft-IoU loss')
        left.set_xlabel('epoch')
        left.set_ylabel('loss')
        left.grid(alpha=0.3)
        left.legend()
        scored = [r for r in records if 'IoU' in r]
        for key in ('IoU', 'nIoU', 'Pd'):
            right.plot([r['epoch'] for r in scored], [r[key] for r in scored], label=key)
        right.set_xlabel('epoch')
        right.set_ylabel('selection split (%s)' % (scored[0]['split'] if scored else ''))
        right.set_ylim(0, 1)
        right.grid(alpha=0.3)
        right.legend(loc='lower right')
        fig.tight_layout()
        fig.savefig(os.path.join(self.run_dir, 'curve.png'))
        plt.close(fig)
