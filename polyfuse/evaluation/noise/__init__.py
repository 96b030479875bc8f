"""Noise injectors per modality, for robustness curves. Importing this package registers them."""

from polyfuse._discovery import import_submodules
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

import_submodules(__name__)
