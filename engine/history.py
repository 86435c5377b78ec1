"""Per-epoch records of a run: plain-text log, JSON lines, and a learning-curve PNG."""
import json
import os

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

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
            with open(self.text, 'a') as handle:
                handle.write(message + '\n')

    def records(self):
        if not os.path.isfile(self.jsonl):
            return []
        with open(self.jsonl) as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def truncate_after(self, epoch):
        """Drop records past ``epoch`` (a resumed run redoes them)."""
        if not self.files:
            return
        kept = [r for r in self.records() if r['epoch'] <= epoch]
        with open(self.jsonl, 'w') as handle:
            handle.writelines(json.dumps(r) + '\n' for r in kept)

    def add(self, record):
        if not self.files:
            return
        with open(self.jsonl, 'a') as handle:
            handle.write(json.dumps(record) + '\n')
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
