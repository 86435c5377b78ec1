"""NUDT-SIRST (DNANet's synthetic single-frame infrared small target dataset), GluonCV style.

The release holds ``images/<id>.png`` (RGB, 256x256), ``masks/<id>.png`` (0/255, named like
the image) and a split folder such as ``50_50/`` with ``train.txt`` and ``test.txt``; there
is no validation split and no box annotation.
"""
import os

from .base import PairedSegmentation
from .files import DatasetError, PairFiles, resolve_root

__all__ = ['NUDTSIRSTSegmentation', 'NUDT_DEFAULT_ROOT']

NUDT_DEFAULT_ROOT = os.path.join('~', '.mxnet', 'datasets', 'nudt-sirst')
NUDT_HINT = ('Get the official release (DNANet\'s repository, dataset/NUDT-SIRST) and point '
             '--data-root or NUDT_SIRST_ROOT at the folder holding images/, masks/ and 50_50/.')


class NUDTSIRSTSegmentation(PairedSegmentation):
    """NUDT-SIRST as (image, mask) pairs (see :class:`~data.base.PairedSegmentation`).

    Parameters
    ----------
    root : str, optional
        Dataset folder; default ``$NUDT_SIRST_ROOT``, else ``~/.mxnet/datasets/nudt-sirst``.
    split : str
        A list file of the split set: ``train`` or ``test`` (``val`` and ``trainval`` where
        the split set's folder has them).
    mode, transform, mask_threshold
        As for SIRST.
    base_size, crop_size : int
        The field reports NUDT-SIRST at its native 256x256 (DNANet trains and tests at
        base 256 / crop 256): both default to 256.
    split_set : str
        ``50_50`` (the standard 663/664 split, default) or ``70_20`` (the official release's
        other layout, where present).
    """
    NAME = 'nudt-sirst'
    BASE_SIZE = 256
    CROP_SIZE = 256
    HAS_VAL = False
    SPLIT_SETS = ('50_50', '70_20')
    SPLITS = ('train', 'val', 'test', 'trainval')

    def __init__(self, root=None, split='train', mode=None, transform=None, base_size=256,
                 crop_size=256, split_set='50_50', mask_threshold=None, **kwargs):
        root = resolve_root(root, 'NUDT_SIRST_ROOT', NUDT_DEFAULT_ROOT)
        for value, valid, what in ((split_set, self.SPLIT_SETS, 'split set'),
                                   (split, self.SPLITS, 'split')):
            if value not in valid:
                raise DatasetError('Unknown NUDT-SIRST %s %r; valid: %s'
                                   % (what, value, ', '.join(valid)))
        folders = [os.path.join(root, kind) for kind in PairFiles.KINDS]
        missing = [f for f in folders + [os.path.join(root, split_set)] if not os.path.isdir(f)]
        if missing:
            raise DatasetError('No NUDT-SIRST dataset (split set %s) at %s: %s missing. %s'
                               % (split_set, root, ', '.join(missing), NUDT_HINT))
        self._setup(PairFiles(zip(PairFiles.KINDS, folders)), root, split, mode, transform,
                    base_size, crop_size, mask_threshold, **kwargs)
        self.split_set = split_set
        present = [s for s in self.SPLITS if self.has_split(root, s, split_set)]
        self._load_ids(self.split_file(root, split, split_set), '%s/%s' % (split_set, split),
                       '; %s/ has %s.' % (split_set, ', '.join(s + '.txt' for s in present)
                                          or 'no split file'))

    @classmethod
    def split_file(cls, root, split, split_set='50_50'):
        """The list file of ``split`` in ``split_set`` under ``root``."""
        root = resolve_root(root, 'NUDT_SIRST_ROOT', NUDT_DEFAULT_ROOT)
        return os.path.join(root, split_set, split + '.txt')

    @classmethod
    def has_split(cls, root, split, split_set='50_50', **_):
        """Whether ``split_set`` has a list file for ``split`` (50_50 has no ``val``)."""
        return os.path.isfile(cls.split_file(root, split, split_set))
