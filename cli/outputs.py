"""Where a command may write: checked before any work, with one-line errors."""
import os

__all__ = ['OutputError', 'check_output_folder', 'output_folder', 'export_prefix']


class OutputError(ValueError):
    """An output location the command cannot or must not write to."""


def check_output_folder(path, option='--out'):
    """Refuse, before any work, an output folder that is a file or that this process cannot
    write into (or create: the nearest existing folder above it is checked)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputError('%s %s is a file, not a folder; choose a folder' % (option, path))
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError('%s %s cannot be created or written (%s is not a writable folder); '
                          'choose another folder' % (option, path, existing))
    return path


def output_folder(path, option='--out'):
    """Create the folder ``path`` if needed and return it; refuse an existing file and a
    folder this process cannot write into."""
    check_output_folder(path, option)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise OutputError('%s %s cannot be created: %s' % (option, path, err.strerror)) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError('%s %s is not writable; choose another folder' % (option, path))
    return path


def export_prefix(prefix, option='--prefix'):
    """``prefix`` checked as the start of file names (``dir/name`` gives
    ``dir/name-symbol.json``): a folder alone would give files named ``-symbol.json``."""
    name = os.path.basename(prefix)
    if not name or name in ('.', '..') or os.path.isdir(prefix):
        raise OutputError('%s %s names a folder; give a file name prefix inside it, e.g. %s'
                          % (option, prefix, os.path.join(prefix, 'acm_unet')))
    output_folder(os.path.dirname(os.path.abspath(prefix)), option)
    return prefix
