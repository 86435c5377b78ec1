"""Where SIRST lives and how its files are read, from folders or from the official zips."""
import io
import os
import threading
import zipfile

from PIL import Image, ImageFile

__all__ = ['DatasetError', 'SIRSTFiles', 'decode_strict', 'resolve_root', 'DEFAULT_ROOT', 'GET_DATA_HINT']

DEFAULT_ROOT = os.path.join('~', '.mxnet', 'datasets', 'sirst')
GET_DATA_HINT = ('Get the data with `python -m data.prepare` (downloads the official SIRST '
                 'repository where the network allows, or `--source` a local clone or zip of '
                 'it), or point --data-root / SIRST_ROOT at a folder holding images/, masks/ '
                 '(or images.zip, masks.zip) and idx_320/, idx_427/.')


# GluonCV turns on PIL's LOAD_TRUNCATED_IMAGES when imported; we decode strictly so that a
# truncated file is an error, not an image with a grey bottom.
_STRICT_DECODE = threading.Lock()


def decode_strict(content):
    """Decode image bytes completely, failing on truncation whatever PIL's global says."""
    with _STRICT_DECODE:
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            image = Image.open(io.BytesIO(content))
            image.load()
            return image
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


class DatasetError(ValueError):
    """Bad or missing dataset input; the message names the file and the problem."""


def resolve_root(root=None):
    """``root``, else ``$SIRST_ROOT``, else GluonCV's ``~/.mxnet/datasets/sirst``."""
    return os.path.abspath(os.path.expanduser(root or os.environ.get('SIRST_ROOT')
                                              or DEFAULT_ROOT))


class SIRSTFiles(object):
    """Read access to ``images/`` and ``masks/`` as folders or as ``images.zip``/``masks.zip``.

    Zip handles are opened lazily per process, so DataLoader workers never share one.
    """

    KINDS = ('images', 'masks')

    def __init__(self, root):
        self.root = root
        folders = [os.path.join(root, kind) for kind in self.KINDS]
        zips = [folder + '.zip' for folder in folders]
        if all(os.path.isdir(f) for f in folders):
            self.layout = 'folders'
        elif all(os.path.isfile(z) for z in zips):
            self.layout = 'zips'
        else:
            raise FileNotFoundError(
                'No SIRST dataset at %s: looked for %s or %s.\n%s'
                % (root, ' and '.join(folders), ' and '.join(zips), GET_DATA_HINT))
        self._zips = None
        self._names = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state['_zips'] = None  # reopened in the worker
        return state

    def _open_zips(self):
        if self._zips is None or self._zips[0] != os.getpid():
            handles = {kind: zipfile.ZipFile(os.path.join(self.root, kind + '.zip'))
                       for kind in self.KINDS}
            self._zips = (os.getpid(), handles)
            if self._names is None:  # members may sit in a sub-folder of the archive
                self._names = {kind: {os.path.basename(n): n for n in handle.namelist()
                                      if not n.endswith('/')}
                               for kind, handle in handles.items()}
        return self._zips[1]

    def path(self, kind, name):
        """A readable location for messages."""
        if self.layout == 'folders':
            return os.path.join(self.root, kind, name)
        return '%s.zip:%s' % (os.path.join(self.root, kind), name)

    def exists(self, kind, name):
        if self.layout == 'folders':
            return os.path.isfile(os.path.join(self.root, kind, name))
        self._open_zips()
        return name in self._names[kind]

    def open_bytes(self, kind, name):
        if self.layout == 'folders':
            with open(os.path.join(self.root, kind, name), 'rb') as handle:
                return handle.read()
        return self._open_zips()[kind].read(self._names[kind][name])

    def open_image(self, kind, name, mode):
        """Decode a PNG fully (so truncation shows here) and convert it to ``mode``."""
        location = self.path(kind, name)
        try:
            return decode_strict(self.open_bytes(kind, name)).convert(mode)
        except (OSError, SyntaxError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise DatasetError('Cannot read %s: %s. Replace the file with a good copy from '
                               'the official dataset.' % (location, err)) from None
