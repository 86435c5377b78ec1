"""The dataset registry (issue 13) on real files: SIRST and NUDT-SIRST from ../shared, and
small folders of images and masks written here: lengths, first items, protocols, validation
sets, mask patterns, binarisation and every bad input a folder can hold."""
import os

import numpy as np
import pytest
from PIL import Image

from data import (DatasetError, FolderSegmentation, NUDTSIRSTSegmentation, SIRSTSegmentation,
                  dataset_protocol, get_dataset, list_datasets, training_sets)
from data.files import decode_mask
from data.splits import carve_ids
from data.transforms import MEAN, STD


def _normalised(path, size=None):
    """What the pipeline should give for an image file: RGB, resized, ImageNet-normalised."""
    image = Image.open(path).convert('RGB')
    if size is not None:
        image = image.resize((size, size), Image.BILINEAR)
    return ((np.asarray(image, np.float32) / 255 - MEAN) / STD).transpose(2, 0, 1)


def _write_folder(root, ids=('a', 'b', 'c', 'd'), mask_pattern='{id}.png', size=(24, 16),
                  splits=None, mask_values=(0, 255)):
    """A folder dataset: images/<id>.png (RGB noise), masks/<mask_pattern> (a 3x3 target of
    mask_values[1] on mask_values[0]) and <split>.txt lists (default: train = all but the
    last id, test = the last)."""
    rng = np.random.RandomState(0)
    os.makedirs(os.path.join(root, 'images'))
    os.makedirs(os.path.join(root, 'masks'))
    for n, image_id in enumerate(ids):
        pixels = rng.randint(0, 256, size=(size[1], size[0], 3)).astype(np.uint8)
        Image.fromarray(pixels).save(os.path.join(root, 'images', image_id + '.png'))
        mask = np.full((size[1], size[0]), mask_values[0], np.uint8)
        mask[n:n + 3, n + 1:n + 4] = mask_values[1]
        Image.fromarray(mask).save(os.path.join(root, 'masks',
                                                mask_pattern.format(id=image_id)))
    splits = splits or {'train': ids[:-1], 'test': ids[-1:]}
    for split, listed in splits.items():
        with open(os.path.join(root, split + '.txt'), 'w') as handle:
            handle.write('\n'.join(listed) + '\n')
    return root


def _error(**kwargs):
    name = kwargs.pop('name')
    with pytest.raises(DatasetError) as err:
        get_dataset(name, **kwargs)
    message = str(err.value)
    assert '\n' not in message
    return message


# --- the registry -----------------------------------------------------------------------------

def test_registry_names_protocols_and_unknown_names(sirst_root):
    assert list_datasets() == ['sirst', 'nudt-sirst', 'folder']
    assert dataset_protocol('sirst') == {'base_size': 512, 'crop_size': 480, 'has_val': True}
    assert dataset_protocol('nudt-sirst') == {'base_size': 256, 'crop_size': 256,
                                              'has_val': False}
    message = _error(name='nuaa', root=sirst_root)
    assert "'nuaa'" in message and 'sirst, nudt-sirst, folder' in message
    message = _error(name='nudt-sirst', root=sirst_root, split_set='idx_320', image_pattern='x')
    assert 'image_pattern' in message and 'split_set' in message  # lists what it does take


def test_sirst_through_the_registry_is_the_sirst_dataset(sirst_root):
    for split_set, sizes in (('idx_320', (160, 64, 96)), ('idx_427', (256, 85, 86))):
        for split, size in zip(('train', 'val', 'test'), sizes):
            dataset = get_dataset('sirst', root=sirst_root, split=split, split_set=split_set)
            assert isinstance(dataset, SIRSTSegmentation) and len(dataset) == size
    dataset = get_dataset('sirst', root=sirst_root, split='test', mode='testval')
    direct = SIRSTSegmentation(sirst_root, split='test', mode='testval')
    assert (dataset.base_size, dataset.crop_size, dataset.label) == (512, 480, 'idx_320/test')
    for a, b in zip(dataset[0], direct[0]):
        np.testing.assert_array_equal(a, b)
    train, val, note = training_sets('sirst', root=sirst_root, base_size=128, crop_size=96)
    assert (len(train), len(val), train.mode, val.mode) == (160, 64, 'train', 'testval')
    assert note == 'validation: sirst idx_320/val (64 images)'


def test_nudt_sirst_lengths_first_items_and_native_size(nudt_sirst_root):
    train = get_dataset('nudt-sirst', root=nudt_sirst_root, split='train')
    test = get_dataset('nudt-sirst', root=nudt_sirst_root, split='test', mode='testval')
    assert isinstance(test, NUDTSIRSTSegmentation)
    assert (len(train), len(test)) == (663, 664)
    assert (train.ids[0], test.ids[0]) == ('001137', '000541')
    assert not set(train.ids) & set(test.ids)
    assert (test.base_size, test.crop_size) == (256, 256)  # the protocol's native size
    image, mask = test[0]
    assert image.shape == (3, 256, 256) and mask.shape == (1, 256, 256)
    np.testing.assert_allclose(image, _normalised(os.path.join(nudt_sirst_root, 'images',
                                                               '000541.png')), rtol=1e-5)
    truth = np.asarray(Image.open(os.path.join(nudt_sirst_root, 'masks', '000541.png'))) > 0
    np.testing.assert_array_equal(mask[0], truth)
    assert truth.any()
    crop = get_dataset('nudt-sirst', root=nudt_sirst_root, split='train', mode='train')[0]
    assert crop[0].shape == (3, 256, 256)
    at_512 = get_dataset('nudt-sirst', root=nudt_sirst_root, split='test', mode='testval',
                         base_size=512)
    assert at_512[0][0].shape == (3, 512, 512)  # SIRST's size, when asked


def test_nudt_sirst_validation_is_carved_off_train_deterministically(nudt_sirst_root):
    train, val, note = training_sets('nudt-sirst', root=nudt_sirst_root, seed=3)
    again_train, again_val, _ = training_sets('nudt-sirst', root=nudt_sirst_root, seed=3)
    other = training_sets('nudt-sirst', root=nudt_sirst_root, seed=4)[1]
    full = get_dataset('nudt-sirst', root=nudt_sirst_root, split='train')
    test = get_dataset('nudt-sirst', root=nudt_sirst_root, split='test')
    assert (len(train), len(val)) == (597, 66)
    assert val.ids == again_val.ids and train.ids == again_train.ids and val.ids != other.ids
    assert sorted(train.ids + val.ids) == sorted(full.ids)
    assert not set(val.ids) & set(test.ids) and not set(val.ids) & set(train.ids)
    assert (train.mode, val.mode) == ('train', 'testval')
    assert 'seed 3' in note and '66 of nudt-sirst 50_50/train' in note
    train, val, note = training_sets('nudt-sirst', root=nudt_sirst_root, val_split='test')
    assert len(val) == 664 and 'test split' in note  # what the user names, and said so
    with pytest.raises(DatasetError) as err:
        training_sets('nudt-sirst', root=nudt_sirst_root, val_fraction=1.5)
    assert 'between 0 and 1' in str(err.value)


def test_carving_a_training_list_that_oversamples_keeps_validation_apart():
    kept, carved = carve_ids(['a', 'b', 'a', 'c', 'd', 'a'], 0.5, seed=1)
    assert len(carved) == 2 == len(set(carved)) and not set(carved) & set(kept)
    assert sorted(set(kept) | set(carved)) == ['a', 'b', 'c', 'd']
    assert kept.count('a') == (3 if 'a' in kept else 0)  # oversampling kept for training
    assert carve_ids(['a', 'b', 'a', 'c', 'd', 'a'], 0.5, seed=1) == (kept, carved)


def test_nudt_sirst_missing_or_without_a_split(nudt_sirst_root, tmp_path):
    message = _error(name='nudt-sirst', root=str(tmp_path))
    assert str(tmp_path / '50_50') in message and 'NUDT_SIRST_ROOT' in message
    message = _error(name='nudt-sirst', root=nudt_sirst_root, split='val')
    assert 'val.txt does not exist' in message and 'train.txt, test.txt' in message
    message = _error(name='nudt-sirst', root=nudt_sirst_root, split_set='60_40')
    assert '50_50, 70_20' in message
    for size in (0, 25.5, True):
        assert 'base_size' in _error(name='nudt-sirst', root=nudt_sirst_root, base_size=size)


# --- any folder -------------------------------------------------------------------------------

def test_folder_dataset_lengths_first_items_and_split_lists(tmp_path):
    root = _write_folder(str(tmp_path / 'mine'))
    train = get_dataset('folder', root=root, split='train', mode='test')
    test = get_dataset('folder', root=root, split='test', mode='testval', base_size=32)
    assert isinstance(train, FolderSegmentation)
    assert (len(train), len(test), train.ids, test.ids) == (3, 1, ['a', 'b', 'c'], ['d'])
    image, mask = train[1]
    np.testing.assert_allclose(image, _normalised(os.path.join(root, 'images', 'b.png')),
                               rtol=1e-5)
    expected = np.zeros((16, 24))
    expected[1:4, 2:5] = 1
    np.testing.assert_array_equal(mask[0], expected)
    assert test[0][0].shape == (3, 32, 32)
    os.makedirs(os.path.join(root, 'lists'))
    with open(os.path.join(root, 'lists', 'few.txt'), 'w') as handle:
        handle.write('c\na\n')
    assert get_dataset('folder', root=root, split='lists/few.txt').ids == ['c', 'a']
    os.rename(os.path.join(root, 'test.txt'), os.path.join(root, 'lists', 'test.txt'))
    assert get_dataset('folder', root=root, split='test',
                       split_pattern='lists/{split}.txt').ids == ['d']
    train, val, note = training_sets('folder', root=root, val_fraction=0.34, seed=0)
    assert (len(train), len(val)) == (2, 1) and 'folder has no validation split' in note


def test_folder_mask_pattern_and_a_wrong_one_named_with_a_suggestion(tmp_path):
    root = _write_folder(str(tmp_path / 'mine'), ids=('Misc_1', 'Misc_10', 'Misc_2'),
                         mask_pattern='{id}_pixels0.png')
    dataset = get_dataset('folder', root=root, split='train', mask_pattern='{id}_pixels0.png')
    assert dataset.mask_name('Misc_1') == 'Misc_1_pixels0.png' and len(dataset) == 2
    message = _error(name='folder', root=root, split='train')
    assert "mask_pattern='{id}_pixels0.png'" in message and str(tmp_path) in message
    for pattern in ('{name}.png', '{id}_{id}.png', 'mask.png', '{id'):
        message = _error(name='folder', root=root, mask_pattern=pattern)
        assert 'mask_pattern' in message and repr(pattern) in message


# --- masks as datasets ship them ----------------------------------------------------------

def test_non_binary_masks_are_an_error_by_default_and_counted_when_binarised(tmp_path):
    root = _write_folder(str(tmp_path / 'soft'), mask_values=(0, 255))
    for name, value in (('a.png', 128), ('c.png', 1)):  # two masks with in-between values
        path = os.path.join(root, 'masks', name)
        mask = np.asarray(Image.open(path)).copy()
        mask[mask == 255] = 200
        mask[-1, -1] = value
        Image.fromarray(mask).save(path)
    strict = get_dataset('folder', root=root, split='train')
    with pytest.raises(DatasetError) as err:
        strict.verify()
    assert os.path.join(root, 'masks', 'a.png') in str(err.value) and '128' in str(err.value)
    assert 'mask_threshold' in str(err.value)
    binarised = get_dataset('folder', root=root, split='train', mode='test', mask_threshold=127)
    assert binarised.binarised_masks() == ['a.png', 'c.png']
    binarised.verify()
    assert binarised.binarised_masks() == ['a.png', 'c.png']
    assert 'binarised above 127: 2 of 3 changed' in binarised.describe()
    mask = binarised[0][1][0]
    assert mask[-1, -1] == 1 and mask.sum() == 10  # 200 and 128 exceed 127
    low = get_dataset('folder', root=root, split='train', mask_threshold=0, mode='test')
    assert low[2][1][0][-1, -1] == 1  # value 1 exceeds 0
    assert get_dataset('folder', root=root, split='test', mask_threshold=127) \
        .binarised_masks() == []
    message = _error(name='folder', root=root, mask_threshold=255)
    assert 'mask_threshold' in message


def test_mask_modes_binarise_at_their_own_bit_depth(tmp_path):
    binary = np.zeros((4, 6), bool)
    binary[1:3, 2:4] = True
    cases = {
        'L 0/255': (Image.fromarray(binary.astype(np.uint8) * 255), False),
        '16-bit 0/65535': (Image.fromarray(binary.astype(np.uint16) * 65535), False),
        '16-bit 0/1': (Image.fromarray(binary.astype(np.uint16)), True),
        'palette': (Image.fromarray(binary.astype(np.uint8) * 255).convert('P'), False),
        'red RGB': (Image.fromarray(np.stack([binary * 255, binary * 0, binary * 0], -1)
                                    .astype(np.uint8)), False),
        'grey RGB': (Image.fromarray(np.stack([binary * 200] * 3, -1).astype(np.uint8)), True),
        'bilevel': (Image.fromarray(binary), False),
    }
    for label, (image, changed) in cases.items():
        path = str(tmp_path / 'mask.png')
        image.save(path)
        with open(path, 'rb') as handle:
            content = handle.read()
        mask, altered = decode_mask(content, path, threshold=0)
        np.testing.assert_array_equal(np.asarray(mask), binary * 255, err_msg=label)
        assert altered == changed, label


def test_images_of_every_mode_decode_to_their_intensities_through_a_dataset(tmp_path):
    """Each mode written as a real file and read through the folder dataset."""
    ramp = np.arange(0, 256, 4, dtype=np.uint8).reshape(8, 8)
    gray = Image.fromarray(ramp)
    images = {
        'L.png': gray, 'P.png': gray.convert('P'), 'RGB.png': gray.convert('RGB'),
        'RGBA.png': gray.convert('RGBA'), 'LA.png': gray.convert('LA'),
        'I16.png': Image.fromarray(ramp.astype(np.uint16) * 257),
        'I16B.tif': Image.frombytes('I;16B', (8, 8), (ramp.astype('>u2') * 257).tobytes()),
        'I.tif': Image.fromarray(ramp.astype(np.int32) * 257),
        'F.tif': Image.fromarray(ramp.astype(np.float32) / 255),
        'CMYK.tif': gray.convert('RGB').convert('CMYK'),
    }
    root = tmp_path / 'modes'
    (root / 'images').mkdir(parents=True)
    (root / 'masks').mkdir()
    for name, image in images.items():
        image.save(str(root / 'images' / name))
        Image.fromarray(((ramp > 100) * 255).astype(np.uint8)).save(
            str(root / 'masks' / (name + '.mask.png')))
    (root / 'all.txt').write_text('\n'.join(images))
    dataset = get_dataset('folder', root=str(root), split='all', mode='test',
                          image_pattern='{id}', mask_pattern='{id}.mask.png')
    modes = {name: Image.open(str(root / 'images' / name)).mode for name in images}
    assert modes['I16.png'] == 'I;16' and modes['I16B.tif'] == 'I;16B'
    assert modes['I.tif'] == 'I' and modes['F.tif'] == 'F'
    rgb = np.stack([ramp] * 3, -1)
    for idx, name in enumerate(dataset.ids):
        np.testing.assert_array_equal(np.asarray(dataset.load_image(idx)), rgb,
                                      err_msg='%s (%s)' % (name, modes[name]))
        np.testing.assert_array_equal(dataset[idx][1][0], ramp > 100, err_msg=name)


# --- bad input, before any work -----------------------------------------------------------

def test_a_folder_whose_masks_do_not_match_its_images(tmp_path):
    root = _write_folder(str(tmp_path / 'count'))
    Image.new('RGB', (24, 16)).save(os.path.join(root, 'images', 'e.png'))
    message = _error(name='folder', root=root)
    assert 'no mask for e' in message and '5 images' in message and '4 masks' in message
    os.remove(os.path.join(root, 'images', 'e.png'))
    Image.new('L', (24, 16)).save(os.path.join(root, 'masks', 'z.png'))
    assert 'no image for z' in _error(name='folder', root=root)
    os.remove(os.path.join(root, 'masks', 'z.png'))
    Image.new('L', (20, 16)).save(os.path.join(root, 'masks', 'b.png'))
    message = _error(name='folder', root=root)
    assert os.path.join(root, 'masks', 'b.png') in message and '20x16' in message \
        and '24x16' in message
    message = _error(name='folder', root=root, masks='labels')
    assert os.path.join(root, 'labels') in message


def test_a_split_list_naming_missing_files_or_nothing(tmp_path):
    root = _write_folder(str(tmp_path / 'lists'), splits={'train': ['a', 'b', 'ghost'],
                                                          'empty': ['', '  '],
                                                          'test': ['d']})
    message = _error(name='folder', root=root)
    assert os.path.join(root, 'train.txt') in message and 'ghost (no image)' in message \
        and 'ghost (no mask)' in message
    message = _error(name='folder', root=root, split='empty')
    assert os.path.join(root, 'empty.txt') in message and 'no image ids' in message
    message = _error(name='folder', root=root, split='val')
    assert os.path.join(root, 'val.txt') in message
    message = _error(name='folder', root=str(tmp_path / 'nothing-here'))
    assert 'nothing-here' in message
    assert 'root folder' in _error(name='folder')
