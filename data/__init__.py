"""Datasets of infrared small targets: file access, transforms, SIRST, NUDT-SIRST, any folder
of images and masks, and the registry that names them (:mod:`data.registry`)."""
from .files import DatasetError, resolve_root
from .sirst import SIRSTSegmentation
from .nudt import NUDTSIRSTSegmentation
from .folder import FolderSegmentation
from .registry import dataset_class, dataset_protocol, get_dataset, list_datasets, training_sets
from .transforms import MEAN, STD, normalize

__all__ = ['DatasetError', 'resolve_root', 'SIRSTSegmentation', 'NUDTSIRSTSegmentation',
           'FolderSegmentation', 'dataset_class', 'dataset_protocol', 'get_dataset',
           'list_datasets', 'training_sets', 'MEAN', 'STD', 'normalize']
