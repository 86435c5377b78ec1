"""What every dataset of (image, mask) pairs shares: modes, mask handling, checks, samples.

A dataset subclass says where its files are (a :class:`~data.files.PairFiles`), how an id
becomes an image and a mask name, where a split's list lives and its protocol's sizes; this
class does the rest the same way for all of them.
"""
import collections
import copy
import numbers
import warnings

import numpy as np
import mxnet as mx
from PIL import Image
from gluoncv.data.segbase import SegmentationDataset

from .files import DatasetError
from .splits import read_split_file
from .transforms import mask_to_array, normalize, resize_pair

__all__ = ['PairedSegmentation']


class PairedSegmentation(SegmentationDataset):
    """Image/mask pairs as GluonCV segmentation samples: image float32 (3, H, W) normalised,
    mask float32 (1, H, W) of 0 and 1.

    Modes: ``train`` (flip, random scale of ``base_size``, pad, random crop ``crop_size``,
    random blur), ``val`` (short side to ``crop_size``, centre crop), ``testval`` (image and
    mask each resized to ``base_size`` x ``base_size``: the evaluation) or ``test`` (native
    size). ``mask_threshold`` None refuses masks holding values other than 0 and full scale;
    a number t (0 <= t < 255) binarises them (target where the value exceeds t) and
    :meth:`binarised_masks` says which masks that changed.
    """
    NUM_CLASS = 1
    MODES = ('train', 'val', 'testval', 'test')
    #: registry name, and the protocol's sizes: evaluation at BASE_SIZE, training crops
    NAME = None
    BASE_SIZE = 512
    CROP_SIZE = 480
    #: whether the standard release has a validation split
    HAS_VAL = False
    #: what to do when a mask's size differs from its image's: 'resize' (warn once, nearest)
    #: or 'error'
    SIZE_MISMATCH = 'error'

    def _setup(self, files, root, split, mode, transform, base_size, crop_size,
               mask_threshold, **kwargs):
        """Validate the common arguments and initialise; subclasses call it first."""
        mode = mode or (split if split in self.MODES else 'testval')
        if mode not in self.MODES:
            raise DatasetError('Unknown mode %r; valid: %s' % (mode, ', '.join(self.MODES)))
        base_size = self.BASE_SIZE if base_size is None else base_size
        crop_size = self.CROP_SIZE if crop_size is None else crop_size
        for name, value in (('base_size', base_size), ('crop_size', crop_size)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise DatasetError('%s must be a positive whole number of pixels, not %r.'
                                   % (name, value))
        base_size, crop_size = int(base_size), int(crop_size)  # numpy integers too
        if mask_threshold is not None and (
                isinstance(mask_threshold, bool) or not isinstance(mask_threshold, numbers.Real)
                or not 0 <= mask_threshold < 255):
            raise DatasetError('mask_threshold must be a number from 0 to below 255 (a pixel '
                               'is a target where its value exceeds it), not %r.'
                               % (mask_threshold,))
        self.files = files
        self.mask_threshold = mask_threshold
        self._warned_mismatch = set()  # masks whose size mismatch was already reported
        self._binarised = None  # names of the masks the threshold changed, once scanned
        super(PairedSegmentation, self).__init__(root, split, mode, transform, base_size,
                                                 crop_size, **kwargs)

    # --- files ----------------------------------------------------------------------------

    def image_name(self, image_id):
        return image_id + '.png'

    def mask_name(self, image_id):
        return image_id + '.png'

    def _check_id(self, image_id):
        for kind, name in (('images', self.image_name(image_id)),
                           ('masks', self.mask_name(image_id))):
            self.files.check_name(kind, name)

    def _load_ids(self, path, label, missing_hint=''):
        """Read the split file ``path`` and check that every id it lists has its files;
        ``label`` is how the log names the split (e.g. ``idx_320/train``)."""
        self.split_path = path
        self.label = label
        # a training list may repeat ids to oversample them; a scored one may not (Pd)
        self.ids = read_split_file(path, self._check_id, missing_hint,
                                   allow_repeats=self.mode == 'train')
        problems = ['%s (no %s)' % (i, what) for i in self.ids
                    for kind, name, what in (('images', self.image_name(i), 'image'),
                                             ('masks', self.mask_name(i), 'mask'))
                    if not self.files.exists(kind, name)]
        if problems:
            more = ' and %d more' % (len(problems) - 8) if len(problems) > 8 else ''
            raise DatasetError('%s lists ids whose files are missing (images %s, masks %s): '
                               '%s%s' % (path, self.files.path('images', ''),
                                         self.files.path('masks', ''),
                                         ', '.join(problems[:8]), more))

    def load_image(self, idx):
        """The original image of sample ``idx`` as a PIL RGB image (no transform)."""
        return self.files.open_image('images', self.image_name(self.ids[idx]), 'RGB')

    def _load_mask(self, idx):
        return self.files.open_mask(self.mask_name(self.ids[idx]), self.mask_threshold)[0]

    def _aligned_mask(self, image, mask, idx):
        """The mask, resized to the image where their sizes differ if SIZE_MISMATCH allows
        (SIRST's Misc_111), else an error naming both files."""
        if mask.size == image.size:
            return mask
        name = self.mask_name(self.ids[idx])
        location = self.files.path('masks', name)
        if self.SIZE_MISMATCH != 'resize':
            raise DatasetError('%s is %dx%d but its image %s is %dx%d; a mask must have its '
                               'image\'s size.' % (location, mask.size[0], mask.size[1],
                                                   self.files.path('images', self.image_name(
                                                       self.ids[idx])),
                                                   image.size[0], image.size[1]))
        if name not in self._warned_mismatch:
            self._warned_mismatch.add(name)
            warnings.warn('%s is %dx%d but its image is %dx%d; the mask is resized to the '
                          'image (nearest) where pixels must align.'
                          % (location, mask.size[0], mask.size[1], image.size[0],
                             image.size[1]))
        return mask.resize(image.size, Image.NEAREST)

    def verify(self):
        """Decode every image and mask of the split now, so bad files fail before any work
        (and the masks the threshold changes are counted: :meth:`binarised_masks`)."""
        changed = []
        for idx in range(len(self)):
            name = self.mask_name(self.ids[idx])
            mask, altered = self.files.open_mask(name, self.mask_threshold)
            self._aligned_mask(self.load_image(idx), mask, idx)
            if altered:
                changed.append(name)
        self._binarised = changed

    def binarised_masks(self):
        """Names of this split's masks that ``mask_threshold`` changed (held values other
        than 0 and full scale); reads the masks once if :meth:`verify` has not. Empty
        without a threshold (such masks are then errors)."""
        if self._binarised is None:
            self._binarised = [name for name in map(self.mask_name, self.ids)
                               if self.files.open_mask(name, self.mask_threshold)[1]]
        return list(self._binarised)

    def describe(self):
        """One line for the log: dataset, split, size, mode, sizes and mask handling."""
        text = '%s %s: %d images, mode %s, base %d / crop %d' % (
            self.NAME, self.label, len(self), self.mode, self.base_size,
            self.crop_size)
        if self.mask_threshold is None:
            return text + ', masks must be binary'
        if self._binarised is None:
            return text + ', masks binarised above %g' % self.mask_threshold
        return text + ', masks binarised above %g: %d of %d changed' % (
            self.mask_threshold, len(self._binarised), len(self))

    def subset(self, ids, mode=None, label=None):
        """A copy of this dataset over ``ids`` (a subset of its own), optionally in another
        ``mode`` and with another split ``label`` for the log."""
        unknown = sorted(set(ids) - set(self.ids))
        if unknown:
            raise DatasetError('%s has no ids %s' % (self.label, ', '.join(unknown[:8])))
        if mode is not None and mode not in self.MODES:
            raise DatasetError('Unknown mode %r; valid: %s' % (mode, ', '.join(self.MODES)))
        repeated = sorted(i for i, n in collections.Counter(ids).items() if n > 1)
        if repeated and (mode or self.mode) != 'train':
            raise DatasetError('%s: ids %s are repeated; a scored split lists each image once.'
                               % (label or self.label, ', '.join(repeated[:8])))
        part = copy.copy(self)
        part.ids = list(ids)
        part.mode = mode or self.mode
        part._binarised = None
        part._warned_mismatch = set()
        part.label = label or self.label
        return part

    # --- samples --------------------------------------------------------------------------

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, idx):
        image, mask = self.load_image(idx), self._load_mask(idx)
        if self.mode == 'testval':
            if self.SIZE_MISMATCH != 'resize':
                self._aligned_mask(image, mask, idx)  # raises on a size mismatch
            return self._testval(image, mask)
        mask = self._aligned_mask(image, mask, idx)
        if self.mode == 'train':
            return self._sync_transform(image, mask)
        if self.mode == 'val':
            return self._val_sync_transform(image, mask)
        return self._img_transform(image), self._mask_transform(mask)

    def _testval(self, image, mask):
        # The toolkit resized image and mask independently; that keeps its figures.
        image, mask = resize_pair(image, mask, (self.base_size, self.base_size))
        return self._img_transform(image), self._mask_transform(mask)

    def native_mask(self, idx):
        """Mask of sample ``idx`` as uint8 {0, 1} (H, W), aligned to its image's size."""
        return self._native(self.load_image(idx), self._load_mask(idx), idx)

    def _native(self, image, mask, idx):
        return (np.asarray(self._aligned_mask(image, mask, idx)) > 0).astype(np.uint8)

    def scored_sample(self, idx):
        """``(image, mask, native mask)`` of sample ``idx`` for scoring: the ``testval``
        sample (whatever this dataset's mode) and :meth:`native_mask`, each file decoded
        once."""
        image, mask = self.load_image(idx), self._load_mask(idx)
        native = self._native(image, mask, idx)  # raises on a size mismatch it may not fix
        return self._testval(image, mask) + (native,)

    def _img_transform(self, img):
        if self.transform is not None:
            return self.transform(mx.nd.array(np.asarray(img), ctx=mx.cpu(0), dtype='uint8'))
        return normalize(img)

    def _mask_transform(self, mask):
        return mask_to_array(mask)

    @property
    def classes(self):
        return ('target',)
