"""One protocol for scoring any method's output map: normalise, threshold (at one value or
over a sweep), and score with the toolkit's own metrics.

A *map* is one float array per image, larger where a target is more likely: a baseline's
saliency, a network's logits or probabilities, another toolbox's output. ``normalize``
names how it becomes a score in [0, 1] that thresholds act on:

- ``minmax``: (map - min) / (max - min) per image (a constant map scores 0 everywhere);
  the usual protocol for model-driven methods, whose output ranges differ by image;
- ``none``: the map is already a probability in [0, 1] (e.g. a saved sigmoid output);
- ``sigmoid``: the map holds logits; the score is their sigmoid. Thresholds are turned into
  logits instead (score > t exactly when logit > log(t / (1 - t))), so threshold 0.5 is
  logit 0, the toolkit's own decision, bit for bit.

Scores are compared with the threshold strictly (score > t is a target pixel). IoU, nIoU and
the ROC are computed at the evaluation size, Pd and Fa at each image's native size, as
``engine.evaluation.evaluate_split`` does for networks: a map given at one of the two sizes
is resized (bilinear) to the other after normalisation. Fixed-threshold figures come from
:class:`IoUMetric`, :class:`NIoUMetric`, :class:`PdFaMetric` and :class:`ROCMetric`; a sweep
finds IoU and nIoU at every threshold at once from per-image counts (the same numbers,
checked in the tests) and then scores its best thresholds with those metrics.
"""
import numpy as np
from PIL import Image

from .detection import PdFaMetric
from .roc import ROCMetric
from .segmentation import IoUMetric, NIoUMetric

__all__ = ['NORMALIZATIONS', 'ScoredMap', 'prepare_map', 'normalize_map', 'score_threshold',
           'sweep_thresholds', 'score_maps', 'sweep_maps', 'evaluate_maps']

NORMALIZATIONS = ('minmax', 'none', 'sigmoid')


class ScoredMap(object):
    """One image's scores at the evaluation and native sizes with its two masks."""
    __slots__ = ('eval_mask', 'native_mask', 'eval_scores', 'native_scores')

    def __init__(self, eval_mask, native_mask, eval_scores, native_scores):
        self.eval_mask, self.native_mask = eval_mask, native_mask
        self.eval_scores, self.native_scores = eval_scores, native_scores


def normalize_map(values, normalize):
    """``values`` (2-D, finite) as float64 scores in the domain thresholds act on: [0, 1]
    for ``minmax`` and ``none``, logits for ``sigmoid``. Raises ValueError on a ``none``
    map outside [0, 1]."""
    values = np.asarray(values, dtype=np.float64)
    if normalize == 'minmax':
        low, high = values.min(), values.max()
        return (values - low) / (high - low) if high > low else np.zeros_like(values)
    if normalize == 'none':
        if values.min() < 0 or values.max() > 1:
            raise ValueError('its values span %g..%g, outside the 0..1 that --normalize none '
                             'requires (use minmax, or sigmoid for logits)'
                             % (values.min(), values.max()))
        return values
    if normalize == 'sigmoid':
        return values
    raise ValueError('unknown normalisation %r; choose from %s'
                     % (normalize, ', '.join(NORMALIZATIONS)))


def score_threshold(threshold, normalize):
    """Threshold ``threshold`` (on [0, 1] scores) in the domain of :func:`normalize_map`."""
    threshold = float(threshold)
    if normalize != 'sigmoid':
        return threshold
    if threshold <= 0:
        return -np.inf
    if threshold >= 1:
        return np.inf
    return float(np.log(threshold / (1 - threshold)))


def sweep_thresholds(count):
    """``count`` thresholds k / count, k = 0 .. count - 1 (0 takes every pixel above the
    image's minimum)."""
    if count < 1:
        raise ValueError('a sweep needs at least one threshold, not %d' % count)
    return np.arange(count) / float(count)


def _resize(values, shape):
    if values.shape == tuple(shape):
        return values
    resized = Image.fromarray(values.astype(np.float32), mode='F').resize(
        (shape[1], shape[0]), Image.BILINEAR)
    return np.asarray(resized)


def prepare_map(values, eval_mask, native_mask, normalize):
    """A :class:`ScoredMap` from a raw map given at the evaluation size or at the image's
    native size. Normalisation happens at the size given; ``sigmoid`` maps (logits) are
    resized as logits, as the toolkit resizes a network's logits. Raises ValueError naming
    the accepted sizes."""
    values = np.asarray(values)
    if values.dtype.kind != 'f':  # masks and integer maps: numbers to threshold
        values = values.astype(np.float64)
    eval_shape, native_shape = np.shape(eval_mask), np.shape(native_mask)
    if values.shape not in (eval_shape, native_shape):
        raise ValueError('it is %s but must be the evaluation size %s or the image size %s'
                         % ('x'.join(map(str, values.shape)), 'x'.join(map(str, eval_shape)),
                            'x'.join(map(str, native_shape))))
    if not np.isfinite(values).all():
        raise ValueError('it holds %d NaN or infinite values' % np.count_nonzero(
            ~np.isfinite(values)))
    if normalize == 'sigmoid':  # logits keep their own type, as the toolkit's ROC bins them
        scores = values
    else:
        scores = normalize_map(values, normalize)
    return ScoredMap(eval_mask, native_mask, _resize(scores, eval_shape),
                     _resize(scores, native_shape))


def _roc_for(normalize, bins=2000):
    """A ROC metric and the offset that turns scores into the 'logits' it bins: logits as
    they are for ``sigmoid``; [0, 1] scores centred on 0 over a range of 0.5 otherwise."""
    if normalize == 'sigmoid':
        return ROCMetric(bins), 0.0
    return ROCMetric(bins, logit_range=0.5), 0.5


def score_maps(maps, threshold, normalize, roc=True):
    """IoU, nIoU, Pd, Fa (and AUC) of ``maps`` (:class:`ScoredMap`) at one threshold on the
    [0, 1] score, by the toolkit's metrics fed with score - threshold as logits."""
    t = score_threshold(threshold, normalize)
    iou, niou, pdfa = IoUMetric(), NIoUMetric(), PdFaMetric()
    curve, offset = _roc_for(normalize)
    for item in maps:
        label = item.eval_mask[None]
        # in float64: score - t > 0 exactly when score > t, the comparison sweeps make
        above = (np.asarray(item.eval_scores, np.float64) - t)[None]
        iou.update(label, above)
        niou.update(label, above)
        pdfa.update([item.native_mask], [np.asarray(item.native_scores, np.float64) - t])
        if roc:
            curve.update(label, (item.eval_scores - offset)[None] if offset else
                         item.eval_scores[None])
    pd, fa = pdfa.get()[1]
    result = {'threshold': float(threshold), 'IoU': float(iou.get()[1]),
              'nIoU': float(niou.get()[1]), 'Pd': float(pd), 'Fa': float(fa)}
    if roc:
        result['AUC'] = float(curve.get()[1])
    return result


def sweep_maps(maps, thresholds, normalize):
    """IoU and nIoU of ``maps`` at every threshold of ``thresholds`` (ascending, on the
    [0, 1] score) from per-image counts: for each image the number of target and of
    background pixels scoring above each threshold. Returns (iou, niou) arrays."""
    edges = np.array([score_threshold(t, normalize) for t in thresholds])
    count = len(edges)
    inter_total = np.zeros(count)
    union_total = np.zeros(count)
    per_image = []
    for item in maps:
        target = item.eval_mask > 0.5
        # above[k] pixels score > edges[k]: searchsorted counts the edges below each score
        scores = np.asarray(item.eval_scores, np.float64).ravel()
        rank = np.searchsorted(edges, scores, side='left')
        tp = np.cumsum(np.bincount(rank[target.ravel()], minlength=count + 1)[::-1])[::-1]
        fp = np.cumsum(np.bincount(rank[~target.ravel()], minlength=count + 1)[::-1])[::-1]
        inter = tp[1:].astype(np.float64)  # pixels with rank > k are above edges[k]
        union = target.sum() + fp[1:].astype(np.float64)
        inter_total += inter
        union_total += union
        per_image.append(inter / (np.spacing(1) + union))
    iou = inter_total / (np.spacing(1) + union_total)
    niou = np.mean(per_image, axis=0) if per_image else np.full(count, np.nan)
    return iou, niou


def evaluate_maps(maps, normalize='minmax', threshold=None, sweep=None):
    """The report of one protocol on ``maps`` (:class:`ScoredMap`): ``threshold`` T scores
    every metric at T; ``sweep`` N finds the thresholds k / N with the best IoU and the best
    nIoU (the lowest on ties), scores every metric at each, and says whether one threshold
    gives both. Both may be given."""
    maps = list(maps)
    report = {'images': len(maps), 'normalize': normalize}
    if threshold is not None:
        report['at_threshold'] = score_maps(maps, threshold, normalize)
        report['AUC'] = report['at_threshold'].pop('AUC')
    if sweep:
        thresholds = sweep_thresholds(sweep)
        iou, niou = sweep_maps(maps, thresholds, normalize)
        best_iou, best_niou = int(np.argmax(iou)), int(np.argmax(niou))
        report['sweep'] = sweep
        report['best_IoU'] = score_maps(maps, thresholds[best_iou], normalize, roc=False)
        report['best_nIoU'] = score_maps(maps, thresholds[best_niou], normalize,
                                         roc='AUC' not in report)
        if 'AUC' not in report:
            report['AUC'] = report['best_nIoU'].pop('AUC')
        report['same_threshold'] = best_iou == best_niou
        report['curve'] = {'thresholds': thresholds.tolist(), 'IoU': iou.tolist(),
                           'nIoU': niou.tolist()}
    return report
