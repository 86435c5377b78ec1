"""The model zoo: names, parameter structure, hybridization, checkpoints, store, export."""
import os
import shutil

import mxnet as mx
import numpy as np
import pytest

from model import (FUSION_MODES, ParameterFileError, export_model, get_model, import_model,
                   list_models, load_parameters)
from model.registry import FUSION_NAMES
from model.summary import summarize

TABLE3 = ['fpn', 'sk_fpn', 'gau_fpn', 'acm_fpn', 'unet', 'sk_unet', 'gau_unet', 'acm_unet']
ABLATIONS = ['%s_%s' % (f, h) for f in ('topdownlocal', 'bilocal', 'biglobal', 'acm')
             for h in ('fpn', 'unet')]
SHORT = {mode: name for name, mode in FUSION_NAMES.items()
         if name not in ('asymbi', 'topdownglobal')}


def _shapes(net):
    return [(k, 'x'.join(map(str, v.shape)))
            for k, v in net._collect_params_with_prefix().items()]


def test_registry_covers_paper_tables():
    names = list_models()
    for name in TABLE3 + ABLATIONS:
        assert name in names
    assert get_model('acm_unet').fusion == 'AsymBi'
    assert get_model('unet').fusion == 'Concat' and get_model('fpn').fusion == 'DirectAdd'
    assert get_model('gau_fpn').fusion == 'TopDownGlobal'


@pytest.mark.parametrize('kwargs, words', [
    (dict(name='acm_resnet'), ['acm_unet', 'bilocal_fpn']),
    (dict(name='acm_unet', stem='tiny'), ['paper', 'regular']),
    (dict(name='acm_unet', blocks=0), ['blocks']),
])
def test_unknown_names_list_valid_values(kwargs, words):
    with pytest.raises(ValueError) as err:
        get_model(**kwargs)
    for word in words:
        assert word in str(err.value)


def test_released_checkpoint_loads_with_identical_names(released_params, released_listing):
    net = get_model('acm_unet', blocks=4)
    net.load_parameters(released_params)  # no renaming, no allow_missing
    assert _shapes(net) == released_listing
    assert summarize(net)['values'] == 520009


@pytest.mark.parametrize('name', ['acm_fpn', 'sk_fpn', 'gau_fpn', 'topdownlocal_unet',
                                  'biglobal_unet', 'unet'])
def test_naming_scheme_of_other_models(name):
    net = get_model(name, blocks=2)
    net.initialize()
    net(mx.nd.zeros((1, 3, 32, 32)))
    keys = dict(_shapes(net))
    assert keys['stem.1.weight'] == '16x3x3x3' and 'layer3.1.body.4.gamma' in keys
    fuse = 'fuse12' if name.endswith('fpn') else 'fuse1'
    expected = {'acm_fpn': ['topdown.1.weight', 'bottomup.0.weight', 'feature_high.0.weight'],
                'sk_fpn': ['attention.4.weight', 'feature_high.1.gamma'],
                'gau_fpn': ['global_att.1.weight'],
                'topdownlocal_unet': ['global_att.0.weight'],
                'biglobal_unet': ['bottomup.1.weight', 'topdown.1.weight'],
                'unet': ['post.0.weight']}[name]
    for suffix in expected + ['post.1.running_var']:
        assert '%s.%s' % (fuse, suffix) in keys
    if name == 'unet':  # concat doubles the post conv's input
        assert keys['fuse1.post.0.weight'] == '16x32x3x3'


def test_regular_stem_downsamples_four_times_and_restores_size():
    net = get_model('acm_unet', blocks=1, stem='regular')
    net.initialize()
    assert net(mx.nd.zeros((1, 3, 96, 128))).shape == (1, 1, 96, 128)
    assert net.layer1(net.stem(mx.nd.zeros((1, 3, 96, 128)))).shape[2:] == (24, 32)


@pytest.mark.integration
@pytest.mark.parametrize('host', ['fpn', 'unet'])
@pytest.mark.parametrize('mode', sorted(FUSION_MODES))
def test_hybridized_equals_imperative(host, mode):
    sizes = [(480, 480), (512, 512), (256, 320)]
    for blocks in (1, 4):
        net = get_model('%s_%s' % (SHORT[mode], host), blocks=blocks)
        net.initialize(mx.init.MSRAPrelu())
        inputs = [mx.nd.random.normal(shape=(1, 3) + s) for s in sizes]
        expected = [net(x).asnumpy() for x in inputs]
        net.hybridize(static_alloc=True, static_shape=True)
        for x, ref in zip(inputs, expected):
            out = net(x).asnumpy()
            assert out.shape == (1, 1) + x.shape[2:]
            np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_regular_stem_hybridizes():
    for host in ('fpn', 'unet'):
        net = get_model('acm_' + host, blocks=1, stem='regular')
        net.initialize(mx.init.MSRAPrelu())
        x = mx.nd.random.normal(shape=(1, 3, 256, 320))
        ref = net(x).asnumpy()
        net.hybridize(static_alloc=True, static_shape=True)
        np.testing.assert_allclose(net(x).asnumpy(), ref, rtol=1e-4, atol=1e-4)


def _truncated_copy(src, dest, fraction=0.5):
    with open(src, 'rb') as handle:
        data = handle.read()
    with open(dest, 'wb') as handle:
        handle.write(data[:int(len(data) * fraction)])
    return dest


@pytest.mark.parametrize('name, blocks, words', [
    ('acm_unet', 3, ['acm_unet(blocks=3)', 'unexpected in the file', 'layer1.3.body.0.weight']),
    ('bilocal_unet', 4, ['missing from the file', 'fuse2.topdown.0.weight']),
    ('acm_fpn', 4, ['missing from the file', 'fuse23.feature_high.0.weight', 'unexpected in the file', 'deconv2']),
])
def test_checkpoint_that_does_not_fit_names_the_problem(released_params, name, blocks, words):
    net = get_model(name, blocks=blocks)
    with pytest.raises(ParameterFileError) as err:
        load_parameters(net, released_params)
    message = str(err.value)
    assert released_params in message
    for word in words:
        assert word in message


def test_misshaped_checkpoint(released_params):
    net = get_model('acm_unet', blocks=4, channel_times=2)
    with pytest.raises(ParameterFileError) as err:
        load_parameters(net, released_params)
    assert 'of another shape' in str(err.value) and 'stem.1.weight (model 32x0x3x3' in str(err.value)


def test_truncated_and_corrupt_checkpoints(released_params, tmp_path):
    truncated = _truncated_copy(released_params, str(tmp_path / 'truncated.params'))
    garbage = str(tmp_path / 'garbage.params')
    with open(garbage, 'wb') as handle:
        handle.write(os.urandom(4096))
    for path in (truncated, garbage, str(tmp_path / 'absent.params')):
        with pytest.raises(ParameterFileError) as err:
            load_parameters(get_model('acm_unet'), path)
        assert path in str(err.value)


def test_pretrained_from_model_store(checkpoint_dir, released_params, tmp_path):
    net = get_model('acm_unet', blocks=4, pretrained=True, root=checkpoint_dir)
    ref = get_model('acm_unet', blocks=4)
    ref.load_parameters(released_params)
    x = mx.nd.random.normal(shape=(1, 3, 64, 64))
    np.testing.assert_array_equal(net(x).asnumpy(), ref(x).asnumpy())
    # the GluonCV-style store name works as well as the released name
    store = tmp_path / 'store'
    store.mkdir()
    shutil.copy(released_params, str(store / 'acm_unet_b4-22e03770.params'))
    get_model('acm_unet', pretrained=True, root=str(store))


def test_pretrained_without_file_or_network_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv('ACM_MODEL_URL', 'http://127.0.0.1:9/acm_unet_b4.params')
    root = str(tmp_path / 'empty-store')
    with pytest.raises(FileNotFoundError) as err:
        get_model('acm_unet', blocks=4, pretrained=True, root=root)
    assert os.path.join(root, 'acm_unet_b4-22e03770.params') in str(err.value)
    assert not os.path.exists(root) or not os.listdir(root)  # no partial file left


def test_pretrained_rejects_wrong_checksum(released_params, tmp_path):
    store = tmp_path / 'store'
    store.mkdir()
    _truncated_copy(released_params, str(store / 'acm_unet_b4-22e03770.params'), 0.9)
    with pytest.raises(ValueError) as err:
        get_model('acm_unet', pretrained=True, root=str(store))
    assert 'sha256' in str(err.value) and '22e037701d89' in str(err.value)
    with pytest.raises(ValueError) as err:
        get_model('acm_unet', blocks=2, pretrained=True, root=str(store))
    assert 'No released weights' in str(err.value)


def test_export_roundtrip(tmp_path):
    net = get_model('sk_fpn', blocks=1)
    net.initialize(mx.init.MSRAPrelu())
    x = mx.nd.random.normal(shape=(2, 3, 64, 96))
    ref = net(x).asnumpy()
    symbol_file, params_file = export_model(net, str(tmp_path / 'out' / 'sk_fpn'),
                                            input_shape=(1, 3, 64, 96))
    assert symbol_file.endswith('sk_fpn-symbol.json') and os.path.isfile(params_file)
    imported = import_model(symbol_file)
    np.testing.assert_allclose(imported(x).asnumpy(), ref, rtol=1e-5, atol=1e-5)


def test_summary_counts_parameters_and_flops():
    net = get_model('acm_unet', blocks=4)
    net.initialize()
    small = summarize(net, (240, 240))
    large = summarize(net, (480, 480))
    assert small['params'] == large['params'] == 516869
    assert large['gflops'] == pytest.approx(4 * small['gflops'], rel=1e-6)
    assert 40 < large['gflops'] < 50
