"""Any folder of images and masks with split lists: one's own data, or a release of the
field's other datasets (IRSTD-1k, NUDT-SIRST-Sea...) in its own layout.

    root/
      images/<id>.png          (image_pattern, default '{id}.png')
      masks/<id>.png           (mask_pattern: '{id}.png', '{id}_pixels0.png', '{id}_mask.png'...)
      train.txt, test.txt...   (split_pattern, default '{split}.txt': one id a line)

Everything is checked when the dataset is made, before any work: the patterns, that the
masks folder holds a mask for every image and nothing else matching the pattern (a wrong
``mask_pattern`` shows here, with the pattern the files suggest), the split list's ids, and
that every mask of the split has its image's size.
"""
import os
import re
import string

from .base import PairedSegmentation
from .files import DatasetError, PairFiles, UnsafePathError, safe_join

__all__ = ['FolderSegmentation']


def _check_pattern(pattern, what):
    """``pattern`` must hold ``{id}`` once and no other field; returns a regex matching the
    file names it gives (the id as group 1)."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    except ValueError as err:
        raise DatasetError('%s %r is not a usable pattern: %s.' % (what, pattern, err)) \
            from None
    if fields != ['id']:
        raise DatasetError('%s %r must hold {id} exactly once and no other {field} (e.g. '
                           '"{id}.png", "{id}_pixels0.png").' % (what, pattern))
    before, after = pattern.split('{id}')
    return re.compile(re.escape(before) + '(.+)' + re.escape(after) + r'\Z')


_IMAGE_EXTENSIONS = ('.png', '.bmp', '.jpg', '.jpeg', '.tif', '.tiff')


def _listing(folder):
    """Every file under ``folder`` as a relative '/'-separated name (links not followed)."""
    names = []
    for current, dirs, files in os.walk(folder):
        dirs.sort()
        relative = os.path.relpath(current, folder)
        names.extend(f if relative == '.' else '%s/%s' % (relative.replace(os.sep, '/'), f)
                     for f in sorted(files))
    return names


def _few(items, count=5):
    items = sorted(items)
    return ', '.join(items[:count]) + (' and %d more' % (len(items) - count)
                                       if len(items) > count else '')


class FolderSegmentation(PairedSegmentation):
    """Image/mask pairs from any folder (see the module docstring for the layout).

    Parameters
    ----------
    root : str
        The dataset folder (required).
    split : str
        A split name, whose list is ``split_pattern`` with ``{split}`` filled in (under
        ``root``), or the path of a list file ending in ``.txt`` (absolute or under ``root``).
    images, masks : str
        The images and masks folders, under ``root`` unless absolute.
    image_pattern, mask_pattern : str
        File names from an id, e.g. ``'{id}.png'``, ``'{id}_pixels0.png'``.
    split_pattern : str
        Where a split's list lives under ``root``, e.g. ``'{split}.txt'``, ``'50_50/{split}.txt'``.
    mode, transform, base_size, crop_size, mask_threshold
        As for SIRST (sizes default to 512 / 480, SIRST's protocol).
    """
    NAME = 'folder'
    BASE_SIZE = 512
    CROP_SIZE = 480
    HAS_VAL = False

    def __init__(self, root=None, split='train', mode=None, transform=None, base_size=512,
                 crop_size=480, images='images', masks='masks', image_pattern='{id}.png',
                 mask_pattern='{id}.png', split_pattern='{split}.txt', mask_threshold=None,
                 **kwargs):
        if not root:
            raise DatasetError('The folder dataset needs its root folder (--data-root).')
        if not isinstance(split, str) or not split:
            raise DatasetError('The folder dataset needs a split name or list file, not %r.'
                               % (split,))
        root = os.path.abspath(os.path.expanduser(root))
        if not os.path.isdir(root):
            raise DatasetError('Dataset folder %s does not exist.' % root)
        folders = {kind: os.path.join(root, os.path.expanduser(name))
                   for kind, name in (('images', images), ('masks', masks))}
        for kind, folder in folders.items():
            if not os.path.isdir(folder):
                raise DatasetError('The %s folder %s does not exist; name it with %s= (under '
                                   'the root unless absolute).' % (kind, folder, kind))
        self.image_pattern, self.mask_pattern = image_pattern, mask_pattern
        self._patterns = {'images': _check_pattern(image_pattern, 'image_pattern'),
                          'masks': _check_pattern(mask_pattern, 'mask_pattern')}
        self._setup(PairFiles(folders), root, split, mode, transform, base_size, crop_size,
                    mask_threshold, **kwargs)
        self._check_pairs()
        path = self.split_file(root, split, split_pattern)
        self._load_ids(path, split if not split.endswith('.txt') else os.path.basename(path),
                       '; list the split\'s ids in it, one a line, or give another '
                       'split_pattern (now %r).' % split_pattern)
        self._check_sizes()

    @classmethod
    def split_file(cls, root, split, split_pattern='{split}.txt', **_):
        """The list file of ``split``: a ``.txt`` path, or ``split_pattern`` filled in."""
        root = os.path.abspath(os.path.expanduser(root or '.'))
        if split.endswith('.txt'):
            return os.path.join(root, os.path.expanduser(split))
        try:
            name = split_pattern.format(split=split)
        except (KeyError, IndexError, ValueError) as err:
            raise DatasetError('split_pattern %r must hold {split} and no other field (%s).'
                               % (split_pattern, err)) from None
        try:
            return safe_join(root, name)
        except UnsafePathError as err:
            raise DatasetError('split_pattern %r: %s.' % (split_pattern, err)) from None

    @classmethod
    def has_split(cls, root, split, split_pattern='{split}.txt', **_):
        """Whether a list file exists for ``split``."""
        return os.path.isfile(cls.split_file(root, split, split_pattern))

    def image_name(self, image_id):
        return self.image_pattern.replace('{id}', image_id)

    def mask_name(self, image_id):
        return self.mask_pattern.replace('{id}', image_id)

    def _ids_in(self, kind):
        pattern = self._patterns[kind]
        return {m.group(1) for m in map(pattern.match, _listing(self.files.folders[kind])) if m}

    def _check_pairs(self):
        """Every image must have its mask and every mask its image, by the patterns."""
        images, masks = self._ids_in('images'), self._ids_in('masks')
        where = {kind: self.files.folders[kind] for kind in ('images', 'masks')}
        if not images:
            raise DatasetError('No file in %s matches image_pattern %r (it holds %s).'
                               % (where['images'], self.image_pattern,
                                  _few(_listing(where['images'])) or 'nothing'))
        if images == masks:
            return
        if not masks & images:
            raise DatasetError('No file in %s matches mask_pattern %r for the images of %s '
                               '(it holds %s)%s.' % (where['masks'], self.mask_pattern,
                                                     where['images'],
                                                     _few(_listing(where['masks'])) or 'nothing',
                                                     self._pattern_hint(images)))
        problems = []
        if images - masks:
            problems.append('no mask for %s' % _few(images - masks))
        if masks - images:
            problems.append('no image for %s' % _few(masks - images))
        raise DatasetError('%s holds %d images (%r) and %s %d masks (%r) that do not pair up: '
                           '%s. Give every image its mask, or correct the patterns.'
                           % (where['images'], len(images), self.image_pattern, where['masks'],
                              len(masks), self.mask_pattern, '; '.join(problems)))

    def _pattern_hint(self, image_ids):
        """'; the names suggest mask_pattern=...' from the first image-like mask file whose
        name starts with an image id (the longest such id: Misc_1 before Misc_10)."""
        names = [n for n in _listing(self.files.folders['masks'])
                 if n.lower().endswith(_IMAGE_EXTENSIONS)]
        for name in names[:50]:
            prefixes = [i for i in image_ids if name.startswith(i)]
            if prefixes:
                return '; the names suggest mask_pattern=%r' % (
                    '{id}' + name[len(max(prefixes, key=len)):])
        return ''

    def _check_sizes(self):
        """Every mask of the split has its image's size (read from the files' headers)."""
        for image_id in self.ids:
            image = self.files.image_size('images', self.image_name(image_id))
            mask = self.files.image_size('masks', self.mask_name(image_id))
            if image != mask:
                raise DatasetError('Mask %s is %dx%d but its image %s is %dx%d; a mask must '
                                   'have its image\'s size.'
                                   % (self.files.path('masks', self.mask_name(image_id)),
                                      mask[0], mask[1],
                                      self.files.path('images', self.image_name(image_id)),
                                      image[0], image[1]))
