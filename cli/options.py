"""Options shared by the command lines, declared once with their valid ranges, and the one
validation every command runs on its options before any work.

Each command builds a :class:`CommandParser`, adds the groups it needs
(:func:`add_model_options`, :func:`add_weights_options`, :func:`add_data_options`,
:func:`add_device_options`, :func:`add_map_options`) and its own options through
:func:`option` (which records a range or a check with the option), then calls
:meth:`CommandParser.parse`. An option added to a group here reaches every command that
uses the group.
"""
import argparse
import math
import re
import sys

from data import DatasetError
from data.selection import dataset_names
from metric.protocol import NORMALIZATIONS
from model import list_models

__all__ = ['CommandParser', 'option', 'add_model_options', 'add_weights_options',
           'add_data_options', 'add_device_options', 'add_map_options', 'known_datasets',
           'check_options', 'weights_path', 'side', 'count', 'KVSTORES']

#: kvstores of one machine, then the parameter-server modes (engine/distributed.py)
KVSTORES = ('device', 'local', 'nccl', 'dist_sync', 'dist_device_sync', 'dist_async')
#: the smallest image side the networks take (their deepest stage is 1/16 of it)
MIN_SIDE = 16


_NOT_GIVEN = object()


class CommandParser(argparse.ArgumentParser):
    """``argparse`` whose errors are one line on stderr (exit status 2), and whose
    :meth:`parse` validates every option's range before returning."""

    def error(self, message):
        sys.stderr.write('%s: error: %s (see --help)\n' % (self.prog, message))
        sys.exit(2)

    def parse(self, argv=None):
        args = self.parse_args(argv)
        self.check(args)
        return args

    def given(self, argv=None):
        """The names (``dest``) of the options ``argv`` gives, defaults aside."""
        namespace, unset = argparse.Namespace(), {}
        for action in self._actions:
            if action.dest != 'help':
                # argparse keeps the values it finds; options that add to a list need one
                unset[action.dest] = None if action.nargs == 0 or isinstance(
                    action, (argparse._AppendAction, argparse._CountAction)) else _NOT_GIVEN
                setattr(namespace, action.dest, unset[action.dest])
        self.parse_args(argv, namespace=namespace)
        return {name for name, value in vars(namespace).items() if value is not unset[name]}

    def check(self, values):
        """Refuse (one line, exit 2) the first options of ``values`` outside their range."""
        problems = check_options(self, values)
        if problems:
            self.error('; '.join(problems))


def option(parser, *flags, at_least=None, above=None, below=None, at_most=None, valid=None,
           **kwargs):
    """``parser.add_argument(*flags, **kwargs)`` with the option's valid values recorded:
    ``at_least``/``above`` and ``below``/``at_most`` bound a number (every value of an
    option that takes several); ``valid(value)`` returns a problem or None."""
    action = parser.add_argument(*flags, **kwargs)
    action.bounds = (at_least, above, below, at_most)
    action.valid = valid
    return action


def _problem(action, value):
    flag = action.option_strings[0] if action.option_strings else action.dest
    at_least, above, below, at_most = getattr(action, 'bounds', (None,) * 4)
    if isinstance(value, float) and not math.isfinite(value):
        return '%s %s: must be a finite number' % (flag, value)  # NaN passes every bound
    if at_least is not None and value < at_least:
        return '%s %s: must be at least %s' % (flag, value, at_least)
    if above is not None and value <= above:
        return '%s %s: must be above %s' % (flag, value, above)
    if below is not None and value >= below:
        return '%s %s: must be below %s' % (flag, value, below)
    if at_most is not None and value > at_most:
        return '%s %s: must be at most %s' % (flag, value, at_most)
    valid = getattr(action, 'valid', None)
    problem = valid(value) if valid is not None else None
    return '%s %s: %s' % (flag, value, problem) if problem else None


def check_options(parser, values):
    """The problems of ``values`` (a namespace or a configuration with the parser's option
    names as attributes) against the ranges :func:`option` recorded."""
    problems = []
    for action in parser._actions:  # pylint: disable=protected-access
        if not hasattr(action, 'bounds'):
            continue
        value = getattr(values, action.dest, None)
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            problem = None if item is None else _problem(action, item)
            if problem:
                problems.append(problem)
                break
    return problems


def _known_net(name):
    return None if name in list_models() else 'unknown network; valid: %s' % ', '.join(
        list_models())


def _device_list(text):
    return None if re.fullmatch(r'\s*(\d+\s*(,\s*\d+\s*)*)?', text) else \
        "give GPU numbers separated by commas, e.g. '0' or '0,1'"


def add_model_options(parser):
    """The network: ``--net``, ``--blocks``, ``--channel-times``, ``--stem``."""
    option(parser, '--net', default='acm_unet', valid=_known_net,
           help='registry name, one of: %s' % ', '.join(list_models()))
    option(parser, '--blocks', type=int, default=4, at_least=1,
           help='residual blocks per stage (b)')
    option(parser, '--channel-times', type=float, default=1, above=0, help='width multiplier')
    parser.add_argument('--stem', default='paper', choices=['paper', 'regular'])


def add_weights_options(parser):
    """Which weights a command loads: ``--weights`` (``--resume``, its old spelling,
    still works), ``--pretrained``, ``--model-root``."""
    parser.add_argument('--weights', default=None,
                        help='parameters to load: a .params file saved by Gluon (train.py '
                             'writes best_IoU.params), or an exported <prefix>-symbol.json / '
                             '<prefix>-0000.params')
    parser.add_argument('--resume', default=None, help=argparse.SUPPRESS)  # old --weights
    parser.add_argument('--pretrained', action='store_true',
                        help='load the weights released with the paper from the model store')
    parser.add_argument('--model-root', default=None,
                        help='model store folder (default $ACM_MODEL_ROOT or ~/.mxnet/models)')


def weights_path(args, stream=None):
    """The ``--weights`` of ``args``, taking the old spelling ``--resume`` with a note on
    stderr (in train.py ``--resume`` continues a run; here it only ever meant weights)."""
    if args.resume is not None:
        if args.weights is not None and args.weights != args.resume:
            raise ValueError('--weights %s and --resume %s name different weights; give '
                             '--weights only' % (args.weights, args.resume))
        (stream or sys.stderr).write('note: --resume is deprecated here; it means --weights '
                                     '(load these weights)\n')
        args.weights, args.resume = args.resume, None
    return args.weights


def known_datasets(text):
    """None for a registry name or a union of them (A+B), else the problem."""
    try:
        dataset_names(text)
    except DatasetError as err:
        return str(err).split(': ', 1)[-1].rstrip('.')
    return None


def add_data_options(parser, split=None):
    """Which data: ``--dataset`` (a registry name; train.py also takes unions A+B),
    ``--data-root``, ``--split-set``, ``--mask-threshold``, the folder dataset's
    ``--images``, ``--masks``, ``--image-pattern``, ``--mask-pattern``, ``--split-pattern``
    (and ``--split`` with its default when ``split`` is given). How they map onto the
    registry's arguments: :mod:`data.selection`."""
    group = parser.add_argument_group('data')
    option(group, '--dataset', default='sirst', valid=known_datasets,
           help='dataset of the registry: sirst (default), nudt-sirst, folder (your own '
                'images and masks); train.py also takes a union, e.g. sirst+nudt-sirst')
    group.add_argument('--data-root', default=None,
                       help='the dataset folder (default: $SIRST_ROOT / $NUDT_SIRST_ROOT, else '
                            '~/.mxnet/datasets/<name>); for several datasets '
                            'NAME=PATH,NAME=PATH (one left out uses its variable)')
    group.add_argument('--split-set', default=None,
                       help='sirst: idx_320 (default) or idx_427; nudt-sirst: 50_50 (default) '
                            'or 70_20; NAME=SET,... for several datasets')
    option(group, '--mask-threshold', type=float, default=None, at_least=0, below=255,
           help='binarise masks: a pixel is a target where its value (0..255) exceeds this; '
                'the log says how many masks it changed (default: a mask that is not 0/255 '
                'is an error)')
    group.add_argument('--images', default=None,
                       help='folder dataset: the images folder (under the root; default images)')
    group.add_argument('--masks', default=None,
                       help='folder dataset: the masks folder (under the root; default masks)')
    group.add_argument('--image-pattern', default=None,
                       help="folder dataset: an image's file name from its id (default '{id}.png')")
    group.add_argument('--mask-pattern', default=None,
                       help="folder dataset: a mask's file name from its id (default '{id}.png'; "
                            "e.g. '{id}_pixels0.png')")
    group.add_argument('--split-pattern', default=None,
                       help="folder dataset: where a split's list of ids lives under the root "
                            "(default '{split}.txt')")
    if split is not None:
        group.add_argument('--split', default=split,
                           help='split to use (default %s); folder: a name or a .txt list' % split)


def add_device_options(parser, cpus=False):
    """``--gpus`` (and ``--cpus``, several CPU contexts, for train.py)."""
    option(parser, '--gpus', default='', valid=_device_list,
           help="e.g. '0' or '0,1'; empty for the CPU")
    if cpus:
        option(parser, '--cpus', type=int, default=0, at_least=0,
               help='train data-parallel on this many CPU contexts (the --gpus 0,1 code path)')


def add_map_options(parser):
    """Scoring saved maps of any method (``--predictions``, ``--normalize``, ``--threshold``,
    ``--sweep``; :mod:`engine.predictions`) and saving a network's (``--save-maps``)."""
    group = parser.add_argument_group('scoring saved maps of any method (no network is loaded)')
    group.add_argument('--predictions', default=None, metavar='DIR',
                       help='folder with one map per image id of the split: <id>.npy or '
                            '<id>.png (grayscale 8/16-bit), at --base-size or native size')
    group.add_argument('--normalize', default='minmax', choices=NORMALIZATIONS,
                       help='how a map becomes a [0, 1] score: minmax per image (default), '
                            'none (already a probability), sigmoid (the map holds logits)')
    option(group, '--threshold', type=float, default=None, metavar='T', at_least=0, at_most=1,
           help='score every metric at score > T, on the normalised map (default 0.5 '
                'without --sweep)')
    count(group, '--sweep', default=None, metavar='N',
          help='sweep N thresholds k/N and report the best IoU and the best nIoU with their '
               'thresholds (the first author\'s protocol: 256)')
    parser.add_argument('--save-maps', action='store_true',
                        help='save the network\'s logits at the evaluation size as '
                             '<out>/maps/<id>.npy (score them with --predictions '
                             '<out>/maps --normalize sigmoid)')


def side(parser, *flags, **kwargs):
    """An image side in pixels (at least :data:`MIN_SIDE`)."""
    return option(parser, *flags, type=int, at_least=MIN_SIDE, **kwargs)


def count(parser, *flags, at_least=1, **kwargs):
    """A whole number of things (batches, images, epochs...), at least ``at_least``."""
    return option(parser, *flags, type=int, at_least=at_least, **kwargs)
