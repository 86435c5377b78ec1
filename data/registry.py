"""The dataset registry: every dataset by name, as GluonCV's ``get_segmentation_dataset``.

    from data import get_dataset, list_datasets, dataset_protocol, training_sets

    list_datasets()                           # ['sirst', 'nudt-sirst', 'folder'] (--dataset)
    test = get_dataset('nudt-sirst', root=args.data_root, split='test', mode='testval')
    test.base_size                            # 256: the protocol's size unless base_size=
    train, val, note = training_sets('nudt-sirst', root=args.data_root, base_size=256,
                                     crop_size=256, val_fraction=0.1, seed=0)
    log(note)                                 # says where validation came from

A command maps its options onto keyword arguments one to one:

=========================  ====================================================================
``get_dataset`` argument   meaning
=========================  ====================================================================
``name``                   ``--dataset``: one of :func:`list_datasets`
``root``                   ``--data-root``; None: the dataset's environment variable
                           (``SIRST_ROOT``, ``NUDT_SIRST_ROOT``), else ``~/.mxnet/datasets/..``
``split``                  a split name (``train``, ``val``, ``test``...); for ``folder`` also
                           a list file path ending in ``.txt``
``mode``                   ``train``, ``val``, ``testval`` (evaluation at base_size), ``test``
``base_size``,             None: the dataset's protocol (:func:`dataset_protocol`): SIRST
``crop_size``              512 / 480, NUDT-SIRST 256 / 256 (native), folder 512 / 480
``mask_threshold``         None: non-binary masks are errors; a number t binarises at t
                           (``dataset.binarised_masks()`` lists the masks that changed)
``split_set``              sirst: ``idx_320`` | ``idx_427``; nudt-sirst: ``50_50`` | ``70_20``
``images``, ``masks``,     folder only: the folders (under root), the file names from an id
``image_pattern``,         (``'{id}.png'``, ``'{id}_pixels0.png'``) and where a split's list
``mask_pattern``,          lives (``'{split}.txt'``)
``split_pattern``
=========================  ====================================================================

Every failure is a :class:`~data.files.DatasetError` (or ``FileNotFoundError`` for a missing
SIRST) with a one-line message naming the culprit; commands print it as ``error: ...``.
Call ``dataset.verify()`` before long work: it decodes every file of the split (and counts
the masks a threshold changes); ``dataset.describe()`` is one line for the log (name, split,
size, mode, sizes, mask handling), ``dataset.label`` names the split (``idx_320/test``).
A training list may repeat ids (oversampling); a scored one may not.
"""
import inspect

from .files import DatasetError
from .folder import FolderSegmentation
from .nudt import NUDTSIRSTSegmentation
from .sirst import SIRSTSegmentation
from .splits import carve_ids

__all__ = ['get_dataset', 'list_datasets', 'dataset_class', 'dataset_protocol',
           'training_sets']

_DATASETS = {cls.NAME: cls for cls in (SIRSTSegmentation, NUDTSIRSTSegmentation,
                                       FolderSegmentation)}
# arguments every dataset takes, which a class may not name in its signature (kwargs)
_COMMON = ('root', 'split', 'mode', 'transform', 'base_size', 'crop_size', 'mask_threshold')


def list_datasets():
    """The registered names, for ``--dataset`` choices."""
    return list(_DATASETS)


def dataset_class(name):
    """The class registered as ``name``; an unknown name is a one-line error listing the
    known ones."""
    try:
        return _DATASETS[name.lower()]
    except (KeyError, AttributeError):
        raise DatasetError('Unknown dataset %r; known: %s.'
                           % (name, ', '.join(list_datasets()))) from None


def _options(cls):
    return [p for p in inspect.signature(cls.__init__).parameters
            if p not in ('self', 'kwargs')]


def get_dataset(name, **kwargs):
    """The dataset ``name`` made with ``kwargs`` (see the module docstring); an option the
    dataset does not take is an error naming it and the options it does take."""
    cls = dataset_class(name)
    options = _options(cls)
    unknown = sorted(set(kwargs) - set(options) - set(_COMMON))
    if unknown:
        raise DatasetError('Dataset %r takes no option %s; its options: %s.'
                           % (cls.NAME, ', '.join(unknown), ', '.join(options)))
    return cls(**kwargs)


def dataset_protocol(name):
    """The evaluation protocol of ``name``: ``base_size`` (evaluation side), ``crop_size``
    (training crop) and ``has_val`` (whether its standard release has a validation split;
    :func:`training_sets` also looks for one on disk)."""
    cls = dataset_class(name)
    return {'base_size': cls.BASE_SIZE, 'crop_size': cls.CROP_SIZE,
            'has_val': cls.HAS_VAL}


def training_sets(name, root=None, train_split='train', val_split=None, val_fraction=0.1,
                  seed=0, test_split='test', **kwargs):
    """``(train_set, val_set, description)`` for training on ``name``.

    ``val_split`` named: that split validates (the description says so, and warns when it is
    ``test_split``, whose score selection then makes optimistic). Otherwise the release's
    ``val`` split where it has one (SIRST), else ``val_fraction`` of ``train_split`` carved
    off with ``seed`` (deterministic; the rest trains). The test split is never taken
    silently. ``train_set`` is in ``train`` mode, ``val_set`` in ``testval``; ``kwargs`` go
    to :func:`get_dataset` for both. ``description`` is one line for the log.
    """
    cls = dataset_class(name)
    for key in ('split', 'mode'):
        if key in kwargs:
            raise DatasetError('training_sets sets %s itself; pass train_split / val_split.'
                               % key)
    train_set = get_dataset(name, root=root, split=train_split, mode='train', **kwargs)
    if val_split is None and cls.has_split(root, 'val', **kwargs):
        val_split = 'val'
    if val_split is not None:
        if val_split == train_split:
            raise DatasetError('The validation split %r is the training split; name another '
                               'or leave it out to carve one off.' % val_split)
        val_set = get_dataset(name, root=root, split=val_split, mode='testval', **kwargs)
        note = 'validation: %s %s (%d images)' % (cls.NAME, val_set.label, len(val_set))
        if val_split == test_split:
            note += (', the test split, as asked: selecting on it makes its test score '
                     'optimistic')
        overlap = set(train_set.ids) & set(val_set.ids)
        if overlap:
            note += '; %d of its images are also training images' % len(overlap)
        return train_set, val_set, note
    kept, carved = carve_ids(train_set.ids, val_fraction, seed)
    label = train_set.label
    val_set = train_set.subset(carved, mode='testval', label='%s[val %g seed %d]'
                               % (label, val_fraction, seed))
    train_set = train_set.subset(kept, label='%s[train %g seed %d]' % (label, val_fraction, seed))
    note = ('validation: %d of %s %s\'s %d images carved off with seed %d (fraction %g; %s '
            'has no validation split), training on the other %d'
            % (len(carved), cls.NAME, label, len(kept) + len(carved), seed, val_fraction,
               cls.NAME, len(kept)))
    return train_set, val_set, note
