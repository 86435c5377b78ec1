"""Where the datasets' files live and how they are read, from folders or from zips.

Three things every command does through this module and nowhere else:

- :func:`decode_image` / :func:`read_image` turn image bytes of any PIL mode (1, L, P, PA,
  LA, RGB, RGBA, CMYK, 16-bit I;16/I;16B, 32-bit I, float F...) into 8-bit images with the
  intensities the file means (a 16-bit value v becomes round(v * 255 / 65535)); every
  dataset, predict.py and export.py read images only through them. An image over PIL's
  decompression-bomb limit is refused before its pixels are decoded.
- :func:`decode_mask` turns mask bytes into a 0/255 mask: strictly (values other than 0 and
  full scale are an error) or binarised at a threshold, saying whether that changed it.
- :func:`safe_join` joins a name taken from a file or the command line (a split id, a name
  in ``last.json``, an output name) to the folder it must stay in, and refuses names that
  lead out of it.
"""
import io
import os
import threading
import warnings
import zipfile

import numpy as np
from PIL import Image, ImageFile

__all__ = ['DatasetError', 'UnsafePathError', 'PairFiles', 'SIRSTFiles', 'decode_strict',
           'decode_image', 'decode_mask', 'read_image', 'safe_join', 'resolve_root',
           'DEFAULT_ROOT', 'GET_DATA_HINT']

DEFAULT_ROOT = os.path.join('~', '.mxnet', 'datasets', 'sirst')
GET_DATA_HINT = ('Get the data with `python -m data.prepare` (downloads the official SIRST '
                 'repository where the network allows, or `--source` a local clone or zip of '
                 'it), or point --data-root / SIRST_ROOT at a folder holding images/, masks/ '
                 '(or images.zip, masks.zip) and idx_320/, idx_427/.')


# GluonCV turns on PIL's LOAD_TRUNCATED_IMAGES when imported; we decode strictly so that a
# truncated file is an error, not an image with a grey bottom.
_STRICT_DECODE = threading.Lock()


class ImageTooLargeError(ValueError):
    """An image over PIL's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``)."""


def _open_bounded(content):
    """``Image.open`` (header only) of ``content``, refusing images over PIL's pixel limit.

    PIL raises beyond twice its limit but only warns between once and twice it, and then
    decodes gigabytes; both become :class:`ImageTooLargeError` here, without changing the
    process-wide limit. The caller holds ``_STRICT_DECODE``, so the warning filter set here is
    not raced by another decode of ours.
    """
    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(content))
    except Image.DecompressionBombError:
        raise ImageTooLargeError('it has over twice PIL\'s decompression-bomb limit of %d '
                                 'pixels; it is refused undecoded: shrink it or cut it into '
                                 'tiles' % limit) from None
    if limit and image.width * image.height > limit:
        raise ImageTooLargeError('it is %d x %d = %d pixels, over PIL\'s decompression-bomb '
                                 'limit of %d; it is refused undecoded: shrink it or cut it '
                                 'into tiles' % (image.width, image.height,
                                                 image.width * image.height, limit))
    return image


def decode_strict(content):
    """Decode image bytes completely, failing on truncation whatever PIL's global says, and
    on images over PIL's decompression-bomb limit (:class:`ImageTooLargeError`)."""
    with _STRICT_DECODE:
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            image = _open_bounded(content)
            image.load()
            return image
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


class DatasetError(ValueError):
    """Bad or missing dataset input; the message names the file and the problem."""


class UnsafePathError(ValueError):
    """A name that would lead out of the folder it must stay in."""


def safe_join(root, name):
    """``root/name``, where ``name`` (relative, from a file or the command line) must stay
    inside ``root``: no absolute path, no ``..`` component, and no symbolic link on the way
    that resolves outside ``root`` (``root`` itself may be a link). Raises
    :class:`UnsafePathError` naming the problem."""
    if not name or '\0' in name:
        raise UnsafePathError('%r is not a usable file name' % name)
    if os.path.isabs(name) or name.startswith('~'):
        raise UnsafePathError('%r is not a name relative to %s' % (name, root))
    if '..' in name.replace('\\', '/').split('/'):
        raise UnsafePathError('%r climbs out of %s with ".."' % (name, root))
    path = os.path.join(root, name)
    base, real = os.path.realpath(root), os.path.realpath(path)
    if os.path.commonpath([base, real]) != base:
        raise UnsafePathError('%r leads out of %s through a symbolic link (to %s)'
                              % (name, root, real))
    return path


# Integer modes wider than 8 bits, by the largest value their container holds: a pixel v of
# such an image means the intensity v / full scale, so it becomes round(v * 255 / full scale)
# (a 16-bit copy of an 8-bit image, v = 257 x, decodes to exactly x). No stretch by the
# image's own minimum and maximum: an image's intensities must not depend on its contents.
_FULL_SCALE = {'I;16': 65535, 'I;16L': 65535, 'I;16B': 65535, 'I;16N': 65535, 'I': 65535,
               'F': 1.0}


def _wide_values(image, full):
    """The pixels of a wide-mode ``image`` as float64, refused outside 0..``full``."""
    values = np.asarray(image, dtype=np.float64)
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > full:
        raise ValueError('its %s pixels span %g..%g, outside the 0..%g that mode %s holds; '
                         'save it as an 8-bit or 16-bit PNG'
                         % ('floating-point' if image.mode == 'F' else 'integer',
                            values.min(), values.max(), full, image.mode))
    return values


def _to_8bit(image):
    """An 8-bit version of ``image`` (unchanged when it is 8-bit already)."""
    full = _FULL_SCALE.get(image.mode)
    if full is None:
        return image
    values = _wide_values(image, full)
    result = np.floor(values * (255.0 / full) + 0.5)
    return Image.fromarray(result.astype(np.uint8), 'L')


def decode_image(content, location, mode='RGB'):
    """Decode image bytes strictly into an 8-bit ``mode`` ('RGB' or 'L') PIL image.

    Wider pixels are scaled by their container's full scale (16-bit: 65535; mode I is taken
    as 16-bit and refused beyond it; float F as 0..1), see ``_FULL_SCALE``. (Masks are read
    by :func:`decode_mask`, which refuses levels that are not a binary mask's.) Raises
    :class:`DatasetError` naming ``location``.
    """
    try:
        return _to_8bit(decode_strict(content)).convert(mode)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DatasetError('Cannot read image %s: %s.' % (location, err)) from None


def _mask_intensity(image):
    """A mask's pixels as float64 on the 0..255 scale, unrounded (a 16-bit value v is
    v * 255 / 65535), so a threshold sees every level the file holds. Colour masks count
    their brightest channel (a red target is a target); alpha is dropped."""
    full = _FULL_SCALE.get(image.mode)
    if full is not None:
        return _wide_values(image, full) * (255.0 / full)
    if image.mode in ('1', 'L'):
        return np.asarray(image.convert('L'), dtype=np.float64)
    return np.asarray(image.convert('RGB'), dtype=np.float64).max(axis=2)


def decode_mask(content, location, threshold=None):
    """Decode mask bytes into an L image of 0 (background) and 255 (target).

    A mask's intensity is its grey level, or its brightest channel in colour (a red target
    is a target), on the 0..255 scale whatever the bit depth (a 16-bit v is v * 255 / 65535,
    unrounded). ``threshold=None`` is strict: only 0 and full scale (255, 65535, 1.0) are
    allowed, anything else is a :class:`DatasetError` naming ``location`` and the values.
    With a number t (0 <= t < 255) a pixel is a target where its intensity exceeds t.
    Returns ``(mask, changed)``: whether binarising altered any pixel (the mask held values
    other than 0 and full scale).
    """
    try:
        image = decode_strict(content)
        intensity = _mask_intensity(image)
        odd = (intensity != 0) & (intensity != 255)
        if threshold is None and odd.any():
            full = _FULL_SCALE.get(image.mode)
            if full is not None:
                raw = np.unique(np.asarray(image, dtype=np.float64)[odd])
                raise ValueError('its %s values %s have no exact 8-bit equivalent (a binary '
                                 'mask holds 0 and %g); give a binarisation threshold '
                                 '(mask_threshold) to accept it'
                                 % (image.mode, ', '.join('%g' % v for v in raw[:4]), full))
            raise ValueError('it has values other than 0 and 255 (%s); masks must be binary, '
                             'or give a binarisation threshold (mask_threshold)'
                             % ', '.join('%g' % v for v in np.unique(intensity[odd])[:8]))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DatasetError('Cannot read mask %s: %s.' % (location, err)) from None
    binary = np.where(intensity > (127 if threshold is None else threshold), 255, 0)
    return Image.fromarray(binary.astype(np.uint8), 'L'), bool(odd.any())


def read_image(path, mode='RGB'):
    """:func:`decode_image` of the file at ``path``."""
    try:
        with open(path, 'rb') as handle:
            content = handle.read()
    except OSError as err:
        raise DatasetError('Cannot read image %s: %s.' % (path, err.strerror or err)) from None
    return decode_image(content, path, mode)


def resolve_root(root=None, env='SIRST_ROOT', default=DEFAULT_ROOT):
    """``root``, else ``$env``, else ``default`` (GluonCV's ``~/.mxnet/datasets/sirst`` for
    SIRST), absolute."""
    return os.path.abspath(os.path.expanduser(root or os.environ.get(env) or default))


class PairFiles(object):
    """Read access to a dataset's ``images`` and ``masks`` folders (``folders`` maps each
    kind to its folder). Names are checked with :func:`safe_join`, so none leads out."""

    KINDS = ('images', 'masks')
    #: what the user can do about a file that does not decode
    REPLACE_HINT = 'Replace or remove that file.'

    def __init__(self, folders):
        self.folders = dict(folders)
        self.layout = 'folders'

    def path(self, kind, name):
        """A readable location for messages."""
        return os.path.join(self.folders[kind], name)

    def check_name(self, kind, name):
        """The file ``name`` of ``kind``; raises :class:`UnsafePathError` if ``name`` leads
        out of that kind's folder."""
        return safe_join(self.folders[kind], name)

    def exists(self, kind, name):
        return os.path.isfile(self.check_name(kind, name))

    def open_bytes(self, kind, name):
        with open(self.check_name(kind, name), 'rb') as handle:
            return handle.read()

    def _decode(self, kind, name, decode):
        location = self.path(kind, name)
        try:
            return decode(self.open_bytes(kind, name), location)
        except DatasetError as err:
            problem = str(err)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            problem = 'Cannot read %s: %s.' % (location, err)
        raise DatasetError('%s %s' % (problem, self.REPLACE_HINT))

    def open_image(self, kind, name, mode):
        """Decode an image fully (so truncation shows here) as 8-bit ``mode``
        (:func:`decode_image`)."""
        return self._decode(kind, name, lambda content, where: decode_image(content, where,
                                                                             mode))

    def open_mask(self, name, threshold=None):
        """``(mask, changed)`` of the mask file ``name`` (:func:`decode_mask`)."""
        return self._decode('masks', name, lambda content, where: decode_mask(content, where,
                                                                              threshold))

    def image_size(self, kind, name):
        """(width, height) from the file's header, without decoding its pixels."""
        location = self.path(kind, name)
        try:
            with _STRICT_DECODE:
                return _open_bounded(self.open_bytes(kind, name)).size
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise DatasetError('Cannot read image %s: %s. %s'
                               % (location, err, self.REPLACE_HINT)) from None


class SIRSTFiles(PairFiles):
    """SIRST's ``images/`` and ``masks/`` as folders or as ``images.zip``/``masks.zip``.

    Zip handles are opened lazily per process, so DataLoader workers never share one.
    """

    REPLACE_HINT = 'Replace the file with a good copy from the official dataset.'

    def __init__(self, root):
        self.root = root
        folders = [os.path.join(root, kind) for kind in self.KINDS]
        zips = [folder + '.zip' for folder in folders]
        super(SIRSTFiles, self).__init__(zip(self.KINDS, folders))
        if all(os.path.isdir(f) for f in folders):
            self.layout = 'folders'
        elif all(os.path.isfile(z) for z in zips):
            self.layout = 'zips'
        else:
            raise FileNotFoundError(
                'No SIRST dataset at %s: looked for %s or %s. %s'
                % (root, ' and '.join(folders), ' and '.join(zips), GET_DATA_HINT))
        self._zips = None
        self._names = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state['_zips'] = None  # reopened in the worker
        return state

    def _open_zips(self):
        if self._zips is None or self._zips[0] != os.getpid():
            handles = {}
            for kind in self.KINDS:
                path = os.path.join(self.root, kind + '.zip')
                try:
                    handles[kind] = zipfile.ZipFile(path)
                except (OSError, zipfile.BadZipFile) as err:
                    raise DatasetError('Cannot open %s: %s. %s' % (path, err, GET_DATA_HINT)) \
                        from None
            self._zips = (os.getpid(), handles)
            if self._names is None:  # members may sit in a sub-folder of the archive
                self._names = {kind: {os.path.basename(n): n for n in handle.namelist()
                                      if not n.endswith('/')}
                               for kind, handle in handles.items()}
        return self._zips[1]

    def path(self, kind, name):
        if self.layout == 'folders':
            return os.path.join(self.root, kind, name)
        return '%s.zip:%s' % (os.path.join(self.root, kind), name)

    def exists(self, kind, name):
        path = self.check_name(kind, name)  # in either layout: no name leads out
        if self.layout == 'folders':
            return os.path.isfile(path)
        self._open_zips()
        return name in self._names[kind]

    def open_bytes(self, kind, name):
        if self.layout == 'folders':
            return super(SIRSTFiles, self).open_bytes(kind, name)
        self.check_name(kind, name)
        return self._open_zips()[kind].read(self._names[kind][name])
