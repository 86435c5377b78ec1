"""Patch-images and patch-tensors: an image's sliding windows as the columns of a matrix
(IPI, NIPPS, NRAM) or the frontal slices of a tensor (RIPT, PSTNN), and back.

Back to an image, a pixel covered by several patches takes (``reconstruction``) the
``'mean'`` of their entries, their ``'median'`` (the IPI authors' winRPCA_median.m), or
the entry of the ``'last'`` patch written over it by the authors' loops, which visit the
windows column by column, top to bottom in each: the rule of Dai's res_patch_img_mean.m /
res_patch_ten_mean.m before their fix of 28 Dec 2021 ("+= not ="), which the NRAM
authors' reconstruct.m keeps.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ['PatchGrid', 'RECONSTRUCTIONS', 'check_reconstruction']

#: how overlapping patch entries become one pixel (:meth:`PatchGrid.rebuild`)
RECONSTRUCTIONS = ('mean', 'median', 'last')


def check_reconstruction(name, allowed=RECONSTRUCTIONS):
    """``name`` if it is one of ``allowed``, else a ValueError naming them (methods call it
    before any work)."""
    if name not in allowed:
        raise ValueError('reconstruction must be one of %s, not %r' % (', '.join(allowed), name))
    return name


def _covering(starts, size, length):
    """Along one axis of a grid: for every pixel, the index of the first window that covers
    it and how many do."""
    pixels = np.arange(length)
    first = np.searchsorted(starts, pixels - size, side='right')
    return first, np.searchsorted(starts, pixels, side='right') - first


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

    def _entries(self, values, rows, cols):
        """values[...] at every pixel for its covering window (``rows``[y], ``cols``[x])."""
        dy = np.clip(np.arange(self.shape[0]) - self.rows[rows], 0, self.size - 1)
        dx = np.clip(np.arange(self.shape[1]) - self.cols[cols], 0, self.size - 1)
        return values[dy[:, None], dx[None, :], rows[:, None] * self.cols.size + cols[None, :]]

    def median_image(self, patches):
        """The image whose pixels are the median of the patch entries covering them (an
        even count takes the mean of the middle two, as MATLAB's ``median``). Built as a
        stack of layers, layer (a, b) holding at every pixel the entry of its a-th covering
        window row and b-th covering window column (NaN where there is none), sorted along
        the stack."""
        values = np.asarray(patches).reshape(self.size, self.size, -1)
        first_row, rows = _covering(self.rows, self.size, self.shape[0])
        first_col, cols = _covering(self.cols, self.size, self.shape[1])
        layers = []
        for a in range(rows.max()):
            i = np.minimum(first_row + a, self.rows.size - 1)
            for b in range(cols.max()):
                layer = self._entries(values, i, np.minimum(first_col + b, self.cols.size - 1))
                layer[~((a < rows)[:, None] & (b < cols)[None, :])] = np.nan
                layers.append(layer)
        layers = np.sort(np.array(layers), axis=0)  # NaN sorts last
        count = rows[:, None] * cols[None, :]
        low = np.take_along_axis(layers, ((count - 1) // 2)[None], 0)[0]
        high = np.take_along_axis(layers, (count // 2)[None], 0)[0]
        return (low + high) / 2

    def last_image(self, patches):
        """The image whose pixels are the entry of the last patch the authors' loops write
        over them (windows column by column, top to bottom in each): the covering window
        with the largest column start and, among those, the largest row start."""
        values = np.asarray(patches).reshape(self.size, self.size, -1)
        rows = np.searchsorted(self.rows, np.arange(self.shape[0]), side='right') - 1
        cols = np.searchsorted(self.cols, np.arange(self.shape[1]), side='right') - 1
        return self._entries(values, rows, cols)

    def rebuild(self, patches, reconstruction):
        """The image from ``patches`` (a patch tensor or patch-image in this grid's order)
        by ``reconstruction``, one of :data:`RECONSTRUCTIONS`."""
        method = {'mean': self.image, 'median': self.median_image,
                  'last': self.last_image}[check_reconstruction(reconstruction)]
        return method(patches)
