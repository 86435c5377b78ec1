"""Pixel-level ROC over a sweep of sigmoid thresholds, and its area."""
import numpy as np
from mxnet.metric import EvalMetric

from .base import as_numpy_pairs

__all__ = ['ROCMetric']


class ROCMetric(EvalMetric):
    """True- and false-positive pixel rates over a sweep of thresholds.

    Logits are histogrammed into ``bins`` equal bins over ``[-logit_range, logit_range]``
    (the end bins take everything beyond), so memory does not grow with the data set.
    Binning logits rather than sigmoid scores matters: a trained network puts nearly all
    background pixels below sigmoid 0.001, where equal score bins would see no detail.
    ``curve()`` gives the rates with thresholds as sigmoid scores; ``get()`` the area.
    """

    def __init__(self, bins=2000, logit_range=100.0, name='AUC', **kwargs):
        self.bins = bins
        self.logit_range = float(logit_range)
        super(ROCMetric, self).__init__(name, **kwargs)

    def reset(self):
        self.positives = np.zeros(self.bins, dtype=np.int64)
        self.negatives = np.zeros(self.bins, dtype=np.int64)
        super(ROCMetric, self).reset()

    def update(self, labels, preds):
        for label, logits in as_numpy_pairs(labels, preds):
            scaled = (logits.ravel() + self.logit_range) * (self.bins / (2 * self.logit_range))
            index = np.clip(np.floor(scaled), 0, self.bins - 1).astype(np.int64)
            target = label.ravel() > 0.5
            self.positives += np.bincount(index[target], minlength=self.bins)
            self.negatives += np.bincount(index[~target], minlength=self.bins)
            self.num_inst += label.shape[0]

    def curve(self):
        """``(fpr, tpr, thresholds)``: rates of pixels scoring >= each rising sigmoid threshold.

        The first threshold takes every pixel (rates 1, 1).
        """
        tp = np.cumsum(self.positives[::-1])[::-1]
        fp = np.cumsum(self.negatives[::-1])[::-1]
        tpr = tp / max(int(self.positives.sum()), 1)
        fpr = fp / max(int(self.negatives.sum()), 1)
        edges = -self.logit_range + np.arange(self.bins) * (2 * self.logit_range / self.bins)
        thresholds = 1.0 / (1.0 + np.exp(-edges))
        thresholds[0] = 0.0
        return fpr, tpr, thresholds

    def get(self):
        if self.num_inst == 0:
            return self.name, float('nan')
        fpr, tpr, _ = self.curve()
        # close the curve at (0, 0); fpr falls as the threshold rises
        fpr, tpr = np.append(fpr, 0.0)[::-1], np.append(tpr, 0.0)[::-1]
        return self.name, float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
