"""The project's error root.

Every exception class of ``edge`` and ``drivers`` derives from :class:`EdgeError`; where callers catch a
built-in (``ValueError``, ``RuntimeError``) it stays a second base.  The root is defined in
:mod:`drivers.errors`, the lowest layer, since drivers must not import ``edge``.
"""

from drivers.errors import EdgeError

__all__ = ["EdgeError"]
