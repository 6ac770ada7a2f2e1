"""The optional C fast paths (``kmemx._speedups``), or None.

kmemx runs the same code without them (set ``KMEMX_NO_SPEEDUPS=1`` to check):
each user of ``speedups`` keeps a pure-Python twin of what it takes from it.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["segread", "speedups"]

speedups: Any
segread: Any  # drgn segment callbacks in C (kmemx/_segread.c)
if os.environ.get("KMEMX_NO_SPEEDUPS", "") not in ("", "0"):
    speedups = segread = None
else:
    try:
        from . import _speedups as speedups
    except ImportError:  # not built: the pure-Python paths do the same
        speedups = None
    try:
        from . import _segread as segread
    except ImportError:
        segread = None
