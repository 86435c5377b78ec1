"""Shared image operations of the model-driven baselines: shifted windows, box statistics and
the structure tensor, all as whole-image array operations (no loop over pixels)."""
import numpy as np
from scipy import ndimage

__all__ = ['as_image', 'shifted', 'box_mean', 'box_max', 'ring_offsets', 'structure_tensor',
           'rescale']

#: the eight surrounding cells, clockwise from the top-left; cell i and cell i + 4 face
#: each other across the centre (MPCM pairs them)
RING = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


def as_image(image):
    """``image`` as a 2-D float64 array; refuses anything else with a clear ValueError."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError('a baseline takes a 2-D grayscale image, not an array of shape %s'
                         % (image.shape,))
    if not np.isfinite(image).all():
        raise ValueError('the image holds NaN or infinite values')
    return image


def shifted(values, dy, dx):
    """``out[y, x] = values[y + dy, x + dx]``, with the border pixels repeated outside."""
    pad = max(abs(dy), abs(dx))
    if pad == 0:
        return values
    padded = np.pad(values, pad, mode='edge')
    h, w = values.shape
    return padded[pad + dy:pad + dy + h, pad + dx:pad + dx + w]


def box_mean(image, size):
    """Mean over the ``size`` x ``size`` window centred on each pixel (borders repeated)."""
    return ndimage.uniform_filter(image, size=size, mode='nearest')


def box_max(image, size):
    """Maximum over the ``size`` x ``size`` window centred on each pixel."""
    return ndimage.maximum_filter(image, size=size, mode='nearest')


def ring_offsets(distance):
    """The centres of the eight cells around a pixel, ``distance`` pixels away (RING order)."""
    return [(dy * distance, dx * distance) for dy, dx in RING]


def _gaussian_kernel(size, sigma):
    """MATLAB's ``fspecial('gaussian', [size size], sigma)``: sampled, then summed to 1."""
    r = np.arange(size) - (size - 1) / 2.0
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def structure_tensor(image, size=3, pre_sigma=1.2, sigma=2.0):
    """Eigenvalues (lambda1 >= lambda2) of the structure tensor of ``image``.

    As in the RIPT paper (Dai & Wu 2017): the image is smoothed by a ``size`` x ``size``
    Gaussian of ``pre_sigma``, its central-difference gradients form the tensor, whose
    entries are smoothed by a ``size`` x ``size`` Gaussian of ``sigma`` (mirrored borders).
    """
    smooth = ndimage.convolve(image, _gaussian_kernel(size, pre_sigma), mode='reflect')
    gy, gx = np.gradient(smooth)
    kernel = _gaussian_kernel(size, sigma)
    jxx = ndimage.convolve(gx * gx, kernel, mode='reflect')
    jxy = ndimage.convolve(gx * gy, kernel, mode='reflect')
    jyy = ndimage.convolve(gy * gy, kernel, mode='reflect')
    root = np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2)
    return 0.5 * (jxx + jyy + root), 0.5 * (jxx + jyy - root)


def rescale(values):
    """MATLAB's ``mat2gray``: linearly to [0, 1] (zeros for a constant array)."""
    low, high = values.min(), values.max()
    if high <= low:
        return np.zeros_like(values)
    return (values - low) / (high - low)
