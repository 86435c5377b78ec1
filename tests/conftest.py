"""Shared fixtures: the real SIRST and NUDT-SIRST data and released checkpoint, found
through settings.

``SIRST_ROOT``, ``NUDT_SIRST_ROOT`` and ``ACM_MODEL_ROOT`` point at them (``.ci/run`` sets
them to ``../shared``); unset, the sibling ``../shared`` folder of the checkout is used.
Tests never write there.
"""
import os
import shutil
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), 'shared')
sys.path.insert(0, REPO)
import utils.cores  # noqa: E402,F401  (before mxnet: all cores for MXNet's thread pool)

RELEASED_NAME = '0.7442-ResUNet_AsymBi_DENTIST_Puma1_GPU_0-IoU-288-best.params'


def _required_dir(env, default, what):
    """The folder of ``what``; without it the tests that need it fail (never skip: CI must
    not pass with them left out), with one line that says where to put it."""
    path = os.environ.get(env) or default
    if not os.path.isdir(path):
        pytest.fail('%s not found at %s: set %s to its folder (the tests need the real data, '
                    'and fail rather than skip without it)' % (what, path, env), pytrace=False)
    return path


@pytest.fixture(scope='session')
def sirst_root():
    return _required_dir('SIRST_ROOT', os.path.join(SHARED, 'sirst'), 'SIRST dataset')


@pytest.fixture(scope='session')
def nudt_sirst_root():
    return _required_dir('NUDT_SIRST_ROOT', os.path.join(SHARED, 'nudt-sirst'),
                         'NUDT-SIRST dataset')


@pytest.fixture(scope='session')
def checkpoint_dir():
    return _required_dir('ACM_MODEL_ROOT', os.path.join(SHARED, 'checkpoints', 'open-acm'),
                         'released checkpoint folder')


@pytest.fixture(scope='session')
def released_params(checkpoint_dir):
    return os.path.join(checkpoint_dir, RELEASED_NAME)


@pytest.fixture(scope='session')
def released_listing(checkpoint_dir):
    with open(os.path.join(checkpoint_dir, 'acm_unet_b4.params.txt')) as handle:
        return [tuple(line.split()) for line in handle if line.strip() and line[0] != '#']


SMALL_IDS = ['Misc_1', 'Misc_10', 'Misc_100', 'Misc_111']


def copy_small_sirst(sirst_root, dest, ids=SMALL_IDS):
    """A few real SIRST images in the folder layout, every split listing all of them."""
    for kind in ('images', 'masks'):
        os.makedirs(os.path.join(dest, kind))
    for image_id in ids:
        shutil.copy(os.path.join(sirst_root, 'images', image_id + '.png'),
                    os.path.join(dest, 'images'))
        for suffix in ('_pixels0.png', '.xml'):
            shutil.copy(os.path.join(sirst_root, 'masks', image_id + suffix),
                        os.path.join(dest, 'masks'))
    for split_set in ('idx_320', 'idx_427'):
        os.makedirs(os.path.join(dest, split_set))
        for split in ('train', 'val', 'test', 'trainval', 'trainvaltest'):
            with open(os.path.join(dest, split_set, split + '.txt'), 'w') as handle:
                handle.write('\n'.join(ids))
    return dest


@pytest.fixture
def small_sirst(sirst_root, tmp_path):
    return copy_small_sirst(sirst_root, str(tmp_path / 'sirst'))


def copy_small_nudt(nudt_root, dest, train=6, test=3):
    """The first ``train`` and ``test`` ids of NUDT-SIRST's 50_50 lists, copied with their
    images and masks in the release's layout (no validation split, as released)."""
    for kind in ('images', 'masks'):
        os.makedirs(os.path.join(dest, kind))
    os.makedirs(os.path.join(dest, '50_50'))
    for split, count in (('train', train), ('test', test)):
        with open(os.path.join(nudt_root, '50_50', split + '.txt')) as handle:
            ids = handle.read().split()[:count]
        for image_id in ids:
            for kind in ('images', 'masks'):
                shutil.copy(os.path.join(nudt_root, kind, image_id + '.png'),
                            os.path.join(dest, kind))
        with open(os.path.join(dest, '50_50', split + '.txt'), 'w') as handle:
            handle.write('\n'.join(ids) + '\n')
    return dest


@pytest.fixture
def small_nudt(nudt_sirst_root, tmp_path):
    return copy_small_nudt(nudt_sirst_root, str(tmp_path / 'nudt-sirst'))
