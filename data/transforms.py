"""Pixel-level transforms of the SIRST pipeline, in numpy (cheap in DataLoader workers)."""
import numpy as np
from PIL import Image

__all__ = ['MEAN', 'STD', 'normalize', 'mask_to_array', 'resize_pair']

#: ImageNet statistics used by the original toolkit's ``Normalize``
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def normalize(image):
    """RGB PIL image or HWC uint8 array -> CHW float32, ``(x / 255 - mean) / std``.

    The same values as GluonCV's ``ToTensor`` followed by ``Normalize``.
    """
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    return np.ascontiguousarray(((pixels - MEAN) / STD).transpose(2, 0, 1))


def mask_to_array(mask):
    """L-mode PIL mask with values {0, 255} -> float32 (1, H, W) with values {0, 1}."""
    return (np.asarray(mask, dtype=np.float32) / 255.0)[None]


def resize_pair(image, mask, size):
    """Resize image (bilinear) and mask (nearest) independently to ``size`` = (w, h)."""
    return image.resize(size, Image.BILINEAR), mask.resize(size, Image.NEAREST)
