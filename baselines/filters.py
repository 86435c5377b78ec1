"""The filtering and local-contrast baselines of Table 3: Top-hat, LCM, ILCM and MPCM.

Each takes a 2-D grayscale image (any float range) and returns a saliency map of the same
size, larger where a bright small target is more likely. Window statistics are computed for
every pixel at once with ``scipy.ndimage``; the surrounding cells are the same statistics
read at shifted positions (image borders repeated).
"""
import numpy as np
from scipy import ndimage

from .neighbourhood import as_image, box_max, box_mean, ring_offsets, shifted

__all__ = ['tophat', 'lcm', 'ilcm', 'mpcm']

#: keeps divisions by a local mean finite on black backgrounds
_EPS = 1e-6


def _disk(radius):
    r = np.arange(-radius, radius + 1)
    return r[:, None] ** 2 + r[None, :] ** 2 <= radius ** 2


def tophat(image, radius=4):
    """White top-hat: the image minus its grey-scale opening by a flat disk.

    Bai & Zhou (Pattern Recognition 2010) build on the classical top-hat; the ACM table lists
    the plain white top-hat. The disk of radius 4 (9 x 9) spans SPIE's largest small target
    (9 x 9 pixels), so a target is removed by the opening and kept by the difference.
    """
    image = as_image(image)
    return image - ndimage.grey_opening(image, footprint=_disk(radius), mode='nearest')


def lcm(image, scales=(3, 5, 7, 9)):
    """Local contrast measure (Chen et al., TGRS 2014).

    At scale s the window is 3 x 3 cells of s x s pixels. With L the largest grey value of
    the central cell and m_i the mean of surrounding cell i, C = min_i L^2 / m_i
    = L^2 / max_i m_i; the map is the largest C over the paper's scales 3, 5, 7, 9.
    """
    image = as_image(image)
    out = None
    for s in scales:
        mean = box_mean(image, s)
        surround = np.max([shifted(mean, dy, dx) for dy, dx in ring_offsets(s)], axis=0)
        contrast = box_max(image, s) ** 2 / np.maximum(surround, _EPS)
        out = contrast if out is None else np.maximum(out, contrast)
    return out


def ilcm(image, size=8, step=4):
    """Improved local contrast measure (Han et al., GRSL 2014).

    Sub-blocks of ``size`` x ``size`` pixels on a grid of ``step`` = size / 2 (the paper's
    half-overlapping sub-blocks, 8 x 8 for targets of SIRST's size); for the central block
    with mean m_0 and largest value L_0 and its eight neighbours (one step away) with means
    m_i, ILCM = L_0 m_0 / max_i m_i. We evaluate it at every pixel rather than only at the
    grid's block centres, which gives the grid's values there and fills the pixels between.
    """
    image = as_image(image)
    mean = box_mean(image, size)
    surround = np.max([shifted(mean, dy, dx) for dy, dx in ring_offsets(step)], axis=0)
    return box_max(image, size) * mean / np.maximum(surround, _EPS)


def mpcm(image, scales=(3, 5, 7, 9), smoothing=3):
    """Multiscale patch-based contrast measure (Wei et al., Pattern Recognition 2016).

    The image is first smoothed by a ``smoothing`` x ``smoothing`` mean filter. At scale s,
    d_i = m_T - m_i is the difference between the mean of the central s x s patch and the
    mean of surrounding patch i; the measure is min over the four opposite pairs of
    d_i * d_(i+4), where only differences that make the centre brighter count (bright
    targets: d_i < 0 is set to 0). The map is the largest measure over scales 3, 5, 7, 9.
    """
    image = box_mean(as_image(image), smoothing)
    out = None
    for s in scales:
        mean = box_mean(image, s)
        diff = [np.maximum(mean - shifted(mean, dy, dx), 0) for dy, dx in ring_offsets(s)]
        contrast = np.min([diff[i] * diff[i + 4] for i in range(4)], axis=0)
        out = contrast if out is None else np.maximum(out, contrast)
    return out
