"""Put the official SIRST release into the dataset root.

    python -m data.prepare                       # download (where the network allows)
    python -m data.prepare --source ~/sirst      # from a clone of the official repository
    python -m data.prepare --source sirst-master.zip --root /data/sirst

The result is the unpacked layout (images/, masks/, idx_320/, idx_427/) under --root
(default $SIRST_ROOT or ~/.mxnet/datasets/sirst). Archives are untrusted: only the release's
files are taken (images/*.png, masks/*.png|xml, idx_*/*.txt, or images.zip and masks.zip
holding them), any member that is a link or a path out of its folder refuses the archive,
and everything written is bounded (data.archive.MAX_BYTES, MAX_FILES). A download is
checked before anything reaches --root: against --sha256 when given, else file by file
against the release's recorded digests (``data/sirst-release.sha256``: every image, mask
and split list, computed from the copy this toolkit was built and tested against).
"""
import argparse
import os
import shutil
import sys
import tempfile

from .archive import (ArchiveError, Budget, MAX_BYTES, MAX_FILES, check_manifest,
                      check_sha256, copy_member, download, member_name, open_zip, read_member,
                      read_manifest)
from .files import DatasetError, resolve_root, safe_join
from .sirst import SIRSTSegmentation

#: the official repository at a fixed commit (the newest when this was written), so the
#: archive's bytes, and so its sha256, do not move with the branch
ARCHIVE_COMMIT = '9ad1a3f900b845853eba25369d9c5e6f661e0479'
ARCHIVE_URL = 'https://github.com/YimianDai/sirst/archive/%s.zip' % ARCHIVE_COMMIT
#: sha256 of every file of the release (images, masks, split lists) a download must hold
#: exactly; the archive's own bytes could not be hashed where this was written (no network)
RELEASE_MANIFEST = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                'sirst-release.sha256')

#: the extensions each folder of the release holds
EXTENSIONS = {'images': ('.png',), 'masks': ('.png', '.xml'), 'idx_320': ('.txt',),
              'idx_427': ('.txt',)}


def _skipped(name):
    """Folder entries and the hidden files of some systems (__MACOSX/, .DS_Store)."""
    return (name.endswith('/') or name.startswith('__MACOSX/')
            or os.path.basename(name.rstrip('/')).startswith('.'))


def _expected(folder, name, location):
    """Refuse a file of ``folder`` whose extension the release does not have there."""
    if not name.lower().endswith(EXTENSIONS[folder]):
        raise ArchiveError('%s: %s is not a file the SIRST release has in %s/ (only %s); it '
                           'is refused.' % (location, name, folder, ', '.join(EXTENSIONS[folder])))


def _target(root, folder, name):
    target = safe_join(os.path.join(root, folder), os.path.basename(name))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    return target


def _copy_nested(content, kind, root, budget, location):
    """The members of a nested images.zip / masks.zip, all checked before any is written,
    flattened into kind/."""
    handle = open_zip(content, location)
    with handle:
        infos = handle.infolist()
        budget.check_count(len(infos), location)
        plan = []
        for info in infos:
            name = member_name(info, location)
            if not _skipped(name):
                _expected(kind, name, location)
                plan.append((info, name))
        for info, name in plan:
            copy_member(handle, info, _target(root, kind, name), budget, location)


def _release_prefix(names, location):
    """The folder inside the archive that holds idx_320/ ('' at its top)."""
    for name in names:
        parts = name.split('/')
        if 'idx_320' in parts[:-1]:
            return ''.join(part + '/' for part in parts[:parts.index('idx_320')])
    raise DatasetError('%s holds no idx_320/ folder: it is not the official SIRST release.'
                       % location)


def _copy_zip(path, root, budget):
    """The release's files from the repository archive at ``path``; every member is checked
    before any is written (other files of the repository, such as README.md, are left)."""
    handle = open_zip(path, path)
    with handle:
        infos = handle.infolist()
        budget.check_count(len(infos), path)
        names = [member_name(info, path) for info in infos]  # any bad member refuses it all
        prefix = _release_prefix(names, path)
        plan = []
        for info, name in zip(infos, names):
            if _skipped(name) or not name.startswith(prefix):
                continue
            parts = name[len(prefix):].split('/')
            if len(parts) == 1 and parts[0] in ('images.zip', 'masks.zip'):
                plan.append((info, name, parts[0][:-4], True))
            elif len(parts) >= 2 and parts[0] in EXTENSIONS:
                if len(parts) > 2:
                    raise ArchiveError('%s: %s sits in a sub-folder of %s/, which the release '
                                       'does not have; it is refused.' % (path, name, parts[0]))
                _expected(parts[0], name, path)
                plan.append((info, name, parts[0], False))
        _check_found({kind for _, _, kind, _ in plan}, path)
        for info, name, kind, nested in plan:
            if nested:
                _copy_nested(read_member(handle, info, budget, path), kind, root, budget,
                             '%s:%s' % (path, name))
            else:
                copy_member(handle, info, _target(root, kind, name), budget, path)


def _check_found(found, location):
    for kind in ('images', 'masks'):
        if kind not in found:
            raise DatasetError('%s has neither %s/ nor %s.zip.' % (location, kind, kind))


def _find_release(folder):
    """The folder inside ``folder`` that holds idx_320/ (a clone's or an archive's top)."""
    for current, dirs, _ in os.walk(folder):
        if 'idx_320' in dirs:
            return current
    raise DatasetError('%s holds no idx_320/ folder: it is not the official SIRST release.'
                       % folder)


def _copy_folder(source, root, budget):
    """The release's files from a clone at ``source``; every file is checked (no links, no
    stray files) before any is copied."""
    nested, plan = [], []
    for kind in ('images', 'masks'):
        archive = os.path.join(source, kind + '.zip')
        if os.path.isfile(archive) and not os.path.isdir(os.path.join(source, kind)):
            if os.path.islink(archive):
                raise ArchiveError('%s is a symbolic link; it is refused.' % archive)
            nested.append((archive, kind))
    for folder in EXTENSIONS:
        path = os.path.join(source, folder)
        if not os.path.isdir(path):
            continue
        names = sorted(n for n in os.listdir(path) if not n.startswith('.'))
        budget.check_count(len(names), path)
        for name in names:
            location = os.path.join(path, name)
            if os.path.islink(location) or not os.path.isfile(location):
                raise ArchiveError('%s is a symbolic link or a folder, which the release does '
                                   'not have in %s/; it is refused.' % (location, folder))
            _expected(folder, name, path)
            plan.append((location, folder, name))
    _check_found({kind for _, kind in nested} | {folder for _, folder, _ in plan}, source)
    for archive, kind in nested:
        with open(archive, 'rb') as handle:
            content = handle.read(budget.max_bytes + 1)
        budget.spend(len(content), archive)
        _copy_nested(content, kind, root, budget, archive)
    for location, folder, name in plan:
        budget.add_file(location)
        budget.spend(os.path.getsize(location), location)
        shutil.copyfile(location, _target(root, folder, name))


def prepare(root=None, source=None, url=ARCHIVE_URL, sha256=None, max_bytes=MAX_BYTES,
            max_files=MAX_FILES):
    """Fill ``root`` from ``source`` (folder or zip) or a download of ``url``; returns
    ``(root, counts of idx_320's splits)``. ``sha256`` checks the archive; a download
    without it is checked file by file against ``RELEASE_MANIFEST`` before any file reaches
    ``root``; ``max_bytes`` and ``max_files`` bound what is written."""
    root = resolve_root(root)
    budget = Budget(max_bytes, max_files)
    with tempfile.TemporaryDirectory() as scratch:
        if source is None:
            source = download(url, os.path.join(scratch, 'sirst.zip'), max_bytes)
            if sha256 is not None:
                check_sha256(source, sha256, url)
            else:  # unpacked in the scratch folder, checked file by file, then copied
                unpacked = os.path.join(scratch, 'unpacked')
                _copy_zip(source, unpacked, Budget(max_bytes, max_files))
                check_manifest(unpacked, read_manifest(RELEASE_MANIFEST), url)
                source = unpacked
        elif sha256 is not None:
            if not os.path.isfile(source):
                raise DatasetError('--sha256 checks an archive, but --source %s is not a file.'
                                   % source)
            check_sha256(source, sha256, source)
        if os.path.isfile(source):
            _copy_zip(source, root, budget)
        elif os.path.isdir(source):
            _copy_folder(_find_release(source), root, budget)
        else:
            raise DatasetError('--source %s is neither a folder nor a zip archive.' % source)
    counts = {split: len(SIRSTSegmentation(root, split=split, split_set='idx_320'))
              for split in SIRSTSegmentation.SPLITS}
    return root, counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', default=None, help='dataset root to fill')
    parser.add_argument('--source', default=None,
                        help='a clone of the official repository or a zip of it')
    parser.add_argument('--url', default=ARCHIVE_URL)
    parser.add_argument('--sha256', default=None,
                        help='the archive\'s expected sha256 (without it a download is checked '
                             'file by file against the recorded release)')
    args = parser.parse_args(argv)
    try:
        root, counts = prepare(args.root, args.source, args.url, args.sha256)
    except (DatasetError, FileNotFoundError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    except OSError as err:  # a full disk or an unwritable root
        print('error: cannot write the dataset: %s' % err, file=sys.stderr)
        return 2
    print('SIRST ready at %s (idx_320: %s)' % (root, ', '.join('%s %d' % kv
                                                              for kv in counts.items())))
    return 0


if __name__ == '__main__':
    sys.exit(main())
