"""Hostile inputs and faults (issue 15), on real files and real MXNet: image modes and bit
depths decoded in one place, optimizer states that cannot run code, names confined to their
folders, one run per run directory, and predict.py outputs that never overwrite each other."""
import io
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon
from PIL import Image

import evaluate
import predict
import train
from data import DatasetError, SIRSTSegmentation
from data.files import UnsafePathError, decode_image, read_image, safe_join
from tests.conftest import REPO
from tests.test_train import TINY, _history, _params
from engine.checkpoint import load_trainer_states, save_trainer_states
from engine.rundir import run_directory_lock


def _png(image, fmt='PNG'):
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _to_gray(folder, bits):
    """Rewrite every image of a small SIRST copy as grayscale PNG of 8 or 16 bits (16-bit
    values 257 x the 8-bit ones: the same intensities)."""
    for name in os.listdir(os.path.join(folder, 'images')):
        path = os.path.join(folder, 'images', name)
        gray = np.asarray(Image.open(path).convert('L'))
        Image.fromarray(gray.astype(np.uint16) * 257 if bits == 16 else gray).save(path)


# --- 1. image decoding ----------------------------------------------------------------------

def test_every_mode_decodes_to_the_intensities_it_means():
    ramp = np.arange(0, 256, 17, dtype=np.uint8).reshape(4, 4)
    gray = Image.fromarray(ramp)
    rgb = np.stack([ramp] * 3, -1)
    cases = {
        'L': gray, 'P': gray.convert('P'), 'RGB': gray.convert('RGB'),
        'RGBA': gray.convert('RGBA'), 'LA': gray.convert('LA'),
        'I;16': Image.fromarray(ramp.astype(np.uint16) * 257),
        'I': Image.fromarray(ramp.astype(np.int32) * 257),
    }
    for mode, image in cases.items():
        fmt = 'TIFF' if mode == 'I' else 'PNG'
        decoded = decode_image(_png(image, fmt), mode)
        assert decoded.mode == 'RGB', mode
        np.testing.assert_array_equal(np.asarray(decoded), rgb, err_msg=mode)
    floats = Image.fromarray(ramp.astype(np.float32) / 255)
    np.testing.assert_array_equal(np.asarray(decode_image(_png(floats, 'TIFF'), 'F')), rgb)
    bilevel = decode_image(_png(Image.fromarray(ramp > 100)), '1', 'L')
    np.testing.assert_array_equal(np.asarray(bilevel), np.where(ramp > 100, 255, 0))


@pytest.mark.integration
def test_a_16_bit_dataset_gives_the_tensors_and_scores_of_its_8_bit_original(
        small_sirst, checkpoint_dir, tmp_path):
    eight, sixteen = str(tmp_path / 'eight'), str(tmp_path / 'sixteen')
    shutil.copytree(small_sirst, eight)
    shutil.copytree(small_sirst, sixteen)
    _to_gray(eight, 8)
    _to_gray(sixteen, 16)
    assert Image.open(os.path.join(sixteen, 'images', 'Misc_1.png')).mode == 'I;16'
    for mode in ('testval', 'test'):
        a, b = (SIRSTSegmentation(root, split='test', mode=mode, base_size=64)
                for root in (eight, sixteen))
        for i in range(len(a)):
            np.testing.assert_array_equal(a[i][0], b[i][0])
            np.testing.assert_array_equal(a[i][1], b[i][1])
    path = os.path.join(sixteen, 'images', 'Misc_1.png')
    np.testing.assert_array_equal(np.asarray(read_image(path)),  # what predict.py reads
                                  np.asarray(Image.open(path.replace('sixteen', 'eight'))
                                             .convert('RGB')))
    scores = []
    for root in (eight, sixteen):
        out = str(tmp_path / ('eval-' + os.path.basename(root)))
        assert evaluate.main(['--pretrained', '--model-root', checkpoint_dir, '--data-root', root,
                              '--out', out, '--base-size', '256', '--no-progress',
                              '--test-batch-size', '4']) == 0
        with open(os.path.join(out, 'metrics.json')) as handle:
            scores.append(json.load(handle))
    assert scores[0]['IoU'] > 0.5
    for key in ('IoU', 'nIoU', 'Pd', 'Fa', 'AUC'):
        assert scores[1][key] == pytest.approx(scores[0][key], abs=1e-6), key


def test_16_bit_masks_must_map_exactly_and_bad_wide_images_are_named(small_sirst):
    mask_path = os.path.join(small_sirst, 'masks', 'Misc_1_pixels0.png')
    binary = np.asarray(Image.open(mask_path).convert('L')) > 0
    Image.fromarray(binary.astype(np.uint16) * 65535).save(mask_path)
    dataset = SIRSTSegmentation(small_sirst, split='test', mode='test')
    index = dataset.ids.index('Misc_1')
    np.testing.assert_array_equal(dataset[index][1][0], binary)
    Image.fromarray(binary.astype(np.uint16)).save(mask_path)  # 0 and 1: not 0 and 65535
    with pytest.raises(DatasetError) as err:
        dataset[index]
    assert mask_path in str(err.value) and 'exact 8-bit' in str(err.value)
    image_path = os.path.join(small_sirst, 'images', 'Misc_10.png')
    Image.fromarray(np.full((8, 8), 7.5, np.float32)).save(image_path, 'TIFF')  # not 0..1
    with pytest.raises(DatasetError) as err:
        dataset[dataset.ids.index('Misc_10')]
    assert image_path in str(err.value) and '16-bit PNG' in str(err.value)
    Image.fromarray(binary.astype(np.uint16) * 65535).save(mask_path)
    content = _png(Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000))
    with open(image_path, 'wb') as handle:
        handle.write(content[:len(content) // 2])
    with pytest.raises(DatasetError) as err:
        dataset.verify()
    assert image_path in str(err.value)


# --- 3. names confined to their folders ------------------------------------------------------

def test_safe_join_keeps_names_inside(tmp_path):
    root = tmp_path / 'root'
    (root / 'sub').mkdir(parents=True)
    (tmp_path / 'secret').write_text('x')
    assert safe_join(str(root), 'sub/a.png') == str(root / 'sub' / 'a.png')
    (root / 'inside').symlink_to(root / 'sub')
    assert safe_join(str(root), 'inside/a.png') == str(root / 'inside' / 'a.png')
    (root / 'out').symlink_to(tmp_path / 'secret')
    linked = tmp_path / 'linked'
    linked.symlink_to(root)  # the root itself may be a link
    assert safe_join(str(linked), 'sub/a.png') == str(linked / 'sub' / 'a.png')
    for name in ('../secret', 'sub/../../secret', '/etc/passwd', 'out', '', '~/x'):
        with pytest.raises(UnsafePathError):
            safe_join(str(root), name)


def test_split_ids_leading_out_of_the_data_are_refused_before_any_file_is_touched(
        small_sirst, checkpoint_dir, tmp_path, capsys):
    victim = tmp_path / 'victim'
    victim.mkdir()
    shutil.copy(os.path.join(small_sirst, 'images', 'Misc_1.png'), victim / 'Misc_1.png')
    shutil.copy(os.path.join(small_sirst, 'masks', 'Misc_1_pixels0.png'),
                victim / 'Misc_1_pixels0.png')
    before = (victim / 'Misc_1.png').read_bytes()
    split = os.path.join(small_sirst, 'idx_320', 'test.txt')
    out = str(tmp_path / 'out')
    for bad in ('../../victim/Misc_1', os.path.join(str(victim), 'Misc_1')):
        with open(split, 'w') as handle:
            handle.write('Misc_10\n%s\n' % bad)
        with pytest.raises(DatasetError) as err:
            SIRSTSegmentation(small_sirst, split='test')
        assert '%s, line 2' % split in str(err.value)
        assert evaluate.main(['--pretrained', '--model-root', checkpoint_dir, '--data-root',
                              small_sirst, '--out', out, '--save-images', '--no-progress']) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and 'line 2' in err
    assert (victim / 'Misc_1.png').read_bytes() == before and not os.path.exists(out)
    # an image file that is a link out of the dataset
    os.remove(os.path.join(small_sirst, 'images', 'Misc_1.png'))
    os.symlink(str(victim / 'Misc_1.png'), os.path.join(small_sirst, 'images', 'Misc_1.png'))
    with open(split, 'w') as handle:
        handle.write('Misc_10\nMisc_1\n')
    with pytest.raises(DatasetError) as err:
        SIRSTSegmentation(small_sirst, split='test')
    assert 'symbolic link' in str(err.value) and 'line 2' in str(err.value)


def test_evaluate_does_not_write_through_a_link_out_of_its_folder(small_sirst, checkpoint_dir,
                                                                  tmp_path, capsys):
    out = tmp_path / 'out'
    (out / 'images').mkdir(parents=True)
    victim = tmp_path / 'victim.png'
    victim.write_bytes(b'keep me')
    (out / 'images' / 'Misc_1.png').symlink_to(victim)
    assert evaluate.main(['--pretrained', '--model-root', checkpoint_dir, '--data-root',
                          small_sirst, '--out', str(out), '--save-images', '--no-progress',
                          '--base-size', '64', '--test-batch-size', '4']) == 2
    err = capsys.readouterr().err
    assert 'Misc_1.png' in err and 'symbolic link' in err and 'Traceback' not in err
    assert victim.read_bytes() == b'keep me'


# --- 2. optimizer states that cannot run code ------------------------------------------------

def _steps(net, trainer, ctx, count, seed):
    rng = np.random.RandomState(seed)
    for _ in range(count):
        data = mx.nd.array(rng.rand(2, 3, 8, 8))
        with autograd.record():
            losses = [net(x).sum() for x in gluon.utils.split_and_load(data, ctx)]
        autograd.backward(losses)
        trainer.step(2)


def _small_net(ctx):
    net = gluon.nn.HybridSequential()
    # no batch norm: its running statistics are per device, and a .params file holds their mean
    net.add(gluon.nn.Conv2D(4, 3, activation='relu'), gluon.nn.Dense(2))
    mx.random.seed(1)
    net.initialize(mx.init.Xavier(), ctx=ctx)
    return net


@pytest.mark.parametrize('optimizer, ctx, on_kvstore', [
    ('nag', [mx.cpu()], None),
    ('adagrad', [mx.cpu()], None),
    ('adam', [mx.cpu()], None),  # states are tuples
    ('sgd', [mx.cpu(0), mx.cpu(1)], None),  # the kvstore's updater holds the states
    ('nag', [mx.cpu(0), mx.cpu(1)], False),  # one updater per device
])
def test_states_read_back_exactly(tmp_path, optimizer, ctx, on_kvstore):
    params = {'learning_rate': 0.1, 'wd': 1e-4}
    if optimizer in ('nag', 'sgd'):
        params['momentum'] = 0.9
    nets, trainers = [], []
    for _ in range(2):
        nets.append(_small_net(ctx))
        trainers.append(gluon.Trainer(nets[-1].collect_params(), optimizer, dict(params),
                                      update_on_kvstore=on_kvstore))
    _steps(nets[0], trainers[0], ctx, 3, seed=0)
    path = str(tmp_path / 'epoch-0001.states.nd')
    save_trainer_states(trainers[0], nets[0], path)
    nets[0].save_parameters(str(tmp_path / 'p.params'))
    nets[1].load_parameters(str(tmp_path / 'p.params'), ctx=ctx)
    load_trainer_states(trainers[1], nets[1], path)
    for net, trainer in zip(nets, trainers):  # both continue: the same steps, the same result
        _steps(net, trainer, ctx, 2, seed=1)
    assert trainers[1]._optimizer.num_update == trainers[0]._optimizer.num_update == 5
    for (name, a), b in zip(nets[0].collect_params().items(), nets[1].collect_params().values()):
        for device in ctx:
            np.testing.assert_array_equal(a.data(device).asnumpy(), b.data(device).asnumpy(),
                                          err_msg=name)


def _stopped_run(small_sirst, run, epochs='3'):
    assert train.main(TINY + ['--data-root', small_sirst, '--save-dir', run, '--epochs', epochs,
                              '--val-every', '3', '--stop-after', '1']) == 0
    return json.load(open(os.path.join(run, 'last.json')))


class _Payload(object):
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


@pytest.mark.integration
def test_a_crafted_pickle_in_place_of_old_states_does_not_run(small_sirst, tmp_path, capsys):
    run = str(tmp_path / 'run')
    state = _stopped_run(small_sirst, run)
    assert state['states'] == 'epoch-0001.states.nd'
    assert not [n for n in os.listdir(run) if n.endswith('.states')]
    # an old-format run whose states file was replaced
    marker = str(tmp_path / 'code-ran')
    with open(os.path.join(run, 'epoch-0001.states'), 'wb') as handle:
        pickle.dump(_Payload(marker), handle)
    with open(os.path.join(run, 'last.json'), 'w') as handle:
        json.dump(dict(state, states='epoch-0001.states'), handle)
    capsys.readouterr()
    assert train.main(['--resume', run, '--no-progress']) == 2
    err = capsys.readouterr().err
    assert not os.path.exists(marker)
    assert '--trust-states' in err and 'epoch-0001.states' in err
    assert len(err.strip().splitlines()) == 1 and 'Traceback' not in err
    # what the flag is for: it reads the pickle, which runs (and is then no optimizer state)
    assert train.main(['--resume', run, '--no-progress', '--trust-states']) == 2
    assert os.path.exists(marker)
    assert 'Cannot read the pickled optimizer states' in capsys.readouterr().err


def _as_legacy_run(run):
    """Rewrite a run's checkpoint as the older toolkit wrote it: Trainer.save_states."""
    from model import get_model
    from engine.trainer import optimizer_for
    _, config = train.resolve_arguments(['--resume', run])
    state = json.load(open(os.path.join(run, 'last.json')))
    net = get_model(config.net, blocks=config.blocks)
    net.load_parameters(os.path.join(run, state['params']))
    trainer = gluon.Trainer(net.collect_params(), *optimizer_for(config, 1))
    load_trainer_states(trainer, net, os.path.join(run, state['states']))
    legacy = state['states'][:-len('.nd')]
    trainer.save_states(os.path.join(run, legacy))
    for suffix in ('.nd', '.json'):
        os.remove(os.path.join(run, legacy + suffix))
    with open(os.path.join(run, 'last.json'), 'w') as handle:
        json.dump(dict(state, states=legacy), handle)


@pytest.mark.integration
def test_an_old_run_resumes_exactly_with_trust_states_and_is_converted(small_sirst, tmp_path):
    new, old = str(tmp_path / 'new'), str(tmp_path / 'old')
    _stopped_run(small_sirst, new)
    shutil.copytree(new, old)
    _as_legacy_run(old)
    assert train.main(['--resume', old, '--no-progress']) == 2
    for run, extra in ((new, []), (old, ['--trust-states'])):
        assert train.main(['--resume', run, '--no-progress'] + extra) == 0
    a, b = (_params(os.path.join(run, 'epoch-0003.params')) for run in (new, old))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert sorted(n for n in os.listdir(old) if '.states' in n) == [
        'epoch-0003.states.json', 'epoch-0003.states.nd']


@pytest.mark.integration
def test_states_of_another_network_and_names_outside_the_run_are_refused(small_sirst, tmp_path,
                                                                         capsys):
    run, other = str(tmp_path / 'run'), str(tmp_path / 'other')
    state = _stopped_run(small_sirst, run)
    assert train.main(TINY + ['--data-root', small_sirst, '--save-dir', other, '--epochs', '3',
                              '--stop-after', '1', '--net', 'acm_fpn']) == 0
    for suffix in ('.nd', '.json'):
        shutil.copy(os.path.join(other, 'epoch-0001.states' + suffix), run)
    capsys.readouterr()
    assert train.main(['--resume', run, '--no-progress']) == 2
    err = capsys.readouterr().err
    assert 'written for another network' in err and len(err.strip().splitlines()) == 1
    outside = str(tmp_path / 'elsewhere.params')
    shutil.copy(os.path.join(run, state['params']), outside)
    with open(os.path.join(run, 'last.json'), 'w') as handle:
        json.dump(dict(state, params='../elsewhere.params'), handle)
    assert train.main(['--resume', run, '--no-progress']) == 2
    err = capsys.readouterr().err
    assert "'../elsewhere.params'" in err and 'last.json' in err
    assert len(err.strip().splitlines()) == 1


# --- 4. one run per run directory -------------------------------------------------------------

@pytest.mark.integration
def test_a_second_run_on_a_busy_run_directory_refuses_and_names_the_holder(small_sirst,
                                                                           tmp_path, capsys):
    run = str(tmp_path / 'run')
    command = [sys.executable, os.path.join(REPO, 'train.py')] + TINY + [
        '--data-root', small_sirst, '--save-dir', run, '--epochs', '400', '--val-every', '400']
    first = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL,
                             env=dict(os.environ, OMP_NUM_THREADS='1'))
    try:
        deadline = time.time() + 240
        while not os.path.isfile(os.path.join(run, 'last.json')) and time.time() < deadline:
            time.sleep(0.05)
        args_before = open(os.path.join(run, 'args.json')).read()
        for argv in (TINY + ['--data-root', small_sirst, '--save-dir', run, '--net', 'acm_fpn'],
                     ['--resume', run, '--no-progress']):
            assert train.main(argv) == 2
            err = capsys.readouterr().err
            assert 'run directory %s is in use by pid %d on host ' % (run, first.pid) in err
            assert len(err.strip().splitlines()) == 1
        assert open(os.path.join(run, 'args.json')).read() == args_before
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # the holder died: its lock went with it, and the run can be continued
    state = json.load(open(os.path.join(run, 'last.json')))
    assert train.main(['--resume', run, '--no-progress',
                       '--epochs', str(state['epoch'] + 1)]) == 0
    assert [r['epoch'] for r in _history(run)] == list(range(1, state['epoch'] + 2))


@pytest.mark.integration
def test_a_new_run_in_a_directory_holding_a_run_is_refused(small_sirst, tmp_path, capsys):
    run = str(tmp_path / 'run')
    _stopped_run(small_sirst, run)
    capsys.readouterr()
    assert train.main(TINY + ['--data-root', small_sirst, '--save-dir', run, '--net',
                              'acm_fpn']) == 2
    assert '--resume %s' % run in capsys.readouterr().err
    assert json.load(open(os.path.join(run, 'args.json')))['net'] == 'acm_unet'
    with run_directory_lock(run):  # released after the refusal
        pass


# --- 5. predict.py never overwrites -----------------------------------------------------------

def test_predict_gives_every_input_its_own_outputs_and_keeps_existing_ones(
        sirst_root, checkpoint_dir, tmp_path, capsys):
    inputs = tmp_path / 'in'
    for folder in ('a', 'b'):
        (inputs / folder).mkdir(parents=True)
    sources = {'a/img.png': 'Misc_1', 'b/img.png': 'Misc_111', 'a/img.jpg': 'Misc_100'}
    for name, image_id in sources.items():
        Image.open(os.path.join(sirst_root, 'images', image_id + '.png')).convert('RGB') \
            .save(str(inputs / name))
    out = str(tmp_path / 'out')
    common = ['--pretrained', '--model-root', checkpoint_dir, '--out', out, '--base-size', '64']
    files = [str(inputs / name) for name in sources]
    assert predict.main(common + files + [files[0]]) == 0
    printed = capsys.readouterr().out
    assert 'wrote 3 masks' in printed and 'given more than once' in printed
    sizes = {'img': (320, 240), 'img-2': (325, 220), 'img-3': None}
    for name, size in sizes.items():
        mask = Image.open(os.path.join(out, name + '_mask.png'))
        assert size is None or mask.size == size
        assert os.path.isfile(os.path.join(out, name + '_overlay.png'))
    assert '%s shares its name' % files[1] in printed and 'img-2_mask.png' in printed
    before = open(os.path.join(out, 'img_mask.png'), 'rb').read()
    assert predict.main(common + [files[2]]) == 2
    err = capsys.readouterr().err
    assert os.path.join(out, 'img_mask.png') in err and '--force' in err
    assert open(os.path.join(out, 'img_mask.png'), 'rb').read() == before
    assert predict.main(common + ['--force', files[2]]) == 0
    assert Image.open(os.path.join(out, 'img_mask.png')).size == Image.open(files[2]).size


def test_output_names_never_take_another_inputs_name():
    names = predict.output_names(['x/img.png', 'y/img.png', 'img.jpg', 'z/img-2.png'])
    assert names == ['img', 'img-3', 'img-4', 'img-2']


# --- 6-8. split files, oversized images and archives -----------------------------------------

def _evaluate_fails(small_sirst, checkpoint_dir, tmp_path, capsys, *words):
    """evaluate.py stops with exit 2 and one line naming ``words``, writing nothing."""
    out = str(tmp_path / 'eval-out')
    assert evaluate.main(['--pretrained', '--model-root', checkpoint_dir, '--data-root',
                          small_sirst, '--out', out, '--no-progress']) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith('error: '), err
    for word in words:
        assert word in err, (word, err)
    assert not os.path.exists(out)


def test_a_split_file_that_is_not_utf8_or_repeats_an_id(small_sirst, checkpoint_dir, tmp_path,
                                                        capsys):
    split = os.path.join(small_sirst, 'idx_320', 'test.txt')
    with open(split, 'wb') as handle:
        handle.write(b'Misc_1\nMisc_10\n\xff\xfeMisc_100\n')
    with pytest.raises(DatasetError) as err:
        SIRSTSegmentation(small_sirst, split='test')
    assert '%s, line 3' % split in str(err.value) and 'UTF-8' in str(err.value)
    _evaluate_fails(small_sirst, checkpoint_dir, tmp_path, capsys, split, 'line 3', 'UTF-8')
    with open(split, 'w') as handle:  # a repeat would be scored twice and change Pd
        handle.write('Misc_1\nMisc_10\n\nMisc_1\n')
    with pytest.raises(DatasetError) as err:
        SIRSTSegmentation(small_sirst, split='test')
    assert "%s, line 4: id 'Misc_1'" % split in str(err.value)
    assert 'first on line 1' in str(err.value)
    _evaluate_fails(small_sirst, checkpoint_dir, tmp_path, capsys, split, 'line 4', 'Misc_1')
    # a list read for training only may repeat ids to oversample them: nothing is scored
    assert SIRSTSegmentation(small_sirst, split='test', mode='train').ids == [
        'Misc_1', 'Misc_10', 'Misc_1']
    with open(split, 'wb') as handle:  # a byte-order mark and Windows line ends are fine
        handle.write(b'\xef\xbb\xbfMisc_1\r\nMisc_10\r\n')
    assert SIRSTSegmentation(small_sirst, split='test').ids == ['Misc_1', 'Misc_10']


def _png_header(width, height):
    """A PNG that declares ``width`` x ``height`` 8-bit grey pixels and holds almost none: PIL
    sees its size from the header alone (no memory spent writing a real one)."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 0,
                                                               0, 0, 0))
            + chunk(b'IDAT', zlib.compress(b'\0' * 16)) + chunk(b'IEND', b''))


def test_an_image_over_the_decompression_bomb_limit_is_one_line(small_sirst, checkpoint_dir,
                                                                 tmp_path, capsys):
    import warnings
    limit = Image.MAX_IMAGE_PIXELS
    path = os.path.join(small_sirst, 'images', 'Misc_10.png')
    # just over the limit (PIL only warns there) and over twice it (PIL raises)
    for width, height in ((10000, limit // 10000 + 1), (20000, limit // 10000 + 1)):
        with open(path, 'wb') as handle:
            handle.write(_png_header(width, height))
        with warnings.catch_warnings():
            warnings.simplefilter('error')  # not even PIL's warning reaches the user
            with pytest.raises(DatasetError) as err:
                read_image(path)
        assert path in str(err.value) and 'decompression-bomb limit' in str(err.value)
        _evaluate_fails(small_sirst, checkpoint_dir, tmp_path, capsys, path,
                        'decompression-bomb')
    assert Image.MAX_IMAGE_PIXELS == limit  # no process-wide change


def _release_zip(small_sirst, path, extra=()):
    """A zip laid out as GitHub's archive of the official repository (a top folder holding
    README.md, images/, masks/, idx_320/, idx_427/), plus ``extra`` (ZipInfo, bytes) members."""
    import zipfile
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as archive:
        archive.writestr('sirst-abc/README.md', 'the release')
        for folder in ('images', 'masks', 'idx_320', 'idx_427'):
            for name in sorted(os.listdir(os.path.join(small_sirst, folder))):
                archive.write(os.path.join(small_sirst, folder, name),
                              'sirst-abc/%s/%s' % (folder, name))
        for info, content in extra:
            archive.writestr(info, content)
    return path


def _prepare_cli(*args):
    result = subprocess.run([sys.executable, '-m', 'data.prepare'] + list(args), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            timeout=120)
    return result.returncode, result.stdout, result.stderr


def test_a_dataset_whose_images_zip_is_not_a_zip(small_sirst, checkpoint_dir, tmp_path, capsys):
    for kind in ('images', 'masks'):
        shutil.make_archive(os.path.join(small_sirst, kind), 'zip', small_sirst, kind)
        shutil.rmtree(os.path.join(small_sirst, kind))
    with open(os.path.join(small_sirst, 'images.zip'), 'wb') as handle:
        handle.write(b'<html>not found</html>')
    with pytest.raises(DatasetError) as err:
        SIRSTSegmentation(small_sirst, split='test')
    path = os.path.join(small_sirst, 'images.zip')
    assert path in str(err.value) and 'File is not a zip file' in str(err.value)
    _evaluate_fails(small_sirst, checkpoint_dir, tmp_path, capsys, path, 'not a zip file')


@pytest.mark.integration
def test_prepare_takes_the_release_and_refuses_archives_that_are_not_zips(small_sirst, tmp_path):
    from data.prepare import prepare
    archive = _release_zip(small_sirst, str(tmp_path / 'sirst.zip'))
    root, counts = prepare(str(tmp_path / 'root'), archive)
    assert counts['test'] == 4 and sorted(os.listdir(root)) == ['idx_320', 'idx_427', 'images',
                                                                 'masks']
    clone = tmp_path / 'clone'
    shutil.copytree(os.path.join(small_sirst, 'idx_320'), str(clone / 'idx_320'))
    shutil.copytree(os.path.join(small_sirst, 'masks'), str(clone / 'masks'))
    (clone / 'images.zip').write_bytes(b'<html>rate limited</html>')
    code, out, err = _prepare_cli('--source', str(clone), '--root', str(tmp_path / 'r2'))
    assert code == 2 and len(err.strip().splitlines()) == 1 and 'Traceback' not in err
    assert str(clone / 'images.zip') in err and 'not a readable zip' in err
    (tmp_path / 'sirst-master.zip').write_bytes(b'PK\x03\x04 truncated')
    code, out, err = _prepare_cli('--source', str(tmp_path / 'sirst-master.zip'), '--root',
                                  str(tmp_path / 'r3'))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert 'sirst-master.zip' in err and 'not a readable zip' in err


def test_prepare_refuses_members_that_lead_out_link_or_stray(small_sirst, tmp_path):
    import stat
    import zipfile
    from data.archive import ArchiveError
    from data.prepare import prepare
    link = zipfile.ZipInfo('sirst-abc/images/Misc_2.png')
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    cases = {'absolute': (zipfile.ZipInfo('/tmp/evil.png'), b'x'),
             'climbs': (zipfile.ZipInfo('sirst-abc/images/../../../evil.png'), b'x'),
             'link': (link, b'/etc/passwd'),
             'stray': (zipfile.ZipInfo('sirst-abc/images/run.sh'), b'echo hi'),
             'sub-folder': (zipfile.ZipInfo('sirst-abc/masks/deep/x.png'), b'x')}
    for label, member in cases.items():
        archive = _release_zip(small_sirst, str(tmp_path / (label + '.zip')), [member])
        root = tmp_path / ('root-' + label)
        with pytest.raises(ArchiveError) as err:
            prepare(str(root), archive)
        assert archive in str(err.value) and member[0].filename in str(err.value), label
        assert not root.exists(), label  # refused before anything is written
    written = [p for p in tmp_path.rglob('evil.png')]
    assert written == [] and not os.path.exists('/tmp/evil.png')
    # a clone whose folder holds a link out of it
    clone = tmp_path / 'clone'
    for folder in ('images', 'masks', 'idx_320', 'idx_427'):
        shutil.copytree(os.path.join(small_sirst, folder), str(clone / folder))
    (clone / 'images' / 'Misc_9.png').symlink_to(tmp_path / 'root-absolute')
    with pytest.raises(ArchiveError) as err:
        prepare(str(tmp_path / 'root-clone'), str(clone))
    assert 'Misc_9.png' in str(err.value) and 'symbolic link' in str(err.value)
    assert not (tmp_path / 'root-clone').exists()


def test_prepare_is_bounded_in_bytes_and_files(small_sirst, tmp_path):
    import zipfile
    from data.archive import ArchiveError
    from data.prepare import prepare
    # 8 MB of zeros compress to a few kB: counted as decompressed, it stops at the bound
    info = zipfile.ZipInfo('sirst-abc/images/Misc_999.png')
    info.compress_type = zipfile.ZIP_DEFLATED
    archive = _release_zip(small_sirst, str(tmp_path / 'bomb.zip'),
                           [(info, b'\0' * (8 * 2 ** 20))])
    assert os.path.getsize(archive) < 2 ** 20
    with pytest.raises(ArchiveError) as err:
        prepare(str(tmp_path / 'r1'), archive, max_bytes=4 * 2 ** 20)
    assert 'expands beyond %d bytes' % (4 * 2 ** 20) in str(err.value)
    assert sum(p.stat().st_size for p in (tmp_path / 'r1').rglob('*') if p.is_file()) \
        <= 4 * 2 ** 20
    archive = _release_zip(small_sirst, str(tmp_path / 'many.zip'))
    with pytest.raises(ArchiveError) as err:
        prepare(str(tmp_path / 'r2'), archive, max_files=10)
    assert 'more than the 10 files' in str(err.value)
    assert not os.path.exists(str(tmp_path / 'r2'))  # refused before writing anything


@pytest.mark.integration
def test_a_download_is_checked_against_its_sha256(small_sirst, tmp_path):
    import hashlib
    from data.archive import ArchiveError
    from data.prepare import prepare
    archive = _release_zip(small_sirst, str(tmp_path / 'sirst.zip'))
    digest = hashlib.sha256(open(archive, 'rb').read()).hexdigest()
    url = 'file://' + archive  # the download path, without a network
    with pytest.raises(ArchiveError) as err:  # four images are not the recorded release
        prepare(str(tmp_path / 'r1'), url=url)
    assert 'not the recorded release' in str(err.value) and 'missing' in str(err.value)
    assert not os.path.exists(str(tmp_path / 'r1'))
    with pytest.raises(ArchiveError) as err:
        prepare(str(tmp_path / 'r2'), url=url, sha256='0' * 64)
    assert digest in str(err.value) and 'not the expected' in str(err.value)
    assert prepare(str(tmp_path / 'r3'), url=url, sha256=digest)[1]['test'] == 4
    code, out, err = _prepare_cli('--url', url, '--root', str(tmp_path / 'r4'), '--sha256',
                                  'f' * 64)
    assert code == 2 and len(err.strip().splitlines()) == 1 and digest in err
    code, out, err = _prepare_cli('--url', url, '--root', str(tmp_path / 'r5'), '--sha256',
                                  digest)
    assert code == 0 and 'SIRST ready' in out


@pytest.mark.integration
def test_a_download_without_sha256_is_checked_file_by_file(sirst_root, tmp_path):
    # the whole release, zipped as GitHub serves it, "downloaded" from a file:// URL: it
    # matches the recorded digests; one changed byte in one image is named and refused
    from data.archive import ArchiveError
    from data.prepare import prepare
    url = 'file://' + _release_zip(sirst_root, str(tmp_path / 'sirst.zip'))
    root, counts = prepare(str(tmp_path / 'good'), url=url)
    assert counts == {'train': 160, 'val': 64, 'test': 96, 'trainval': 224,
                      'trainvaltest': 320}
    assert len(os.listdir(os.path.join(root, 'images'))) == 427
    changed = str(tmp_path / 'changed')
    shutil.copytree(sirst_root, changed)
    victim = os.path.join(changed, 'images', sorted(os.listdir(os.path.join(changed,
                                                                            'images')))[0])
    with open(victim, 'r+b') as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 1]))
    url = 'file://' + _release_zip(changed, str(tmp_path / 'changed.zip'))
    with pytest.raises(ArchiveError) as err:
        prepare(str(tmp_path / 'bad'), url=url)
    assert os.path.basename(victim) in str(err.value) and 'recorded' in str(err.value)
    assert not os.path.exists(str(tmp_path / 'bad'))
