"""Faults in what the toolkit reads back and where it writes (issue 15, items 6 and 7), on
real files: a run directory's state cut short, exported models that are not what they
claim, outputs that cannot be written, a full disk, options out of range or in conflict.
Each must end in one line on stderr that names the culprit, exit status 2, no traceback."""
import json
import os
import shutil

import numpy as np
import pytest

import evaluate
import export
import predict
import train
from engine.history import RunLog
from engine.errors import RunStateUnreadable
from tests.test_train import TINY
from utils.atomic import DiskFullError, append_json_line, write_json


def _one_line(err):
    assert 'Traceback' not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture(scope='module')
def stopped_run(tmp_path_factory, sirst_root):
    """A tiny run stopped after epoch 1 of 2 (copy it before changing it)."""
    from tests.conftest import copy_small_sirst
    base = tmp_path_factory.mktemp('stopped')
    data = copy_small_sirst(sirst_root, str(base / 'sirst'))
    run = str(base / 'run')
    assert train.main(TINY + ['--data-root', data, '--save-dir', run, '--epochs', '2',
                              '--val-every', '2', '--stop-after', '1']) == 0
    return run


@pytest.fixture
def run_copy(stopped_run, tmp_path):
    run = str(tmp_path / 'run')
    shutil.copytree(stopped_run, run)
    os.remove(os.path.join(run, 'run.lock'))
    return run


def _cut(path, keep=None):
    with open(path, 'rb') as handle:
        data = handle.read()
    with open(path, 'wb') as handle:
        handle.write(data[:len(data) // 2 if keep is None else keep])


# --- a run directory's state ------------------------------------------------------------------

@pytest.mark.integration
@pytest.mark.parametrize('keep', [None, 0])  # cut in half; empty
def test_a_cut_last_json_is_named_with_a_way_out(run_copy, capsys, keep):
    _cut(os.path.join(run_copy, 'last.json'), keep)
    assert train.main(['--resume', run_copy, '--no-progress']) == 2
    err = _one_line(capsys.readouterr().err)
    assert 'last.json' in err and 'evaluate.py --weights' in err and 'epoch-0001.params' in err


@pytest.mark.integration
@pytest.mark.parametrize('keep', [None, 0])
def test_a_cut_args_json_is_named(run_copy, capsys, keep):
    _cut(os.path.join(run_copy, 'args.json'), keep)
    with pytest.raises(SystemExit) as exit_info:
        train.main(['--resume', run_copy, '--no-progress'])
    assert exit_info.value.code == 2
    assert 'args.json' in _one_line(capsys.readouterr().err)


@pytest.mark.integration
@pytest.mark.parametrize('suffix', ['.states.nd', '.states.json'])
def test_cut_optimizer_states_are_named(run_copy, capsys, suffix):
    _cut(os.path.join(run_copy, 'epoch-0001' + suffix))
    assert train.main(['--resume', run_copy, '--no-progress']) == 2
    assert 'epoch-0001.states' in _one_line(capsys.readouterr().err)


@pytest.mark.integration
def test_a_half_written_history_line_is_named(run_copy, capsys):
    with open(os.path.join(run_copy, 'history.jsonl'), 'a') as handle:
        handle.write('{"epoch": 2, "loss": 0.9')  # an older version killed mid-line
    assert train.main(['--resume', run_copy, '--no-progress']) == 2
    assert 'history.jsonl line 2' in _one_line(capsys.readouterr().err)


def test_json_files_are_replaced_whole_and_lines_appended_whole(tmp_path):
    path = str(tmp_path / 'state.json')
    write_json(path, {'epoch': 1})
    with pytest.raises(DiskFullError) as error:  # a real write that fails: /dev/full
        from utils.atomic import atomic_write
        atomic_write(path, lambda tmp: shutil.copyfile('/dev/zero', '/dev/full'))
    assert 'previous version is intact' in str(error.value)
    assert json.load(open(path)) == {'epoch': 1}
    assert [n for n in os.listdir(str(tmp_path))] == ['state.json']  # no temporary left
    log = RunLog(str(tmp_path), echo=lambda message: None)
    for epoch in (1, 2, 3):
        append_json_line(log.jsonl, {'epoch': epoch, 'loss': 1.0 / epoch})
    log.truncate_after(2)
    assert [r['epoch'] for r in log.records()] == [1, 2]
    with pytest.raises(RunStateUnreadable):
        with open(log.jsonl, 'a') as handle:
            handle.write('{"epoch": 3')
        log.records()


@pytest.mark.integration
def test_a_full_disk_while_saving_says_the_last_checkpoint_is_intact(run_copy, capsys):
    history = os.path.join(run_copy, 'history.jsonl')
    os.remove(history)
    os.symlink('/dev/full', history)  # every write to it fails with ENOSPC, as on a full disk
    assert train.main(['--resume', run_copy, '--no-progress']) == 2
    err = _one_line(capsys.readouterr().err)
    assert 'no space left' in err and 'last checkpoint (epoch 1) is intact' in err
    assert json.load(open(os.path.join(run_copy, 'last.json')))['epoch'] == 1


# --- options --------------------------------------------------------------------------------

@pytest.mark.integration
def test_resume_refuses_options_that_would_change_the_run(run_copy, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(['--resume', run_copy, '--net', 'fpn', '--blocks', '2'])
    assert exit_info.value.code == 2
    err = _one_line(capsys.readouterr().err)
    assert '--net fpn (the run has acm_unet)' in err and '--blocks 2 (the run has 1)' in err
    # the same values as the run's, and what says how to run, are fine
    _, config = train.resolve_arguments(['--resume', run_copy, '--blocks', '1', '--workers',
                                         '1', '--epochs', '3'])
    assert (config.blocks, config.workers, config.epochs, config.schedule_epochs) == (1, 1, 3, 2)


@pytest.mark.parametrize('command, argv, words', [
    (evaluate, ['--base-size', '0'], '--base-size 0: must be at least 16'),
    (evaluate, ['--test-batch-size', '0'], '--test-batch-size 0: must be at least 1'),
    (evaluate, ['--blocks', '0'], '--blocks 0: must be at least 1'),
    (evaluate, ['--channel-times', '0'], '--channel-times 0.0: must be above 0'),
    (evaluate, ['--net', 'resnet'], '--net resnet: unknown network'),
    (evaluate, ['--gpus', 'a'], '--gpus a: give GPU numbers'),
    (predict, ['x.png', '--base-size', '-1'], '--base-size -1: must be at least 16'),
    (export, ['--prefix', 'p', '--input-size', '64', '0'], '--input-size 0: must be at least'),
    (train, ['--kvstore', 'foo'], "--kvstore: invalid choice: 'foo'"),
    (train, ['--lr', '0'], '--lr 0.0: must be above 0'),
    (train, ['--momentum', '1'], '--momentum 1.0: must be below 1'),
    (train, ['--workers', '-1'], '--workers -1: must be at least 0'),
])
def test_options_out_of_range_stop_before_any_work(tmp_path, monkeypatch, capsys, command,
                                                   argv, words):
    monkeypatch.chdir(str(tmp_path))  # nothing may be written, not even a default folder
    with pytest.raises(SystemExit) as exit_info:
        command.main(argv)
    assert exit_info.value.code == 2
    assert words in _one_line(capsys.readouterr().err)
    assert os.listdir(str(tmp_path)) == []


# --- exported models --------------------------------------------------------------------------

@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """Exports of two small networks (b = 1): (acm_unet prefix, acm_fpn prefix)."""
    folder = tmp_path_factory.mktemp('exports')
    prefixes = []
    for net in ('acm_unet', 'acm_fpn'):
        prefix = str(folder / net)
        weights = str(folder / (net + '.params'))
        from model import get_model
        import mxnet as mx
        model = get_model(net, blocks=1)
        model.initialize(mx.init.MSRAPrelu())
        model(mx.nd.zeros((1, 3, 32, 32)))
        model.save_parameters(weights)
        assert export.main(['--net', net, '--blocks', '1', '--weights', weights, '--prefix',
                            prefix, '--input-size', '32', '32']) == 0
        prefixes.append(prefix)
    return prefixes


def _broken_export(exported, tmp_path, symbol=None, params=None):
    prefix = str(tmp_path / 'model')
    shutil.copy(exported[0] + '-symbol.json', prefix + '-symbol.json')
    shutil.copy(exported[0] + '-0000.params', prefix + '-0000.params')
    if symbol is not None:
        with open(prefix + '-symbol.json', 'wb') as handle:
            handle.write(symbol)
    if params is not None:
        with open(prefix + '-0000.params', 'wb') as handle:
            handle.write(params)
    return prefix


@pytest.mark.parametrize('case, words', [
    ('not json', 'not a symbol file (not JSON'),
    ('json', 'is JSON but not an MXNet symbol'),
    ('other model', 'do not make an exported model'),
    ('random params', 'do not make an exported model'),
])
def test_broken_exports_are_named(exported, small_sirst, tmp_path, capsys, case, words):
    if case == 'other model':  # acm_fpn's graph with acm_unet's parameters
        symbol = open(exported[1] + '-symbol.json', 'rb').read()
        prefix = _broken_export(exported, tmp_path, symbol=symbol)
    else:
        prefix = _broken_export(exported, tmp_path, **{
            'not json': {'symbol': b'\x89PNG not a graph'},
            'json': {'symbol': b'{"layers": []}'},
            'random params': {'params': np.random.RandomState(0).bytes(4096)}}[case])
    assert evaluate.main(['--weights', prefix + '-symbol.json', '--data-root', small_sirst,
                          '--out', str(tmp_path / 'out'), '--no-progress']) == 2
    err = _one_line(capsys.readouterr().err)
    assert words in err and 'model-' in err


def test_an_export_is_labelled_by_itself_whatever_model_options_say(exported, small_sirst,
                                                                     tmp_path, capsys):
    out = str(tmp_path / 'out')
    common = ['--data-root', small_sirst, '--out', out, '--no-progress', '--base-size', '32',
              '--workers', '0', '--form', 'hybrid']
    assert evaluate.main(['--resume', exported[0] + '-symbol.json', '--net', 'sk_fpn',
                          '--blocks', '3'] + common) == 0
    err = capsys.readouterr().err
    assert '--resume is deprecated here' in err and '--net, --blocks not used' in err
    report = json.load(open(os.path.join(out, 'metrics.json')))
    assert (report['net'], report['blocks']) == ('exported:acm_unet', None)


# --- outputs ----------------------------------------------------------------------------------

def test_outputs_that_cannot_be_written_are_refused(exported, small_sirst, tmp_path, capsys):
    a_file = tmp_path / 'a-file'
    a_file.write_text('keep me')
    weights = ['--weights', exported[0] + '-symbol.json']
    assert evaluate.main(weights + ['--data-root', small_sirst, '--out', str(a_file)]) == 2
    assert 'is a file, not a folder' in _one_line(capsys.readouterr().err)
    image = os.path.join(small_sirst, 'images', 'Misc_1.png')
    assert predict.main(weights + [image, '--out', str(a_file)]) == 2
    assert 'is a file, not a folder' in _one_line(capsys.readouterr().err)
    assert predict.main(weights + [image, '--out', '/proc/acm-predictions']) == 2
    assert 'cannot be created' in _one_line(capsys.readouterr().err)
    assert a_file.read_text() == 'keep me'
    folder = tmp_path / 'deploy'
    folder.mkdir()
    for prefix in (str(folder) + '/', str(folder)):
        assert export.main(weights + ['--prefix', prefix]) == 2
        assert 'names a folder' in _one_line(capsys.readouterr().err)
    assert os.listdir(str(folder)) == []
