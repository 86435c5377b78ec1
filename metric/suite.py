"""The five figures of the field as one object: IoU, nIoU, Pd, Fa and the ROC's AUC, with
their names, their print format, ``metrics.json`` and the ROC files. Every command and the
training log read and print the figures through it."""
import os
from collections import OrderedDict

import numpy as np

from .detection import PdFaMetric
from .roc import ROCMetric
from .segmentation import IoUMetric, NIoUMetric

__all__ = ['METRIC_KEYS', 'MetricSuite', 'format_scores']

#: the figures, in the order they are printed and stored
METRIC_KEYS = ('IoU', 'nIoU', 'Pd', 'Fa', 'AUC')


def format_scores(scores, keys=METRIC_KEYS, separator=' '):
    """``'IoU 0.7442 nIoU 0.7242 Pd 0.9358 Fa 12.34e-6 AUC 0.9301'`` for a dict holding
    ``keys`` (Fa, a rate per pixel, in millionths)."""
    return separator.join(('%s %.2fe-6' % (key, scores[key] * 1e6)) if key == 'Fa'
                          else '%s %.4f' % (key, scores[key]) for key in keys)


class MetricSuite(object):
    """Accumulates the figures of one evaluation.

    IoU, nIoU and the ROC are computed at the evaluation size (the toolkit's protocol); Pd
    and Fa at each image's native size, from logits resized back to it (the caller resizes:
    :meth:`update` takes both).
    """

    def __init__(self, roc_bins=2000):
        self.iou, self.niou = IoUMetric(), NIoUMetric()
        self.roc, self.pdfa = ROCMetric(roc_bins), PdFaMetric()
        self.images = 0

    def update(self, masks, logits, native_masks, native_logits):
        """One batch: ``masks``/``logits`` (N, 1, H, W) at the evaluation size, and the
        per-image native-size masks and logits."""
        for metric in (self.iou, self.niou, self.roc):
            metric.update(masks, logits)
        self.pdfa.update(native_masks, native_logits)
        self.images += len(native_masks)

    def scores(self):
        """``{'IoU', 'nIoU', 'Pd', 'Fa', 'AUC', 'images'}`` as plain numbers."""
        pd, fa = self.pdfa.get()[1]
        return OrderedDict([('IoU', float(self.iou.get()[1])), ('nIoU', float(self.niou.get()[1])),
                            ('Pd', float(pd)), ('Fa', float(fa)),
                            ('AUC', float(self.roc.get()[1])), ('images', self.images)])

    def table(self):
        """The figures one per line, as ``evaluate.py`` prints them."""
        scores = self.scores()
        return '\n'.join('  %-4s %s' % (key, '%.2f x 1e-6' % (scores[key] * 1e6) if key == 'Fa'
                                        else '%.4f' % scores[key]) for key in METRIC_KEYS)

    def write(self, folder, title, **labels):
        """``metrics.json`` (the figures and ``labels``, atomically), ``roc.csv`` (threshold,
        fpr, tpr) and ``roc.png`` in ``folder``; returns their paths."""
        from utils.atomic import atomic_write, write_json
        from utils.visualize import plot_roc
        paths = [os.path.join(folder, name) for name in ('metrics.json', 'roc.csv', 'roc.png')]
        fpr, tpr, thresholds = self.roc.curve()
        atomic_write(paths[1], lambda tmp: np.savetxt(
            tmp, np.stack([thresholds, fpr, tpr], 1), delimiter=',', header='threshold,fpr,tpr',
            comments=''))
        plot_roc(self.roc, paths[2], title=title)
        write_json(paths[0], dict(self.scores(), **labels))
        return paths
