"""The package version, in a module of its own so the package's modules can read it without
importing the package's public API."""

__version__ = "0.2.0"
