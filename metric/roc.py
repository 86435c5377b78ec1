"""Pixel-level ROC over a sweep of sigmoid thresholds, and its area."""
import numpy as np
from mxnet.metric import EvalMetric

from .base import as_numpy_pairs

__all__ = ['ROCMetric']


class ROCMetric(EvalMetric):
    """True- and false-positive pixel rates at thresholds ``k / bins`` of sigmoid(logit).

    Scores are histogrammed into ``bins`` equal bins, so memory does not grow with the data
    set; ``curve()`` gives the rates and ``get()`` the area under the curve.
    """

    def __init__(self, bins=1000, name='AUC', **kwargs):
        self.bins = bins
        super(ROCMetric, self).__init__(name, **kwargs)

    def reset(self):
        self.positives = np.zeros(self.bins, dtype=np.int64)
        self.negatives = np.zeros(self.bins, dtype=np.int64)
        super(ROCMetric, self).reset()

    def update(self, labels, preds):
        for label, logits in as_numpy_pairs(labels, preds):
            probs = 1.0 / (1.0 + np.exp(-logits.astype(np.float64).ravel()))
            index = np.minimum((probs * self.bins).astype(np.int64), self.bins - 1)
            target = label.ravel() > 0.5
            self.positives += np.bincount(index[target], minlength=self.bins)
            self.negatives += np.bincount(index[~target], minlength=self.bins)
            self.num_inst += label.shape[0]

    def curve(self):
        """``(fpr, tpr, thresholds)``, thresholds rising from 0; rates are of score >= t."""
        tp = np.cumsum(self.positives[::-1])[::-1]
        fp = np.cumsum(self.negatives[::-1])[::-1]
        tpr = tp / max(int(self.positives.sum()), 1)
        fpr = fp / max(int(self.negatives.sum()), 1)
        thresholds = np.arange(self.bins) / float(self.bins)
        return fpr, tpr, thresholds

    def get(self):
        if self.num_inst == 0:
            return self.name, float('nan')
        fpr, tpr, _ = self.curve()
        # close the curve at (0, 0); fpr falls as the threshold rises
        fpr, tpr = np.append(fpr, 0.0)[::-1], np.append(tpr, 0.0)[::-1]
        return self.name, float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
