"""Images for INT8 calibration: training images of a dataset of the registry, prepared as
evaluation prepares its inputs (resized to base_size x base_size and normalised), so the
calibrated thresholds fit what the network sees when it is scored."""
import numpy as np

from data import dataset_class, get_dataset

__all__ = ['calibration_images']


def calibration_images(root=None, count=32, split=None, base_size=None, dataset='sirst',
                       **options):
    """``count`` images (float32, N x 3 x base_size x base_size) spread over ``split`` of
    ``dataset`` (default: its ``trainval`` split where it has one, else ``train``;
    ``base_size`` None: its protocol's size; ``options`` go to the registry, e.g.
    ``split_set``).

    Use a training split: calibrating on the images you report on would leak them.
    """
    if split is None:
        split = 'trainval' if dataset_class(dataset).has_split(root, 'trainval', **options) \
            else 'train'
    images = get_dataset(dataset, root=root, split=split, mode='testval', base_size=base_size,
                         **options)
    count = min(count, len(images))
    picks = np.linspace(0, len(images) - 1, count).round().astype(int)
    return np.stack([images[int(i)][0] for i in picks])
