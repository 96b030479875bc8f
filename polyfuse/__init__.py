"""polyfuse: build, train, evaluate and ship multimodal models from a table."""

__version__ = "0.1.0"

from polyfuse.bundle import BundleError  # noqa: E402
from polyfuse.config import Config, ConfigError, load_config  # noqa: E402
from polyfuse.data.dataset import DataError  # noqa: E402
from polyfuse.data.schema import Schema, infer_schema  # noqa: E402
from polyfuse.encoders import create_encoder, list_encoders, register_encoder  # noqa: E402
from polyfuse.fusion import create_fusion, list_fusions, register_fusion  # noqa: E402
from polyfuse.model import Batch, MultimodalModel  # noqa: E402
from polyfuse.predictor import Predictor  # noqa: E402
from polyfuse.tasks import list_tasks  # noqa: E402

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
