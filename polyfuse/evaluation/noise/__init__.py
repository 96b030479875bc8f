"""Noise injectors per modality, for robustness curves. Importing this package registers them."""

from polyfuse.evaluation.noise import audio as _audio  # noqa: F401  (registers)
from polyfuse.evaluation.noise import image as _image  # noqa: F401
from polyfuse.evaluation.noise import tabular as _tabular  # noqa: F401
from polyfuse.evaluation.noise import text as _text  # noqa: F401
from polyfuse.evaluation.noise._registry import (
    INJECTORS,
    Injector,
    create_injector,
    injector_key,
    list_injectors,
    register_injector,
)
from polyfuse.evaluation.noise.audio import level_to_snr_db

__all__ = [
    "INJECTORS",
    "Injector",
    "create_injector",
    "injector_key",
    "level_to_snr_db",
    "list_injectors",
    "register_injector",
]
