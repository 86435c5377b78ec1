"""Facet kernel and random walker (FKRW; Qin, Bruzzone, Gao & Li, TGRS 2019).

Three steps, as the paper describes them:

1. **Facet kernel filtering.** A bivariate cubic facet is fitted by least squares to the
   5 x 5 window around every pixel; the negated Laplacian of the fit at the centre (a fixed
   5 x 5 kernel, applied as one correlation) is large on bright blobs and small on edges
   and flat background. Negative responses are set to 0.
2. **Candidates and random walker.** The ``candidates`` strongest local maxima of the
   filtered image (maxima over the ``window``) are candidate targets. Around each one, a
   random walker (Grady 2006) on the ``window`` x ``window`` patch, with 4-neighbour edge
   weights exp(-beta (g_i - g_j)^2) on the patch's intensities rescaled to [0, 1], a target
   seed at the candidate and background seeds on the patch border, gives every pixel its
   probability p of belonging to the target.
3. **Local contrast.** Each candidate's contrast is the mean intensity of its pixels with
   p > 0.5 minus the mean of the others (0 when negative); the saliency map is the facet
   response times p x contrast, the largest over the candidates covering a pixel, and 0
   away from every candidate.

The paper's 11 x 11 local window is kept; the candidate count (8) and beta (200) are our
choices where we could not confirm the paper's values (see docs/baselines/README.md).
All candidates' random walkers are solved as one batch of small linear systems.
"""
import numpy as np
from scipy import ndimage

from .neighbourhood import as_image

__all__ = ['fkrw', 'facet_kernel']


def facet_kernel(size=5):
    """The ``size`` x ``size`` correlation kernel giving minus the Laplacian, at the window's
    centre, of the least-squares bivariate cubic fitted to the window."""
    r = np.arange(size) - size // 2
    rows, cols = [a.ravel().astype(np.float64) for a in np.meshgrid(r, r, indexing='ij')]
    basis = np.stack([np.ones_like(rows), rows, cols, rows ** 2, rows * cols, cols ** 2,
                      rows ** 3, rows ** 2 * cols, rows * cols ** 2, cols ** 3], axis=1)
    coefficients = np.linalg.pinv(basis)  # (10, size * size): window -> cubic coefficients
    laplacian = 2 * coefficients[3] + 2 * coefficients[5]  # d2/dr2 + d2/dc2 at the centre
    return -laplacian.reshape(size, size)


def _grid_edges(side):
    """Index pairs of the 4-neighbour edges of a ``side`` x ``side`` grid."""
    index = np.arange(side * side).reshape(side, side)
    return np.concatenate([np.stack([index[:, :-1].ravel(), index[:, 1:].ravel()], 1),
                           np.stack([index[:-1].ravel(), index[1:].ravel()], 1)])


def _random_walker(patches, beta):
    """Target probability of every pixel of each (side x side) patch: target seed at the
    centre, background seeds on the border. ``patches`` is (K, side, side)."""
    count, side = patches.shape[0], patches.shape[1]
    flat = patches.reshape(count, -1)
    low, high = flat.min(1, keepdims=True), flat.max(1, keepdims=True)
    g = (flat - low) / np.maximum(high - low, 1e-12)
    edges = _grid_edges(side)
    weights = np.exp(-beta * (g[:, edges[:, 0]] - g[:, edges[:, 1]]) ** 2) + 1e-10
    n = side * side
    laplacian = np.zeros((count, n, n))
    k = np.arange(count)[:, None]
    laplacian[k, edges[:, 0], edges[:, 1]] = -weights
    laplacian[k, edges[:, 1], edges[:, 0]] = -weights
    laplacian[:, np.arange(n), np.arange(n)] = -laplacian.sum(2)
    border = np.zeros((side, side), bool)
    border[[0, -1], :] = border[:, [0, -1]] = True
    centre = (side // 2) * side + side // 2
    seeded = border.ravel().copy()
    seeded[centre] = True
    free = np.flatnonzero(~seeded)
    seed_values = np.zeros(n)
    seed_values[centre] = 1.0  # probability of the target label at the seeds
    rhs = -laplacian[:, free][:, :, seeded] @ seed_values[seeded]
    solution = np.linalg.solve(laplacian[:, free][:, :, free], rhs[..., None])[..., 0]
    prob = np.tile(seed_values, (count, 1))
    prob[:, free] = solution
    return prob.reshape(count, side, side)


def fkrw(image, window=11, candidates=8, beta=200.0, facet_size=5):
    """FKRW saliency map of ``image`` (see the module docstring for the steps and
    parameters: ``window`` 11 as published, ``candidates`` and ``beta`` ours)."""
    image = as_image(image)
    facet = np.maximum(ndimage.correlate(image, facet_kernel(facet_size), mode='nearest'), 0)
    peaks = (facet == ndimage.maximum_filter(facet, size=window, mode='nearest')) & (facet > 0)
    flat = np.flatnonzero(peaks)
    flat = flat[np.argsort(facet.ravel()[flat])[::-1][:candidates]]
    out = np.zeros_like(image)
    if flat.size == 0:
        return out
    half = window // 2
    padded = np.pad(image, half, mode='edge')
    ys, xs = np.unravel_index(flat, image.shape)
    offsets = np.arange(-half, half + 1)
    rows = ys[:, None, None] + offsets[None, :, None]  # (K, window, 1) in image coordinates
    cols = xs[:, None, None] + offsets[None, None, :]
    patches = padded[rows + half, cols + half]
    prob = _random_walker(patches, beta)
    target = prob > 0.5
    t_mean = (patches * target).sum((1, 2)) / np.maximum(target.sum((1, 2)), 1)
    b_mean = (patches * ~target).sum((1, 2)) / np.maximum((~target).sum((1, 2)), 1)
    contrast = np.maximum(t_mean - b_mean, 0)
    local = prob * contrast[:, None, None]
    rows, cols = np.broadcast_arrays(rows, cols)
    inside = (rows >= 0) & (rows < image.shape[0]) & (cols >= 0) & (cols < image.shape[1])
    np.maximum.at(out, (rows[inside], cols[inside]), local[inside])
    return facet * out
