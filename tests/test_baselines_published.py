"""The details of the patch baselines that follow their authors' released code: how a
target image is rebuilt from overlapping patches (baselines/patches.py: IPI's median,
NRAM's last-written patch, the mean of NIPPS, RIPT and PSTNN), NRAM's difference-of-convex
step and IPI's accelerated proximal gradient, each against a plain loop or a worked case."""
import numpy as np
import pytest

import baselines.lowrank as lowrank
from baselines.patches import PatchGrid


def _by_loops(grid, patches):
    """Every pixel's covering patch entries, in the authors' MATLAB order (window columns
    outer, rows inner), and the image each patch written over the previous ones leaves."""
    values = patches.reshape(grid.size, grid.size, -1)
    entries = [[[] for _ in range(grid.shape[1])] for _ in range(grid.shape[0])]
    written = np.full(grid.shape, np.nan)
    for j, left in enumerate(grid.cols):
        for i, top in enumerate(grid.rows):
            patch = values[:, :, i * grid.cols.size + j]
            for dy in range(grid.size):
                for dx in range(grid.size):
                    entries[top + dy][left + dx].append(patch[dy, dx])
            written[top:top + grid.size, left:left + grid.size] = patch
    return entries, written


@pytest.mark.parametrize('shape, size, step', [((37, 45), 10, 3), ((40, 40), 10, 5),
                                               ((23, 31), 7, 4)])
def test_median_last_and_mean_reconstructions_equal_plain_loops(shape, size, step):
    """Grids whose step divides the image and grids that need a moved last window, with
    pixels covered by even and odd numbers of patches."""
    grid = PatchGrid(shape, size, step)
    patches = np.random.default_rng(size + step).normal(size=(size * size, grid.count))
    entries, written = _by_loops(grid, patches)
    counts = np.array([[len(e) for e in row] for row in entries])
    assert counts.min() >= 1 and (counts % 2 == 0).any() and (counts % 2 == 1).any()
    median = np.array([[np.median(e) for e in row] for row in entries])
    mean = np.array([[np.mean(e) for e in row] for row in entries])
    np.testing.assert_array_equal(grid.median_image(patches), median)
    np.testing.assert_array_equal(grid.last_image(patches), written)
    np.testing.assert_allclose(grid.image(patches), mean, atol=1e-12)


def test_ipi_median_ignores_an_outlier_that_the_mean_would_spread():
    """One patch alone claims a bright entry on a pixel that 4 patches cover: the median
    (IPI's rule) keeps the pixel at 0, the mean would give it a quarter of the value."""
    grid = PatchGrid((20, 20), 10, 5)
    patches = np.zeros((100, grid.count))
    patches[0, 1 * 3 + 1] = 8.0  # window (row 5, col 5) claims its top-left pixel
    assert grid.image(patches)[5, 5] == 2.0
    assert grid.median_image(patches)[5, 5] == 0.0
    assert grid.last_image(patches)[5, 5] == 8.0  # the last window over (5, 5)


def test_nram_dc_step_ends_at_a_fixed_point_of_its_reweighting():
    """The DC loop stops where shrinking by the gamma-norm's slope at the result gives
    the result again (to the loop's tolerance), and the large values barely move."""
    singular = np.array([5.0, 1.0, 0.05, 0.01, 0.0])
    gamma, mu = 0.002, 150.0
    shrunk = lowrank._dc_weights(np.zeros(5), gamma, mu)(singular)
    again = np.maximum(singular - (1 + gamma) * gamma / (gamma + shrunk) ** 2 / mu, 0)
    assert np.sum((again - shrunk) ** 2) < 1e-6
    assert abs(shrunk[0] - 5.0) < 1e-6 and shrunk[-1] == 0.0
    # the slope at 0 is (1 + gamma) / gamma / mu ~ 3.3: from B = 0 the small values vanish
    assert shrunk[3] == 0.0


def test_ipi_apg_separates_a_low_rank_matrix_from_sparse_spikes():
    """The authors' APG schedule on a rank-2 matrix with 12 large spikes: the sparse part
    holds the spikes (its 12 largest entries are they) and the low-rank part keeps rank 2
    or so."""
    rng = np.random.default_rng(7)
    low = rng.normal(size=(80, 2)) @ rng.normal(size=(2, 60))
    spikes = np.zeros_like(low)
    where = rng.choice(low.size, 12, replace=False)
    spikes.flat[where] = 10.0
    background, sparse = lowrank._apg(low + spikes, 1 / np.sqrt(80), 1e-7)
    assert set(np.argsort(np.abs(sparse).ravel())[-12:]) == set(where)
    s = np.linalg.svd(background, compute_uv=False)
    assert s[2] < 0.05 * s[0]


def test_svt_accepts_a_function_of_the_singular_values():
    rng = np.random.default_rng(4)
    matrix = rng.normal(size=(50, 20))
    for method in ('gram', 'full'):
        halved, values = lowrank.svt(matrix, lambda s: s / 2, method=method)
        np.testing.assert_allclose(halved, matrix / 2, atol=1e-9)
        np.testing.assert_allclose(values, np.linalg.svd(matrix, compute_uv=False) / 2,
                                   atol=1e-9)


def test_solver_and_reconstruction_names_are_checked():
    image = np.random.default_rng(0).normal(size=(60, 60))
    with pytest.raises(ValueError, match="solver must be 'apg' or 'ialm'"):
        lowrank.ipi(image, solver='admm')
    for method in (lowrank.nram, lowrank.nipps, lowrank.ipi):
        with pytest.raises(ValueError, match="reconstruction must be one of mean, median, "
                                             "last, not 'max'"):
            method(image, reconstruction='max')
