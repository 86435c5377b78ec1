"""``evaluate.py --predictions DIR``: score saved maps of any method, one file per image id
(``<id>.npy`` or ``<id>.png``), under a named protocol (``metric/protocol.py``), and
``--save-maps``: save a network's logits as such maps.

A map is accepted at the evaluation size (``--base-size`` squared) or at its image's native
size. PNGs must be grayscale: 8-bit (v / 255), 16-bit (v / 65535), float (as stored) or
bilevel; ``.npy`` files are read without unpickling (``allow_pickle=False``).
"""
import os
import sys
import time

import numpy as np

from cli.outputs import OutputError, output_folder
from data import DatasetError
from data.selection import DatasetSelection
from data.files import UnsafePathError, decode_strict, safe_join
from metric import METRIC_KEYS, format_scores
from metric.protocol import evaluate_maps, prepare_map
from utils.atomic import write_json

__all__ = ['PredictionError', 'read_map', 'split_masks',
           'load_prediction_maps', 'format_report', 'score_predictions', 'save_map',
           'map_saver']

#: PNG modes a map may have, with the value that means 1.0
_PNG_SCALE = {'L': 255.0, '1': 1.0, 'I;16': 65535.0, 'I;16B': 65535.0, 'I;16L': 65535.0,
              'I;16N': 65535.0, 'I': 65535.0, 'F': 1.0}


class PredictionError(ValueError):
    """A predictions folder or map that cannot be scored; the message names it."""


def _decode_png(path):
    with open(path, 'rb') as handle:
        image = decode_strict(handle.read())
    if image.mode not in _PNG_SCALE:
        raise PredictionError('map %s has image mode %s; save maps as grayscale PNG '
                              '(8-bit, 16-bit or float) or .npy' % (path, image.mode))
    values = np.asarray(image, dtype=np.float64)
    if image.mode == 'I' and (values.min() < 0 or values.max() > 65535):
        raise PredictionError('map %s holds 32-bit values outside 0..65535; save it as a '
                              '16-bit PNG or .npy' % path)
    return values / _PNG_SCALE[image.mode]


def read_map(folder, image_id):
    """The map of ``image_id`` in ``folder`` as a 2-D float array. Raises
    :class:`PredictionError` naming the file (or the id when there is none)."""
    paths = [safe_join(folder, image_id + ext) for ext in ('.npy', '.png')]
    present = [p for p in paths if os.path.isfile(p)]
    if not present:
        raise PredictionError('no map for id %s in %s (expected %s.npy or %s.png)'
                              % (image_id, folder, image_id, image_id))
    if len(present) > 1:
        raise PredictionError('two maps for id %s: %s and %s; keep one'
                              % (image_id, present[0], present[1]))
    path = present[0]
    try:
        if path.endswith('.npy'):
            values = np.load(path, allow_pickle=False)
        else:
            values = _decode_png(path)
    except PredictionError:
        raise
    except (OSError, ValueError, SyntaxError) as err:
        raise PredictionError('cannot read map %s: %s' % (path, err)) from None
    values = np.asarray(values)
    while values.ndim > 2 and values.shape[0] == 1:  # (1, H, W) and (1, 1, H, W) as saved
        values = values[0]
    if values.ndim != 2 or values.dtype.kind not in 'biuf':
        raise PredictionError('map %s is a %s array of shape %s; a map is one 2-D number '
                              'per pixel' % (path, values.dtype, values.shape))
    return values


def split_masks(dataset):
    """(evaluation-size mask, native mask) of every image of a ``testval`` dataset."""
    return [(mask[0], native) for _, mask, native in map(dataset.scored_sample,
                                                          range(len(dataset)))]


def load_prediction_maps(folder, dataset, normalize, masks=None):
    """:class:`metric.protocol.ScoredMap` of every image of ``dataset`` from ``folder``.

    Every id is checked before any is scored: all missing ids are reported together.
    """
    if not os.path.isdir(folder):
        raise PredictionError('predictions folder %s %s' % (
            folder, 'is a file, not a folder' if os.path.exists(folder) else 'does not exist'))
    missing = [i for i in dataset.ids
               if not any(os.path.isfile(safe_join(folder, i + ext)) for ext in ('.npy', '.png'))]
    if missing:
        raise PredictionError('predictions folder %s has no map for %d of the %d ids of %s/%s: '
                              '%s%s (expected <id>.npy or <id>.png)'
                              % (folder, len(missing), len(dataset.ids), dataset.split_set,
                                 dataset.split, ', '.join(missing[:5]),
                                 ', ...' if len(missing) > 5 else ''))
    masks = masks or split_masks(dataset)
    maps = []
    for image_id, (eval_mask, native) in zip(dataset.ids, masks):
        values = read_map(folder, image_id)
        try:
            maps.append(prepare_map(values, eval_mask, native, normalize))
        except ValueError as err:
            raise PredictionError('map of %s in %s: %s' % (image_id, folder, err)) from None
    return maps


def save_map(folder, image_id, logits):
    """Write a network's (H, W) logits as ``folder/<id>.npy`` (float32)."""
    path = safe_join(folder, image_id + '.npy')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, np.asarray(logits, dtype=np.float32))


def map_saver(folder, ids, then=None):
    """An ``evaluate_split`` batch callback saving each image's logits with
    :func:`save_map` (then calling ``then``, if given, with the same batch)."""
    def on_batch(indices, logits):
        for idx, logit in zip(indices, logits):
            save_map(folder, ids[idx], logit[0])
        if then is not None:
            then(indices, logits)
    return on_batch


def format_report(report):
    """Human-readable lines of a :func:`metric.protocol.evaluate_maps` report."""
    lines = []

    def row(name, r):
        lines.append('  %-16s T=%-8.4f %s' % (name, r['threshold'],
                                               format_scores(r, METRIC_KEYS[:4], '  ')))
    if 'at_threshold' in report:
        row('threshold', report['at_threshold'])
    if 'sweep' in report:
        row('best IoU', report['best_IoU'])
        row('best nIoU', report['best_nIoU'])
        lines.append('  one threshold gives both: %s'
                     % ('yes' if report['same_threshold'] else 'no'))
    lines.append('  %s' % format_scores(report, ('AUC',)))
    return lines


def score_predictions(args):
    """The ``--predictions`` path of evaluate.py; returns the exit status."""
    if not args.predictions:
        print('error: --threshold and --sweep score saved maps; add --predictions DIR (a '
              'network is scored at logit 0 without them)', file=sys.stderr)
        return 2
    threshold = args.threshold
    if threshold is None and not args.sweep:
        threshold = 0.5
    start = time.time()
    try:
        selection = DatasetSelection.of(args)
        if selection.is_union:
            raise DatasetError('--dataset %s: saved maps are scored one dataset at a time'
                               % args.dataset)
        dataset = selection.get(selection.names[0], args.split, base_size=args.base_size)
        out = output_folder(args.out or os.path.join('runs', 'evaluate', 'predictions-%s-%s' % (
            os.path.basename(os.path.normpath(args.predictions)),
            dataset.label.replace('/', '-'))))
        maps = load_prediction_maps(args.predictions, dataset, args.normalize)
    except (DatasetError, PredictionError, UnsafePathError, OutputError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    report = evaluate_maps(maps, args.normalize, threshold, args.sweep)
    report.update(predictions=os.path.abspath(args.predictions), dataset=dataset.NAME,
                  split=dataset.label, base_size=dataset.base_size,
                  seconds=round(time.time() - start, 2))
    write_json(os.path.join(out, 'metrics.json'), report)
    print('%s on %s %s (%d maps, --normalize %s)' % (args.predictions, dataset.NAME,
                                                    dataset.label, report['images'],
                                                    args.normalize))
    print('\n'.join(format_report(report)))
    print('  metrics: %s' % os.path.join(out, 'metrics.json'))
    return 0
