"""Networks of the ACM paper: fusion modules, FPN/U-Net hosts, registry, export, summary."""
from .checkpoint import CheckpointError, load_checkpoint
from .export import export_model, import_model
from .fusion import FUSION_MODES, CrossLayerFusion
from .hosts import ACMFPN, ACMUNet
from .registry import get_model, list_models, parse_model_name
