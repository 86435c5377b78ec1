"""Scoring a network on a SIRST split: batched, hybridized, with loading, inference and
metrics overlapped (workers decode the next batches while MXNet runs the current one and
the main thread scores the previous one)."""
import numpy as np
import mxnet as mx
from mxnet import gluon
from PIL import Image
from tqdm import tqdm

from metric import MetricSuite

__all__ = ['evaluate_split', 'resize_logits']


class _WithNativeMask(gluon.data.Dataset):
    """Adds each sample's native-size mask and its index to the evaluation sample."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, idx):
        image, mask = self.dataset[idx]
        return image, mask, self.dataset.native_mask(idx), idx


def _batchify(samples):
    images, masks, natives, indices = zip(*samples)
    return np.stack(images), np.stack(masks), list(natives), list(indices)


def resize_logits(logits, size):
    """Bilinear resize of a (H, W) float map to ``size`` = (h, w)."""
    if logits.shape == tuple(size):
        return logits
    return np.asarray(Image.fromarray(logits.astype(np.float32), mode='F')
                      .resize((size[1], size[0]), Image.BILINEAR))


def evaluate_split(net, dataset, ctx, batch_size=8, num_workers=2, on_batch=None,
                   progress=True, roc_bins=2000):
    """Score ``net`` on ``dataset`` (``testval`` mode); returns the filled
    :class:`metric.MetricSuite` (``.scores()`` for the figures, ``.write()`` for the files).

    ``on_batch(indices, logits)`` is called with each batch's numpy logits, e.g. to save
    images.
    """
    ctx = ctx if isinstance(ctx, (list, tuple)) else [ctx]
    loader = gluon.data.DataLoader(_WithNativeMask(dataset), batch_size=batch_size,
                                   shuffle=False, last_batch='keep', batchify_fn=_batchify,
                                   num_workers=num_workers)
    suite = MetricSuite(roc_bins)

    def score(outputs, masks, natives, indices):
        logits = np.concatenate([o.asnumpy() for o in outputs])  # waits for this batch only
        suite.update(masks, logits, natives,
                     [resize_logits(l[0], n.shape) for l, n in zip(logits, natives)])
        if on_batch is not None:
            on_batch(indices, logits)

    pending = None
    for images, masks, natives, indices in tqdm(loader, desc='evaluate', unit='batch',
                                                disable=not progress, leave=False):
        parts = gluon.utils.split_and_load(mx.nd.array(images), ctx, even_split=False)
        outputs = [net(part) for part in parts]  # queued on the engine, returns at once
        if pending is not None:
            score(*pending)
        pending = (outputs, masks, natives, indices)
    if pending is not None:
        score(*pending)
    return suite
