"""Which datasets a command's options name, and the registry arguments of each.

The commands share one set of data options (``cli/options.add_data_options``); a run's
:class:`~engine.config.TrainConfig` keeps the same names. :class:`DatasetSelection` reads
them from either and builds the datasets through the registry:

=======================  ==================================================================
option                   meaning
=======================  ==================================================================
``--dataset``            a registry name, or several joined with ``+`` (a union, train.py)
``--eval-dataset``       train.py: datasets whose test split is also scored at the end
``--data-root``          one folder (the training dataset's), or ``NAME=PATH,NAME=PATH`` for
                         several; a dataset without one uses its environment variable
                         (``SIRST_ROOT``, ``NUDT_SIRST_ROOT``), else ``~/.mxnet/datasets/..``
``--split-set``          one split set (the training dataset's), or ``NAME=SET,...``
``--mask-threshold``     binarise every dataset's masks above it (default: refuse others)
``--images`` ...         the folder dataset's folders and patterns (with ``folder`` only)
=======================  ==================================================================
"""
from .files import DatasetError
from .registry import dataset_class, dataset_protocol, get_dataset, list_datasets, training_sets
from .union import union_of

__all__ = ['DatasetSelection', 'dataset_names', 'FOLDER_OPTIONS', 'CARVE_SEED']

#: the folder dataset's own options (``--images`` ... ``--split-pattern``)
FOLDER_OPTIONS = ('images', 'masks', 'image_pattern', 'mask_pattern', 'split_pattern')
#: validation carved off a training split always uses this seed, whatever the run's
#: ``--seed``: runs of several seeds then select on the same images
CARVE_SEED = 0


def _flag(name):
    return '--' + name.replace('_', '-')


def dataset_names(text, option='--dataset'):
    """The registry names in ``text`` (``'sirst'``, ``'sirst+nudt-sirst'``); an unknown,
    repeated or empty name is a :class:`DatasetError`."""
    names = [part.strip().lower() for part in str(text).split('+')]
    for name in names:
        if not name:
            raise DatasetError('%s %s: an empty dataset name; join names with + (e.g. '
                               'sirst+nudt-sirst).' % (option, text))
        if name not in list_datasets():
            raise DatasetError('%s %s: unknown dataset %r; known: %s (join several with +).'
                               % (option, text, name, ', '.join(list_datasets())))
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DatasetError('%s %s names %s twice; name each dataset once.'
                           % (option, text, ', '.join(repeated)))
    return names


class DatasetSelection(object):
    """The datasets of ``dataset`` (trained on, or scored by evaluate.py) and
    ``eval_dataset`` (also scored at the end of training), with their registry arguments.

    ``data_root`` and ``split_set`` are either one value, for the (single) dataset of
    ``dataset``, or ``NAME=VALUE`` items separated by commas, one per dataset of the run.
    Every mismatch (a folder option without the folder dataset, a value for a dataset the
    run does not use, one root for a union) is a one-line :class:`DatasetError`.
    """

    def __init__(self, dataset='sirst', eval_dataset=None, data_root=None, split_set=None,
                 mask_threshold=None, **folder):
        unknown = sorted(set(folder) - set(FOLDER_OPTIONS))
        if unknown:
            raise TypeError('unknown dataset options %s' % ', '.join(unknown))
        self.names = dataset_names(dataset or 'sirst')
        self.eval_names = dataset_names(eval_dataset, '--eval-dataset') if eval_dataset else []
        both = sorted(set(self.names) & set(self.eval_names))
        if both:
            raise DatasetError('--eval-dataset %s: %s is trained on, and its test split is '
                               'scored anyway; name other datasets.' % (eval_dataset,
                                                                         ', '.join(both)))
        self.mask_threshold = mask_threshold
        self.roots = self._per_dataset(data_root, 'data_root')
        self.split_sets = self._per_dataset(split_set, 'split_set')
        for name, value in self.split_sets.items():
            if not getattr(dataset_class(name), 'SPLIT_SETS', None):
                raise DatasetError('--split-set %s: the %s dataset has no split sets%s.'
                                   % (value, name, '; name its lists with --split-pattern'
                                      if name == 'folder' else ''))
        self.folder = {key: value for key, value in folder.items() if value is not None}
        if self.folder and 'folder' not in self.all_names:
            raise DatasetError('%s go%s with --dataset folder (or --eval-dataset folder); '
                               'this run uses %s.' % (
                                   ', '.join(map(_flag, sorted(self.folder))),
                                   'es' if len(self.folder) == 1 else '',
                                   '+'.join(self.all_names)))

    @classmethod
    def of(cls, values):
        """The selection named by ``values``: parsed arguments or a TrainConfig (attributes
        a command does not have count as not given)."""
        keys = ('dataset', 'eval_dataset', 'data_root', 'split_set', 'mask_threshold') \
            + FOLDER_OPTIONS
        return cls(**{key: getattr(values, key, None) for key in keys})

    @property
    def all_names(self):
        return self.names + self.eval_names

    @property
    def is_union(self):
        return len(self.names) > 1

    def _per_dataset(self, text, key):
        """``{name: value}`` from one value (for the single dataset of ``--dataset``) or
        ``NAME=VALUE,...`` items."""
        if text is None or text == '':
            return {}
        items = [item.strip() for item in str(text).split(',')]
        named = [item.partition('=') for item in items]
        if not any(sep and name.strip().lower() in list_datasets() for name, sep, _ in named):
            if self.is_union:
                raise DatasetError('%s %s names one value for the union %s; give one per '
                                   'dataset as NAME=VALUE,NAME=VALUE (e.g. %s)'
                                   % (_flag(key), text, '+'.join(self.names), ','.join(
                                       '%s=...' % n for n in self.names)) +
                                   ('; a dataset left out is found through its environment '
                                    'variable.' if key == 'data_root' else '.'))
            return {self.names[0]: text}
        values = {}
        for item, (name, sep, value) in zip(items, named):
            name = name.strip().lower()
            if not sep or not value.strip():
                raise DatasetError('%s %s: %r is not NAME=VALUE; give every item as NAME=VALUE.'
                                   % (_flag(key), text, item))
            if name not in self.all_names:
                raise DatasetError('%s %s: %s is not a dataset of this run (%s).'
                                   % (_flag(key), text, name, '+'.join(self.all_names)))
            if name in values:
                raise DatasetError('%s %s names %s twice.' % (_flag(key), text, name))
            values[name] = value.strip()
        return values

    def kwargs(self, name):
        """The registry arguments of dataset ``name`` (only those given: the others keep
        the dataset's defaults)."""
        kwargs = {}
        if name in self.roots:
            kwargs['root'] = self.roots[name]
        if name in self.split_sets:
            kwargs['split_set'] = self.split_sets[name]
        if self.mask_threshold is not None:
            kwargs['mask_threshold'] = self.mask_threshold
        if name == 'folder':
            kwargs.update(self.folder)
        return kwargs

    def get(self, name, split, mode='testval', base_size=None, crop_size=None):
        """Dataset ``name``'s ``split`` through the registry (sizes None: its protocol's)."""
        return get_dataset(name, split=split, mode=mode, base_size=base_size,
                           crop_size=crop_size, **self.kwargs(name))

    def has_split(self, name, split):
        """Whether dataset ``name`` has a list file for ``split``."""
        kwargs = self.kwargs(name)
        return dataset_class(name).has_split(kwargs.pop('root', None), split, **kwargs)

    def crop_size(self, crop_size=None):
        """The training crop: ``crop_size``, else the protocol's, for a union the smallest
        of its members' (every sample of a batch must have one size)."""
        return crop_size or min(dataset_protocol(n)['crop_size'] for n in self.names)

    def base_size(self, name, base_size=None):
        """The evaluation (and training scale) side of ``name``: ``base_size`` when given,
        else its protocol's."""
        return base_size or dataset_protocol(name)['base_size']

    def training_sets(self, train_split='train', val_split=None, val_fraction=0.1,
                      test_split='test', base_size=None, crop_size=None):
        """``(train_set, val_set, notes)`` over the datasets of ``--dataset``: per dataset
        :func:`~data.registry.training_sets` (its validation split, the one named, or a
        part of its training split carved off with :data:`CARVE_SEED`), joined into
        unions for several; ``notes`` is one log line per dataset."""
        trains, vals, notes = [], [], []
        crop = self.crop_size(crop_size)
        for name in self.names:
            kwargs = self.kwargs(name)
            train, val, note = training_sets(
                name, root=kwargs.pop('root', None), train_split=train_split,
                val_split=val_split, val_fraction=val_fraction, seed=CARVE_SEED,
                test_split=test_split, base_size=self.base_size(name, base_size),
                crop_size=crop, **kwargs)
            trains.append(train)
            vals.append(val)
            notes.append(note)
        return union_of(trains), union_of(vals), notes

    def test_sets(self, test_split='test', base_size=None):
        """``[(name, dataset)]``: the test split of each dataset of ``--dataset`` (at
        ``base_size``, else its protocol's size) and then of each of ``--eval-dataset``
        (its ``test`` split at its protocol's size: as that dataset is reported)."""
        return ([(name, self.get(name, test_split, base_size=self.base_size(name, base_size)))
                 for name in self.names] +
                [(name, self.get(name, 'test')) for name in self.eval_names])
