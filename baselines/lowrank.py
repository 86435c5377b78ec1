"""The patch-image baselines of Table 3: IPI, NIPPS and NRAM.

Each separates the patch-image D of an image (``patch`` x ``patch`` windows every ``step``
pixels, vectorised as columns) into a low-rank background B and a sparse target T, with
the parameters, solver and stopping rules of its authors' released code (each function's
docstring names the files); the saliency map is T put back into the image by the rule of
that code (IPI: the median of the patch entries covering a pixel; NIPPS: their mean;
NRAM: the last patch written over it), and of that its positive part: the targets are
bright, and a negative entry is a residual darker than the background. (NIPPS constrains
T >= 0 itself. Kept signed, one strongly negative pixel sets the minimum of a min-max
normalised map, and the whole zero background lands above 0.5: on the first 12 idx_320
test images IPI's IoU at T = 0.5 was 0.006 that way.) Every iteration is dominated by one
SVD of the (patch^2 x patches) matrix. :func:`svt` computes it from the
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

from .neighbourhood import as_image, rescale
from .patches import PatchGrid, check_reconstruction

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


def _shrink(s, tau, keep):
    shrunk = tau(s) if callable(tau) else np.maximum(s - tau, 0)
    shrunk[:keep] = s[:keep]
    return shrunk


def svt(matrix, tau, keep=0, method=None):
    """Singular value thresholding: U max(S - tau, 0) V^T, the first ``keep`` singular
    values left unshrunk (the partial sum of NIPPS). ``tau`` may be one value per singular
    value, or a function from the singular values (descending) to the new ones (NRAM's
    DC loop, which reweights them several times on one SVD). Returns the result and its
    (shrunk) singular values.

    ``method`` 'gram' (default, :data:`SVD_METHOD`) works from the Gram matrix of the
    matrix's shorter side: U S' V^T = M V diag(S' / S) V^T; 'full' from a full SVD.
    """
    method = method or SVD_METHOD
    transpose = matrix.shape[0] < matrix.shape[1]
    if method == 'full':
        u, s, vt = _svd(matrix)
        shrunk = _shrink(s, tau, keep)
        kept = np.flatnonzero(shrunk)
        return (u[:, kept] * shrunk[kept]) @ vt[kept], shrunk
    tall = matrix.T if transpose else matrix
    s, v = _right_singular(tall)
    shrunk = _shrink(s, tau, keep)
    kept = np.flatnonzero(shrunk)  # the leading ones, unless a weighting reorders them
    basis = v[:, kept]
    result = (tall @ (basis * (shrunk[kept] / s[kept]))) @ basis.T
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
        target = np.maximum(temp - lam / mu, 0) if nonnegative else _soft(temp, lam / mu)
        background, _ = svt(data - target + dual / mu, 1.0 / mu, keep)
        residual = data - background - target
        dual += mu * residual
        mu = min(mu * rho, mu_max)
        if np.linalg.norm(residual) / norm_fro < tol:
            break
    return background, target


def _soft(values, threshold):
    return np.sign(values) * np.maximum(np.abs(values) - threshold, 0)


def _apg(data, lam, tol, max_iter=1000):
    """min mu (||B||_* + lam ||T||_1) + ||D - B - T||_F^2 / 2 with mu decreasing, by the
    accelerated proximal gradient method as the IPI authors' released code runs it
    (gaocq/IPI-for-small-target-detection, APG_IR.m, called by winRPCA_median.m with its
    defaults): Lipschitz constant tau = 2, mu from the second singular value of D, times 0.9
    each step down to 0.005 x the fourth; at most 1000 steps (tolerance: the caller's); it also
    stops once the rank of B has stayed the same for more than 10 steps while the support
    of T changed by fewer than 20 entries, or once the rank of B exceeds 0.3 min(m, n)."""
    s = _singular_values(data)
    mu, mu_bar, tau = s[min(1, s.size - 1)], 0.005 * s[min(3, s.size - 1)], 2.0
    low, sparse = np.zeros_like(data), np.zeros_like(data)
    low_prev, sparse_prev = low, sparse
    t, t_prev = 1.0, 1.0
    prev_rank, prev_card, unchanged = 0, 0, 0
    for _ in range(max_iter):
        momentum = (t_prev - 1) / t
        y_low = low + momentum * (low - low_prev)
        y_sparse = sparse + momentum * (sparse - sparse_prev)
        gradient = (y_low + y_sparse - data) / tau
        new_low, shrunk = svt(y_low - gradient, mu / tau)
        new_sparse = _soft(y_sparse - gradient, lam * mu / tau)
        rank, card = int(np.count_nonzero(shrunk)), int(np.count_nonzero(new_sparse))
        t_prev, t = t, 0.5 * (1 + np.sqrt(1 + 4 * t * t))
        # the distance of the step from a fixed point: the subgradient optimality residual
        moved = new_low + new_sparse - y_low - y_sparse
        criterion = np.sqrt(np.sum((tau * (y_low - new_low) + moved) ** 2)
                            + np.sum((tau * (y_sparse - new_sparse) + moved) ** 2)) / \
            (tau * max(1.0, np.sqrt(np.sum(new_low ** 2) + np.sum(new_sparse ** 2))))
        mu = max(0.9 * mu, mu_bar)
        low_prev, sparse_prev, low, sparse = low, sparse, new_low, new_sparse
        done = criterion <= tol
        if rank == prev_rank:
            unchanged += 1
            done = done or (unchanged > 10 and abs(card - prev_card) < 20)
        else:
            unchanged, prev_card = 0, card
        prev_rank = rank
        if done or rank > 0.3 * min(data.shape):
            break
    return low, sparse


def ipi(image, patch=50, step=10, lam_scale=1.0, solver='apg', tol=1e-7, max_iter=1000,
        reconstruction='median'):
    """Infrared patch-image model (Gao, Meng, Yang, Wang, Zhou & Hauptmann, TIP 2013).

    As the authors' released code runs it (gaocq/IPI-for-small-target-detection:
    main.m, winRPCA_median.m, APG_IR.m): 50 x 50 patches every 10 pixels, the patch-image
    scaled to [0, 1] (``mat2gray``), lambda = 1 / sqrt(max(m, n)) with m x n the size of
    the IMAGE (the code's m, n; not of the patch-image), robust PCA by accelerated proximal
    gradient (:func:`_apg`; tolerance 1e-7, the paper's and APG_IR.m's header comment,
    where its body sets 1e-6; the rank and support rules of :func:`_apg` stop it sooner on
    SIRST images) and the target image rebuilt by the median of the overlapping patch
    entries (``reconstruction='median'``, :meth:`PatchGrid.median_image`). Our grid adds a
    last window at the right and bottom borders where the step does not reach them (the
    authors' leaves those pixels 0).
    ``solver='ialm'`` solves the exact convex problem D = B + T by inexact ALM instead, as
    this module did before it followed the authors' code.
    """
    if solver not in ('apg', 'ialm'):
        raise ValueError("solver must be 'apg' or 'ialm', not %r" % (solver,))
    check_reconstruction(reconstruction)
    image = as_image(image)
    grid = PatchGrid(image.shape, patch, step)
    data = rescale(grid.matrix(image))
    lam = lam_scale / np.sqrt(max(image.shape))
    if solver == 'apg':
        _, target = _apg(data, lam, tol, max_iter)
    else:
        _, target = _ialm(data, lam, tol, max_iter)
    return np.maximum(grid.rebuild(target, reconstruction), 0)


def _partial_rank(data, ratio):
    """NIPPS's N: the singular values of D larger than ``ratio`` x the largest, at least 1."""
    s = _singular_values(data)
    return max(int(np.count_nonzero(s / s[0] >= ratio)), 1)


def nipps(image, patch=50, step=10, lam_scale=2.0, ratio=0.005, tol=1e-7, max_iter=1000,
          reconstruction='mean'):
    """Non-negative infrared patch-image model via partial sum minimisation of singular
    values (Dai, Wu, Song & Guo, Infrared Physics & Technology 2017).

    min ||B||_(p=N) + lambda ||T||_1 s.t. D = B + T, T >= 0, where the partial sum leaves
    the N largest singular values unpenalised. As the authors' released code runs it
    (YimianDai/DENTIST: algorithms/detection/NIPPS/demo_generate_nipps_data.m, nipps.m,
    utils/gen_patch_img.m, utils/res_patch_img_mean.m): 50 x 50 patches every 10 pixels
    plus a last window at the borders, the image in 0-255 (not rescaled), lambda =
    L / sqrt(min(m, n)) with L = 2, N the number of singular values of D at least 0.005 x
    the largest, inexact ALM (Y_0 = D / J(D), mu_0 = 1.25 / ||D||_2, rho = 1.5, mu at
    most 1e7 mu_0, T updated before B), tolerance 1e-7, at most 1000 iterations; the
    target image is the mean of the overlapping patch entries (``reconstruction='mean'``), as
    res_patch_img_mean.m does since the commit "fix bug in restore img: += not ="
    (ae91304, 28 Dec 2021). Before it, and so when NIPPS (2017) and the ACM paper (2020)
    were written, that file assigned each patch over the previous ones, leaving at each
    pixel the last patch written (``'last'``, the rule NRAM's copy of it keeps).
    """
    check_reconstruction(reconstruction)
    image = as_image(image)
    grid = PatchGrid(image.shape, patch, step)
    data = grid.matrix(image)
    lam = lam_scale / np.sqrt(min(data.shape))
    _, target = _ialm(data, lam, tol, max_iter, keep=_partial_rank(data, ratio),
                      nonnegative=True)
    return grid.rebuild(target, reconstruction)


def _dc_weights(previous, gamma, mu, steps=100, tol=1e-6):
    """NRAM's B step on one SVD: the singular values shrunk by the gamma-norm's derivative
    (1 + gamma) gamma / (gamma + s)^2 / mu at the previous values, repeated (difference-of-
    convex programming) until they change by less than ``tol`` in squared sum, at most
    ``steps`` times (the authors' DC.m)."""
    def shrink(singular):
        current = previous
        for _ in range(steps):
            new = np.maximum(singular - (1 + gamma) * gamma / (gamma + current) ** 2 / mu, 0)
            if np.sum((new - current) ** 2) < tol:
                break
            current = new
        return new
    return shrink


def nram(image, patch=50, step=10, gamma=0.002, lam_scale=1.0, beta_scale=3.0, mu_scale=3.0,
         rho=1.1, tol=1e-7, max_iter=1000, reconstruction='last'):
    """Non-convex rank approximation minimisation joint l2,1 norm (Zhang, Peng, Zhang, Cao &
    Peng, Remote Sensing 2018).

    D = B + T + E with min ||B||_gamma + lambda ||W . T||_1 + beta ||E||_2,1: the gamma-norm
    sum_i (1 + gamma) s_i / (gamma + s_i) as the rank surrogate (minimised by difference-of-
    convex programming on each SVD, :func:`_dc_weights`), a reweighted l1 norm on the target
    and an l2,1 norm on the columns of E for strong edges, by ADMM. As the authors' released
    code runs it (Lanneeee/NRAM, Demo_NRAM/: Demo_NRAM.m, functions/nram.m, DC.m,
    prox_weighted_l1.m, prox_l21.m, reconstruct.m): 50 x 50 patches every 10 pixels, the
    patch-image scaled to [0, 1] (``mat2gray``), lambda = 1 / sqrt(min(m, n)), beta =
    3 / sqrt(min(m, n)), gamma = 0.002, mu_0 = 3 sqrt(max(m, n)), mu times rho = 1.1 each
    iteration (no cap), B then T then E; the weights W = C / (|X| + 0.04), C =
    sqrt(min(m, n)) / 2.5, from the very value X = D - B - E - Y / mu being shrunk, whose
    positive part is shrunk by lambda W / mu and negative part by lambda W (the code's
    asymmetry, kept); tolerance 1e-7 on ||D - B - T - E||_F / ||D||_F, at most 1000
    iterations. The target image keeps at each pixel the last patch written over it
    (``reconstruction='last'``, :meth:`PatchGrid.last_image`: the authors' reconstruct.m
    assigns patches rather than averaging them); ``'mean'`` averages them.
    """
    check_reconstruction(reconstruction)
    image = as_image(image)
    grid = PatchGrid(image.shape, patch, step)
    data = rescale(grid.matrix(image))
    m, n = data.shape
    lam, beta = lam_scale / np.sqrt(min(m, n)), beta_scale / np.sqrt(min(m, n))
    weight_scale = lam * np.sqrt(min(m, n)) / 2.5
    norm_fro = max(np.linalg.norm(data), 1e-12)
    mu = mu_scale * np.sqrt(max(m, n))
    dual = np.zeros_like(data)  # the code's multiplier Y, updated by mu (B + T + E - D)
    target = np.zeros_like(data)
    edges = np.zeros_like(data)
    sigma = np.zeros(min(m, n))  # B starts at 0: the first weights are the slope at 0
    for _ in range(max_iter):
        background, sigma = svt(data - target - edges - dual / mu, _dc_weights(sigma, gamma, mu))
        temp = data - background - edges - dual / mu
        weight = weight_scale / (np.abs(temp) + 0.04)
        target = np.maximum(temp - weight / mu, 0) + np.minimum(temp + weight, 0)
        temp = data - target - background - dual / mu
        norms = np.linalg.norm(temp, axis=0)
        edges = temp * np.where(norms > beta / mu, 1 - (beta / mu) / np.maximum(norms, 1e-300),
                                0)
        residual = data - background - target - edges
        dual -= mu * residual
        mu *= rho
        if np.linalg.norm(residual) / norm_fro < tol:
            break
    return np.maximum(grid.rebuild(target, reconstruction), 0)
