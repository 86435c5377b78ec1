"""Metrics on small hand-made masks whose results are worked out by hand here."""
import mxnet as mx
import numpy as np
import pytest

from metric import IoUMetric, NIoUMetric, PdFaMetric, ROCMetric


def logits_from(binary):
    """+5 where predicted, -5 elsewhere, as (B, 1, H, W)."""
    return np.where(np.asarray(binary)[:, None] > 0, 5.0, -5.0).astype(np.float32)


def masks_from(binary):
    return np.asarray(binary, dtype=np.float32)[:, None]


def square(h, w, top, left, size):
    out = np.zeros((h, w), np.uint8)
    out[top:top + size, left:left + size] = 1
    return out


def test_iou_and_niou_by_hand():
    # image 0: target 4 px, prediction 2 px inside it  -> inter 2, union 4
    # image 1: target 1 px, prediction 3 px, overlap 1 -> inter 1, union 3
    # image 2: empty mask, empty prediction            -> inter 0, union 0 (scores 0)
    target = np.zeros((3, 4, 4), np.uint8)
    pred = np.zeros((3, 4, 4), np.uint8)
    target[0, :2, :2] = 1
    pred[0, 0, :2] = 1
    target[1, 3, 3] = 1
    pred[1, 3, 1:] = 1
    iou, niou = IoUMetric(), NIoUMetric()
    for metric in (iou, niou):
        metric.update(mx.nd.array(masks_from(target)), mx.nd.array(logits_from(pred)))
    assert iou.get() == ('IoU', pytest.approx(3 / 7))
    assert niou.get() == ('nIoU', pytest.approx((2 / 4 + 1 / 3 + 0) / 3))
    # updating image by image (as lists) gives the same figures
    iou.reset(), niou.reset()
    for i in range(3):
        for metric in (iou, niou):
            metric.update([masks_from(target[i:i + 1])], [logits_from(pred[i:i + 1])])
    assert iou.get()[1] == pytest.approx(3 / 7)
    assert niou.get()[1] == pytest.approx((2 / 4 + 1 / 3) / 3)


def test_iou_threshold_is_logit_zero_and_shapes_must_match():
    iou = IoUMetric()
    iou.update(np.ones((1, 1, 1, 2)), np.array([[[[0.0, 0.01]]]]))
    assert iou.get()[1] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        iou.update(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 3)))


def test_roc_by_hand():
    # positives score logits 3 and -1, negatives 1 and -3; bins one logit wide
    logits = np.array([3.0, -1.0, 1.0, -3.0]).reshape(1, 1, 1, 4)
    labels = np.array([1, 1, 0, 0], np.float32).reshape(1, 1, 1, 4)
    roc = ROCMetric(bins=40, logit_range=20)
    roc.update(labels, logits)
    fpr, tpr, thresholds = roc.curve()
    assert (fpr[0], tpr[0], thresholds[0]) == (1.0, 1.0, 0.0)
    assert thresholds[20] == 0.5 and (fpr[20], tpr[20]) == (0.5, 0.5)  # logit >= 0
    assert (fpr[22], tpr[22]) == (0.0, 0.5)                               # logit >= 2
    assert (fpr[24], tpr[24]) == (0.0, 0.0)                               # logit >= 4
    # rank statistic: of the 4 (pos, neg) pairs 3 are ordered correctly
    assert roc.get() == ('AUC', pytest.approx(0.75))
    # scores beyond the range land in the end bins
    roc.update(np.zeros((1, 1, 1, 2)), np.array([-100.0, 100.0]).reshape(1, 1, 1, 2))
    assert roc.negatives[0] == 1 and roc.negatives[-1] == 1


def test_pd_fa_several_targets_and_false_alarms():
    h, w = 20, 20
    target = square(h, w, 2, 2, 3) | square(h, w, 12, 12, 2)      # two targets
    pred = square(h, w, 3, 3, 3)                                  # centroid 1 px off target 1
    pred |= square(h, w, 15, 2, 2)                                # a false alarm of 4 px
    metric = PdFaMetric()
    metric.update(masks_from(target[None]), logits_from(pred[None]))
    (pd, fa) = metric.get()[1]
    assert pd == pytest.approx(1 / 2)
    assert fa == pytest.approx(4 / 400)


def test_pd_fa_merged_prediction_matches_one_target_at_most():
    h, w = 12, 12
    target = square(h, w, 5, 2, 1) | square(h, w, 5, 6, 1)  # centroids (5, 2) and (5, 6)
    pred = np.zeros((h, w), np.uint8)
    pred[5, 2:7] = 1                                          # one blob, centroid (5, 4)
    metric = PdFaMetric()
    metric.update(masks_from(target[None]), logits_from(pred[None]))
    (pd, fa) = metric.get()[1]
    assert pd == pytest.approx(1 / 2)   # 2 px from each, but it can match only once
    assert fa == 0.0                    # its pixels belong to a matched component


def test_pd_fa_distance_and_empty_cases():
    h, w = 10, 10
    target = square(h, w, 0, 0, 1)
    far = square(h, w, 0, 3, 1)          # exactly 3 px away: not within the radius
    empty = np.zeros((h, w), np.uint8)
    metric = PdFaMetric()
    metric.update(masks_from(np.stack([target, empty, empty])),
                  logits_from(np.stack([far, empty, target])))
    (pd, fa) = metric.get()[1]
    assert pd == 0.0
    assert fa == pytest.approx(2 / 300)  # both predicted pixels are false alarms
    assert np.isnan(PdFaMetric().get()[1][0])


def test_pd_fa_components_do_not_connect_across_images():
    h, w = 4, 4
    a = square(h, w, 3, 0, 1)  # bottom row of image 0
    b = square(h, w, 0, 0, 1)  # top row of image 1: adjacent only in a flattened stack
    metric = PdFaMetric()
    metric.update(masks_from(np.stack([a, b])), logits_from(np.stack([a, b])))
    assert metric.targets == 2 and metric.get()[1] == [1.0, 0.0]


def test_pd_fa_native_sizes_as_lists():
    big = square(30, 40, 10, 10, 3)
    small = square(8, 6, 1, 1, 2)
    metric = PdFaMetric()
    metric.update([big, small], [logits_from(big[None])[0, 0], logits_from(np.zeros((1, 8, 6)))[0, 0]])
    assert metric.pixels == 30 * 40 + 8 * 6
    assert metric.get()[1] == [0.5, 0.0]
