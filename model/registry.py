"""``get_model(name, **kwargs)``: every network of the paper by name, as in GluonCV's zoo.

Names are ``<fusion>_<host>`` (``acm_unet``, ``sk_fpn``, ``bilocal_unet``, ...) or a bare
host (``fpn`` adds, ``unet`` concatenates, as the plain networks of paper Table 3 do).
"""
import mxnet as mx

from .parameters import load_parameters
from .hosts import ACMFPN, ACMUNet
from .store import RELEASED, get_released_file

__all__ = ['get_model', 'list_models', 'parse_model_name', 'HOSTS', 'FUSION_NAMES']

#: host name -> (network class, fusion mode of the plain host)
HOSTS = {'fpn': (ACMFPN, 'DirectAdd'), 'unet': (ACMUNet, 'Concat')}

#: name prefix -> fusion mode (paper Table 3 uses ACM, SK and GAU; Table 2 the rest)
FUSION_NAMES = {
    'acm': 'AsymBi', 'asymbi': 'AsymBi',
    'bilocal': 'BiLocal', 'biglobal': 'BiGlobal',
    'topdownlocal': 'TopDownLocal',
    'gau': 'TopDownGlobal', 'topdownglobal': 'TopDownGlobal',
    'sk': 'SK', 'directadd': 'DirectAdd', 'concat': 'Concat',
}


def list_models():
    """All registered model names."""
    return sorted(list(HOSTS) + ['%s_%s' % (f, h) for h in HOSTS for f in FUSION_NAMES])


def parse_model_name(name):
    """``'acm_unet'`` -> ``('unet', 'AsymBi')``; unknown names list the valid ones."""
    key = name.lower()
    fusion, _, host = key.rpartition('_')
    if host in HOSTS and (not fusion or fusion in FUSION_NAMES):
        return host, FUSION_NAMES[fusion] if fusion else HOSTS[host][1]
    raise ValueError('Unknown model %r; valid names: %s' % (name, ', '.join(list_models())))


def get_model(name, blocks=4, channel_times=1, stem='paper', pretrained=False, root=None,
              ctx=None, **kwargs):
    """Build a registered network.

    Parameters
    ----------
    name : str
        One of :func:`list_models`.
    blocks : int
        Residual blocks per stage, b in the paper (1..4).
    channel_times : float
        Width multiplier of the base widths (8, 16, 32, 64).
    stem : {'paper', 'regular'}
        Full-resolution stem of the paper, or the regular 4x down-sampling stem.
    pretrained : bool
        Load the weights released with the paper (only ``acm_unet``, blocks=4), taken from
        the model store (``root``, ``$ACM_MODEL_ROOT`` or ``~/.mxnet/models``).
    ctx : Context
        Where the loaded parameters live (pretrained only).
    kwargs
        Passed to the host, e.g. ``classes``, ``norm_layer``, ``norm_kwargs``.
    """
    host, fusion = parse_model_name(name)
    net = HOSTS[host][0](fusion=fusion, blocks=blocks, channel_times=channel_times, stem=stem,
                         **kwargs)
    net.model_name = name.lower()
    if pretrained:
        key = (host, fusion, net.blocks, channel_times, stem)
        if key not in RELEASED:
            raise ValueError('No released weights for %s with blocks=%s, channel_times=%s, '
                             'stem=%r; released: %s' % (name, blocks, channel_times, stem,
                                                        ', '.join(r.store_name for r in
                                                                  RELEASED.values())))
        load_parameters(net, get_released_file(RELEASED[key], root), ctx=ctx or mx.cpu())
    return net
