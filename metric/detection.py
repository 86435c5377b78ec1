"""Target-level detection metrics of the IRSTD literature: Pd and Fa."""
import numpy as np
from mxnet.metric import EvalMetric
from scipy import ndimage

from .base import binary_pairs

__all__ = ['PdFaMetric']

# 8-connectivity inside each image, none across the batch axis
_STRUCTURE = np.zeros((3, 3, 3), dtype=bool)
_STRUCTURE[1] = True


def _components(binary):
    """Labels of (B, H, W), and per component: its image, centroid (y, x) and pixel count."""
    labels, count = ndimage.label(binary, structure=_STRUCTURE)
    if count == 0:
        return np.zeros(0, int), np.zeros((0, 2)), np.zeros(0, np.int64)
    flat = labels.ravel()
    pixels = np.bincount(flat, minlength=count + 1)[1:]
    coords = np.unravel_index(np.flatnonzero(flat), labels.shape)
    ids = flat[flat > 0]
    image = np.zeros(count, int)
    image[ids - 1] = coords[0]
    centroid = np.stack([np.bincount(ids, weights=c, minlength=count + 1)[1:] / pixels
                         for c in coords[1:]], axis=1)
    return image, centroid, pixels


def _pad(batch_pairs):
    """Stack (H, W) maps of different sizes into one zero-padded (B, Hmax, Wmax) batch."""
    height = max(t.shape[0] for t, _ in batch_pairs)
    width = max(t.shape[1] for t, _ in batch_pairs)
    out = np.zeros((2, len(batch_pairs), height, width), dtype=bool)
    for i, (target, pred) in enumerate(batch_pairs):
        out[0, i, :target.shape[0], :target.shape[1]] = target
        out[1, i, :pred.shape[0], :pred.shape[1]] = pred
    return out[0], out[1]


class PdFaMetric(EvalMetric):
    """Probability of detection (Pd) and false-alarm rate (Fa) of targets.

    Targets and predictions are 8-connected components (prediction: logit > 0). A target is
    detected when an unmatched predicted component has its centroid closer than
    ``distance`` pixels to the target's centroid (the nearest one is taken; each component
    matches at most one target). Fa is the number of predicted pixels in unmatched
    components over all pixels; papers report it x 1e-6.

    ``update(labels, preds)`` takes batches, or lists of single maps of different sizes
    (native resolution); padding is not counted as pixels.
    """

    def __init__(self, distance=3.0, name='PdFa', **kwargs):
        self.distance = distance
        super(PdFaMetric, self).__init__(name, **kwargs)

    def reset(self):
        self.targets = self.detected = self.false_pixels = self.pixels = 0
        super(PdFaMetric, self).reset()

    def update(self, labels, preds):
        pairs = list(binary_pairs(labels, preds))
        if pairs and len({p[0].shape for p in pairs}) > 1:
            self.pixels += sum(t.size for t, _ in pairs)
            target, pred = _pad([(t[0], p[0]) for t, p in pairs])
            self._update_batch(target, pred, count_pixels=False)
            return
        for target, pred in pairs:
            self._update_batch(target, pred)

    def _update_batch(self, target, pred, count_pixels=True):
        t_image, t_centroid, _ = _components(target)
        p_image, p_centroid, p_pixels = _components(pred)
        distance = np.linalg.norm(t_centroid[:, None] - p_centroid[None], axis=2)
        distance[t_image[:, None] != p_image[None]] = np.inf
        matched = np.zeros(len(p_image), dtype=bool)
        for row in distance:  # one pass per target, each a vector operation
            row = np.where(matched, np.inf, row)
            if row.size and row.min() < self.distance:
                matched[row.argmin()] = True
        self.targets += len(t_image)
        self.detected += int(matched.sum())
        self.false_pixels += int(p_pixels[~matched].sum())
        if count_pixels:
            self.pixels += target.size
        self.num_inst += target.shape[0]

    def get(self):
        pd = self.detected / self.targets if self.targets else float('nan')
        fa = self.false_pixels / self.pixels if self.pixels else float('nan')
        return ['Pd', 'Fa'], [pd, fa]
