"""From-scratch tabular encoders; input ``{"numeric": (B, N) float, "categorical": (B, K) long}``.

Built from the tabular processor's spec ``{"num_numeric", "cardinalities"}``.
"""

from polyfuse._discovery import import_submodules
from polyfuse.encoders.tabular.mlp import MLPTabularConfig, MLPTabularEncoder

__all__ = ["MLPTabularConfig", "MLPTabularEncoder"]

import_submodules(__name__)
