"""Networks of the ACM paper: fusion modules, FPN/U-Net hosts, registry, export, summary."""
from .parameters import ParameterFileError, load_parameters
from .fusion import FUSION_MODES, CrossLayerFusion
from .hosts import ACMFPN, ACMUNet
from .registry import get_model, list_models, parse_model_name

# the older names of the two above, for scripts written against them
CheckpointError, load_checkpoint = ParameterFileError, load_parameters


def __getattr__(name):
    """``model.export_model`` and ``model.import_model``, kept for scripts that import them
    from here; they live in :mod:`deployment.export` (which imports this package)."""
    if name in ('export_model', 'import_model'):
        from deployment import export
        return getattr(export, name)
    raise AttributeError('module %r has no attribute %r' % (__name__, name))
