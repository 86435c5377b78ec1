"""Model-driven baselines of the ACM paper's Table 3, each a function from a 2-D grayscale
image to a saliency map of the same size (larger = more target-like).

    from baselines import get_baseline, BASELINES
    saliency = get_baseline('ipi')(gray_image)

``BASELINES`` lists them in the paper's column order with the figures the paper reports
for them on SIRST (``idx_320`` test). LSM is in the paper's table but cannot be identified:
the paper cites it to reference [2], the LCM paper (Chen et al., TGRS 2014), which defines
no method of that name, so it has no implementation here (docs/baselines/README.md).
"""
from collections import OrderedDict, namedtuple

from .filters import ilcm, lcm, mpcm, tophat
from .fkrw import fkrw
from .lowrank import ipi, nipps, nram
from .tensor import pstnn, ript

__all__ = ['BASELINES', 'PAPER', 'Baseline', 'UnknownBaselineError', 'get_baseline',
           'tophat', 'lcm', 'ilcm', 'mpcm', 'fkrw', 'ipi', 'nipps', 'ript', 'pstnn', 'nram']

Baseline = namedtuple('Baseline', 'name title function paper_iou paper_niou')


class UnknownBaselineError(ValueError):
    """A baseline name that is not in :data:`BASELINES`."""


#: Table 3 of the ACM paper, idx_320 test: (title, IoU, nIoU) in the paper's column order
PAPER = OrderedDict([
    ('tophat', ('Top-hat', 0.220, 0.352)), ('lcm', ('LCM', 0.193, 0.207)),
    ('ilcm', ('ILCM', 0.104, 0.123)), ('lsm', ('LSM', 0.1864, 0.2598)),
    ('fkrw', ('FKRW', 0.268, 0.339)), ('mpcm', ('MPCM', 0.357, 0.445)),
    ('ipi', ('IPI', 0.466, 0.607)), ('nipps', ('NIPPS', 0.473, 0.602)),
    ('ript', ('RIPT', 0.146, 0.245)), ('pstnn', ('PSTNN', 0.605, 0.504)),
    ('nram', ('NRAM', 0.294, 0.424)),
])

_FUNCTIONS = {'tophat': tophat, 'lcm': lcm, 'ilcm': ilcm, 'mpcm': mpcm, 'fkrw': fkrw,
              'ipi': ipi, 'nipps': nipps, 'ript': ript, 'pstnn': pstnn, 'nram': nram}

#: name -> Baseline, every implemented method in the paper's column order
BASELINES = OrderedDict(
    (name, Baseline(name, title, _FUNCTIONS[name], iou, niou))
    for name, (title, iou, niou) in PAPER.items() if name in _FUNCTIONS)


def get_baseline(name):
    """The saliency function of baseline ``name`` (case-insensitive); a clear
    :class:`UnknownBaselineError` for names that do not exist."""
    key = str(name).lower().replace('-', '')
    if key in BASELINES:
        return BASELINES[key].function
    if key == 'lsm':
        raise UnknownBaselineError(
            'baseline lsm is not implemented: the ACM paper cites LSM to the LCM paper (its '
            'reference [2]), which defines no method of that name')
    raise UnknownBaselineError('unknown baseline %r; choose from %s'
                               % (name, ', '.join(BASELINES)))
