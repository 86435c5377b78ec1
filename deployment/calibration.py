"""Images for INT8 calibration: SIRST training images, prepared as evaluation prepares its
inputs (resized to base_size x base_size and normalised), so the calibrated thresholds fit
what the network sees when it is scored."""
import numpy as np

from data import SIRSTSegmentation

__all__ = ['calibration_images']


def calibration_images(root=None, count=32, split='trainval', split_set='idx_320',
                       base_size=512):
    """``count`` images (float32, N x 3 x base_size x base_size) spread over ``split``.

    Use a training split: calibrating on the images you report on would leak them.
    """
    dataset = SIRSTSegmentation(root, split=split, mode='testval', base_size=base_size,
                                split_set=split_set)
    count = min(count, len(dataset))
    picks = np.linspace(0, len(dataset) - 1, count).round().astype(int)
    return np.stack([dataset[int(i)][0] for i in picks])
