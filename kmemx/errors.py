"""kmemx's exception types.

Every error a user can cause (a wrong path, a corrupt dump, a mismatched
vmlinux, an unknown type) is a :class:`KmemxError` whose ``str()`` is one
line.  Memory faults are :class:`drgn.FaultError`, whichever reader raised
them, so drgn scripts see the same exception under kmemx.
"""

from __future__ import annotations

from drgn import FaultError

__all__ = [
    "CoreFormatError",
    "FaultError",
    "KmemxError",
    "KmemxWarning",
    "LiveAccessError",
    "MismatchError",
    "NoVmcoreinfoError",
    "TargetError",
    "UnknownNameError",
    "fault",
]


class KmemxError(Exception):
    """Base class of kmemx's errors; the message is a single line."""


class TargetError(KmemxError):
    """The target (dump file, vmlinux, live kernel) cannot be opened."""


class CoreFormatError(TargetError):
    """The dump file is not a valid ELF or kdump-compressed core."""


class NoVmcoreinfoError(TargetError):
    """The dump has no VMCOREINFO, so the kernel in it cannot be identified."""


class MismatchError(TargetError):
    """The vmlinux does not belong to the kernel in the dump."""


class LiveAccessError(TargetError):
    """The running kernel's memory cannot be read; ``kmemx doctor`` says why."""


class UnknownNameError(KmemxError, LookupError):
    """An unknown type, member, symbol, command or cache name."""


class KmemxWarning(UserWarning):
    """Something is off with the target, but kmemx can go on (a truncated dump)."""


def fault(address: int, what: str = "could not read memory") -> FaultError:
    """Build drgn's :class:`FaultError` for ``address``."""
    return FaultError(what, address & 0xFFFFFFFFFFFFFFFF)
