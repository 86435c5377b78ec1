"""Files written so that a reader never sees half of them: a whole file is written beside
its target and renamed into place; a JSON line is appended in one ``write`` call."""
import errno
import json
import os
import tempfile

__all__ = ['atomic_write', 'write_json', 'append_json_line', 'DiskFullError']


class DiskFullError(OSError):
    """The disk filled up while writing: the target was left as it was."""


def atomic_write(path, write):
    """Call ``write(tmp_path)`` then rename the temporary file to ``path``; on any failure
    the temporary file is removed and ``path`` keeps its previous content. A full disk
    raises :class:`DiskFullError` saying so."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path), suffix='.tmp')
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates files readable by their owner only
        os.replace(tmp, path)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(err.errno, 'no space left while writing %s; it was not changed '
                                '(%s)' % (path, 'the previous version is intact'
                                          if os.path.exists(path) else 'nothing was written'))
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path, data):
    """``data`` as indented JSON in ``path``, atomically."""
    def write(tmp):
        with open(tmp, 'w', encoding='utf-8') as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
    atomic_write(path, write)


def append_json_line(path, record):
    """Append ``record`` as one JSON line with a single ``write`` to a file opened for
    appending: a process killed meanwhile leaves the whole line or none of it, and lines of
    concurrent writers do not interleave within a line."""
    line = (json.dumps(record) + '\n').encode('utf-8')
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, line)
        if written != len(line):  # only a full disk cuts a regular file's write short
            os.ftruncate(fd, os.fstat(fd).st_size - written)
            raise DiskFullError(errno.ENOSPC, 'no space left while appending to %s; its '
                                'earlier lines are intact' % path)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT) and not isinstance(err, DiskFullError):
            raise DiskFullError(err.errno, 'no space left while appending to %s; its earlier '
                                'lines are intact' % path) from None
        raise
    finally:
        os.close(fd)
