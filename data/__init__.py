"""SIRST data: file access, transforms and the GluonCV-style segmentation dataset."""
from .files import DatasetError, resolve_root
from .sirst import SIRSTSegmentation
from .transforms import MEAN, STD, normalize
