"""The commands on every dataset of the registry (issue 13): evaluate.py on NUDT-SIRST and
on a folder named on the command line, sizes from the protocol recorded in metrics.json,
train.py carving validation, scoring other datasets (--eval-dataset) and training on a
union, and the one-line errors of bad data options. Small copies of the real data."""
import json
import os

import mxnet as mx
import pytest

import evaluate
import train
from data import get_dataset
from engine.evaluation import evaluate_split
from model import get_model
from tests.test_datasets import _write_folder
from tests.test_train import TINY


def _metrics(out):
    with open(os.path.join(out, 'metrics.json')) as handle:
        return json.load(handle)


def _summary(run):
    with open(os.path.join(run, 'summary.json')) as handle:
        return json.load(handle)


def _log(run):
    with open(os.path.join(run, 'train.log')) as handle:
        return handle.read()


@pytest.mark.integration
def test_evaluate_on_nudt_sirst_at_its_native_size_or_the_one_given(small_nudt,
                                                                   checkpoint_dir, tmp_path):
    common = ['--pretrained', '--model-root', checkpoint_dir, '--dataset', 'nudt-sirst',
              '--data-root', small_nudt, '--no-progress', '--test-batch-size', '3',
              '--form', 'hybrid']
    native, given = str(tmp_path / 'native'), str(tmp_path / 'given')
    assert evaluate.main(common + ['--out', native]) == 0
    assert evaluate.main(common + ['--out', given, '--base-size', '128']) == 0
    native, given = _metrics(native), _metrics(given)
    assert {k: native[k] for k in ('dataset', 'split_set', 'split', 'base_size', 'size_from',
                                   'images')} == {
        'dataset': 'nudt-sirst', 'split_set': '50_50', 'split': 'test', 'base_size': 256,
        'size_from': 'protocol', 'images': 3}
    assert (given['base_size'], given['size_from']) == (128, '--base-size')
    # the figures are those of the released network on the registry's dataset at 256
    net = get_model('acm_unet', blocks=4, pretrained=True, root=checkpoint_dir)
    net.hybridize(static_alloc=True, static_shape=True)
    test = get_dataset('nudt-sirst', root=small_nudt, split='test', mode='testval')
    expected = evaluate_split(net, test, [mx.cpu()], batch_size=3, num_workers=0,
                              progress=False).scores()
    for key in ('IoU', 'nIoU', 'Pd', 'Fa', 'AUC'):
        assert native[key] == pytest.approx(expected[key], abs=1e-6), key


def test_evaluate_a_folder_named_on_the_command_line(checkpoint_dir, tmp_path, capsys):
    root = _write_folder(str(tmp_path / 'mine'), mask_pattern='{id}_mask.png', size=(40, 32))
    out = str(tmp_path / 'out')
    common = ['--pretrained', '--model-root', checkpoint_dir, '--dataset', 'folder',
              '--data-root', root, '--no-progress', '--form', 'hybrid', '--base-size', '32']
    assert evaluate.main(common + ['--mask-pattern', '{id}_mask.png', '--out', out]) == 0
    metrics = _metrics(out)
    assert (metrics['dataset'], metrics['split'], metrics['images'], metrics['base_size']) == (
        'folder', 'test', 1, 32)
    # the default pattern finds no masks: one line naming the pattern the files suggest
    capsys.readouterr()
    assert evaluate.main(common + ['--out', str(tmp_path / 'bad')]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "mask_pattern='{id}_mask.png'" in err
    assert not os.path.exists(str(tmp_path / 'bad'))


@pytest.mark.parametrize('command, extra, words', [
    (evaluate, ['--dataset', 'irstd-1k'], "unknown dataset 'irstd-1k'; known: sirst, "
                                          "nudt-sirst, folder"),
    (train, ['--dataset', 'sirst+irstd'], "unknown dataset 'irstd'"),
    (train, ['--eval-dataset', 'nudt'], "unknown dataset 'nudt'"),
    (train, ['--dataset', 'sirst+sirst'], 'names sirst twice'),
    (train, ['--mask-pattern', '{id}_m.png'], '--mask-pattern goes with --dataset folder'),
    (train, ['--dataset', 'sirst+nudt-sirst', '--data-root', '/data'],
     'give one per dataset as NAME=VALUE'),
    (train, ['--data-root', 'sirst=/a,irstd=/b'], 'irstd is not a dataset of this run'),
    (train, ['--eval-dataset', 'sirst'], 'sirst is trained on'),
    (evaluate, ['--dataset', 'sirst+nudt-sirst'], 'one dataset at a time'),
])
def test_bad_data_options_are_one_line_with_exit_2(command, extra, words, tmp_path, capsys):
    run = str(tmp_path / 'run')
    argv = extra + (['--save-dir', run] if command is train else ['--out', run])
    with pytest.raises(SystemExit) as exit_info:
        command.main(argv + ['--pretrained'] if command is evaluate else argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and words in err, err
    assert len(err.strip().splitlines()) == 1 and 'Traceback' not in err
    assert not os.path.exists(run)


@pytest.mark.integration
def test_training_on_nudt_sirst_carves_validation_and_scores_sirst_too(small_nudt,
                                                                       small_sirst, tmp_path):
    run = str(tmp_path / 'run')
    assert train.main(TINY + ['--dataset', 'nudt-sirst', '--eval-dataset', 'sirst',
                              '--data-root', 'nudt-sirst=%s,sirst=%s' % (small_nudt,
                                                                        small_sirst),
                              '--base-size', '64', '--crop-size', '64', '--epochs', '2',
                              '--val-fraction', '0.34', '--save-dir', run]) == 0
    summary = _summary(run)
    tests = summary['tests']
    assert list(tests) == ['nudt-sirst', 'sirst']
    # the trained dataset at the size asked for; the other one as its protocol reports it
    assert [(tests[n]['split'], tests[n]['images'], tests[n]['base_size']) for n in tests] == [
        ('50_50/test', 3, 64), ('idx_320/test', 4, 512)]
    assert summary['test'] == {k: v for k, v in tests['nudt-sirst'].items()
                               if k not in ('split', 'base_size')}
    assert summary['selection_split'] == '50_50/train[val 0.34 seed 0]'
    log = _log(run)
    assert ('validation: 2 of nudt-sirst 50_50/train\'s 6 images carved off with seed 0 '
            '(fraction 0.34; nudt-sirst has no validation split), training on the other 4'
            in log)
    with open(os.path.join(run, 'args.json')) as handle:
        saved = json.load(handle)
    assert (saved['dataset'], saved['eval_dataset']) == ('nudt-sirst', 'sirst')


@pytest.mark.integration
def test_two_epochs_on_the_union_score_each_dataset(small_nudt, small_sirst, tmp_path):
    run = str(tmp_path / 'run')
    assert train.main(TINY + ['--dataset', 'sirst+nudt-sirst', '--data-root',
                              'sirst=%s,nudt-sirst=%s' % (small_sirst, small_nudt),
                              '--base-size', '64', '--crop-size', '64', '--epochs', '2',
                              '--save-dir', run]) == 0
    summary = _summary(run)
    tests = summary['tests']
    assert {n: (t['images'], t['base_size']) for n, t in tests.items()} == {
        'sirst': (4, 64), 'nudt-sirst': (3, 64)}
    assert summary['test']['images'] == 7  # pooled over both, as selection scores
    log = _log(run)
    assert 'on sirst idx_320/train + nudt-sirst 50_50/train[train 0.1 seed 0] (9 images)' \
        in log
    assert 'validation: sirst idx_320/val (4 images)' in log
    assert 'nudt-sirst 50_50/train\'s 6 images carved off with seed 0' in log
    history = [json.loads(line) for line in open(os.path.join(run, 'history.jsonl'))]
    assert [r['epoch'] for r in history] == [1, 2] and all('IoU' in r for r in history)


def test_a_run_saved_before_datasets_were_named_resumes_as_sirst(tmp_path, capsys):
    run = str(tmp_path / 'old')
    _, config = train.resolve_arguments(['--save-dir', run, '--blocks', '1'])
    os.makedirs(run)
    old = {k: v for k, v in config.to_dict().items()
           if k not in ('dataset', 'eval_dataset', 'mask_threshold', 'images', 'masks',
                        'image_pattern', 'mask_pattern', 'split_pattern', 'val_fraction')}
    old.update(split_set='idx_320', val_split='val')
    with open(os.path.join(run, 'args.json'), 'w') as handle:
        json.dump(old, handle)
    _, resumed = train.resolve_arguments(['--resume', run])
    assert (resumed.dataset, resumed.split_set, resumed.val_split, resumed.base_size,
            resumed.crop_size) == ('sirst', 'idx_320', 'val', 512, 480)
    with pytest.raises(SystemExit) as exit_info:
        train.resolve_arguments(['--resume', run, '--dataset', 'nudt-sirst'])
    assert exit_info.value.code == 2
    assert '--dataset nudt-sirst (the run has sirst)' in capsys.readouterr().err


def test_sizes_default_to_the_protocol_of_the_dataset_or_the_union(tmp_path):
    sizes = {}
    for dataset in ('sirst', 'nudt-sirst', 'sirst+nudt-sirst'):
        _, config = train.resolve_arguments(['--dataset', dataset, '--save-dir',
                                             str(tmp_path / dataset)])
        sizes[dataset] = (config.base_size, config.crop_size)
    # a union keeps base_size None: each member at its own (sirst 512, nudt-sirst 256)
    assert sizes == {'sirst': (512, 480), 'nudt-sirst': (256, 256),
                     'sirst+nudt-sirst': (None, 256)}


@pytest.mark.integration
def test_training_on_a_folder_with_grey_masks_says_how_many_the_threshold_changed(tmp_path):
    root = _write_folder(str(tmp_path / 'mine'), ids=('a', 'b', 'c', 'd', 'e'), size=(32, 32),
                         mask_values=(0, 200))
    run = str(tmp_path / 'run')
    assert train.main(TINY + ['--dataset', 'folder', '--data-root', root, '--mask-threshold',
                              '100', '--base-size', '32', '--crop-size', '32', '--epochs', '1',
                              '--save-dir', run]) == 0
    log = _log(run)
    assert 'folder train[train 0.1 seed 0]: 3 images' in log
    assert 'masks binarised above 100: 3 of 3 changed' in log
    assert _summary(run)['tests']['folder']['images'] == 1
