"""Facet kernel and random walker (FKRW; Qin, Bruzzone, Gao & Li, TGRS 2019).

Written from the paper and the authors' released code (tsinjiao/InfraredTargetDectectionFKRW,
``demo.m``, ``visual_attention_rw_2.m``, ``util/random_walker.m``, ``util/makeweights.m``,
``util/mirror_matrix.m``), which fix every value below:

1. **Pre-processing.** The image is scaled to [0, 1] (8-bit / 255); a pixel brighter than
   all eight of its neighbours is lowered to their maximum (single-pixel noise), and the
   result is averaged over 2 x 2 pixels (borders repeated).
2. **Facet kernel.** A bivariate cubic facet is fitted by least squares to the 5 x 5 window
   around every pixel; the negated Laplacian of the fit at the centre is one fixed 5 x 5
   kernel, proportional to the authors' integer kernel
   [[-4 -1 0 -1 -4], [-1 2 3 2 -1], [0 3 4 3 0], ...] (mirrored borders).
3. **Candidates.** Every pixel whose facet response F reaches mean(F) + k std(F), k = 4,
   is a candidate; candidates are visited from the brightest (pre-processed intensity)
   down, and one already inside an earlier candidate's target region is skipped.
4. **Random walker** (Grady 2006) on the 11 x 11 window around the candidate (mirrored
   borders), 4-neighbour edge weights exp(-beta |g_i - g_j|) + 1e-5 on the pre-processed
   intensities g, beta = 200; the candidate is the target seed, the window's border pixels
   (and, as in the released code, any pixel of intensity exactly 1) background seeds. The
   target region is the pixels whose target probability p is at least 1/2.
5. **Local contrast.** A region of the candidate alone scores 0. Otherwise its pixels all
   get NLCD = cp x hg^6: cp is the mean p of the region's other pixels over the mean p of
   the rest of the window (the candidate's own p = 1 included, as the released code
   counts it), hg the region's mean intensity over the largest intensity of the ring
   between its dilations by a disk of radius 2 and by two such disks (0 when the ring is as
   bright as the region). Pixels already given a value keep it.
6. **Map.** NLCD times the facet response F; of that, the positive part (the released
   code divides by the maximum; a negative facet response inside a region would set the
   minimum of our min-max normalisation, see docs/baselines/README.md).

Each random walker is a dense linear system of about 80 unknowns, solved per candidate in
brightness order, because which candidates are skipped depends on the regions before them.
"""
import numpy as np
from scipy import ndimage

from .neighbourhood import as_image

__all__ = ['fkrw', 'facet_kernel']

#: strel('disk', 2) of MATLAB: radius under 3, so the exact Euclidean disk
_DISK2 = np.add.outer(np.arange(-2, 3) ** 2, np.arange(-2, 3) ** 2) <= 4


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


def _preprocess(image):
    """[0, 1] intensities, isolated bright pixels lowered to their neighbours' maximum
    (``ordfilt2`` pads with zeros), then the 2 x 2 mean of ``imfilter(..., 'replicate')``
    (the pixel and its right, lower and lower-right neighbours)."""
    g = image / 255.0
    ring = np.ones((3, 3), bool)
    ring[1, 1] = False
    g = np.minimum(g, ndimage.maximum_filter(g, footprint=ring, mode='constant', cval=0.0))
    padded = np.pad(g, ((0, 1), (0, 1)), mode='edge')
    return (padded[:-1, :-1] + padded[1:, :-1] + padded[:-1, 1:] + padded[1:, 1:]) / 4


def _grid_edges(side):
    """Index pairs of the 4-neighbour edges of a ``side`` x ``side`` grid."""
    index = np.arange(side * side).reshape(side, side)
    return np.concatenate([np.stack([index[:, :-1].ravel(), index[:, 1:].ravel()], 1),
                           np.stack([index[:-1].ravel(), index[1:].ravel()], 1)])


class _Walker(object):
    """Random walker target probabilities on ``side`` x ``side`` windows, the target seed at
    the centre and background seeds on the border (plus pixels of intensity exactly 1)."""

    def __init__(self, side, beta):
        self.side, self.beta = side, beta
        self.edges = _grid_edges(side)
        self.centre = (side // 2) * side + side // 2
        border = np.zeros((side, side), bool)
        border[[0, -1], :] = border[:, [0, -1]] = True
        self.border = border.ravel()

    def __call__(self, window):
        n = self.side * self.side
        g = window.ravel()
        a, b = self.edges[:, 0], self.edges[:, 1]
        weights = np.exp(-self.beta * np.abs(g[a] - g[b])) + 1e-5
        laplacian = np.zeros((n, n))
        laplacian[a, b] = laplacian[b, a] = -weights
        laplacian[np.arange(n), np.arange(n)] = -laplacian.sum(1)
        background = self.border | (g == 1.0)  # the released code's find(img_2 == 1)
        background[self.centre] = False
        seeded = background.copy()
        seeded[self.centre] = True
        free = np.flatnonzero(~seeded)
        prob = np.zeros(n)
        prob[self.centre] = 1.0
        rhs = -laplacian[free, self.centre]
        prob[free] = np.linalg.solve(laplacian[np.ix_(free, free)], rhs)
        return prob.reshape(self.side, self.side)


def _contrast(region, window):
    """hg: the region's mean intensity over the brightest pixel of the ring around it."""
    inner = ndimage.binary_dilation(region, structure=_DISK2)
    ring = ndimage.binary_dilation(inner, structure=_DISK2) & ~inner
    if not ring.any():
        return 0.0
    brightest, mean = window[ring].max(), window[region].mean()
    return 0.0 if brightest >= mean else mean / brightest


def fkrw(image, k=4.0, window=11, beta=200.0, power=6, facet_size=5):
    """FKRW saliency map of ``image`` (the steps and the sources of ``k`` = 4, ``window`` =
    11, ``beta`` = 200 and the exponent ``power`` = 6 are in the module docstring)."""
    image = as_image(image)
    g = _preprocess(image)
    facet = ndimage.correlate(g, facet_kernel(facet_size), mode='mirror')
    candidate = facet >= facet.mean() + k * facet.std(ddof=1)  # MATLAB's var: N - 1
    # MATLAB's find() order (column by column), then a stable sort by brightness
    cols, rows = np.nonzero(candidate.T)
    visit = np.argsort(-g[rows, cols], kind='stable')
    half = window // 2
    padded = np.pad(g, half, mode='reflect')  # mirror_matrix: the edge pixel not repeated
    walker = _Walker(window, beta)
    centre = (half, half)
    height, width = g.shape
    nlcd = np.zeros_like(g)
    done = np.zeros(g.shape, bool)
    for y, x in zip(rows[visit], cols[visit]):
        if done[y, x]:
            continue
        patch = padded[y:y + window, x:x + window]
        prob = walker(patch)
        region = prob >= 0.5
        if region.sum() == 1:
            done[y, x] = True
            continue
        others = region.copy()
        others[centre] = False
        rest = ~others  # the rest of the window, the candidate included
        cp = prob[others].mean() / prob[rest].mean()
        value = cp * _contrast(region, patch) ** power
        ry, rx = np.nonzero(region)
        ry, rx = ry + y - half, rx + x - half
        inside = (ry >= 0) & (ry < height) & (rx >= 0) & (rx < width)
        ry, rx = ry[inside], rx[inside]
        fresh = ~done[ry, rx]
        nlcd[ry[fresh], rx[fresh]] = value
        done[ry[fresh], rx[fresh]] = True
    return np.maximum(nlcd * facet, 0)
