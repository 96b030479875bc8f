"""Fusions: combine per-input embeddings into one vector. Importing this package registers them."""

from polyfuse.fusion import attention as _attention  # noqa: F401  (registers)
from polyfuse.fusion import concat as _concat  # noqa: F401
from polyfuse.fusion import early as _early  # noqa: F401
from polyfuse.fusion import film as _film  # noqa: F401
from polyfuse.fusion import gated as _gated  # noqa: F401
from polyfuse.fusion import hops as _hops  # noqa: F401
from polyfuse.fusion import hybrid as _hybrid  # noqa: F401
from polyfuse.fusion import late as _late  # noqa: F401
from polyfuse.fusion import lowrank as _lowrank  # noqa: F401
from polyfuse.fusion import mfb as _mfb  # noqa: F401
from polyfuse.fusion import mult as _mult  # noqa: F401
from polyfuse.fusion import product as _product  # noqa: F401
from polyfuse.fusion import relation as _relation  # noqa: F401
from polyfuse.fusion import sum as _sum  # noqa: F401
from polyfuse.fusion import tensor as _tensor  # noqa: F401
from polyfuse.fusion import weighted as _weighted  # noqa: F401
from polyfuse.fusion._registry import (
    FUSIONS,
    create_fusion,
    list_fusions,
    parse_fusion_config,
    register_fusion,
)
from polyfuse.fusion.base import Fusion, FusionConfig

__all__ = [
    "FUSIONS",
    "Fusion",
    "FusionConfig",
    "create_fusion",
    "list_fusions",
    "parse_fusion_config",
    "register_fusion",
]
