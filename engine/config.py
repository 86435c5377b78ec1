"""The typed configuration of a training run: what train.py's command line resolves to,
what the engine reads, and what a run directory keeps as ``args.json``."""
import dataclasses
import json
import os
from typing import Optional

from utils.atomic import write_json
from utils.messages import one_line
from .errors import RunStateUnreadable
from .recipes import matching_recipe

__all__ = ['TrainConfig', 'ARGS_FILE', 'RUNTIME_FIELDS']

ARGS_FILE = 'args.json'

#: fields a resumed run takes from its new command line when given there (they say where
#: and how this process runs, not what it trains); everything else comes from args.json
RUNTIME_FIELDS = ('gpus', 'cpus', 'workers', 'no_progress', 'data_root', 'dist_timeout',
                  'dist_param_dir', 'stall_timeout', 'dtype')

#: what runs from before recipes (and before batch-norm statistics) trained with
_OLD_RUN_DEFAULTS = {'output_prior': 0.0, 'grad_normalization': 'batch', 'bn_batches': 0}


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run is: network, data, recipe, devices, run directory.

    ``resume`` names the run directory being continued (None for a new run) and
    ``schedule_epochs`` the epochs the learning-rate schedule was built for when a resumed
    run was given a new ``epochs``.
    """
    net: str = 'acm_unet'
    blocks: int = 4
    channel_times: float = 1.0
    stem: str = 'paper'
    # the data (data/selection.py): an args.json from before datasets were named is SIRST's
    dataset: str = 'sirst'
    eval_dataset: Optional[str] = None
    data_root: Optional[str] = None
    split_set: Optional[str] = None
    mask_threshold: Optional[float] = None
    images: Optional[str] = None
    masks: Optional[str] = None
    image_pattern: Optional[str] = None
    mask_pattern: Optional[str] = None
    split_pattern: Optional[str] = None
    train_split: str = 'train'
    val_split: Optional[str] = None
    val_fraction: float = 0.1
    test_split: str = 'test'
    paper_protocol: bool = False
    # None: each dataset's protocol size (a union's members keep their own)
    base_size: Optional[int] = None
    crop_size: Optional[int] = None
    # progressive resizing: [[first epoch, base, crop], ...] for training only (scoring stays
    # at base_size); epochs before the first stage train at base_size / crop_size
    train_sizes: Optional[list] = None
    batch_size: int = 8
    test_batch_size: int = 8
    epochs: int = 300
    schedule_epochs: Optional[int] = None
    val_every: int = 1
    recipe: str = 'default'
    optimizer: str = 'nag'
    lr: float = 0.05
    output_prior: float = 0.001
    grad_normalization: str = 'none'
    bn_batches: int = 4
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_epochs: int = 0
    workers: int = 2
    gpus: str = ''
    cpus: int = 0
    syncbn: bool = False
    kvstore: str = 'device'
    dist_timeout: float = 300.0
    stall_timeout: float = 300.0
    # the number format of the training step (engine/precision.py); a resume may change it
    dtype: str = 'float32'
    dist_param_dir: Optional[str] = None
    seed: int = 0
    save_dir: str = ''
    resume: Optional[str] = None
    trust_states: bool = False
    stop_after: Optional[int] = None
    no_progress: bool = False

    @classmethod
    def field_names(cls):
        return [field.name for field in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values):
        """The configuration of ``values`` (keys that are not fields are ignored: args.json
        of older runs holds some, e.g. ``resuming``)."""
        names = set(cls.field_names())
        return cls(**{key: value for key, value in values.items() if key in names})

    def to_dict(self):
        return dataclasses.asdict(self)

    @property
    def resuming(self):
        return self.resume is not None

    @property
    def grad_divisor(self):
        """What the summed gradient is divided by before the update."""
        return self.batch_size if self.grad_normalization == 'batch' else 1

    @property
    def final_epoch(self):
        """The epoch this process stops after (``stop_after`` ends a run early)."""
        return self.epochs if self.stop_after is None else min(self.epochs, self.stop_after)

    def training_size(self, epoch):
        """``(base, crop)`` that ``epoch`` trains at: the last ``train_sizes`` stage begun
        by then, else ``(base_size, crop_size)``."""
        size = (self.base_size, self.crop_size)
        for first, base, crop in self.train_sizes or ():
            if epoch >= first:
                size = (base, crop)
        return size

    @property
    def lr_schedule_epochs(self):
        return self.schedule_epochs or self.epochs

    def save(self, run_dir):
        """Write ``run_dir/args.json`` atomically."""
        write_json(os.path.join(run_dir, ARGS_FILE), self.to_dict())

    @staticmethod
    def load_saved(run_dir):
        """The saved arguments of ``run_dir`` as a dict, with the values that runs from
        before recipes trained with filled in; a missing, truncated or foreign
        ``args.json`` is a :class:`RunStateUnreadable` naming it."""
        path = os.path.join(run_dir, ARGS_FILE)
        saved = read_json(path, 'the arguments of the run')
        if not isinstance(saved, dict) or not {'net', 'epochs', 'optimizer'} <= set(saved):
            raise RunStateUnreadable('%s is not the args.json of a train.py run; pass a directory '
                                'made by train.py' % path)
        if not saved.get('recipe'):  # a run from before recipes had names
            saved['recipe'] = matching_recipe(saved) or (
                'toolkit' if saved.get('optimizer') == 'adagrad' else 'paper')
        for key, value in _OLD_RUN_DEFAULTS.items():
            saved.setdefault(key, value)
        # fields newer than the run (its dataset: SIRST) take their defaults, so that an
        # option given on resume is compared with what the run really used
        for field in dataclasses.fields(TrainConfig):
            if field.name not in RUNTIME_FIELDS:
                saved.setdefault(field.name, field.default)
        return saved


def read_json(path, what):
    """The JSON document in ``path``, or a :class:`RunStateUnreadable` naming the file when it is
    missing, empty, truncated or not JSON (a run stopped while writing it, or a copy cut
    short)."""
    try:
        with open(path, encoding='utf-8') as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise RunStateUnreadable('%s (%s) does not exist' % (path, what)) from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RunStateUnreadable('%s (%s) is unreadable or cut short (%s)'
                            % (path, what, one_line(err))) from None
