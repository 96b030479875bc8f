"""The cognition benchmark's model components, registered through the core's registries:
the ``image/cells`` encoder and the ``hops`` fusion. Loaded by the ``polyfuse.components`` entry
point, so the core never imports the benchmark."""

from polyfuse.bench.cognition.cells import CellsImageConfig, CellsImageEncoder
from polyfuse.bench.cognition.hops import HopsFusion, HopsFusionConfig

__all__ = ["CellsImageConfig", "CellsImageEncoder", "HopsFusion", "HopsFusionConfig"]
