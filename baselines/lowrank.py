"""The patch-image baselines of Table 3: IPI, NIPPS and NRAM.

Each separates the patch-image D of an image (``patch`` x ``patch`` windows every ``step``
pixels, vectorised as columns) into a low-rank background B and a sparse target T; the
saliency map is T put back into the image, each pixel the mean of the patch entries that
cover it (the reconstruction of the NIPPS and RIPT authors' code), and of that its positive
part: the targets are bright, and a negative entry is a residual darker than the
background. (NIPPS constrains T >= 0 itself. Kept signed, one strongly negative pixel sets
the minimum of a min-max normalised map, and the whole zero background lands above 0.5:
on the first 12 idx_320 test images IPI's IoU at T = 0.5 was 0.006 that way.) Every iteration is
dominated by one SVD of the (patch^2 x patches) matrix. :func:`svt` computes it from the
eigen-decomposition of the small Gram matrix D^T D (patches x patches) by default, about 4
times faster than a full SVD of D; the singular values it loses to rounding lie below
~1e-8 of the largest, far under every threshold the solvers apply.
``tests/test_baselines.py`` checks on real SIRST images that the saliency maps, min-max
normalised to [0, 1], stay within 5e-3 everywhere and 1e-5 on average of the maps computed
with full SVDs (``SVD_METHOD = 'full'``); measured, they differ by at most 3e-10 but for one
NIPPS pixel (1.2e-3) where the non-negative threshold falls between the two roundings.
"""
import numpy as np
import scipy.linalg

from .neighbourhood import as_image
from .patches import PatchGrid

__all__ = ['ipi', 'nipps', 'nram', 'svt']


#: 'gram' (eigen-decomposition of the smaller Gram matrix) or 'full' (LAPACK gesdd)
SVD_METHOD = 'gram'


def _svd(matrix):
    return scipy.linalg.svd(matrix, full_matrices=False, check_finite=False,
                            lapack_driver='gesdd')


def _right_singular(matrix):
    """Singular values (descending) and right singular vectors of a tall ``matrix`` from
    the eigen-decomposition of its Gram matrix."""
    values, vectors = scipy.linalg.eigh(matrix.T @ matrix, check_finite=False)
    # descending order, copied: BLAS does not take the negative strides of a reversed view
    return np.sqrt(np.maximum(values[::-1], 0)), np.ascontiguousarray(vectors[:, ::-1])


def svt(matrix, tau, keep=0, method=None):
    """Singular value thresholding: U max(S - tau, 0) V^T, the first ``keep`` singular
    values left unshrunk (the partial sum of NIPPS). ``tau`` may be one value per singular
    value (NRAM's weights). Returns the result and its (shrunk) singular values.

    ``method`` 'gram' (default, :data:`SVD_METHOD`) works from the Gram matrix of the
    matrix's shorter side: U S' V^T = M V diag(S' / S) V^T; 'full' from a full SVD.
    """
    method = method or SVD_METHOD
    transpose = matrix.shape[0] < matrix.shape[1]
    if method == 'full':
        u, s, vt = _svd(matrix)
        shrunk = np.maximum(s - tau, 0)
        shrunk[:keep] = s[:keep]
        rank = int(np.count_nonzero(shrunk))
        return (u[:, :rank] * shrunk[:rank]) @ vt[:rank], shrunk
    tall = matrix.T if transpose else matrix
    s, v = _right_singular(tall)
    shrunk = np.maximum(s - tau, 0)
    shrunk[:keep] = s[:keep]
    rank = int(np.count_nonzero(shrunk))
    basis = v[:, :rank]
    result = (tall @ (basis * (shrunk[:rank] / s[:rank]))) @ basis.T
    return (result.T if transpose else result), shrunk


def _singular_values(matrix):
    if SVD_METHOD == 'full':
        return _svd(matrix)[1]
    return _right_singular(matrix.T if matrix.shape[0] < matrix.shape[1] else matrix)[0]


def _spectral_norm(matrix):
    return float(_singular_values(matrix)[0])


def _ialm(data, lam, tol, max_iter, keep=0, nonnegative=False):
    """min ||B||_* (partial sum: the first ``keep`` singular values free) + lam ||T||_1
    s.t. D = B + T (T >= 0 if ``nonnegative``), by the inexact augmented Lagrange
    multiplier method (Lin, Chen & Ma 2010) with its published defaults: Y_0 = D / J(D),
    mu_0 = 1.25 / ||D||_2, rho = 1.5, stop at ||D - B - T||_F / ||D||_F < tol."""
    norm_two = _spectral_norm(data)
    norm_fro = np.linalg.norm(data)
    dual = data / max(norm_two, np.abs(data).max() / lam)
    mu, mu_max, rho = 1.25 / norm_two, 1.25e7 / norm_two, 1.5
    background = np.zeros_like(data)
    target = np.zeros_like(data)
    for _ in range(max_iter):
        temp = data - background + dual / mu
        target = np.maximum(temp - lam / mu, 0) if nonnegative else \
            np.sign(temp) * np.maximum(np.abs(temp) - lam / mu, 0)
        background, _ = svt(data - target + dual / mu, 1.0 / mu, keep)
        residual = data - background - target
        dual += mu * residual
        mu = min(mu * rho, mu_max)
        if np.linalg.norm(residual) / norm_fro < tol:
            break
    return background, target


def ipi(image, patch=50, step=10, lam_scale=1.0, tol=1e-7, max_iter=500):
    """Infrared patch-image model (Gao et al., TIP 2013).

    Paper parameters: 50 x 50 patches every 10 pixels, lambda = 1 / sqrt(max(m, n)) for an
    m x n patch-image (``lam_scale`` = 1), stopping tolerance 1e-7. The paper solves the
    robust PCA by accelerated proximal gradient; we solve the same convex problem by the
    inexact ALM method, which reaches its minimiser in far fewer SVDs.
    """
    image = as_image(image)
    grid = PatchGrid(image.shape, patch, step)
    data = grid.matrix(image)
    lam = lam_scale / np.sqrt(max(data.shape))
    _, target = _ialm(data, lam, tol, max_iter)
    return np.maximum(grid.image(target), 0)


def _partial_rank(data, ratio):
    """NIPPS's N: the singular values of D larger than ``ratio`` x the largest, at least 1."""
    s = _singular_values(data)
    return max(int(np.count_nonzero(s / s[0] >= ratio)), 1)


def nipps(image, patch=50, step=10, lam_scale=2.0, ratio=0.005, tol=1e-7, max_iter=500):
    """Non-negative infrared patch-image model via partial sum minimisation of singular
    values (Dai, Wu, Song & Guo, Infrared Physics & Technology 2017).

    min ||B||_(p=N) + lambda ||T||_1 s.t. D = B + T, T >= 0, where the partial sum leaves
    the N largest singular values unpenalised. Published parameters: 50 x 50 patches every
    10 pixels, lambda = L / sqrt(min(m, n)) with L = 2, N the number of singular values of
    D at least 0.005 x the largest, tolerance 1e-7, solved by inexact ALM.
    """
    image = as_image(image)
    grid = PatchGrid(image.shape, patch, step)
    data = grid.matrix(image)
    lam = lam_scale / np.sqrt(min(data.shape))
    _, target = _ialm(data, lam, tol, max_iter, keep=_partial_rank(data, ratio),
                      nonnegative=True)
    return grid.image(target)


def nram(image, patch=50, step=10, gamma=0.002, lam_scale=1.0, beta_scale=10.0, mu_scale=3.0,
         tol=1e-7, max_iter=500):
    """Non-convex rank approximation minimisation joint l2,1 norm (Zhang, Peng, Zhang, Cao &
    Peng, Remote Sensing 2018).

    D = B + T + E with min ||B||_gamma + lambda ||W . T||_1 + beta ||E||_2,1: the gamma-norm
    sum_i (1 + gamma) s_i / (gamma + s_i) as the rank surrogate (minimised by difference-of-
    convex programming: a weighted SVT whose weights are its derivative at the previous
    singular values), a reweighted l1 norm on the target (W = C / (|T| + 0.01),
    C = sqrt(min(m, n)) / 2.5) and an l2,1 norm on the columns of E for strong edges.
    Published: 50 x 50 patches every 10 pixels, gamma = 0.002, lambda = 1 / sqrt(max(m, n)),
    C as above, tolerance 1e-7. beta (10 lambda) is ours: the paper's value could not be
    confirmed. The image is scaled to [0, 1] (gamma is relative to the singular values).
    ADMM from B = T = E = 0 with mu_0 = ``mu_scale`` x sqrt(max(m, n)) and rho = 1.5
    (``mu_scale`` = 3; a small mu_0 keeps T empty in the first step, after which the
    reweighted l1 (W = C / 0.01 there) keeps it empty).
    """
    image = as_image(image)
    scale = max(np.abs(image).max(), 1e-12)
    grid = PatchGrid(image.shape, patch, step)
    data = grid.matrix(image / scale)
    m, n = data.shape
    lam, c = lam_scale / np.sqrt(max(m, n)), np.sqrt(min(m, n)) / 2.5
    beta = beta_scale * lam
    norm_fro = np.linalg.norm(data)
    mu = mu_scale * np.sqrt(max(m, n))
    mu_max, rho = mu * 1e7, 1.5
    dual = np.zeros_like(data)
    target = np.zeros_like(data)
    edges = np.zeros_like(data)
    weight = np.ones_like(data)
    sigma = np.zeros(min(m, n))  # B starts at 0: the first weights are the slope at 0
    for _ in range(max_iter):
        # B: one DC step, SVT with the gamma-norm's derivative at the previous singular values
        tau = gamma * (1 + gamma) / (gamma + sigma) ** 2 / mu
        background, sigma = svt(data - target - edges + dual / mu, tau)
        temp = data - background - edges + dual / mu
        target = np.sign(temp) * np.maximum(np.abs(temp) - lam * weight / mu, 0)
        temp = data - background - target + dual / mu
        norms = np.linalg.norm(temp, axis=0)
        edges = temp * np.maximum(1 - (beta / mu) / np.maximum(norms, 1e-12), 0)
        weight = c / (np.abs(target) + 0.01)
        residual = data - background - target - edges
        dual += mu * residual
        mu = min(mu * rho, mu_max)
        if np.linalg.norm(residual) / norm_fro < tol:
            break
    return np.maximum(grid.image(target), 0) * scale
