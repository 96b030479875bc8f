"""polyfuse: build, train, evaluate and ship multimodal models from a table."""

__version__ = "0.1.0"

from polyfuse.bundle import BundleError
from polyfuse.config import Config, ConfigError, load_config
from polyfuse.data.dataset import DataError
from polyfuse.data.schema import Schema, infer_schema
from polyfuse.encoders import create_encoder, list_encoders, register_encoder
from polyfuse.fusion import create_fusion, list_fusions, register_fusion
from polyfuse.model import Batch, MultimodalModel
from polyfuse.predictor import Predictor
from polyfuse.tasks import list_tasks

__all__ = [
    "Batch",
    "BundleError",
    "Config",
    "ConfigError",
    "DataError",
    "MultimodalModel",
    "Predictor",
    "Schema",
    "__version__",
    "create_encoder",
    "create_fusion",
    "infer_schema",
    "list_encoders",
    "list_fusions",
    "list_tasks",
    "load_config",
    "register_encoder",
    "register_fusion",
]
