"""The patch-tensor baselines of Table 3: RIPT and PSTNN.

Both stack an image's patches as the frontal slices of a tensor, separate it into a
low-rank background and a sparse, non-negative target, and put the target back into the
image. Both weight the sparse term entry by entry with a local prior from the structure
tensor's eigenvalues (:func:`baselines.neighbourhood.structure_tensor`); each function's
docstring says which prior, and where each value comes from.

Putting patches back (``reconstruction``): ``'mean'`` (default) gives every pixel the mean
of the patch entries covering it, as the authors' ``res_patch_ten_mean.m`` does since
2021-12-28 (YimianDai/DENTIST commit 3687a53, "fix bug in restore img: += not ="). Before
that fix the released function assigned instead of accumulating, so every pixel kept the
entry of the last patch written over it; ``'last'`` reproduces that older rule (the one in
the code the RIPT and PSTNN authors released in 2017 and 2019), for comparison only.
"""
import numpy as np

from .lowrank import svt
from .neighbourhood import as_image, rescale, structure_tensor
from .patches import PatchGrid, check_reconstruction

__all__ = ['ript', 'pstnn', 'pstnn_prior']


def _unfold(tensor, mode):
    return np.moveaxis(tensor, mode, 0).reshape(tensor.shape[mode], -1)


def _fold(matrix, mode, shape):
    moved = (shape[mode],) + tuple(s for i, s in enumerate(shape) if i != mode)
    return np.moveaxis(matrix.reshape(moved), 0, mode)


def _column_order(grid):
    """Indices putting :class:`PatchGrid`'s patches (row by row) in the authors' order:
    ``gen_patch_ten.m`` takes every row start of the first column start, then of the next
    (MATLAB's column-major order). The t-SVD of PSTNN depends on the slices' order."""
    return np.arange(grid.count).reshape(len(grid.rows), len(grid.cols)).T.ravel()


def ript(image, patch=30, step=10, lam_scale=0.7, mu_scale=5.0, h=1.0, tol=1e-7,
         max_iter=500, reconstruction='mean'):
    """Reweighted infrared patch-tensor model (Dai & Wu, IEEE JSTARS 2017).

    min sum_i ||B_(i)||_* + lambda ||W . T||_1 s.t. F = B + T, T >= 0, for the patch-tensor
    F: the background's three unfoldings by singular value thresholding (the weighted
    higher-order robust PCA of the paper), the target by a non-negative, entrywise
    reweighted soft threshold. W = W_struct / (|T| + 0.01) (W_struct alone in the first
    iteration), with the local structure weight W_struct = exp(h * rescale(lambda1 -
    lambda2)) (large on edges, small on corners and blobs).

    Every value is the authors' released code (YimianDai/DENTIST,
    ``algorithms/detection/RIPT/demo_generate_RIPT_data.m``, ``ript.m``,
    ``structure_tensor_lambda.m``): 30 x 30 patches every 10 pixels, lambda = L /
    sqrt(min(n1, n2, n3)) with L = 0.7, mu = 5 std(F) divided by rho = 1.5 each iteration,
    h = 1, structure tensor from 3 x 3 Gaussians (sigma 1.2 for the image, 2 for the tensor,
    symmetric borders), stopping when ||F - B - T||_F / ||F||_F < 1e-7 or when the number
    of target entries stops changing. ``reconstruction``: see the module docstring.
    """
    check_reconstruction(reconstruction)
    image = as_image(image)
    grid = PatchGrid(image.shape, patch, step)
    data = grid.tensor(image)  # the slices' order plays no part: unfoldings only permute
    lam = lam_scale / np.sqrt(min(data.shape))
    mu = mu_scale * data.std(ddof=1)  # MATLAB's std: N - 1
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
    return grid.rebuild(target, reconstruction)  # non-negative by construction


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


def _partial_rank(data, ratio):
    """N of the partial sum, as the authors' ``rankN(X, 0.1)``: the singular values of the
    tensor's entries read in MATLAB's (column-major) order into n3 rows, and N the number
    of them before the first one under ``ratio`` times the largest (at least 1)."""
    rows = data.reshape((data.shape[2], -1), order='F')
    values = np.linalg.svd(rows, compute_uv=False)
    below = np.flatnonzero(values / values[0] < ratio)
    if below.size == 0:
        return values.size
    return max(int(below[0]), 1)


def pstnn_prior(image):
    """PSTNN's local prior weight map (Zhang & Peng 2019, Section 3.2; the authors'
    ``Demo.m``): the corner strength lambda1 lambda2 / (lambda1 + lambda2) times
    max(lambda1, lambda2), rescaled to [0, 1], from the structure tensor of 3 x 3
    Gaussians of sigma 2 (image) and 9 (tensor) of the authors'
    ``structure_tensor_lambda.m``. High on blobs, low on edges and flat background."""
    lambda1, lambda2 = structure_tensor(image, size=3, pre_sigma=2.0, sigma=9.0)
    total = lambda1 + lambda2
    corner = np.divide(lambda1 * lambda2, total, out=np.zeros_like(total),
                       where=total > 0)  # 0 / 0 on flat regions: no target there
    return rescale(corner * np.maximum(lambda1, lambda2))


def pstnn(image, patch=40, step=40, lam_scale=0.6, ratio=0.1, tol=1e-7, max_iter=500,
          reconstruction='mean'):
    """Partial sum of the tensor nuclear norm (Zhang & Peng, Remote Sensing 2019).

    min ||B||_PSTNN + lambda ||W . T||_1 s.t. D = B + T, T >= 0, for the patch-tensor D, by
    ADMM. From the paper: 40 x 40 patches every 40 pixels, lambda = L / sqrt(max(n1, n2)
    n3) with L = 0.6, tolerance 1e-7 (the authors' ``Demo.m`` and ``trpca_pstnn.m`` set L =
    0.7, "tuning", and 1e-3). From the authors' released code
    (Lanneeee/Infrared-Small-Target-Detection-based-on-PSTNN, ``Demo.m``,
    ``functions/trpca_pstnn.m``, ``prox_pstnn.m``, ``prox_l1.m``,
    ``structure_tensor_lambda.m``), where the paper leaves them open: the prior
    :func:`pstnn_prior`; N, the singular values of each Fourier slice left unshrunk, from
    ``rankN`` with ratio 0.1 (:func:`_partial_rank`); the weight W = N / ((|T| + 0.01)
    W_p), all ones in the first iteration (an entry of zero prior is never a target);
    the non-negative soft threshold; ADMM from mu = 2e-3 times rho = 1.05 each iteration
    up to 1e10; at most 500 iterations, stopping when ||D - B - T||_F / ||D||_F < tol or
    when the number of positive target entries is non-zero and unchanged by an iteration;
    the patches in the authors' column-major order (the t-SVD depends on it).
    ``reconstruction``: see the module docstring.
    """
    check_reconstruction(reconstruction)
    image = as_image(image)
    grid = PatchGrid(image.shape, patch, step)
    order = _column_order(grid)
    data = grid.tensor(image)[:, :, order]
    n1, n2, n3 = data.shape
    lam = lam_scale / np.sqrt(max(n1, n2) * n3)
    prior = grid.tensor(pstnn_prior(image))[:, :, order]
    keep = _partial_rank(data, ratio)
    norm = np.linalg.norm(data)
    mu, mu_max, rho = 2e-3, 1e10, 1.05
    dual = np.zeros_like(data)
    target = np.zeros_like(data)
    weight = np.ones_like(data)
    for _ in range(max_iter):
        before = int(np.count_nonzero(target > 0))
        background = _prox_partial_tnn(data - target - dual / mu, 1.0 / mu, keep)
        target = np.maximum(data - background - dual / mu - lam * weight / mu, 0)
        with np.errstate(divide='ignore'):  # zero prior: infinite weight, target 0
            weight = keep / ((target + 0.01) * prior)
        residual = background + target - data
        after = int(np.count_nonzero(target > 0))
        if np.linalg.norm(residual) / norm < tol or 0 < before == after:
            break
        dual += mu * residual
        mu = min(mu * rho, mu_max)
    restored = np.empty_like(target)
    restored[:, :, order] = target
    return grid.rebuild(restored, reconstruction)
