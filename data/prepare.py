"""Put the official SIRST release into the dataset root.

    python -m data.prepare                       # download (where the network allows)
    python -m data.prepare --source ~/sirst      # from a clone of the official repository
    python -m data.prepare --source sirst-master.zip --root /data/sirst

The result is the unpacked layout (images/, masks/, idx_320/, idx_427/) under --root
(default $SIRST_ROOT or ~/.mxnet/datasets/sirst).
"""
import argparse
import os
import shutil
import sys
import tempfile
import urllib.request
import zipfile

from .files import DatasetError, resolve_root
from .sirst import SIRSTSegmentation

ARCHIVE_URL = 'https://github.com/YimianDai/sirst/archive/refs/heads/master.zip'


def _find_release(folder):
    """The folder inside ``folder`` that holds idx_320/ (a clone's or an archive's top)."""
    for current, dirs, _ in os.walk(folder):
        if 'idx_320' in dirs:
            return current
    raise DatasetError('%s holds no idx_320/ folder: it is not the official SIRST release.'
                       % folder)


def _copy_release(source, root):
    for kind in ('images', 'masks'):
        target = os.path.join(root, kind)
        os.makedirs(target, exist_ok=True)
        folder, archive = os.path.join(source, kind), os.path.join(source, kind + '.zip')
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                shutil.copy2(os.path.join(folder, name), target)
        elif os.path.isfile(archive):
            with zipfile.ZipFile(archive) as handle:
                for member in handle.namelist():
                    if not member.endswith('/'):
                        with open(os.path.join(target, os.path.basename(member)), 'wb') as out:
                            out.write(handle.read(member))
        else:
            raise DatasetError('%s has neither %s/ nor %s.zip.' % (source, kind, kind))
    for split_set in ('idx_320', 'idx_427'):
        if os.path.isdir(os.path.join(source, split_set)):
            shutil.copytree(os.path.join(source, split_set), os.path.join(root, split_set),
                            dirs_exist_ok=True)


def prepare(root=None, source=None, url=ARCHIVE_URL):
    """Fill ``root`` from ``source`` (folder or zip) or a download of ``url``."""
    root = resolve_root(root)
    with tempfile.TemporaryDirectory() as scratch:
        if source is None:
            source = os.path.join(scratch, 'sirst.zip')
            try:
                urllib.request.urlretrieve(url, source)
            except OSError as err:
                raise DatasetError('Could not download %s (%s). Download or clone the official '
                                   'SIRST repository elsewhere and run again with --source.'
                                   % (url, err)) from None
        if os.path.isfile(source) and zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as handle:
                handle.extractall(os.path.join(scratch, 'unpacked'))
            source = os.path.join(scratch, 'unpacked')
        elif not os.path.isdir(source):
            raise DatasetError('--source %s is neither a folder nor a zip archive.' % source)
        _copy_release(_find_release(source), root)
    counts = {split: len(SIRSTSegmentation(root, split=split, split_set='idx_320'))
              for split in SIRSTSegmentation.SPLITS}
    return root, counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', default=None, help='dataset root to fill')
    parser.add_argument('--source', default=None,
                        help='a clone of the official repository or a zip of it')
    parser.add_argument('--url', default=ARCHIVE_URL)
    args = parser.parse_args(argv)
    try:
        root, counts = prepare(args.root, args.source, args.url)
    except (DatasetError, FileNotFoundError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    print('SIRST ready at %s (idx_320: %s)' % (root, ', '.join('%s %d' % kv
                                                              for kv in counts.items())))
    return 0


if __name__ == '__main__':
    sys.exit(main())
