"""The root of Crossbook's error tree, here because the vocabulary sits below every other layer.

`services.errors` builds the rest of the tree on it; callers catch by meaning, not by library."""

from __future__ import annotations


class CrossbookError(Exception):
    """Root of every error Crossbook raises on purpose."""
