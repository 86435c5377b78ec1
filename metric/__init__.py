"""Metrics of infrared small target detection as ``mx.metric.EvalMetric`` subclasses."""
from .detection import PdFaMetric
from .roc import ROCMetric
from .segmentation import IoUMetric, NIoUMetric
from .suite import METRIC_KEYS, MetricSuite, format_scores
