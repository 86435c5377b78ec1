"""benchmark.py measures every form in one process and reports what it measured."""
import json

import benchmark


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
