"""kmemx: a fast kernel-memory debugger for vmcores and the live kernel.

>>> import kmemx
>>> k = kmemx.open("vmcore", vmlinux="vmlinux")
>>> k.read_u64(k.prog.symbol("jiffies").address)
"""

from __future__ import annotations

from typing import Any

from .errors import (
    CoreFormatError,
    FaultError,
    KmemxError,
    KmemxWarning,
    LiveAccessError,
    MismatchError,
    NoVmcoreinfoError,
    TargetError,
    UnknownNameError,
)
from .kernel import Kernel
from .target import attach, open, open_live

__version__ = "0.1.0"

__all__ = [
    "CoreFormatError",
    "FaultError",
    "Kernel",
    "KmemxError",
    "KmemxWarning",
    "LiveAccessError",
    "MismatchError",
    "NoVmcoreinfoError",
    "TargetError",
    "UnknownNameError",
    "attach",
    "open",
    "open_live",
    "view",
]


def view(obj: Any) -> Any:
    """A typed view of a :class:`drgn.Object` (the inverse of ``view.to_drgn()``)."""
    from .types.view import view_of_object

    return view_of_object(obj)
