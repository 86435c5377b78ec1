"""The command lines: evaluate.py (the paper's figures), predict.py, export.py, summary."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import evaluate
import export
import predict
from model.summary import main as summary_main


@pytest.mark.integration
def test_evaluate_reproduces_released_figures_on_idx_320(sirst_root, released_params,
                                                         tmp_path):
    out = str(tmp_path / 'eval')
    assert evaluate.main(['--net', 'acm_unet', '--blocks', '4', '--resume', released_params,
                          '--data-root', sirst_root, '--split-set', 'idx_320',
                          '--split', 'test', '--out', out, '--no-progress',
                          '--save-maps']) == 0
    with open(os.path.join(out, 'metrics.json')) as handle:
        report = json.load(handle)
    # the saved logits, scored as maps of any method (issue 14) at the threshold that is
    # logit 0, give evaluate.py's own figures exactly
    scored = str(tmp_path / 'scored')
    assert evaluate.main(['--predictions', os.path.join(out, 'maps'), '--normalize', 'sigmoid',
                          '--threshold', '0.5', '--data-root', sirst_root,
                          '--out', scored]) == 0
    with open(os.path.join(scored, 'metrics.json')) as handle:
        maps_report = json.load(handle)
    assert maps_report['images'] == 96 and maps_report['AUC'] == report['AUC']
    for key in ('IoU', 'nIoU', 'Pd', 'Fa'):
        assert maps_report['at_threshold'][key] == report[key], key
    assert report['images'] == 96
    assert report['IoU'] == pytest.approx(0.7442, abs=5e-4)
    assert report['nIoU'] == pytest.approx(0.7242, abs=5e-4)
    assert 0.9 < report['Pd'] <= 1 and 0 <= report['Fa'] < 1e-4 and 0.9 < report['AUC'] <= 1
    roc = np.loadtxt(os.path.join(out, 'roc.csv'), delimiter=',', skiprows=1)
    assert roc.shape == (2000, 3) and np.all(np.diff(roc[:, 2]) <= 0)
    assert Image.open(os.path.join(out, 'roc.png')).size[0] > 100


@pytest.mark.integration
def test_evaluate_exported_pair_and_images(small_sirst, checkpoint_dir, tmp_path, capsys):
    common = ['--data-root', small_sirst, '--no-progress', '--test-batch-size', '2',
              '--workers', '0']
    gluon_out, export_out = str(tmp_path / 'gluon'), str(tmp_path / 'export')
    assert evaluate.main(['--pretrained', '--model-root', checkpoint_dir, '--out', gluon_out,
                          '--save-images'] + common) == 0
    prefix = str(tmp_path / 'deploy' / 'acm_unet')
    assert export.main(['--pretrained', '--model-root', checkpoint_dir, '--prefix', prefix,
                        '--input-size', '512', '512']) == 0
    assert evaluate.main(['--resume', prefix + '-symbol.json', '--out', export_out] + common) == 0
    results = []
    for out in (gluon_out, export_out):
        with open(os.path.join(out, 'metrics.json')) as handle:
            results.append(json.load(handle))
    for key in ('IoU', 'nIoU', 'Pd', 'Fa', 'AUC'):
        assert results[0][key] == pytest.approx(results[1][key], abs=1e-6)
    panel = Image.open(os.path.join(gluon_out, 'images', 'Misc_111.png'))
    assert panel.size == (325 * 3 + 8, 220)  # input | truth | prediction at native size
    printed = capsys.readouterr().out
    assert 'IoU' in printed and 'Fa' in printed


def test_evaluate_without_weights_or_with_a_bad_split_fails_clearly(small_sirst, capsys):
    assert evaluate.main(['--data-root', small_sirst, '--no-progress']) == 2
    assert '--weights' in capsys.readouterr().err
    os.remove(os.path.join(small_sirst, 'masks', 'Misc_1_pixels0.png'))
    assert evaluate.main(['--data-root', small_sirst, '--pretrained']) == 2
    assert 'Misc_1 (no mask)' in capsys.readouterr().err


@pytest.mark.integration
def test_predict_writes_masks_at_input_size(sirst_root, checkpoint_dir, tmp_path):
    inputs = tmp_path / 'inputs'
    inputs.mkdir()
    Image.open(os.path.join(sirst_root, 'images', 'Misc_111.png')).save(inputs / 'a.png')
    gray = Image.open(os.path.join(sirst_root, 'images', 'Misc_1.png')).convert('L')
    gray.resize((203, 157)).save(inputs / 'b.jpg')
    out = str(tmp_path / 'out')
    assert predict.main(['--pretrained', '--model-root', checkpoint_dir, '--out', out,
                         str(inputs)]) == 0
    mask = Image.open(os.path.join(out, 'a_mask.png'))
    assert mask.size == (325, 220) and set(np.unique(np.asarray(mask))) <= {0, 255}
    assert np.asarray(mask).max() == 255  # the released network finds the target
    assert Image.open(os.path.join(out, 'b_mask.png')).size == (203, 157)
    assert Image.open(os.path.join(out, 'b_overlay.png')).mode == 'RGB'
    (inputs / 'c.png').write_bytes(b'not an image')
    assert predict.main(['--pretrained', '--model-root', checkpoint_dir, '--out', out,
                         str(inputs / 'c.png')]) == 2


def test_summary_lists_table3_models(capsys):
    rows = summary_main(['--net', 'acm_fpn', 'acm_unet', '--size', '64', '64', '--json'])
    assert [r['net'] for r in rows] == ['acm_fpn', 'acm_unet']
    assert json.loads(capsys.readouterr().out)[1]['params'] == 516869


def _compare_runs_module():
    import importlib.util
    from tests.conftest import REPO
    spec = importlib.util.spec_from_file_location(
        'compare_runs', os.path.join(REPO, 'tools', 'compare_runs.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, REPO


def test_compare_runs_plots_best_iou_against_wall_time(tmp_path, capsys):
    compare, repo = _compare_runs_module()
    runs = [os.path.join(repo, 'docs', 'training', name)
            for name in ('cpu-acm_unet_b4', 'cpu-acm_unet_b4-seed1')]
    points = compare.best_so_far(runs[1])
    minutes = [p[0] for p in points]
    best = [p[2] for p in points]
    assert len(points) == 18 and minutes == sorted(minutes) and best == sorted(best)
    assert compare.value_at(points, 0.5) == 0.0  # before the first epoch ended
    assert compare.value_at(points, minutes[-1]) == max(best)
    plot = str(tmp_path / 'wall.png')
    assert compare.main(runs + ['--reference', '32:0.43,46:0.60', '--out', plot]) == 0
    assert Image.open(plot).size[0] > 100
    assert compare.main([str(tmp_path), '--out', plot]) == 2  # not a run directory
    assert 'history.jsonl' in capsys.readouterr().err


def test_compare_runs_takes_runs_scored_every_few_epochs(tmp_path, capsys):
    # train.py --val-every 2 writes records without figures for the epochs it did not score
    compare, _ = _compare_runs_module()
    run = tmp_path / 'run'
    run.mkdir()
    records = [{'epoch': 1, 'loss': 0.9, 'seconds': 60},
               {'epoch': 2, 'loss': 0.8, 'seconds': 60, 'IoU': 0.25, 'nIoU': 0.2},
               {'epoch': 3, 'loss': 0.7, 'seconds': 60}]
    (run / 'history.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in records))
    assert compare.best_so_far(str(run)) == [(1.0, 1, 0.0), (2.0, 2, 0.25), (3.0, 3, 0.25)]
    assert compare.main([str(run), '--out', str(tmp_path / 'wall.png')]) == 0
    assert 'error' not in capsys.readouterr().err
