"""kmemx's exception types.

Every error a user can cause (a wrong path, a corrupt dump, a mismatched
vmlinux, an unknown type) is a :class:`KmemxError` whose ``str()`` is one
line.  Memory faults are :class:`drgn.FaultError`, whichever reader raised
them, so drgn scripts see the same exception under kmemx.
"""

from __future__ import annotations

from drgn import FaultError

__all__ = [
    "PHYSICAL_MARK",
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
    "fault_reason",
    "fault_text",
    "fault_where",
]

#: the mark kmemx's segment reader puts on a fault at a physical address drgn
#: read while translating a virtual one (kmemx.target)
PHYSICAL_MARK = " (physical address)"


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


def fault_reason(e: FaultError) -> str:
    """Why ``e`` faulted, for a message that names the address asked for:
    drgn's message; for a physical address drgn read while translating a
    virtual one (a page table's, or the page's own: :data:`PHYSICAL_MARK`),
    that address too, which is not the one asked for (``past the end of the
    truncated dump file, at physical address 0x1bc2aff8``)."""
    why: str = e.message
    if why.endswith(PHYSICAL_MARK):
        return f"{why[:-len(PHYSICAL_MARK)]}, at physical address {e.address:#x}"
    return why


def fault_where(e: FaultError) -> str:
    """Where ``e`` faulted, for a "cannot read ..." message: its address
    (``0xffffffff99e07a00``); for a physical address drgn read while
    translating a virtual one (a page table's or the page's own, not the
    address asked for: :data:`PHYSICAL_MARK`) ``physical address 0x1bc2aff8
    (WHY)``."""
    why: str = e.message
    if why.endswith(PHYSICAL_MARK):
        return f"physical address {e.address:#x} ({why[:-len(PHYSICAL_MARK)]})"
    return f"{e.address:#x}"


def fault_text(e: FaultError) -> str:
    """``e`` as one line for the user: drgn's ``MESSAGE: 0xADDR``; for a
    physical address drgn read while translating a virtual one
    ``MESSAGE, at physical address 0x...`` (:func:`fault_reason`)."""
    if e.message.endswith(PHYSICAL_MARK):
        return fault_reason(e)
    return str(e)
