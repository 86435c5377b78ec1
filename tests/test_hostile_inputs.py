"""Hostile inputs and faults (issue 15), on real files and real MXNet: image modes and bit
depths decoded in one place, optimizer states that cannot run code, names confined to their
folders, one run per run directory, and predict.py outputs that never overwrite each other."""
import io
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import evaluate
from data import DatasetError, SIRSTSegmentation
from data.files import UnsafePathError, decode_image, read_image, safe_join


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
