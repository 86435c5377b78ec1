"""Data parallel training on several contexts, proven on CPU contexts (the code path that
``--gpus 0,1`` takes): one step of ``engine.trainer.train_step`` on two contexts against
one-context references, and a two-context run of train.py that resumes.

The batch-level Soft-IoU is computed per device (as in the original toolkit), so two
devices with 4 images each are compared with one device whose loss is the sum of the same
two half-batch Soft-IoUs, not with the Soft-IoU of all 8 images.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO

pytestmark = pytest.mark.integration  # whole evaluations, training runs, several processes

WORKER = os.path.join(REPO, 'tests', 'multidevice_worker.py')
TIMEOUT = 600  # a deadlock fails the test instead of hanging the session


def _environment():
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('MXNET_ENGINE_TYPE', None)
    return env


@pytest.fixture(scope='module')
def step_arrays(sirst_root, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('multidevice') / 'arrays.npz')
    subprocess.run([sys.executable, WORKER, sirst_root, out], check=True, timeout=TIMEOUT,
                   env=_environment(), cwd=REPO)
    with np.load(out) as saved:
        return {key: saved[key] for key in saved.files}


def _by_tag(arrays, tag):
    return {key.split('/', 1)[1]: value for key, value in arrays.items()
            if key.startswith(tag + '/')}


def _is_running_stat(name):
    return name.endswith(('running_mean', 'running_var'))


def _largest_difference(left, right, names):
    return max(float(np.abs(left[n] - right[n]).max()) for n in names)


def test_syncbn_step_on_two_contexts_equals_one_context_with_summed_half_losses(step_arrays):
    whole = _by_tag(step_arrays, 'whole')
    for device in (0, 1):
        synced = _by_tag(step_arrays, 'sync%d' % device)
        assert sorted(synced) == sorted(whole)
        stats = [n for n in whole if _is_running_stat(n)]
        weights = [n for n in whole if not _is_running_stat(n)]
        assert len(stats) > 20 and len(weights) > 50
        assert _largest_difference(synced, whole, weights) < 1e-5
        # the statistics carry the float32 rounding of every layer before them (differences
        # of either sign, mean ~0): up to 2.2e-5 on running variances of 1.7 measured
        for name in stats:
            np.testing.assert_allclose(synced[name], whole[name], rtol=2e-5, atol=1e-5)
    # the step moved the weights and the statistics: the comparison is not of two no-ops
    fresh_like = _by_tag(step_arrays, 'half0')
    assert _largest_difference(whole, fresh_like, stats) > 1e-3


def test_without_syncbn_each_context_normalises_its_own_half(step_arrays):
    halves = _by_tag(step_arrays, 'halves')
    weights = [n for n in halves if not _is_running_stat(n)]
    stats = [n for n in halves if _is_running_stat(n)]
    local = [_by_tag(step_arrays, 'local%d' % device) for device in (0, 1)]
    for device in (0, 1):
        assert _largest_difference(local[device], halves, weights) < 1e-5
        alone = _by_tag(step_arrays, 'half%d' % device)
        for name in stats:
            np.testing.assert_allclose(local[device][name], alone[name], rtol=2e-5, atol=1e-5)
    # the two devices keep different statistics, and they differ from the whole batch's
    assert _largest_difference(local[0], local[1], stats) > 1e-3
    assert _largest_difference(local[0], _by_tag(step_arrays, 'whole'), stats) > 1e-3


def _train(args, timeout=TIMEOUT):
    return subprocess.run([sys.executable, os.path.join(REPO, 'train.py')] + args,
                          timeout=timeout, env=_environment(), cwd=REPO,
                          capture_output=True, text=True)


def _params(path):
    import mxnet as mx
    return {k: v.asnumpy() for k, v in mx.nd.load(path).items()}


def test_two_context_syncbn_run_resumes_like_an_uninterrupted_run(small_sirst, tmp_path):
    common = ['--net', 'acm_unet', '--blocks', '1', '--base-size', '64', '--crop-size', '64',
              '--batch-size', '4', '--test-batch-size', '4', '--epochs', '2', '--workers', '0',
              '--data-root', small_sirst, '--no-progress', '--cpus', '2', '--syncbn',
              '--seed', '5']
    whole, split = str(tmp_path / 'whole'), str(tmp_path / 'split')
    done = _train(common + ['--save-dir', whole])
    assert done.returncode == 0, done.stderr
    first = _train(common + ['--save-dir', split, '--stop-after', '1'])
    assert first.returncode == 0, first.stderr
    resumed = _train(['--resume', split, '--cpus', '2', '--no-progress'])
    assert resumed.returncode == 0, resumed.stderr
    with open(os.path.join(split, 'summary.json')) as handle:
        assert json.load(handle)['arguments']['cpus'] == 2
    ours, reference = (_params(os.path.join(run, 'best_IoU.params')) for run in (split, whole))
    assert sorted(ours) == sorted(reference)
    for name in reference:
        np.testing.assert_allclose(ours[name], reference[name], rtol=1e-5, atol=1e-6)


def test_syncbn_trains_a_whole_epoch_of_the_sirst_training_split(sirst_root, tmp_path):
    # MXNet's SyncBatchNorm stopped here after 5-6 of the 40 steps (docs/distributed.md);
    # MXNet's default temp-space copies, and a stall limit that fails the test in a minute
    run = str(tmp_path / 'run')
    done = _train(['--net', 'acm_unet', '--blocks', '1', '--cpus', '2', '--syncbn',
                   '--epochs', '2', '--stop-after', '1', '--base-size', '64', '--crop-size',
                   '64', '--batch-size', '4', '--workers', '0', '--seed', '1', '--data-root',
                   sirst_root, '--save-dir', run, '--no-progress', '--stall-timeout', '60'])
    assert done.returncode == 0, done.stderr[-3000:]
    with open(os.path.join(run, 'history.jsonl')) as handle:
        record, = [json.loads(line) for line in handle]
    assert record['epoch'] == 1 and 0 < record['loss'] < 1


def test_a_stalled_step_ends_the_run_through_the_watchdog(small_sirst, tmp_path):
    run = str(tmp_path / 'run')
    stalled = subprocess.run([sys.executable, os.path.join(REPO, 'tests', 'stall_worker.py'),
                              small_sirst, run, '5'], timeout=TIMEOUT, env=_environment(),
                             cwd=REPO, capture_output=True, text=True)
    assert stalled.returncode == 4, stalled.stderr[-3000:]
    message = [line for line in stalled.stderr.splitlines() if line.startswith('error:')]
    assert message == [
        'error: training: no progress for 5 s while training epoch 2, batch 1 of 1 on '
        'cpu(0),cpu(1). The last checkpoint (epoch 1) is intact: continue with python '
        'train.py --resume %s. Stopping (exit status 4); --stall-timeout sets this limit.'
        % run]
    resumed = _train(['--resume', run, '--cpus', '2', '--no-progress'])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    with open(os.path.join(run, 'last.json')) as handle:
        assert json.load(handle)['epoch'] == 2
