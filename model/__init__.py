"""Networks of the ACM paper: fusion modules, FPN/U-Net hosts, registry, export, summary."""
from .parameters import CheckpointError, load_checkpoint
from deployment.export import export_model, import_model  # kept here for users of model.export_model
from .fusion import FUSION_MODES, CrossLayerFusion
from .hosts import ACMFPN, ACMUNet
from .registry import get_model, list_models, parse_model_name
