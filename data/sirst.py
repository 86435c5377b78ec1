"""The SIRST single-frame infrared small target dataset, GluonCV style."""
import os
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import mxnet as mx
from PIL import Image
from gluoncv.data.segbase import SegmentationDataset

from .files import DatasetError, SIRSTFiles, UnsafePathError, resolve_root
from .transforms import mask_to_array, normalize, resize_pair

__all__ = ['SIRSTSegmentation']



class SIRSTSegmentation(SegmentationDataset):
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
    split_set : str
        ``idx_320`` (the paper's split, default) or ``idx_427``.
    """
    NUM_CLASS = 1
    SPLIT_SETS = ('idx_320', 'idx_427')
    SPLITS = ('train', 'val', 'test', 'trainval', 'trainvaltest')
    MODES = ('train', 'val', 'testval', 'test')

    def __init__(self, root=None, split='train', mode=None, transform=None, base_size=512,
                 crop_size=480, split_set='idx_320', **kwargs):
        root = resolve_root(root)
        for value, valid, what in ((split_set, self.SPLIT_SETS, 'split set'),
                                   (split, self.SPLITS, 'split')):
            if value not in valid:
                raise DatasetError('Unknown %s %r; valid: %s' % (what, value, ', '.join(valid)))
        mode = mode or (split if split in self.MODES else 'testval')
        if mode not in self.MODES:
            raise DatasetError('Unknown mode %r; valid: %s' % (mode, ', '.join(self.MODES)))
        self.files = SIRSTFiles(root)  # before the base class, whose error is less helpful
        self._warned_mismatch = set()  # masks whose size mismatch was already reported
        super(SIRSTSegmentation, self).__init__(root, split, mode, transform, base_size,
                                                crop_size, **kwargs)
        self.split_set = split_set
        self.ids = self._read_split(os.path.join(root, split_set, split + '.txt'))
        self._check_files()

    # --- files ----------------------------------------------------------------------------

    def _read_split(self, path):
        """The ids of a split file; each must name files inside images/ and masks/."""
        if not os.path.isfile(path):
            raise DatasetError('Split file %s does not exist; the dataset folder needs the '
                               'idx_320/ and idx_427/ folders of the official release.' % path)
        ids = []
        with open(path) as handle:
            for number, line in enumerate(handle, 1):
                image_id = line.strip()
                if not image_id:
                    continue
                try:
                    for kind, name in (('images', self.image_name(image_id)),
                                       ('masks', self.mask_name(image_id))):
                        self.files.check_name(kind, name)
                except UnsafePathError as err:
                    raise DatasetError('Split file %s, line %d: id %r is refused: %s. Ids name '
                                       'files inside the dataset\'s images/ and masks/; '
                                       'correct or remove that line.'
                                       % (path, number, image_id, err)) from None
                ids.append(image_id)
        if not ids:
            raise DatasetError('Split file %s lists no image ids.' % path)
        return ids

    @staticmethod
    def image_name(image_id):
        return image_id + '.png'

    @staticmethod
    def mask_name(image_id):
        return image_id + '_pixels0.png'

    def _check_files(self):
        problems = ['%s (no %s)' % (i, what) for i in self.ids
                    for kind, name, what in (('images', self.image_name(i), 'image'),
                                             ('masks', self.mask_name(i), 'mask'))
                    if not self.files.exists(kind, name)]
        if problems:
            raise DatasetError('%s/%s.txt lists ids whose files are missing under %s: %s'
                               % (self.split_set, self.split, self.root, ', '.join(problems)))

    def load_image(self, idx):
        """The original image of sample ``idx`` as a PIL RGB image (no transform)."""
        return self.files.open_image('images', self.image_name(self.ids[idx]), 'RGB')

    def _load_mask(self, idx):
        name = self.mask_name(self.ids[idx])
        mask = self.files.open_image('masks', name, 'L', exact=True)
        values = np.asarray(mask)
        bad = (values != 0) & (values != 255)
        if bad.any():
            raise DatasetError('Mask %s has values other than 0 and 255 (%s); masks must be '
                               'binary.' % (self.files.path('masks', name),
                                            ', '.join(map(str, np.unique(values[bad])[:8]))))
        return mask

    def _aligned_mask(self, image, mask, idx):
        """The mask resized to the image where their sizes differ (SIRST's Misc_111)."""
        if mask.size == image.size:
            return mask
        name = self.mask_name(self.ids[idx])
        if name not in self._warned_mismatch:
            self._warned_mismatch.add(name)
            warnings.warn('%s is %dx%d but its image is %dx%d; the mask is resized to the '
                          'image (nearest) where pixels must align.'
                          % (self.files.path('masks', name), mask.size[0], mask.size[1],
                             image.size[0], image.size[1]))
        return mask.resize(image.size, Image.NEAREST)

    def verify(self):
        """Decode every image and mask of the split now, so bad files fail before any work."""
        for idx in range(len(self)):
            self._aligned_mask(self.load_image(idx), self._load_mask(idx), idx)

    # --- samples --------------------------------------------------------------------------

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, idx):
        image, mask = self.load_image(idx), self._load_mask(idx)
        if self.mode == 'testval':
            # The toolkit resized image and mask independently; that keeps its figures.
            side = self.base_size
            image, mask = resize_pair(image, mask, (side, side))
            return self._img_transform(image), self._mask_transform(mask)
        mask = self._aligned_mask(image, mask, idx)
        if self.mode == 'train':
            return self._sync_transform(image, mask)
        if self.mode == 'val':
            return self._val_sync_transform(image, mask)
        return self._img_transform(image), self._mask_transform(mask)

    def native_mask(self, idx):
        """Mask of sample ``idx`` as uint8 {0, 1} (H, W), aligned to its image's size."""
        image, mask = self.load_image(idx), self._load_mask(idx)
        return (np.asarray(self._aligned_mask(image, mask, idx)) > 0).astype(np.uint8)

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

    def _img_transform(self, img):
        if self.transform is not None:
            return self.transform(mx.nd.array(np.asarray(img), ctx=mx.cpu(0), dtype='uint8'))
        return normalize(img)

    def _mask_transform(self, mask):
        return mask_to_array(mask)

    @property
    def classes(self):
        return ('target',)
