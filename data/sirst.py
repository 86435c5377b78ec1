"""The SIRST single-frame infrared small target dataset, GluonCV style."""
import os
import xml.etree.ElementTree as ET

import numpy as np

from .base import PairedSegmentation
from .files import DatasetError, SIRSTFiles, resolve_root

__all__ = ['SIRSTSegmentation']


class SIRSTSegmentation(PairedSegmentation):
    """SIRST as (image, mask) pairs: image float32 (3, H, W) normalised, mask float32 (1, H, W).

    Parameters
    ----------
    root : str, optional
        Dataset folder; default ``$SIRST_ROOT``, else ``~/.mxnet/datasets/sirst``.
    split : str
        One of ``train``, ``val``, ``test``, ``trainval``, ``trainvaltest``.
    mode : str, optional
        ``train`` (flip, random scale of ``base_size``, pad, random crop ``crop_size``, random
        blur), ``val`` (short side to ``crop_size``, centre crop), ``testval`` (image and mask
        each resized to ``base_size`` x ``base_size``, the toolkit's evaluation) or ``test``
        (native size). Defaults to ``split`` where that is a mode, else ``testval``.
    transform : callable, optional
        Applied to the image as an HWC uint8 NDArray instead of the built-in normalisation.
    base_size, crop_size : int
        The protocol's 512 and 480 by default.
    split_set : str
        ``idx_320`` (the paper's split, default) or ``idx_427``.
    mask_threshold : float, optional
        None (default): a mask with values other than 0 and 255 is an error. A number t
        binarises masks (target where the value exceeds t); see ``binarised_masks()``.
    """
    NAME = 'sirst'
    BASE_SIZE = 512
    CROP_SIZE = 480
    HAS_VAL = True
    SIZE_MISMATCH = 'resize'  # Misc_111's mask is larger than its image in the release
    SPLIT_SETS = ('idx_320', 'idx_427')
    SPLITS = ('train', 'val', 'test', 'trainval', 'trainvaltest')

    def __init__(self, root=None, split='train', mode=None, transform=None, base_size=512,
                 crop_size=480, split_set='idx_320', mask_threshold=None, **kwargs):
        root = resolve_root(root)
        for value, valid, what in ((split_set, self.SPLIT_SETS, 'split set'),
                                   (split, self.SPLITS, 'split')):
            if value not in valid:
                raise DatasetError('Unknown %s %r; valid: %s' % (what, value, ', '.join(valid)))
        files = SIRSTFiles(root)  # before the base class, whose error is less helpful
        self._setup(files, root, split, mode, transform, base_size, crop_size, mask_threshold,
                    **kwargs)
        self.split_set = split_set
        self._load_ids(self.split_file(root, split, split_set), '%s/%s' % (split_set, split),
                       '; the dataset folder needs the idx_320/ and idx_427/ folders of the '
                       'official release.')

    @classmethod
    def split_file(cls, root, split, split_set='idx_320'):
        """The list file of ``split`` in ``split_set`` under ``root``."""
        return os.path.join(resolve_root(root), split_set, split + '.txt')

    @classmethod
    def has_split(cls, root, split, split_set='idx_320', **_):
        """Whether the release has ``split`` (both split sets have every one)."""
        return split in cls.SPLITS

    def mask_name(self, image_id):
        return image_id + '_pixels0.png'

    def boxes(self, idx):
        """Target boxes of sample ``idx`` from its VOC ``.xml``: float32 (N, 4) x1, y1, x2, y2."""
        name = self.ids[idx] + '.xml'
        location = self.files.path('masks', name)
        if not self.files.exists('masks', name):
            raise DatasetError('Box file %s does not exist.' % location)
        try:
            tree = ET.fromstring(self.files.open_bytes('masks', name))
            boxes = [[float(obj.find('bndbox/' + k).text)
                      for k in ('xmin', 'ymin', 'xmax', 'ymax')]
                     for obj in tree.iter('object')]
        except (ET.ParseError, AttributeError, TypeError, ValueError) as err:
            raise DatasetError('Cannot parse box file %s: %s' % (location, err)) from None
        return np.array(boxes, dtype=np.float32).reshape(-1, 4)
