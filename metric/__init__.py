"""Metrics of infrared small target detection as ``mx.metric.EvalMetric`` subclasses."""
from .detection import PdFaMetric
from .roc import ROCMetric
from .segmentation import IoUMetric, NIoUMetric
