"""ONNX export (export.py --format onnx, deployment/onnx_export.py): the file gives the Gluon
network's logits under ONNX's reference evaluator, from one file at two batch sizes and at
sizes that do not halve evenly, with the weights as initializers only; and the command
line's refusals."""
import os
import sys

import mxnet as mx
import numpy as np
import onnx
import pytest
from mxnet.gluon import nn
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from PIL import Image

import export
from data import normalize
from model import get_model
from deployment.onnx_export import (ONNX_OPSET, OnnxExportError, _fast_resize,
                               check_onnx, export_onnx)
from tests.test_inference_forms import _random_network


def _sirst_batch(sirst_root, size, ids=('Misc_111', 'Misc_1')):
    """Real SIRST images resized to ``size`` (H, W) and normalised as the network expects."""
    return np.stack([normalize(Image.open(os.path.join(sirst_root, 'images', i + '.png'))
                               .convert('RGB').resize(size[::-1], Image.BILINEAR)) for i in ids])


def _interface(model):
    """``{input or output name: dims}`` with named (dynamic) dims as their names."""
    return {value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
            for value in list(model.graph.input) + list(model.graph.output)}


@pytest.mark.integration
def test_released_acm_unet_exports_and_matches_gluon_on_sirst(sirst_root, checkpoint_dir,
                                                             tmp_path, capsys):
    prefix = str(tmp_path / 'deploy' / 'acm_unet')
    image = os.path.join(sirst_root, 'images', 'Misc_111.png')
    assert export.main(['--pretrained', '--model-root', checkpoint_dir, '--prefix', prefix,
                        '--format', 'onnx', '--input-size', '64', '64', '--check',
                        '--check-image', image]) == 0
    printed = capsys.readouterr().out
    assert printed.count('largest logit difference') == 2 and 'batch 2 at 65x65' in printed

    model = onnx.load(prefix + '.onnx')
    assert [(o.domain, o.version) for o in model.opset_import] == [('', ONNX_OPSET)]
    assert _interface(model) == {'data': ['batch', 3, 'height', 'width'],
                                 'logits': ['batch', 1, 'height', 'width']}
    weights = {tensor.name for tensor in model.graph.initializer}
    assert len(weights) > 200 and not weights & {value.name for value in model.graph.input}

    # ONNX's own reference evaluator, unchanged (the U-Net has no Resize), at two batch sizes
    # and an odd size from the same file
    net = get_model('acm_unet', blocks=4, pretrained=True, root=checkpoint_dir)
    evaluator = ReferenceEvaluator(prefix + '.onnx')
    for batch in (_sirst_batch(sirst_root, (64, 64), ids=['Misc_111']),
                  _sirst_batch(sirst_root, (61, 75))):
        (logits,) = evaluator.run(['logits'], {'data': batch})
        expected = net(mx.nd.array(batch)).asnumpy()
        assert logits.shape == expected.shape == (batch.shape[0], 1) + batch.shape[2:]
        assert np.abs(logits - expected).max() < 1e-4


@pytest.mark.integration
@pytest.mark.parametrize('options', [{}, {'fold_bn': True, 'rewrite': True}])
def test_acm_fpn_exports_with_dynamic_resizes_and_matches_gluon(sirst_root, tmp_path, options):
    # export.py refused the FPN's BilinearResize2D(mode='like'); sizes that do not halve
    # evenly (45x61: stages of 23x31 and 12x16) show the resizes follow the skip features
    net = _random_network('acm_fpn')
    path = export_onnx(net, str(tmp_path / 'acm_fpn.onnx'), (1, 3, 64, 64), **options)
    model = onnx.load(path)
    assert [node.op_type for node in model.graph.node].count('Resize') == 2
    assert [value.name for value in model.graph.input] == ['data']
    results = check_onnx(path, net, [_sirst_batch(sirst_root, (64, 64), ids=['Misc_111']),
                                     _sirst_batch(sirst_root, (45, 61))])
    assert [r['shape'] for r in results] == [(1, 3, 64, 64), (2, 3, 45, 61)]
    for result in results:
        assert result['max_diff'] < 1e-4 * result['scale'] and result['ok']

    # the check notices a wrong file: one weight changed
    tensor = model.graph.initializer[0]
    values = numpy_helper.to_array(tensor).copy()
    values.flat[0] += 1
    tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
    onnx.save(model, path)
    assert not check_onnx(path, net, [_sirst_batch(sirst_root, (64, 64))])[0]['ok']


@pytest.mark.parametrize('shape, size', [((1, 2, 5, 7), (9, 13)), ((2, 1, 6, 4), (3, 5)),
                                         ((1, 2, 1, 3), (4, 1))])
def test_checks_fast_resize_is_the_reference_one_and_mxnets_bilinear(shape, size):
    node = helper.make_node('Resize', ['x', '', '', 'sizes'], ['y'], mode='linear',
                            coordinate_transformation_mode='align_corners')
    graph = helper.make_graph(
        [node], 'resize', [helper.make_tensor_value_info('x', TensorProto.FLOAT, shape),
                           helper.make_tensor_value_info('sizes', TensorProto.INT64, [4])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', ONNX_OPSET)])
    feeds = {'x': np.random.RandomState(0).normal(size=shape).astype(np.float32),
             'sizes': np.array(shape[:2] + size, np.int64)}
    reference = ReferenceEvaluator(model).run(None, feeds)[0]
    fast = ReferenceEvaluator(model, new_ops=[_fast_resize()]).run(None, feeds)[0]
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-6)
    mxnet = mx.nd.contrib.BilinearResize2D(mx.nd.array(feeds['x']), mode='like',
                                           like=mx.nd.zeros(shape[:2] + size)).asnumpy()
    np.testing.assert_allclose(mxnet, reference, rtol=0, atol=1e-6)


class _Tiny(nn.HybridBlock):
    """A convolution followed by an operator ONNX export refuses."""

    def __init__(self, kind, **kwargs):
        super(_Tiny, self).__init__(**kwargs)
        self.kind = kind
        with self.name_scope():
            self.conv = nn.Conv2D(2, 3, padding=1)

    def hybrid_forward(self, F, x):  # pylint: disable=arguments-differ
        if self.kind == 'cbrt':  # no ONNX translation in mxnet 1.9.1
            return F.cbrt(self.conv(x))
        # translated, but not in this mode
        return F.contrib.BilinearResize2D(self.conv(x), mode='to_even_up')


@pytest.mark.parametrize('kind, message', [
    ('cbrt', 'tiny: mxnet 1.9.1 has no ONNX translation of operator cbrt'),
    ('odd_mode', 'tiny: mxnet.onnx cannot translate operator _contrib_BilinearResize2D'),
])
def test_unsupported_operator_is_named_with_the_network(kind, message, tmp_path):
    from mxnet.onnx.mx2onnx._export_onnx import MXNetGraph
    registry = {version: dict(table) for version, table in MXNetGraph.registry_.items()}
    net = _Tiny(kind)
    net.initialize()
    with pytest.raises(OnnxExportError, match=message):
        export_onnx(net, str(tmp_path / 'tiny.onnx'), (1, 3, 8, 8), network='tiny')
    assert not os.path.exists(tmp_path / 'tiny.onnx')
    assert MXNetGraph.registry_ == registry  # MXNet's converter is left as it was


def test_cli_refuses_existing_files_unknown_networks_and_missing_onnx(checkpoint_dir, tmp_path,
                                                                      capsys, monkeypatch):
    prefix = str(tmp_path / 'acm_unet')
    common = ['--pretrained', '--model-root', checkpoint_dir, '--prefix', prefix,
              '--input-size', '32', '32']
    for existing, fmt in ((prefix + '.onnx', 'onnx'), (prefix + '-0000.params', 'mxnet')):
        open(existing, 'w').close()
        assert export.main(common + ['--format', fmt]) == 2
        assert '%s exists; pass --force' % existing in capsys.readouterr().err
    assert export.main(common + ['--format', 'onnx', '--force']) == 0
    assert onnx.load(prefix + '.onnx').graph.output[0].name == 'logits'

    with pytest.raises(SystemExit) as exit_info:  # refused with the options, before any work
        export.main(['--net', 'acm_resnet', '--prefix', str(tmp_path / 'x'), '--format', 'onnx'])
    assert exit_info.value.code == 2
    assert '--net acm_resnet: unknown network' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        export.main(common + ['--check'])  # --check reads an ONNX file
    assert '--check needs --format onnx' in capsys.readouterr().err

    monkeypatch.setitem(sys.modules, 'onnx', None)  # what Python does when onnx is absent
    assert export.main(common + ['--format', 'onnx', '--prefix', str(tmp_path / 'y')]) == 2
    assert "pip install -e '.[onnx]'" in capsys.readouterr().err
