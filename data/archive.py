"""Bounded, checked reading of dataset archives and downloads (for ``data.prepare``).

An archive is untrusted input: it may not be a zip at all, may expand far beyond its size
(a few MB into hundreds), hold thousands of members, or name members that would be written
outside the target (absolute paths, ``..``) or through symbolic links. :class:`Budget`
bounds what one preparation may write in total (bytes and files, counted as they are
actually decompressed, not as the archive declares them); :func:`member_name` refuses the
dangerous names; :func:`open_zip` turns "not a zip" into a one-line error; :func:`sha256_file`
and :func:`check_sha256` check a download against a recorded digest.
"""
import hashlib
import io
import os
import stat
import urllib.request
import zipfile

from .files import DatasetError

__all__ = ['ArchiveError', 'Budget', 'MAX_BYTES', 'MAX_FILES', 'open_zip', 'member_name',
           'copy_member', 'read_member', 'sha256_file', 'check_sha256', 'read_manifest',
           'check_manifest', 'download']

#: what one preparation may write: SIRST unpacked is about 19 MB in 1,290 files, so these
#: leave room for a grown release and stop a zip bomb early
MAX_BYTES = 256 * 2 ** 20
MAX_FILES = 10000
_CHUNK = 2 ** 20


class ArchiveError(DatasetError):
    """An archive or download that is refused; the message names it and the reason."""


class Budget(object):
    """The bytes and files one preparation may still write; :meth:`spend` refuses beyond."""

    def __init__(self, max_bytes=MAX_BYTES, max_files=MAX_FILES):
        self.max_bytes, self.max_files = max_bytes, max_files
        self.bytes = self.files = 0

    def check_count(self, count, location):
        """Refuse an archive of ``count`` members before reading any."""
        if self.files + count > self.max_files:
            raise ArchiveError('%s holds %d members, more than the %d files a dataset '
                               'preparation may write; it is not the expected release.'
                               % (location, count, self.max_files))

    def add_file(self, location):
        """Count one more file written for ``location``."""
        self.check_count(1, location)
        self.files += 1

    def spend(self, size, location):
        """Count ``size`` more bytes written for ``location``."""
        self.bytes += size
        if self.bytes > self.max_bytes:
            raise ArchiveError('%s expands beyond %d bytes in total, the most a dataset '
                               'preparation may write; it is not the expected release.'
                               % (location, self.max_bytes))


def open_zip(source, location):
    """A ``zipfile.ZipFile`` of ``source`` (a path or bytes); a file that is not a zip is an
    :class:`ArchiveError` naming ``location``."""
    try:
        return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as err:
        raise ArchiveError('%s is not a readable zip archive (%s); download it again or use '
                           'a clone of the official repository.' % (location, err)) from None


def member_name(info, location):
    """``info.filename`` with '/' separators, or an :class:`ArchiveError` when it is absolute,
    climbs with ``..``, holds a drive or NUL, or the member is a symbolic link."""
    name = info.filename.replace('\\', '/')
    parts = name.split('/')
    if (name.startswith('/') or '\0' in name or ':' in parts[0] or '..' in parts
            or stat.S_ISLNK(info.external_attr >> 16)):
        what = 'a symbolic link' if stat.S_ISLNK(info.external_attr >> 16) else 'a path ' \
            'leading out of the folder it is extracted to'
        raise ArchiveError('%s: member %r is %s; the archive is refused.'
                           % (location, info.filename, what))
    return name


def _stream(handle, info, budget, location, sink):
    """Pass the member ``info``'s bytes to ``sink`` as they are decompressed, counting them
    (a member that lies about its size still stops at the budget)."""
    try:
        with handle.open(info) as source:
            for chunk in iter(lambda: source.read(_CHUNK), b''):
                budget.spend(len(chunk), '%s (at member %s)' % (location, info.filename))
                sink(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError,
            RuntimeError) as err:
        raise ArchiveError('%s: member %s cannot be read (%s); download it again.'
                           % (location, info.filename, err)) from None


def copy_member(handle, info, target, budget, location):
    """Write the member ``info`` of the open zip ``handle`` to the path ``target``."""
    budget.add_file(location)
    with open(target, 'wb') as out:
        _stream(handle, info, budget, location, out.write)


def read_member(handle, info, budget, location):
    """The bytes of a member (a nested archive), counted against ``budget``."""
    chunks = []
    _stream(handle, info, budget, location, chunks.append)
    return b''.join(chunks)


def sha256_file(path):
    """The hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(path):
    """``{relative path: sha256}`` from a ``sha256sum``-style file (``<hex>  <path>``)."""
    manifest = {}
    with open(path, encoding='utf-8') as handle:
        for line in handle:
            if line.strip():
                digest, name = line.split(None, 1)
                manifest[name.strip()] = digest
    return manifest


def check_manifest(folder, manifest, location):
    """Refuse ``folder`` unless it holds exactly the files of ``manifest`` (relative path ->
    sha256) with those digests; the error names the first file that differs."""
    found = sorted(os.path.relpath(os.path.join(current, name), folder).replace(os.sep, '/')
                   for current, _, names in os.walk(folder) for name in names)
    extra = sorted(set(found) - set(manifest))
    missing = sorted(set(manifest) - set(found))
    if missing or extra:
        raise ArchiveError('%s is not the recorded release: %s; it is not used.' % (
            location, '; '.join(part for part in (
                missing and '%d file(s) missing (first %s)' % (len(missing), missing[0]),
                extra and '%d file(s) not in the release (first %s)' % (len(extra), extra[0]))
                if part)))
    for name in found:
        actual = sha256_file(os.path.join(folder, name))
        if actual != manifest[name]:
            raise ArchiveError('%s: %s has sha256 %s, not the recorded %s: the download is '
                               'corrupt or not the release; it is not used.'
                               % (location, name, actual, manifest[name]))


def check_sha256(path, expected, location):
    """Refuse ``path`` unless its sha256 is ``expected``; with no ``expected`` recorded or
    given, refuse and print the digest so the user can check it and pass it."""
    actual = sha256_file(path)
    if expected is None:
        raise ArchiveError('No sha256 is recorded for %s, so the download cannot be checked. '
                           'Its sha256 is %s: compare it with a source you trust and run '
                           'again with --sha256 %s (or prepare from --source).'
                           % (location, actual, actual))
    if actual != expected.lower():
        raise ArchiveError('%s has sha256 %s, not the expected %s: the download is corrupt '
                           'or not the release; it is not used.' % (location, actual, expected))
    return actual


def download(url, path, max_bytes=MAX_BYTES):
    """Download ``url`` to ``path``, stopping beyond ``max_bytes``."""
    size = 0
    try:
        with urllib.request.urlopen(url) as response, open(path, 'wb') as out:
            for chunk in iter(lambda: response.read(_CHUNK), b''):
                size += len(chunk)
                if size > max_bytes:
                    raise ArchiveError('%s is larger than %d bytes; it is not the expected '
                                       'archive.' % (url, max_bytes))
                out.write(chunk)
    except ArchiveError:
        raise
    except (OSError, ValueError) as err:
        raise ArchiveError('Could not download %s (%s). Download or clone the official SIRST '
                           'repository elsewhere and run again with --source.'
                           % (url, err)) from None
    return path

