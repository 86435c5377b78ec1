"""Distributed training on MXNet's parameter-server kvstore, all on the loopback address:
real schedulers, servers and workers started by tools/launch_local.py (or by hand), training
ACM-U-Net (b = 1, 64 x 64 crops) on eight real SIRST images. Every process writes only under
the test's temporary folder."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import mxnet as mx
import numpy as np
import pytest

import train
from tests.conftest import REPO, copy_small_sirst
from engine.distributed import EXIT_STALLED, ShardSampler

sys.path.insert(0, os.path.join(REPO, 'tools'))
import launch_local  # noqa: E402

pytestmark = pytest.mark.integration  # whole evaluations, training runs, several processes

TRAIN = os.path.join(REPO, 'train.py')
LAUNCH = os.path.join(REPO, 'tools', 'launch_local.py')
# Adagrad at lr 1 gets the Soft-IoU loss off its plateau near 1 within ~25 steps; each of
# the two workers reads 12 of the 24 listed images per epoch: 3 steps of 4 (effective 8).
TINY = ['--net', 'acm_unet', '--blocks', '1', '--base-size', '64', '--crop-size', '64',
        '--batch-size', '4', '--test-batch-size', '8', '--workers', '0', '--no-progress',
        '--seed', '3', '--optimizer', 'adagrad', '--lr', '1']
EPOCHS = 10


@pytest.fixture(scope='module')
def sirst8(sirst_root, tmp_path_factory):
    with open(os.path.join(sirst_root, 'idx_320', 'train.txt')) as handle:
        ids = handle.read().split()[:8]
    root = copy_small_sirst(sirst_root, str(tmp_path_factory.mktemp('data') / 'sirst'), ids)
    with open(os.path.join(root, 'idx_320', 'train.txt'), 'w') as handle:
        handle.write('\n'.join(ids * 3))
    return root


class Output(object):
    """A process's merged stdout/stderr, collected by a thread."""

    def __init__(self, proc):
        self.proc, self.lines = proc, []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b''):
            self.lines.append(raw.decode('utf-8', 'replace').rstrip('\n'))

    def text(self):
        if self.proc.poll() is not None:  # all of it
            self._thread.join(timeout=5)
        return '\n'.join(self.lines)

    def wait_for(self, pattern, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in list(self.lines):
                match = re.search(pattern, line)
                if match:
                    return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError('%r not seen within %g s; output:\n%s'
                             % (pattern, timeout, '\n'.join(self.lines[-40:])))


def _spawn(command, env=None):
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return proc, Output(proc)


def _launch(worker_args, timeout=240):
    """Run 1 scheduler, 1 server and 2 workers of train.py through the launcher."""
    command = [sys.executable, LAUNCH, '-n', '2', '-s', '1', '--timeout', str(timeout), '--',
               sys.executable, TRAIN] + worker_args
    result = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=timeout + 60)
    output = result.stdout.decode('utf-8', 'replace')
    assert result.returncode == 0, output[-6000:]
    return output


def _params(folder, rank, epoch):
    loaded = mx.nd.load(os.path.join(folder, 'worker%d-epoch%04d.params' % (rank, epoch)))
    return {k: v.asnumpy() for k, v in loaded.items()}


def _history(run_dir):
    with open(os.path.join(run_dir, 'history.jsonl')) as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope='module')
def whole_run(sirst8, tmp_path_factory):
    """An uninterrupted two-worker dist_sync run: (run dir, parameter folder, output)."""
    base = tmp_path_factory.mktemp('whole')
    run, params = str(base / 'run'), str(base / 'params')
    output = _launch(TINY + ['--kvstore', 'dist_sync', '--data-root', sirst8, '--save-dir', run,
                             '--epochs', str(EPOCHS), '--val-every', str(EPOCHS),
                             '--dist-param-dir', params, '--dist-timeout', '120'])
    return run, params, output


def test_two_workers_stay_identical_and_learn(whole_run):
    run, params, output = whole_run
    start = [_params(params, rank, 0) for rank in (0, 1)]
    end = [_params(params, rank, EPOCHS) for rank in (0, 1)]
    for key in end[0]:  # the same start (shared seed), the same end, bit for bit
        assert np.array_equal(start[0][key], start[1][key]), key
        assert np.array_equal(end[0][key], end[1][key]), key
    moved = [k for k in end[0] if k.endswith('weight')
             and np.abs(end[0][k] - start[0][k]).max() > 1e-3]
    assert len(moved) > 0.9 * len([k for k in end[0] if k.endswith('weight')])
    # worker 0 checkpointed what every worker ended with
    saved = {k: v.asnumpy() for k, v in
             mx.nd.load(os.path.join(run, 'epoch-%04d.params' % EPOCHS)).items()}
    for key in saved:
        assert np.array_equal(saved[key], end[1][key]), key
    losses = [r['loss'] for r in _history(run)]  # averaged over both workers
    # bit-identical through every epoch, not only after the end-of-epoch averaging
    assert [r['param_spread'] for r in _history(run)] == [0.0] * EPOCHS
    assert [r['epoch'] for r in _history(run)] == list(range(1, EPOCHS + 1))
    assert losses[-1] < losses[0] - 0.05, losses
    # only worker 0 logs, scores and exports; the log states the effective batch and lr
    with open(os.path.join(run, 'train.log')) as handle:
        log = handle.read()
    assert 'effective batch 8 (4 x 2)' in log and 'lr 1 as given' in log
    assert '[worker 1/2]' not in log and log.count('epoch  10') == 1
    for name in ('summary.json', 'best-symbol.json', 'best-0000.params', 'last.json'):
        assert os.path.isfile(os.path.join(run, name)), name
    assert re.search(r'\[worker#\d\] \[worker 1/2\] epoch  10', output)
    assert 'all 2 worker(s) finished' in output


def test_resumed_distributed_run_equals_uninterrupted_run(sirst8, whole_run, tmp_path):
    run, params = str(tmp_path / 'run'), str(tmp_path / 'params')
    _launch(TINY + ['--kvstore', 'dist_sync', '--data-root', sirst8, '--save-dir', run,
                    '--epochs', str(EPOCHS), '--val-every', str(EPOCHS), '--stop-after', '5',
                    '--dist-timeout', '120'])
    assert json.load(open(os.path.join(run, 'last.json')))['epoch'] == 5
    output = _launch(['--resume', run, '--no-progress', '--dist-param-dir', params])
    assert 'Resumed %s at epoch 5' % run in output
    assert [r['epoch'] for r in _history(run)] == list(range(1, EPOCHS + 1))
    whole = _params(whole_run[1], 0, EPOCHS)
    for rank in (0, 1):
        resumed = _params(params, rank, EPOCHS)
        for key in whole:
            np.testing.assert_allclose(resumed[key], whole[key], rtol=1e-5, atol=1e-6,
                                       err_msg=key)


def _running_job(sirst8, tmp_path, extra):
    """A launched two-worker job that trains 'forever'; returns once both train."""
    command = [sys.executable, LAUNCH, '-n', '2', '-s', '1', '--grace', '5', '--',
               sys.executable, TRAIN] + TINY + [
        '--kvstore', 'dist_sync', '--data-root', sirst8, '--save-dir', str(tmp_path / 'run'),
        '--epochs', '1000', '--val-every', '1000'] + extra
    proc, out = _spawn(command)
    pids = out.wait_for(r'launch_local: pids: (.*)', 60).group(1)
    pids = {name: int(pid) for name, pid in (item.split() for item in pids.split(', '))}
    out.wait_for(r'\[worker 1/2\] epoch   2', 120)
    return proc, out, pids


def _gone(pid):
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().split(')')[-1].split()[0] == 'Z'
    except FileNotFoundError:
        return True


def test_launcher_stops_the_job_when_a_worker_is_killed(sirst8, tmp_path):
    proc, out, pids = _running_job(sirst8, tmp_path, ['--dist-timeout', '300'])
    try:
        os.kill(pids['worker#1'], signal.SIGKILL)
        killed = time.time()
        code = proc.wait(timeout=60)
        elapsed = time.time() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.text()
    assert code == 128 + signal.SIGKILL, text[-3000:]
    assert elapsed < 30
    assert 'error: worker#1 (pid %d) was killed by SIGKILL' % pids['worker#1'] in text
    deadline = time.time() + 10
    while time.time() < deadline and not all(_gone(pid) for pid in pids.values()):
        time.sleep(0.1)
    assert all(_gone(pid) for pid in pids.values()), pids


def test_worker_stops_by_itself_when_its_peer_dies(sirst8, tmp_path):
    """Without the launcher (as on several hosts): the surviving worker's watchdog."""
    port, timeout = launch_local.free_port(), 8
    procs = []

    def start(role, command):
        procs.append(_spawn(command, launch_local.job_env(role, port, 2, 1)))
        return procs[-1]

    try:
        start('scheduler', [sys.executable, '-c', 'import mxnet'])
        start('server', [sys.executable, '-c', 'import mxnet'])
        workers = [start('worker', [sys.executable, TRAIN] + TINY + [
            '--kvstore', 'dist_sync', '--data-root', sirst8, '--save-dir', str(tmp_path / 'run'),
            '--epochs', '1000', '--val-every', '1000', '--dist-timeout', str(timeout)])
            for _ in range(2)]
        deadline = time.time() + 120
        while time.time() < deadline and not any(
                re.search(r'epoch   2', line) for _, out in workers for line in out.lines):
            time.sleep(0.1)
        (victim, _), (survivor, out) = workers
        victim.send_signal(signal.SIGKILL)
        killed = time.time()
        code = survivor.wait(timeout=timeout + 60)
        elapsed = time.time() - killed
        text = out.text()
        assert code == EXIT_STALLED, text[-3000:]
        assert elapsed < timeout + 20
        assert re.search(r'error: worker \d of 2: no progress for 8 s while', text), text[-3000:]
        assert 'has probably died or become unreachable' in text
    finally:  # ps-lite's scheduler and server never notice: stop them here
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def test_unreachable_scheduler_fails_in_bounded_time(sirst8, tmp_path):
    port = launch_local.free_port()  # nothing listens there
    start = time.time()
    result = subprocess.run(
        [sys.executable, TRAIN] + TINY + ['--kvstore', 'dist_sync', '--data-root', sirst8,
                                          '--save-dir', str(tmp_path / 'run'),
                                          '--dist-timeout', '3'],
        cwd=REPO, env=launch_local.job_env('worker', port, 2, 1), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, timeout=120)
    text = result.stdout.decode('utf-8', 'replace')
    assert result.returncode == EXIT_STALLED, text
    assert time.time() - start < 60
    assert 'while joining the job through the scheduler at 127.0.0.1:%d' % port in text
    assert not os.path.exists(str(tmp_path / 'run'))


def test_dist_kvstore_without_a_job_is_refused(capsys, monkeypatch):
    for name in ('DMLC_ROLE', 'DMLC_PS_ROOT_URI', 'DMLC_PS_ROOT_PORT', 'DMLC_NUM_SERVER',
                 'DMLC_NUM_WORKER'):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        train.main(['--kvstore', 'dist_sync'])
    assert exit_info.value.code == 2
    assert 'tools/launch_local.py' in capsys.readouterr().err


def test_shards_are_disjoint_equal_and_change_each_epoch():
    length, parts = 23, 3
    shards = [ShardSampler(length, rank, parts, seed=5) for rank in range(parts)]
    orders = []
    for epoch in (1, 2):
        for shard in shards:
            shard.set_epoch(epoch)
        drawn = [list(shard) for shard in shards]
        assert [len(d) for d in drawn] == [length // parts] * parts == [len(s) for s in shards]
        flat = sum(drawn, [])
        assert len(set(flat)) == len(flat) == length - length % parts
        orders.append(drawn)
    assert orders[0] != orders[1]
    again = ShardSampler(length, 1, parts, seed=5)
    again.set_epoch(1)
    assert list(again) == orders[0][1]
