"""Kernel release parsing and the version milestones the doctor reasons about.

This is the one place in kmemx where comparing kernel versions is right: the
doctor explains kernel history (devmem.md section 2).  A version is only a
hint, because distributions backport; the probe (D9) has the last word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "DEVMEM_RESTRICTIONS",
    "DRGN_OLDEST",
    "IOMEM_HIDDEN",
    "IO_STRICT_DEVMEM",
    "KCORE_VMCOREINFO",
    "KMEM_REMOVED",
    "LOCKDOWN_LSM",
    "MMAP_REVOKE",
    "PAT_CHECK_REMOVED",
    "RANDOMIZE_MEMORY",
    "ZEROING_READS",
    "KernelVersion",
    "parse_release",
]

_RELEASE = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, order=True)
class KernelVersion:
    """``major.minor.patch`` of a kernel release, comparable."""

    major: int
    minor: int
    patch: int = 0

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def parse_release(release: str) -> KernelVersion | None:
    """``"6.12.117+deb12-amd64"`` -> ``KernelVersion(6, 12, 117)``; None if unparsable."""
    match = _RELEASE.match(release)
    if match is None:
        return None
    return KernelVersion(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


#: mem.c and PAT ``range_is_allowed()``, NONPROMISC/STRICT_DEVMEM, DEVKMEM option.
DEVMEM_RESTRICTIONS = KernelVersion(2, 6, 26)
#: ``CONFIG_IO_STRICT_DEVMEM`` (90a545e98126).
IO_STRICT_DEVMEM = KernelVersion(4, 5)
#: ``/proc/iomem`` shows addresses only to CAP_SYS_ADMIN (51d7b120418e).
IOMEM_HIDDEN = KernelVersion(4, 6)
#: ``CONFIG_RANDOMIZE_MEMORY`` randomises the direct-map base.
RANDOMIZE_MEMORY = KernelVersion(4, 8)
#: Oldest kernel drgn supports officially.
DRGN_OLDEST = KernelVersion(4, 9)
#: Low-1-MiB RAM reads of /dev/mem return zeros under STRICT_DEVMEM (a4866aa81251).
ZEROING_READS = KernelVersion(4, 11)
#: VMCOREINFO note in /proc/kcore (23c85094fe18).
KCORE_VMCOREINFO = KernelVersion(4, 19)
#: Lockdown LSM (9b9d8dda1ed7 and friends).
LOCKDOWN_LSM = KernelVersion(5, 4)
#: /dev/mem mappings revoked when a driver claims the range (3234ac664a87).
MMAP_REVOKE = KernelVersion(5, 8)
#: /dev/kmem removed (bbcd53c96071).
KMEM_REMOVED = KernelVersion(5, 13)
#: PAT-only ``range_is_allowed()`` removed (1b3f2bd04d90).
PAT_CHECK_REMOVED = KernelVersion(6, 16)
