"""Data types shared by the doctor: checks, predicted outcomes, probe results, the report.

Everything here is a frozen dataclass or an enum, so a :class:`Report` can be
compared in tests and serialised by :mod:`kmemx.doctor.render` without surprises.
"""

from __future__ import annotations

import errno as _errno
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "Check",
    "DeviceProbe",
    "Op",
    "Outcome",
    "Report",
    "Status",
    "Target",
    "Verdict",
    "errno_label",
]


class Status(str, Enum):
    """Result of one check."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"


class Verdict(str, Enum):
    """The one-line answer: the best kind of live access this process gets."""

    MMAP_OK = "mmap of RAM works"
    READ_ONLY_DEVMEM = "read-only /dev/mem"
    KCORE_ONLY = "/proc/kcore only"
    NONE = "no live access"


class Op(str, Enum):
    """Operation on a memory device."""

    OPEN = "open"
    MMAP = "mmap"
    READ = "read"


class Target(str, Enum):
    """What an mmap/read is aimed at (the target column of devmem.md's decision table)."""

    NONE = "-"  # for open, and for /proc/kcore: no target
    RAM = "RAM above 1 MiB"
    LOW_RAM = "RAM below 1 MiB"
    LOW_NONRAM = "ROM/VGA below 1 MiB"
    MMIO_IDLE = "idle MMIO"
    MMIO_BUSY = "MMIO claimed by a driver"
    MMIO_EXCLUSIVE = "exclusive MMIO"
    ABOVE_RAM = "MMIO above RAM"
    VMALLOC = "vmalloc address"


def errno_label(number: int) -> str:
    """``EPERM (errno 1)``; ``OK`` for 0."""
    if number == 0:
        return "OK"
    name = _errno.errorcode.get(number, "E?")
    return f"{name} (errno {number})"


@dataclass(frozen=True)
class Check:
    """One line of the check list (devmem.md section 7).

    ``id`` is the checklist number (``D1``..``D11``); several checks can share an
    id, ``name`` is unique.  ``remedy`` says what to change when the status is
    not ``ok``; ``explain`` is optional background (for example cache aliasing).
    """

    id: str
    name: str
    status: Status
    detail: str
    remedy: str = ""
    explain: str = ""


@dataclass(frozen=True)
class Outcome:
    """What one operation on one device does (predicted or probed).

    ``ok`` is True (works), False (fails with ``errno``, 0 if the errno is not
    known) or None (cannot tell).  ``cause`` names the check responsible.
    """

    device: str
    op: Op
    target: Target
    ok: bool | None
    errno: int = 0
    cause: str = ""
    reason: str = ""
    note: str = ""
    source: str = "predicted"

    @property
    def key(self) -> str:
        """Stable identifier, e.g. ``/dev/mem mmap RAM above 1 MiB``."""
        if self.target is Target.NONE:
            return f"{self.device} {self.op.value}"
        return f"{self.device} {self.op.value} {self.target.value}"

    def result(self) -> str:
        """``ok``, ``EPERM (errno 1)``, ``fails`` or ``unknown``."""
        if self.ok is None:
            return "unknown"
        if self.ok:
            return "ok"
        return errno_label(self.errno) if self.errno else "fails"


@dataclass(frozen=True)
class DeviceProbe:
    """Result of probing one device: errno per step, 0 = success, None = not tried.

    ``read`` is a pread(2) (or lseek+read for offsets >= 2**63, which pread
    rejects with EINVAL whatever the device).
    """

    device: str
    offset: int | None
    open: int
    mmap: int | None = None
    read: int | None = None

    def describe(self) -> str:
        """``/dev/mem: open OK; mmap(0x1000000) EPERM (errno 1); pread EPERM (errno 1)``."""
        parts = [f"open {errno_label(self.open)}"]
        where = f"0x{self.offset:x}" if self.offset is not None else "?"
        if self.mmap is not None:
            parts.append(f"mmap({where}) {errno_label(self.mmap)}")
        if self.read is not None:
            parts.append(f"read({where}) {errno_label(self.read)}")
        if self.open == 0 and self.offset is None:
            parts.append("no RAM page to try (System RAM addresses unknown)")
        return f"{self.device}: " + "; ".join(parts)


@dataclass(frozen=True)
class Report:
    """Everything ``kmemx doctor`` found, ready for :func:`render_text`/:func:`render_json`."""

    root: str
    release: str
    arch: str
    checks: tuple[Check, ...]
    outcomes: tuple[Outcome, ...]
    verdict: Verdict
    readers: tuple[str, ...]
    because: tuple[str, ...]
    remedies: tuple[str, ...]
    not_checked: tuple[str, ...]
    probes: tuple[DeviceProbe, ...] = ()
    disagreements: tuple[str, ...] = ()
    probed: bool = False
    verdict_as_root: Verdict | None = None
    notes: tuple[str, ...] = field(default=())

    def check(self, name: str) -> Check:
        """The check called ``name`` (KeyError if there is none)."""
        for item in self.checks:
            if item.name == name:
                return item
        raise KeyError(name)

    def outcome(self, device: str, op: Op, target: Target | None = None) -> Outcome:
        """The effective outcome for ``device``/``op``/``target`` (KeyError if absent).

        ``target`` defaults to System RAM for mmap/read of the devices, and to
        no target for ``open`` and for ``/proc/kcore``.
        """
        want = target
        if want is None:
            want = Target.NONE if op is Op.OPEN or device == "/proc/kcore" else Target.RAM
        for item in self.outcomes:
            if item.device == device and item.op is op and item.target is want:
                return item
        raise KeyError(f"{device} {op.value} {want.value}")
