"""From-scratch tabular encoders; input ``{"numeric": (B, N) float, "categorical": (B, K) long}``.

Built from the tabular processor's spec ``{"num_numeric", "cardinalities"}``.
"""

from polyfuse.encoders.tabular.mlp import MLPTabularConfig, MLPTabularEncoder

__all__ = ["MLPTabularConfig", "MLPTabularEncoder"]
