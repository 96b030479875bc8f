"""Cross-modal retrieval beside the retrieval task: ranking metrics, galleries embedded into an
index (exact or approximate search), zero-shot classification through retrieval.

The package imports nothing at import time; import its modules (``polyfuse.retrieval.index``, ...).
"""
