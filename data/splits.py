"""Split files (one image id a line) and validation sets carved off a training split.

Every dataset reads its split files through :func:`read_split_file`, so the checks a split
list needs are made once: it must exist, decode as UTF-8, list at least one id, list each id
once where it is scored (a repeated id is scored twice and changes Pd; a training list may
repeat ids to oversample them), and every id must name files inside the dataset
(``check_id`` raises :class:`~data.files.UnsafePathError` otherwise).
"""
import os

import numpy as np

from .files import DatasetError, UnsafePathError

__all__ = ['read_split_file', 'carve_ids']


def read_split_file(path, check_id, missing_hint='', allow_repeats=False):
    """The ids listed in the split file ``path``, in file order (blank lines skipped).

    ``check_id(image_id)`` is called for each id and may raise ``UnsafePathError``. Raises
    :class:`DatasetError` naming the file (and line) for a missing or unreadable file, bytes
    that are not UTF-8, a refused id, a repeated one (unless ``allow_repeats``: a training
    list oversampling), or a list without ids.
    """
    if not os.path.isfile(path):
        raise DatasetError('Split file %s does not exist%s' % (path, missing_hint or '.'))
    try:
        with open(path, 'rb') as handle:
            content = handle.read()
    except OSError as err:
        raise DatasetError('Cannot read split file %s: %s.' % (path, err.strerror or err)) \
            from None
    try:
        text = content.decode('utf-8-sig')  # a byte-order mark from Windows editors is fine
    except UnicodeDecodeError as err:
        line = content[:err.start].count(b'\n') + 1
        raise DatasetError('Split file %s, line %d: bytes that are not UTF-8 text (%r at byte '
                           '%d); a split file lists one image id a line, saved as UTF-8.'
                           % (path, line, content[err.start:err.start + 4], err.start)) \
            from None
    ids, first_line = [], {}
    for number, line in enumerate(text.splitlines(), 1):
        image_id = line.strip()
        if not image_id:
            continue
        if image_id in first_line and not allow_repeats:
            raise DatasetError('Split file %s, line %d: id %r is listed again (first on line '
                               '%d); a repeated image is scored twice. Remove the repeat.'
                               % (path, number, image_id, first_line[image_id]))
        try:
            check_id(image_id)
        except UnsafePathError as err:
            raise DatasetError('Split file %s, line %d: id %r is refused: %s. Ids name files '
                               'inside the dataset\'s images and masks folders; correct or '
                               'remove that line.' % (path, number, image_id, err)) from None
        first_line.setdefault(image_id, number)
        ids.append(image_id)
    if not ids:
        raise DatasetError('Split file %s lists no image ids.' % path)
    return ids


def carve_ids(ids, fraction, seed):
    """Split ``ids`` into ``(kept, carved)``: ``round(fraction * n)`` of its n distinct ids
    (at least one, and at least one left) drawn with ``numpy.random.RandomState(seed)``, so
    the same ids, fraction and seed always carve the same set. ``carved`` lists each id once;
    ``kept`` keeps every occurrence of the others (a training list's oversampling), both in
    the order of ``ids``."""
    if not 0 < fraction < 1:
        raise DatasetError('The validation fraction must lie strictly between 0 and 1, not %r.'
                           % (fraction,))
    distinct = list(dict.fromkeys(ids))
    if len(distinct) < 2:
        raise DatasetError('A split of %d image cannot give up a validation set.'
                           % len(distinct))
    count = min(max(1, int(round(fraction * len(distinct)))), len(distinct) - 1)
    picks = np.random.RandomState(seed).permutation(len(distinct))[:count].tolist()
    chosen = {distinct[n] for n in picks}
    return [i for i in ids if i not in chosen], [i for i in distinct if i in chosen]
