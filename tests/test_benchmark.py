"""benchmark.py measures every form in one process and reports what it measured."""
import json

import mxnet as mx
import numpy as np
import pytest

import benchmark
from engine.benchmark import network_factory, timed_rounds


@pytest.mark.integration
def test_benchmark_reports_every_form_and_the_whole_pipeline(sirst_root, checkpoint_dir,
                                                            tmp_path, capsys):
    out = tmp_path / 'bench.json'
    code = benchmark.main(['--net', 'acm_unet', '--blocks', '4', '--pretrained',
                           '--model-root', checkpoint_dir, '--data-root', sirst_root,
                           '--batch-size', '2', '--size', '64', '--train-size', '64',
                           '--repeats', '2', '--calib-images', '4', '--evaluate',
                           '--evaluate-forms', 'hybrid,onednn', '--workers', '0',
                           '--json', str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    rows = {r['form']: r for r in report['inference']['rows']}
    assert set(rows) == {'imperative', 'hybrid', 'folded', 'onednn', 'int8', 'bf16'}
    assert rows['imperative']['ratio'] == 1.0
    for form in ('hybrid', 'folded', 'onednn'):
        assert rows[form]['images_per_s'] > 0 and rows[form]['ratio'] > 0
        assert rows[form]['max_abs_diff'] < 1e-3 * max(1.0, abs(rows[form]['seconds_median']))
        assert rows[form]['images_per_s_min'] <= rows[form]['images_per_s'] \
            <= rows[form]['images_per_s_max']
    assert 'skipped' in rows['bf16'] or rows['bf16']['images_per_s'] > 0
    assert report['inference']['flops_per_image'] > 0
    assert [r['form'] for r in report['training']['rows']] == ['imperative', 'hybrid']
    assert report['training_data_pipeline']['images_per_s'] > 0
    hybrid, onednn = report['evaluation']
    assert hybrid['images'] == onednn['images'] == 96
    for key in ('IoU', 'nIoU', 'Pd', 'Fa', 'AUC'):  # the fused graph scores the same
        assert abs(hybrid[key] - onednn[key]) < 1e-4, key
    printed = capsys.readouterr().out
    assert 'Inference, batch 2 at 64x64' in printed and 'Training step' in printed


def test_random_networks_get_the_same_weights_whatever_ran_in_between():
    # the inference forms are all built before any is timed: the imperative network must
    # not draw its (deferred) weights from a random state the other forms moved on
    make = network_factory('acm_fpn', blocks=1)
    first = make(mx.cpu())
    mx.nd.random.uniform(shape=(1000,)).wait_to_read()
    second = make(mx.cpu())
    first, second = first.collect_params().values(), second.collect_params().values()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.data().asnumpy(), b.data().asnumpy())


def test_timed_rounds_takes_the_steps_in_turns():
    calls = []
    seconds = timed_rounds({'a': lambda: calls.append('a'), 'b': lambda: calls.append('b')},
                           repeats=3, warmup=1)
    assert calls == ['a', 'b'] + ['a', 'b'] * 3
    assert set(seconds) == {'a', 'b'} and all(len(s) == 3 for s in seconds.values())


def test_benchmark_times_the_data_pipeline_of_each_dataset(sirst_root, nudt_sirst_root,
                                                           tmp_path, capsys):
    out = tmp_path / 'pipelines.json'
    assert benchmark.main(['--forms', '', '--train-forms', '', '--batch-size', '2',
                           '--workers', '0', '--json', str(out), '--pipeline-datasets',
                           'sirst=%s,nudt-sirst=%s' % (sirst_root, nudt_sirst_root)]) == 0
    rows = json.loads(out.read_text())['data_pipelines']
    assert [(r['dataset'], r['split'], r['images'], r['crop_size']) for r in rows] == [
        ('sirst', 'idx_320/train', 160, 480), ('nudt-sirst', '50_50/train', 663, 256)]
    assert all(r['images_per_s'] > 0 for r in rows)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:  # refused like every other bad option
        benchmark.main(['--forms', '', '--train-forms', '',
                        '--pipeline-datasets', 'irstd=%s' % sirst_root])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and 'sirst, nudt-sirst, folder' in err
