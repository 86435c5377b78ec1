"""IoU and nIoU as the ACM toolkit computes them (``ACM-SPEC.md``, paper eq. 1)."""
import numpy as np
from mxnet.metric import EvalMetric

from .base import binary_pairs

__all__ = ['IoUMetric', 'NIoUMetric']


def _areas(target, pred):
    """Per-image intersection and union pixel counts of boolean (B, H, W) batches."""
    inter = np.count_nonzero(target & pred, axis=(1, 2))
    union = np.count_nonzero(target, axis=(1, 2)) + np.count_nonzero(pred, axis=(1, 2)) - inter
    return inter, union


class IoUMetric(EvalMetric):
    """Dataset-level IoU: all intersections over all unions, prediction logit > 0.

    ``update(labels, preds)`` takes masks {0, 1} and logits, (B, 1, H, W) or lists of them.
    """

    def __init__(self, name='IoU', **kwargs):
        super(IoUMetric, self).__init__(name, **kwargs)

    def reset(self):
        self.inter, self.union = 0, 0
        super(IoUMetric, self).reset()

    def update(self, labels, preds):
        for target, pred in binary_pairs(labels, preds):
            inter, union = _areas(target, pred)
            self.inter += int(inter.sum())
            self.union += int(union.sum())
            self.num_inst += len(inter)

    def get(self):
        return self.name, self.inter / (np.spacing(1) + self.union)


class NIoUMetric(EvalMetric):
    """Normalised IoU: the mean over images of each image's IoU.

    An image whose prediction and mask are both empty scores 0, as in the toolkit.
    """

    def __init__(self, name='nIoU', **kwargs):
        super(NIoUMetric, self).__init__(name, **kwargs)

    def reset(self):
        self.per_image = []
        super(NIoUMetric, self).reset()

    def update(self, labels, preds):
        for target, pred in binary_pairs(labels, preds):
            inter, union = _areas(target, pred)
            self.per_image.append(inter / (np.spacing(1) + union))
            self.num_inst += len(inter)

    def get(self):
        if not self.per_image:
            return self.name, float('nan')
        return self.name, float(np.concatenate(self.per_image).mean())
