"""The model-driven baselines (baselines/) and the protocol that scores any method's maps
(metric/protocol.py, evaluate.py --predictions), on synthetic images, hand-worked maps and
real SIRST images. The released network's saved maps reproducing evaluate.py's own figures
on the whole idx_320 test split is checked in tests/test_cli.py, beside that evaluation."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import baselines.lowrank as lowrank
from baselines import BASELINES, UnknownBaselineError, get_baseline
from data.files import read_image
from metric import IoUMetric, NIoUMetric
from metric.protocol import (evaluate_maps, normalize_map, prepare_map, score_maps,
                             score_threshold, sweep_maps, sweep_thresholds)
from tests.conftest import REPO


def _synthetic(seed, size=128, target=(40, 75)):
    """Cluttered background (a slope, smooth waves, a brighter region behind an edge, noise)
    with one small Gaussian target; returns the image and the target's 5-pixel mask."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size].astype(np.float64)
    image = 80 + 0.3 * x + 25 * np.sin(y / 9.0) * np.cos(x / 13.0) + 40 * (y > 90)
    image += rng.normal(0, 2, image.shape)
    r2 = (y - target[0]) ** 2 + (x - target[1]) ** 2
    return image + 100 * np.exp(-r2 / 2.0), r2 <= 2


@pytest.mark.parametrize('name', list(BASELINES))
def test_each_baseline_ranks_a_planted_target_above_cluttered_background(name):
    for seed in (0, 1):
        image, mask = _synthetic(seed)
        saliency = get_baseline(name)(image)
        assert saliency.shape == image.shape and np.isfinite(saliency).all()
        background = saliency[~mask]
        # the strongest response on the target beats 99.5 % of the background pixels...
        assert saliency[mask].max() > np.percentile(background, 99.5), name
        # ...and the target's pixels are ranked above the background on average
        assert saliency[mask].mean() > background.mean() + background.std(), name


def test_unknown_and_unidentifiable_baselines_are_refused_by_name():
    with pytest.raises(UnknownBaselineError, match="unknown baseline 'lcn'.*tophat"):
        get_baseline('lcn')
    with pytest.raises(UnknownBaselineError, match='lsm is not implemented.*reference'):
        get_baseline('LSM')
    assert get_baseline('Top-hat') is BASELINES['tophat'].function
    with pytest.raises(ValueError, match='2-D grayscale'):
        get_baseline('ipi')(np.zeros((8, 8, 3)))


def _real_crop(sirst_root, image_id, side=160):
    """A side x side crop of a real SIRST image around its target."""
    image = np.asarray(read_image(os.path.join(sirst_root, 'images', image_id + '.png'), 'L'),
                       np.float64)
    mask = np.asarray(read_image(os.path.join(sirst_root, 'masks', image_id + '_pixels0.png'),
                                 'L'))
    ys, xs = np.nonzero(mask)
    top = int(np.clip(ys.mean() - side // 2, 0, image.shape[0] - side))
    left = int(np.clip(xs.mean() - side // 2, 0, image.shape[1] - side))
    return image[top:top + side, left:left + side]


@pytest.mark.integration
def test_gram_svd_maps_stay_within_a_thousandth_of_full_svd_maps_on_real_images(sirst_root,
                                                                               monkeypatch):
    """The patch-image and patch-tensor methods use the Gram-matrix SVD by default; on real
    SIRST images their normalised maps stay within 5e-3 of the full-SVD maps everywhere and
    within 1e-5 on average (measured: at most 3e-10, except one NIPPS pixel of Misc_10 at
    1.2e-3, where the non-negative threshold falls between the two roundings)."""
    for image_id in ('Misc_1', 'Misc_10', 'Misc_100'):
        image = _real_crop(sirst_root, image_id)
        for name in ('ipi', 'nipps', 'nram', 'ript'):
            function = get_baseline(name)
            monkeypatch.setattr(lowrank, 'SVD_METHOD', 'gram')
            fast = normalize_map(function(image), 'minmax')
            monkeypatch.setattr(lowrank, 'SVD_METHOD', 'full')
            full = normalize_map(function(image), 'minmax')
            assert np.abs(fast - full).max() < 5e-3, (image_id, name)
            assert np.abs(fast - full).mean() < 1e-5, (image_id, name)


def test_svt_by_gram_matrix_equals_full_svt_on_a_wide_and_a_tall_matrix():
    rng = np.random.default_rng(3)
    for shape in ((300, 40), (40, 300)):
        matrix = rng.normal(size=shape) + np.outer(rng.normal(size=shape[0]),
                                                   rng.normal(size=shape[1])) * 5
        for keep in (0, 2):
            a, sa = lowrank.svt(matrix, 3.0, keep, method='gram')
            b, sb = lowrank.svt(matrix, 3.0, keep, method='full')
            np.testing.assert_allclose(a, b, atol=1e-8)
            np.testing.assert_allclose(sa, sb, atol=1e-8)


# --- the protocol ---------------------------------------------------------------------------

def test_normalisations_and_thresholds_by_hand():
    np.testing.assert_allclose(normalize_map([[0, 2], [4, 8]], 'minmax'),
                               [[0, 0.25], [0.5, 1]])
    assert not normalize_map(np.full((2, 2), 7.0), 'minmax').any()  # constant map: all 0
    np.testing.assert_array_equal(normalize_map([[0, 1]], 'none'), [[0, 1]])
    with pytest.raises(ValueError, match='0..1 that --normalize none'):
        normalize_map([[0, 2]], 'none')
    assert score_threshold(0.5, 'sigmoid') == 0.0
    assert score_threshold(0.25, 'sigmoid') == pytest.approx(-np.log(3))
    assert score_threshold(0, 'sigmoid') == -np.inf
    assert score_threshold(0.3, 'minmax') == 0.3
    np.testing.assert_array_equal(sweep_thresholds(4), [0, 0.25, 0.5, 0.75])


def _hand_maps():
    """Two 2 x 4 images whose scores and masks give IoU and nIoU worked out by hand."""
    mask_a = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], np.float32)
    map_a = np.array([[0.9, 0.6, 0.3, 0.1], [0.0, 0.0, 0.0, 0.0]])
    mask_b = np.array([[0, 0, 0, 0], [0, 0, 1, 0]], np.float32)
    map_b = np.array([[0.2, 0.0, 0.0, 0.0], [0.0, 0.7, 0.8, 0.0]])
    return [prepare_map(m, k, k.astype(np.uint8), 'none')
            for m, k in ((map_a, mask_a), (map_b, mask_b))]


def test_sweep_and_fixed_threshold_on_hand_worked_maps():
    maps = _hand_maps()
    # T = 0.5: a predicts {0.9, 0.6} = its target (IoU 1); b predicts {0.7, 0.8}, target 1 of
    # them (IoU 1/2). Dataset IoU (2 + 1) / (2 + 2) = 0.75, nIoU (1 + 0.5) / 2 = 0.75
    fixed = score_maps(maps, 0.5, 'none')
    assert fixed['IoU'] == pytest.approx(0.75) and fixed['nIoU'] == pytest.approx(0.75)
    assert fixed['Pd'] == 1.0
    # thresholds 0, 0.25, 0.5, 0.75 (score > t):
    #   t=0:    a {.9,.6,.3,.1} -> 2/4; b {.2,.7,.8} -> 1/3: IoU 3/7, nIoU (1/2 + 1/3) / 2
    #   t=0.25: a {.9,.6,.3} -> 2/3;    b {.7,.8} -> 1/2:    IoU 3/5, nIoU (2/3 + 1/2) / 2
    #   t=0.5:  0.75, 0.75 (above)
    #   t=0.75: a {.9} -> 1/2;          b {.8} -> 1:         IoU 2/3, nIoU 3/4
    iou, niou = sweep_maps(maps, sweep_thresholds(4), 'none')
    np.testing.assert_allclose(iou, [3 / 7, 3 / 5, 3 / 4, 2 / 3])
    np.testing.assert_allclose(niou, [(1 / 2 + 1 / 3) / 2, (2 / 3 + 1 / 2) / 2, 3 / 4, 3 / 4])
    report = evaluate_maps(maps, 'none', sweep=4)
    assert report['best_IoU']['threshold'] == 0.5 and report['best_nIoU']['threshold'] == 0.5
    assert report['same_threshold'] and report['best_IoU']['IoU'] == pytest.approx(0.75)


def test_sweep_counts_equal_the_metrics_at_every_threshold():
    """The sweep's per-image counts give exactly what IoUMetric and NIoUMetric give at each
    threshold, on random maps with ties and for logits (the sigmoid normalisation)."""
    rng = np.random.default_rng(5)
    masks = [(rng.random((24, 24)) < 0.05).astype(np.float32) for _ in range(5)]
    for normalize, maker in (('minmax', lambda m: np.round(rng.random(m.shape) * 20 + 10 * m)),
                             ('sigmoid', lambda m: rng.normal(size=m.shape) * 4 + 3 * m)):
        maps = [prepare_map(maker(m), m, m.astype(np.uint8), normalize) for m in masks]
        thresholds = sweep_thresholds(32)
        iou, niou = sweep_maps(maps, thresholds, normalize)
        for k, t in enumerate(thresholds):
            a, b = IoUMetric(), NIoUMetric()
            cut = score_threshold(t, normalize)
            for item in maps:
                a.update(item.eval_mask[None], (item.eval_scores - cut)[None])
                b.update(item.eval_mask[None], (item.eval_scores - cut)[None])
            assert iou[k] == a.get()[1] and niou[k] == b.get()[1], (normalize, t)


# --- evaluate.py --predictions and the table script on bad input ---------------------------

def _run(args, env_root):
    env = dict(os.environ, SIRST_ROOT=env_root)
    return subprocess.run([sys.executable] + args, cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def _one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    last = lines[-1]
    assert last.startswith('error: ') and 'Traceback' not in result.stderr, result.stderr
    for needle in needles:
        assert needle in last, (needle, last)


@pytest.mark.integration
def test_predictions_in_png_and_npy_are_scored_and_bad_folders_are_refused(small_sirst,
                                                                          tmp_path):
    from data import SIRSTSegmentation
    dataset = SIRSTSegmentation(small_sirst, split='test', mode='testval', base_size=64)
    good = tmp_path / 'good'
    good.mkdir()
    for i, image_id in enumerate(dataset.ids):
        native = dataset.native_mask(i).astype(np.float64)
        if i % 2:  # 16-bit PNG at the native size
            Image.fromarray((native * 60000).astype(np.uint16)).save(good / (image_id + '.png'))
        else:      # .npy at the evaluation size
            np.save(good / (image_id + '.npy'), dataset[i][1][0] * 3.0)
    common = ['evaluate.py', '--data-root', small_sirst, '--base-size', '64']
    ok = _run(common + ['--predictions', str(good), '--sweep', '16', '--threshold', '0.5',
                        '--out', str(tmp_path / 'out')], small_sirst)
    assert ok.returncode == 0, ok.stderr
    assert 'best IoU' in ok.stdout and os.path.isfile(tmp_path / 'out' / 'metrics.json')

    missing = tmp_path / 'missing'
    missing.mkdir()
    np.save(missing / (dataset.ids[0] + '.npy'), np.zeros((64, 64)))
    _one_line_error(_run(common + ['--predictions', str(missing)], small_sirst),
                    'no map for 3 of the 4 ids', dataset.ids[1])

    wrong = tmp_path / 'wrong'
    wrong.mkdir()
    for image_id in dataset.ids:
        np.save(wrong / (image_id + '.npy'), np.zeros((64, 64)))
    np.save(wrong / (dataset.ids[2] + '.npy'), np.zeros((50, 70)))
    _one_line_error(_run(common + ['--predictions', str(wrong)], small_sirst),
                    dataset.ids[2], '50x70', '64x64')

    nan = tmp_path / 'nan'
    nan.mkdir()
    for image_id in dataset.ids:
        np.save(nan / (image_id + '.npy'), np.zeros((64, 64)))
    bad = np.zeros((64, 64))
    bad[3, 4] = np.nan
    np.save(nan / (dataset.ids[1] + '.npy'), bad)
    _one_line_error(_run(common + ['--predictions', str(nan)], small_sirst),
                    dataset.ids[1], 'NaN')
    _one_line_error(_run(common + ['--sweep', '256'], small_sirst), 'add --predictions')
    for option, value, needle in (('--threshold', '1.5', 'must be at most 1'),
                                  ('--threshold', '-0.1', 'must be at least 0'),
                                  ('--sweep', '0', 'must be at least 1')):
        result = _run(common + ['--predictions', str(good), option, value], small_sirst)
        assert result.returncode == 2 and 'Traceback' not in result.stderr, result.stderr
        assert result.stderr.strip() == 'evaluate.py: error: %s %s: %s (see --help)' % (
            option, value, needle)


@pytest.mark.integration
def test_table_script_refuses_an_unknown_method_by_name(small_sirst, tmp_path):
    result = _run(['scripts/table3_baselines.py', '--data-root', small_sirst, '--methods',
                   'ipi', 'fancy', '--out', str(tmp_path / 'table')], small_sirst)
    _one_line_error(result, "unknown baseline 'fancy'")
    assert not os.path.exists(str(tmp_path / 'table'))


# --- RIPT, PSTNN and FKRW as their authors' released code does them --------------------------

def test_patch_tensor_methods_refuse_an_unknown_reconstruction_before_any_work():
    """The rules themselves are checked against the authors' loops in
    tests/test_baselines_published.py."""
    import baselines.tensor as tensor
    for method in (tensor.ript, tensor.pstnn):
        with pytest.raises(ValueError, match="reconstruction must be one of mean, median, last"):
            method(np.zeros((60, 60)), reconstruction='max')


def test_pstnn_orders_patches_column_by_column_and_takes_n_from_the_singular_values():
    import baselines.tensor as tensor
    from baselines.patches import PatchGrid
    grid = PatchGrid((10, 13), 4, 3)  # 3 row starts x 4 column starts
    order = tensor._column_order(grid)
    matlab = [r * len(grid.cols) + c for c in range(len(grid.cols))
              for r in range(len(grid.rows))]
    assert order.tolist() == matlab
    # rankN(X, 0.1): singular values 10, 5, 0.9, 0.1 of X read column-major into n3 rows
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    v, _ = np.linalg.qr(rng.normal(size=(12, 4)))
    rows = (u * [10.0, 5.0, 0.9, 0.1]) @ v.T
    data = rows.reshape((2, 6, 4), order='F')
    assert tensor._partial_rank(data, 0.1) == 2
    assert tensor._partial_rank(data, 0.05) == 3
    assert tensor._partial_rank(data, 0.001) == 4  # none below the ratio: all of them


def test_pstnn_prior_is_high_on_a_blob_and_low_on_an_edge_and_flat_background():
    from baselines.tensor import pstnn_prior
    y, x = np.mgrid[:64, :64].astype(np.float64)
    image = 50 + 60 * (x > 40) + 80 * np.exp(-((y - 20) ** 2 + (x - 15) ** 2) / 3.0)
    prior = pstnn_prior(image)
    assert prior.min() == 0 and prior.max() == 1
    assert prior[17:24, 12:19].max() > 0.5  # the blob
    assert prior[:, 38:44].max() < 0.05  # the straight edge: one large eigenvalue only
    assert prior[45:, :30].max() < 1e-6  # flat


def test_fkrw_facet_kernel_is_proportional_to_the_authors_integer_kernel():
    from baselines.fkrw import facet_kernel
    authors = np.array([[-4, -1, 0, -1, -4], [-1, 2, 3, 2, -1], [0, 3, 4, 3, 0],
                        [-1, 2, 3, 2, -1], [-4, -1, 0, -1, -4]], np.float64)
    kernel = facet_kernel(5)
    np.testing.assert_allclose(kernel / kernel[2, 2] * 4, authors, atol=1e-9)


def test_fkrw_preprocessing_and_random_walker_seeds():
    from baselines.fkrw import _Walker, _preprocess
    image = np.full((9, 9), 51.0)
    image[2, 2] = 255.0  # a single hot pixel: lowered to its neighbours' maximum
    image[5:7, 5:7] = 153.0  # a 2 x 2 blob: kept, then averaged over 2 x 2
    g = _preprocess(image)
    assert g[2, 2] == pytest.approx(0.2) and g[1, 1] == pytest.approx(0.2)
    assert g[5, 5] == pytest.approx(0.6) and g[4, 4] == pytest.approx(0.3)
    walker = _Walker(11, 200.0)
    window = np.full((11, 11), 0.2)
    window[4:7, 4:7] = 0.6  # a target around the centre seed
    prob = walker(window)
    assert prob[5, 5] == 1.0 and prob[0].max() == 0.0 and prob[:, -1].max() == 0.0
    assert prob[4:7, 4:7].min() > 0.9 and prob[2, 2] < 0.1
    window[3, 7] = 1.0  # saturated: a background seed, as in the released code
    assert walker(window)[3, 7] == 0.0


@pytest.mark.integration
def test_table_script_refuses_bad_options_before_any_work(small_sirst, tmp_path):
    a_file = tmp_path / 'a_file'
    a_file.write_text('mine')
    common = ['scripts/table3_baselines.py', '--no-network', '--methods', 'tophat']
    _one_line_error(_run(common + ['--data-root', str(tmp_path / 'nowhere')], small_sirst),
                    'No SIRST dataset at')
    _one_line_error(_run(common + ['--data-root', small_sirst, '--out', str(a_file)],
                         small_sirst), 'is a file, not a folder')
    assert a_file.read_text() == 'mine'
    for option, value in (('--limit', '0'), ('--workers', '-1')):
        result = _run(common + ['--data-root', small_sirst, option, value], small_sirst)
        assert result.returncode == 2 and 'Traceback' not in result.stderr, result.stderr
        assert result.stderr.strip().endswith('%s %s: must be at least %s (see --help)' % (
            option, value, '1' if option == '--limit' else '0'))
    _one_line_error(_run(['scripts/table3_baselines.py', '--data-root', small_sirst,
                          '--deep', 'fancy=%s' % a_file], small_sirst),
                    'a network of the registry')
