"""The patch-tensor baselines of Table 3: RIPT and PSTNN.

Both stack an image's patches as the frontal slices of a tensor, separate it into a
low-rank background and a sparse target, and put the target back into the image (each pixel
the mean of the patch entries covering it). Both use a local prior from the structure
tensor's eigenvalues (:func:`baselines.neighbourhood.structure_tensor`) to weight the
sparse term entry by entry. The map is the target's positive part (RIPT's target is
non-negative already; see ``baselines/lowrank.py`` for why PSTNN's signed one is clipped).
"""
import numpy as np

from .lowrank import svt
from .neighbourhood import as_image, rescale, structure_tensor
from .patches import PatchGrid

__all__ = ['ript', 'pstnn']


def _unfold(tensor, mode):
    return np.moveaxis(tensor, mode, 0).reshape(tensor.shape[mode], -1)


def _fold(matrix, mode, shape):
    moved = (shape[mode],) + tuple(s for i, s in enumerate(shape) if i != mode)
    return np.moveaxis(matrix.reshape(moved), 0, mode)


def ript(image, patch=30, step=10, lam_scale=0.7, mu_scale=5.0, h=1.0, tol=1e-7,
         max_iter=500):
    """Reweighted infrared patch-tensor model (Dai & Wu, IEEE JSTARS 2017).

    min sum_i ||B_(i)||_* + lambda ||W . T||_1 s.t. F = B + T, T >= 0, for the patch-tensor
    F: the background's three unfoldings by singular value thresholding (the weighted
    higher-order robust PCA of the paper), the target by a non-negative, entrywise
    reweighted soft threshold. W = W_struct / (|T| + 0.01), with the local structure weight
    W_struct = exp(h * rescale(lambda1 - lambda2)) (large on edges, small on corners and
    blobs). Parameters as the authors publish them with their code: 30 x 30 patches every
    10 pixels, lambda = L / sqrt(min(n1, n2, n3)) with L = 0.7, mu = 5 std(F) divided by
    rho = 1.5 each iteration, h = 1, structure tensor from 3 x 3 Gaussians (sigma 1.2 for
    the image, 2 for the tensor), stopping when ||F - B - T||_F / ||F||_F < 1e-7 or when
    the number of target entries stops changing (the paper's extra condition).
    """
    image = as_image(image)
    grid = PatchGrid(image.shape, patch, step)
    data = grid.tensor(image)
    lam = lam_scale / np.sqrt(min(data.shape))
    mu = mu_scale * data.std()
    lambda1, lambda2 = structure_tensor(image)
    struct = grid.tensor(np.exp(h * rescale(lambda1 - lambda2)))
    norm = np.linalg.norm(data)
    modes = range(data.ndim)
    duals = [np.zeros_like(data) for _ in modes]
    target = np.zeros_like(data)
    weight = struct.copy()
    previous = target.size
    for _ in range(max_iter):
        backgrounds = [_fold(svt(_unfold(data + mu * duals[i] - target, i), mu)[0], i,
                             data.shape) for i in modes]
        total = sum(b - data - mu * y for b, y in zip(backgrounds, duals))
        target = np.maximum(-total / len(duals) - weight * mu * lam / len(duals), 0)
        weight = struct / (np.abs(target) + 0.01)
        for i in modes:
            duals[i] -= (backgrounds[i] + target - data) / mu
        mu /= 1.5
        background = sum(backgrounds) / len(backgrounds)
        count = int(np.count_nonzero(target))
        if np.linalg.norm(data - background - target) / norm < tol or count == previous:
            break
        previous = count
    return grid.image(target)  # non-negative by construction


def _prox_partial_tnn(tensor, tau, keep):
    """Proximal operator of tau x the partial sum of the tensor nuclear norm: singular value
    thresholding of every frontal slice in the Fourier domain along the third mode, the
    ``keep`` largest singular values of each slice left unshrunk."""
    spectrum = np.fft.fft(tensor, axis=2)
    n3 = tensor.shape[2]
    out = np.empty_like(spectrum)
    half = n3 // 2 + 1  # the other slices are the complex conjugates of these
    for k in range(half):  # one small SVD per Fourier slice (40 x 40), not per pixel
        u, s, vt = np.linalg.svd(spectrum[:, :, k], full_matrices=False)
        shrunk = np.maximum(s - tau, 0)
        shrunk[:keep] = s[:keep]
        out[:, :, k] = (u * shrunk) @ vt
    for k in range(half, n3):
        out[:, :, k] = np.conj(out[:, :, n3 - k])
    return np.real(np.fft.ifft(out, axis=2))


def pstnn(image, patch=40, step=40, lam_scale=0.6, keep=1, tol=1e-7, max_iter=500):
    """Partial sum of the tensor nuclear norm (Zhang & Peng, Remote Sensing 2019).

    min ||B||_PSTNN + lambda ||W . T||_1 s.t. D = B + T for the patch-tensor D, by ADMM.
    Published parameters: 40 x 40 patches every 40 pixels, lambda = L / sqrt(max(n1, n2)
    n3) with L = 0.6, tolerance 1e-7. The weight W = W_sw / W_p combines the sparsity
    reweighting W_sw = 1 / (|T| + 0.01) with the local prior W_p, the structure tensor's
    corner strength lambda1 lambda2 / (lambda1 + lambda2) rescaled to [0, 1] (high on
    targets, low on edges and flat background). Our choices where the paper leaves them to
    its code: ``keep`` = 1 unshrunk singular value per Fourier slice, ADMM from mu_0 = 2e-3
    with rho = 1.05 (the tensor robust PCA defaults it builds on), and the RIPT stopping
    rule on an unchanged number of target entries.
    """
    image = as_image(image)
    grid = PatchGrid(image.shape, patch, step)
    data = grid.tensor(image)
    n1, n2, n3 = data.shape
    lam = lam_scale / np.sqrt(max(n1, n2) * n3)
    lambda1, lambda2 = structure_tensor(image)
    corner = lambda1 * lambda2 / np.maximum(lambda1 + lambda2, 1e-12)
    prior = grid.tensor(rescale(corner)) + 1e-3  # no division by 0 on flat background
    norm = np.linalg.norm(data)
    mu, mu_max, rho = 2e-3, 1e10, 1.05
    dual = np.zeros_like(data)
    target = np.zeros_like(data)
    weight = 1.0 / prior
    previous = target.size
    for _ in range(max_iter):
        background = _prox_partial_tnn(data - target + dual / mu, 1.0 / mu, keep)
        temp = data - background + dual / mu
        target = np.sign(temp) * np.maximum(np.abs(temp) - lam * weight / mu, 0)
        weight = 1.0 / ((np.abs(target) + 0.01) * prior)
        residual = data - background - target
        dual += mu * residual
        mu = min(mu * rho, mu_max)
        count = int(np.count_nonzero(target))
        if np.linalg.norm(residual) / norm < tol or count == previous:
            break
        previous = count
    return np.maximum(grid.image(target), 0)
