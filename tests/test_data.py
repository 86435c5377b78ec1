"""The SIRST dataset on real images: modes, layouts, loaders, boxes and bad input."""
import os
import shutil
import warnings
import zipfile

import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from data import DatasetError, SIRSTSegmentation
from data.prepare import prepare

EXPECTED_SIZES = {'idx_320': dict(train=160, val=64, test=96, trainval=224, trainvaltest=320),
                  'idx_427': dict(train=256, val=85, test=86, trainval=341, trainvaltest=427)}


def test_split_sets_and_splits(sirst_root):
    for split_set, sizes in EXPECTED_SIZES.items():
        for split, size in sizes.items():
            assert len(SIRSTSegmentation(sirst_root, split=split, split_set=split_set)) == size


@pytest.mark.parametrize('mode, shape', [('train', (480, 480)), ('val', (480, 480)),
                                         ('testval', (512, 512)), ('test', (240, 320))])
def test_modes_give_normalised_images_and_binary_masks(sirst_root, mode, shape):
    dataset = SIRSTSegmentation(sirst_root, split='train', mode=mode)
    image, mask = dataset[dataset.ids.index('Misc_1')]  # a 320x240 image
    assert image.shape == (3,) + shape and image.dtype == np.float32
    assert mask.shape == (1,) + shape and set(np.unique(mask)) <= {0.0, 1.0}
    if mode in ('testval', 'test'):  # deterministic modes: exact normalisation
        raw = np.asarray(Image.open(os.path.join(sirst_root, 'images', 'Misc_1.png'))
                         .convert('RGB').resize(shape[::-1], Image.BILINEAR), np.float32)
        expected = (raw[10, 20] / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
        np.testing.assert_allclose(image[:, 10, 20], expected, rtol=1e-5)


def test_custom_transform_sees_hwc_uint8(sirst_root):
    seen = []

    def transform(image):
        seen.append((image.shape, image.dtype))
        return mx.nd.transpose(image.astype('float32'), (2, 0, 1))
    dataset = SIRSTSegmentation(sirst_root, split='test', mode='testval', transform=transform)
    image, _ = dataset[0]
    assert seen == [((512, 512, 3), np.uint8)] and image.shape == (3, 512, 512)


def test_misc_111_mask_is_aligned_and_warned_once(sirst_root):
    dataset = SIRSTSegmentation(sirst_root, split='test', mode='test')
    index = dataset.ids.index('Misc_111')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        image, mask = dataset[index]
        dataset[index]
    assert len(caught) == 1 and 'Misc_111_pixels0.png' in str(caught[0].message)
    assert image.shape[1:] == mask.shape[1:] == (220, 325)
    assert dataset.native_mask(index).shape == (220, 325)
    testval = SIRSTSegmentation(sirst_root, split='test', mode='testval')
    assert testval[index][1].shape == (1, 512, 512)


def test_dataloader_with_workers(sirst_root):
    dataset = SIRSTSegmentation(sirst_root, split='val', mode='train', crop_size=96,
                                base_size=128)
    loader = mx.gluon.data.DataLoader(dataset, batch_size=16, num_workers=2, shuffle=True)
    count = 0
    for images, masks in loader:
        assert images.shape[1:] == (3, 96, 96) and masks.shape[1:] == (1, 96, 96)
        count += images.shape[0]
    assert count == 64


def test_boxes_from_xml(sirst_root):
    dataset = SIRSTSegmentation(sirst_root, split='trainvaltest')
    boxes = dataset.boxes(dataset.ids.index('Misc_1'))
    np.testing.assert_array_equal(boxes, [[71, 75, 221, 134]])
    assert all(dataset.boxes(i).shape[1] == 4 for i in range(10))


def test_zip_layout_reads_the_same(small_sirst, tmp_path):
    zipped = str(tmp_path / 'zipped')
    os.makedirs(zipped)
    for kind in ('images', 'masks'):
        with zipfile.ZipFile(os.path.join(zipped, kind + '.zip'), 'w') as archive:
            for name in os.listdir(os.path.join(small_sirst, kind)):
                archive.write(os.path.join(small_sirst, kind, name), kind + '/' + name)
    for split_set in ('idx_320', 'idx_427'):
        shutil.copytree(os.path.join(small_sirst, split_set), os.path.join(zipped, split_set))
    plain = SIRSTSegmentation(small_sirst, split='test', mode='testval')
    packed = SIRSTSegmentation(zipped, split='test', mode='testval')
    for i in range(len(plain)):
        for a, b in zip(plain[i], packed[i]):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(plain.boxes(0), packed.boxes(0))
    loader = mx.gluon.data.DataLoader(packed, batch_size=2, num_workers=2)
    assert sum(batch[0].shape[0] for batch in loader) == len(packed)


def test_root_from_environment(small_sirst, monkeypatch):
    monkeypatch.setenv('SIRST_ROOT', small_sirst)
    assert SIRSTSegmentation(split='test').root == small_sirst


def test_missing_dataset_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        SIRSTSegmentation(str(tmp_path / 'nowhere'))
    assert str(tmp_path / 'nowhere' / 'images') in str(err.value)
    assert 'python -m data.prepare' in str(err.value)


@pytest.mark.parametrize('kwargs, word', [(dict(split='testing'), 'trainvaltest'),
                                          (dict(split_set='idx_999'), 'idx_427'),
                                          (dict(mode='eval'), 'testval')])
def test_unknown_split_names(small_sirst, kwargs, word):
    with pytest.raises(DatasetError) as err:
        SIRSTSegmentation(small_sirst, **kwargs)
    assert word in str(err.value)


def test_split_id_without_image_or_mask(small_sirst):
    os.remove(os.path.join(small_sirst, 'images', 'Misc_10.png'))
    os.remove(os.path.join(small_sirst, 'masks', 'Misc_100_pixels0.png'))
    with pytest.raises(DatasetError) as err:
        SIRSTSegmentation(small_sirst, split='test')
    assert 'Misc_10 (no image)' in str(err.value) and 'Misc_100 (no mask)' in str(err.value)


def test_truncated_and_unreadable_png(small_sirst):
    path = os.path.join(small_sirst, 'images', 'Misc_10.png')
    with open(path, 'rb') as handle:
        content = handle.read()
    with open(path, 'wb') as handle:
        handle.write(content[:len(content) // 2])
    dataset = SIRSTSegmentation(small_sirst, split='test', mode='testval')
    with pytest.raises(DatasetError) as err:
        dataset.verify()
    assert path in str(err.value)
    with open(path, 'wb') as handle:
        handle.write(b'this is not a png')
    with pytest.raises(DatasetError) as err:
        dataset[dataset.ids.index('Misc_10')]
    assert path in str(err.value)


def test_mask_with_values_other_than_0_and_255(small_sirst):
    path = os.path.join(small_sirst, 'masks', 'Misc_1_pixels0.png')
    values = np.asarray(Image.open(path)).copy()
    values[0, 0] = 128
    Image.fromarray(values).save(path)
    dataset = SIRSTSegmentation(small_sirst, split='test')
    with pytest.raises(DatasetError) as err:
        dataset[dataset.ids.index('Misc_1')]
    assert path in str(err.value) and '128' in str(err.value)


def test_prepare_from_a_clone_with_zips(small_sirst, tmp_path):
    clone = str(tmp_path / 'clone')
    os.makedirs(clone)
    for kind in ('images', 'masks'):
        shutil.make_archive(os.path.join(clone, kind), 'zip', small_sirst, kind)
    for split_set in ('idx_320', 'idx_427'):
        shutil.copytree(os.path.join(small_sirst, split_set), os.path.join(clone, split_set))
    root, counts = prepare(str(tmp_path / 'root'), clone)
    assert counts['test'] == 4
    assert sorted(os.listdir(os.path.join(root, 'images'))) == sorted(
        os.listdir(os.path.join(small_sirst, 'images')))
    with pytest.raises(DatasetError):
        prepare(str(tmp_path / 'root2'), str(tmp_path / 'root' / 'images'))
