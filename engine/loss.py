"""Soft-IoU loss of the paper, as the toolkit computes it."""
from mxnet.gluon.loss import Loss

__all__ = ['SoftIoULoss']


class SoftIoULoss(Loss):
    """``1 - (sum(p*t) + 1) / (sum(p) + sum(t) - sum(p*t) + 1)`` with p = sigmoid(logits),
    summed over the whole batch (one value per call, not per sample)."""

    def __init__(self, smooth=1.0, **kwargs):
        super(SoftIoULoss, self).__init__(weight=None, batch_axis=0, **kwargs)
        self._smooth = smooth

    def hybrid_forward(self, F, pred, label):  # pylint: disable=arguments-differ
        prob = F.sigmoid(pred)
        inter = F.sum(prob * label)
        union = F.sum(prob) + F.sum(label) - inter
        return 1 - (inter + self._smooth) / (union + self._smooth)
