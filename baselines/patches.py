"""Patch-images and patch-tensors: an image's sliding windows as the columns of a matrix
(IPI, NIPPS, NRAM) or the frontal slices of a tensor (RIPT, PSTNN), and back."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ['PatchGrid']


def _starts(length, size, step):
    """Window starts every ``step`` pixels; the last window is moved to the border when the
    grid does not reach it, so that every pixel is covered (the papers leave the remainder
    uncovered, or undefined)."""
    if length < size:
        raise ValueError('the image (%d pixels along one side) is smaller than the %d-pixel '
                         'patch' % (length, size))
    starts = list(range(0, length - size + 1, step))
    if starts[-1] != length - size:
        starts.append(length - size)
    return np.array(starts)


class PatchGrid(object):
    """The ``size`` x ``size`` windows of an image of ``shape``, ``step`` pixels apart."""

    def __init__(self, shape, size, step):
        self.shape, self.size, self.step = tuple(shape), size, step
        self.rows = _starts(shape[0], size, step)
        self.cols = _starts(shape[1], size, step)
        offsets = np.arange(size)
        # flat pixel index of every patch entry: (size, size, patches)
        r = (self.rows[:, None] + offsets[None, :])  # (nr, size)
        c = (self.cols[:, None] + offsets[None, :])  # (nc, size)
        index = r[:, None, :, None] * shape[1] + c[None, :, None, :]  # (nr, nc, size, size)
        self._index = index.reshape(-1, size, size).transpose(1, 2, 0)
        self._counts = np.bincount(self._index.ravel(), minlength=shape[0] * shape[1])

    @property
    def count(self):
        return self._index.shape[2]

    def tensor(self, image):
        """The patches as a (size, size, patches) tensor, patch k its k-th frontal slice."""
        windows = sliding_window_view(image, (self.size, self.size))
        picked = windows[self.rows][:, self.cols]  # (nr, nc, size, size), views until here
        return np.ascontiguousarray(picked.reshape(-1, self.size, self.size).transpose(1, 2, 0))

    def matrix(self, image):
        """The patch-image: one vectorised patch per column, (size * size, patches)."""
        return self.tensor(image).reshape(self.size * self.size, -1)

    def image(self, patches):
        """The image whose pixels are the mean of the patch entries covering them; takes a
        patch tensor or a patch-image."""
        sums = np.bincount(self._index.ravel(), weights=np.asarray(patches).ravel(),
                           minlength=self._counts.size)
        return (sums / self._counts).reshape(self.shape)
