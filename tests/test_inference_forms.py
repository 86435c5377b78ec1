"""The fast execution forms give the reference network's predictions: the FP32 forms
(static graph, folded batch norm, oneDNN fusion) within float rounding, INT8 within a
stated metric tolerance; bf16 runs or is refused with the reason."""
import json

import mxnet as mx
import numpy as np
import pytest

from data import SIRSTSegmentation
from metric import IoUMetric, NIoUMetric
from model import export_model, get_model, import_model
from deployment.folding import fold_batchnorm
from deployment.inference import EXACT_FORMS, form_available, prepare, symbol_block, to_symbol
from deployment.rewrites import rewrite_for_inference
from deployment.calibration import calibration_images


def _random_network(name):
    """A small network with random weights and random batch-norm statistics, so folding
    has something to fold."""
    net = get_model(name, blocks=1)
    mx.random.seed(3)
    net.initialize(mx.init.MSRAPrelu())
    net(mx.nd.zeros((1, 3, 64, 64)))
    for key, param in net.collect_params().items():
        if key.endswith(('running_mean', 'beta')):
            param.set_data(mx.nd.random.normal(0, 0.5, param.shape))
        elif key.endswith(('running_var', 'gamma')):
            param.set_data(mx.nd.random.uniform(0.3, 2, param.shape))
    return net


@pytest.mark.parametrize('name', ['acm_fpn', 'acm_unet', 'sk_unet', 'unet'])
def test_fp32_forms_match_imperative(name):
    net = _random_network(name)
    images = mx.nd.random.normal(shape=(2, 3, 64, 96))
    reference = net(images).asnumpy()
    for form in EXACT_FORMS[1:]:
        output = prepare(net, form, images.shape)(images).asnumpy()
        np.testing.assert_allclose(output, reference, rtol=1e-4, atol=2e-4 * np.abs(reference).max(),
                                   err_msg=form)
    # prepare() worked on copies: the network itself is still imperative
    np.testing.assert_array_equal(net(images).asnumpy(), reference)


def test_folding_removes_every_batchnorm_after_a_convolution(tmp_path):
    net = _random_network('acm_unet')
    images = mx.nd.random.normal(shape=(1, 3, 64, 64))
    reference = net(images).asnumpy()
    plain, _ = export_model(net, str(tmp_path / 'plain'), input_shape=images.shape)
    folded, _ = export_model(net, str(tmp_path / 'folded'), input_shape=images.shape,
                             fold_bn=True)

    def operators(symbol_file):
        with open(symbol_file) as handle:
            return [n['op'] for n in json.load(handle)['nodes']]
    before, after = operators(plain), operators(folded)
    assert before.count('BatchNorm') == 25
    assert after.count('BatchNorm') == 1  # the stem's normalisation of the input image
    assert after.count('Convolution') == before.count('Convolution')
    output = import_model(folded)(images).asnumpy()
    np.testing.assert_allclose(output, reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())
    _, args, aux, count = fold_batchnorm(*mx.model.load_checkpoint(str(tmp_path / 'folded'), 0))
    assert count == 0  # nothing left to fold


def test_export_with_rewrites_writes_the_graph_the_folded_form_runs(tmp_path):
    net = _random_network('acm_fpn')
    images = mx.nd.random.normal(shape=(2, 3, 64, 96))
    reference = net(images).asnumpy()
    symbol_file, _ = export_model(net, str(tmp_path / 'fast'), input_shape=images.shape,
                                  fold_bn=True, rewrite=True)
    with open(symbol_file) as handle:
        nodes = json.load(handle)['nodes']
    ops = [n['op'] for n in nodes]
    assert '_mul_scalar' not in ops and 'broadcast_like' not in ops
    assert ops.count('BatchNorm') == 1  # the stem's normalisation of the input image
    resizes = [n for n in nodes if n['op'] == '_contrib_BilinearResize2D']
    assert len(resizes) == 2  # each now reads the 1x1 convolution it moved past
    assert all(nodes[n['inputs'][0][0]]['op'] == 'Convolution' for n in resizes)
    output = import_model(symbol_file)(images).asnumpy()
    np.testing.assert_allclose(output, reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())


@pytest.mark.parametrize('name, expected', [
    ('acm_fpn', {'resize_after_reduction': 2, 'scale_into_convolution': 2,
                 'broadcast_products': 2}),
    ('sk_fpn', {'resize_after_reduction': 2, 'scale_into_convolution': 2,
                'broadcast_products': 4}),
    ('acm_unet', {'resize_after_reduction': 0, 'scale_into_convolution': 2,
                  'broadcast_products': 2}),
])
def test_inference_rewrites_compute_the_same_logits(name, expected):
    net = _random_network(name)
    images = mx.nd.random.normal(shape=(2, 3, 64, 96))
    reference = net(images).asnumpy()
    symbol, args, aux, counts = rewrite_for_inference(*to_symbol(net))
    assert counts == expected
    nodes = json.loads(symbol.tojson())['nodes']
    ops = [n['op'] for n in nodes]
    assert '_mul_scalar' not in ops and 'broadcast_like' not in ops
    for node in nodes:  # every resize now reads the reduced (batch-normalised) feature
        if node['op'] == '_contrib_BilinearResize2D':
            assert nodes[node['inputs'][0][0]]['op'] == 'BatchNorm'
    output = symbol_block(symbol, args, aux)(images).asnumpy()
    np.testing.assert_allclose(output, reference, rtol=1e-4, atol=1e-5 * np.abs(reference).max())


@pytest.fixture(scope='module')
def released_on_test_images(sirst_root, checkpoint_dir):
    dataset = SIRSTSegmentation(sirst_root, split='test', mode='testval', base_size=256)
    picks = range(0, 96, 4)  # 24 images
    images = mx.nd.array(np.stack([dataset[i][0] for i in picks]))
    masks = np.stack([dataset[i][1] for i in picks])
    net = get_model('acm_unet', blocks=4, pretrained=True, root=checkpoint_dir)
    return net, images, masks


def _in_batches(block, images, size=8):
    return np.concatenate([block(images[i:i + size]).asnumpy()
                           for i in range(0, images.shape[0], size)])


def _scores(masks, logits):
    iou, niou = IoUMetric(), NIoUMetric()
    iou.update(masks, logits)
    niou.update(masks, logits)
    return iou.get()[1], niou.get()[1]


@pytest.mark.integration
def test_onednn_form_of_released_network_predicts_the_same_pixels(released_on_test_images):
    net, images, masks = released_on_test_images
    net.hybridize(static_alloc=True, static_shape=True)
    reference = _in_batches(net, images)
    fused = _in_batches(prepare(net, 'onednn', (8,) + images.shape[1:]), images)
    assert np.abs(fused - reference).max() < 1e-3
    assert _scores(masks, fused) == _scores(masks, reference)


@pytest.mark.integration
def test_int8_form_stays_within_its_metric_tolerance(released_on_test_images, sirst_root):
    # INT8 is approximate: on all of idx_320/test at 512 it scored IoU -0.016 and nIoU
    # -0.005 against FP32 (docs/benchmark/). On this 24-image subset at 256, calibrated on
    # 16 trainval images, the scores move more: the bound is 0.06, and most of the pixels
    # FP32 calls targets must stay targets.
    net, images, masks = released_on_test_images
    calib = calibration_images(sirst_root, count=16, base_size=256)
    assert calib.shape == (16, 3, 256, 256)
    int8 = prepare(net, 'int8', (8,) + images.shape[1:], calib_data=calib)
    reference, output = _in_batches(net, images), _in_batches(int8, images)
    fp32, quantized = _scores(masks, reference), _scores(masks, output)
    assert fp32[0] > 0.5
    assert abs(quantized[0] - fp32[0]) < 0.06 and abs(quantized[1] - fp32[1]) < 0.06
    kept = ((output > 0) & (reference > 0)).sum() / (reference > 0).sum()
    assert kept > 0.8


def test_bf16_runs_where_the_cpu_has_kernels_and_is_refused_with_a_reason_elsewhere():
    net = _random_network('acm_fpn')
    images = mx.nd.random.normal(shape=(1, 3, 64, 64))
    available, why = form_available('bf16')
    if available:
        output = prepare(net, 'bf16', images.shape)(images).astype('float32').asnumpy()
        reference = net(images).asnumpy()
        assert np.abs(output - reference).max() < 0.05 * np.abs(reference).max()
    else:
        assert 'AVX-512' in why
        with pytest.raises(ValueError, match='bf16'):
            prepare(net, 'bf16', images.shape)


def test_unknown_form_and_gpu_only_refusals():
    net = _random_network('fpn')
    with pytest.raises(ValueError, match='unknown form'):
        prepare(net, 'float8', (1, 3, 64, 64))
    with pytest.raises(ValueError, match='calibration'):
        prepare(net, 'int8', (1, 3, 64, 64))
    assert not form_available('onednn', mx.gpu(0))[0]
