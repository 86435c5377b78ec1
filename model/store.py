"""The model store for released weights, as GluonCV's model zoo keeps it.

Released files live in a folder (``root=``, else ``$ACM_MODEL_ROOT``, else
``~/.mxnet/models``) under a GluonCV-style name ``<model>-<first 8 of sha256>.params``; the
file name of the original release is accepted too, so the folder the paper's repository
ships can serve as the store. Files are fetched where the network allows and always
verified by sha256 before use.
"""
import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections import namedtuple

__all__ = ['RELEASED', 'model_store_root', 'get_released_file', 'sha256sum']

Released = namedtuple('Released', ['store_name', 'sha256', 'original_name', 'url'])

_OPEN_ACM = 'https://github.com/YimianDai/open-acm/raw/master/params/'

#: (host, fusion mode, blocks, channel_times, stem) -> released file
RELEASED = {
    ('unet', 'AsymBi', 4, 1, 'paper'): Released(
        'acm_unet_b4',
        '22e037701d8908e9bd21a8a216e2327c58da28c331f7a9374f9f7866373cdfef',
        '0.7442-ResUNet_AsymBi_DENTIST_Puma1_GPU_0-IoU-288-best.params',
        _OPEN_ACM + '0.7442-ResUNet_AsymBi_DENTIST_Puma1_GPU_0-IoU-288-best.params'),
}


def model_store_root(root=None):
    """The model store folder: ``root``, else ``$ACM_MODEL_ROOT``, else ~/.mxnet/models."""
    return os.path.expanduser(root or os.environ.get('ACM_MODEL_ROOT')
                              or os.path.join('~', '.mxnet', 'models'))


def sha256sum(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def _download(url, target, timeout=30):
    # Write beside the target and rename, so an interrupted download never looks complete.
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=folder, suffix='.part')
    try:
        with os.fdopen(fd, 'wb') as out, urllib.request.urlopen(url, timeout=timeout) as src:
            shutil.copyfileobj(src, out)
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def get_released_file(released, root=None):
    """Path of a verified released parameter file, fetching it into the store if needed."""
    root = model_store_root(root)
    store_path = os.path.join(root, '%s-%s.params' % (released.store_name, released.sha256[:8]))
    candidates = [store_path, os.path.join(root, released.original_name)]
    path = next((p for p in candidates if os.path.isfile(p)), None)
    if path is None:
        url = os.environ.get('ACM_MODEL_URL', released.url)
        try:
            _download(url, store_path)
        except (OSError, ValueError) as err:
            raise FileNotFoundError(
                'The released weights of %s are not in the model store %s and could not be '
                'downloaded from %s (%s).\nDownload that file and save it as %s (or keep its '
                'original name %s there); choose another store with root=... or the '
                'ACM_MODEL_ROOT environment variable.'
                % (released.store_name, root, url, err, store_path, released.original_name)
            ) from None
        path = store_path
    actual = sha256sum(path)
    if actual != released.sha256:
        raise ValueError('%s has sha256 %s, expected %s for %s: the file is corrupt, '
                         'truncated or another model. Delete it and fetch it again.'
                         % (path, actual, released.sha256, released.store_name))
    return path
