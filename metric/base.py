"""Shared plumbing of the metrics: turning NDArrays and lists of them into numpy batches."""
import numpy as np
import mxnet as mx

__all__ = ['as_numpy_pairs', 'binary_pairs']


def _numpy(x):
    return x.asnumpy() if isinstance(x, mx.nd.NDArray) else np.asarray(x)


def as_numpy_pairs(labels, preds):
    """Yield (label, pred) numpy arrays of shape (B, H, W) from arrays or lists of arrays.

    Accepts (B, 1, H, W), (B, H, W) and, for images of different sizes, lists whose items
    are single (H, W) maps; a list of batches (one per device) is handled too.
    """
    if not isinstance(labels, (list, tuple)):
        labels, preds = [labels], [preds]
    if len(labels) != len(preds):
        raise ValueError('Got %d label arrays but %d prediction arrays'
                         % (len(labels), len(preds)))
    for label, pred in zip(labels, preds):
        label, pred = _numpy(label), _numpy(pred)
        label = label.reshape((-1,) + label.shape[-2:])
        pred = pred.reshape((-1,) + pred.shape[-2:])
        if label.shape != pred.shape:
            raise ValueError('Prediction shape %s does not match label shape %s'
                             % (pred.shape, label.shape))
        yield label, pred


def binary_pairs(labels, preds):
    """(target, prediction) boolean batches: mask > 0.5, logit > 0 (sigmoid > 0.5)."""
    for label, pred in as_numpy_pairs(labels, preds):
        yield label > 0.5, pred > 0
