"""Serving a bundle: the HTTP app and its page, micro-batching, safety limits, ONNX export.

Needs the ``serve`` extra (``pip install 'polyfuse[serve]'``).
"""

from polyfuse.serving.app import create_app
from polyfuse.serving.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
