"""Scoring a network on a dataset's split (or a union's, member by member): batched, hybridized, with loading, inference and
metrics overlapped (workers decode the next batches while MXNet runs the current one and
the main thread scores the previous one)."""
import numpy as np
import mxnet as mx
from mxnet import gluon
from PIL import Image
from tqdm import tqdm

from data.union import members_of
from metric import MetricSuite

__all__ = ['evaluate_split', 'evaluate_members', 'resize_logits']


class _WithNativeMask(gluon.data.Dataset):
    """Adds each sample's native-size mask and its index to the evaluation sample."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, idx):
        return self.dataset.scored_sample(idx) + (idx,)


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
    A union is scored member by member (each at its own size) into the one suite.

    ``on_batch(indices, logits)`` is called with each batch's numpy logits, e.g. to save
    images.
    """
    return evaluate_members(net, dataset, ctx, batch_size, num_workers, on_batch, progress,
                            roc_bins)[0]


def evaluate_members(net, dataset, ctx, batch_size=8, num_workers=2, on_batch=None,
                     progress=True, roc_bins=2000):
    """``(suite, member_suites)``: as :func:`evaluate_split`, and for a union
    (:class:`data.union.UnionSegmentation`) one more suite per member (its own figures);
    for any other dataset ``member_suites`` is ``[suite]``."""
    ctx = ctx if isinstance(ctx, (list, tuple)) else [ctx]
    parts = members_of(dataset)
    suite = MetricSuite(roc_bins)
    members = [MetricSuite(roc_bins) for _ in parts] if len(parts) > 1 else [suite]

    def score(outputs, masks, natives, indices, own):
        logits = np.concatenate([o.asnumpy() for o in outputs])  # waits for this batch only
        native_logits = [resize_logits(l[0], n.shape) for l, n in zip(logits, natives)]
        for target in {id(suite): suite, id(own): own}.values():
            target.update(masks, logits, natives, native_logits)
        if on_batch is not None:
            on_batch(indices, logits)

    def batches():
        # one loader per member: a batch holds images of one size
        for (offset, member), own in zip(parts, members):
            loader = gluon.data.DataLoader(_WithNativeMask(member), batch_size=batch_size,
                                           shuffle=False, last_batch='keep',
                                           batchify_fn=_batchify, num_workers=num_workers)
            for images, masks, natives, indices in loader:
                yield images, masks, natives, [offset + i for i in indices], own

    total = sum(-(-len(member) // batch_size) for _, member in parts)
    pending = None
    for images, masks, natives, indices, own in tqdm(batches(), desc='evaluate', unit='batch',
                                                     total=total, disable=not progress,
                                                     leave=False):
        parts_in = gluon.utils.split_and_load(mx.nd.array(images), ctx, even_split=False)
        outputs = [net(part) for part in parts_in]  # queued on the engine, returns at once
        if pending is not None:
            score(*pending)
        pending = (outputs, masks, natives, indices, own)
    if pending is not None:
        score(*pending)
    return suite, members
