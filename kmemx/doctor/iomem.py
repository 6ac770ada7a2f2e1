"""Parse ``/proc/iomem`` and pick a System RAM page to probe (checklist D8).

Since Linux 4.6 ``/proc/iomem`` shows real addresses only to CAP_SYS_ADMIN;
everyone else sees zeros, which :func:`addresses_hidden` detects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "PAGE_SIZE",
    "IomemRange",
    "addresses_hidden",
    "parse_iomem",
    "pick_probe_page",
    "system_ram",
]

PAGE_SIZE = 4096
_MIB = 1 << 20
_LINE = re.compile(r"^(\s*)([0-9a-fA-F]+)-([0-9a-fA-F]+)\s*:\s*(.*?)\s*$")


@dataclass(frozen=True)
class IomemRange:
    """One ``/proc/iomem`` line: inclusive ``start``..``end``, name and nesting depth."""

    start: int
    end: int
    name: str
    depth: int

    @property
    def size(self) -> int:
        """Length in bytes (0 for hidden addresses)."""
        return self.end - self.start + 1 if self.end >= self.start else 0


def parse_iomem(text: str) -> list[IomemRange]:
    """All ranges, in file order; malformed lines are skipped."""
    ranges: list[IomemRange] = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        indent = len(match.group(1).expandtabs())
        ranges.append(
            IomemRange(
                int(match.group(2), 16),
                int(match.group(3), 16),
                match.group(4),
                indent // 2,
            )
        )
    return ranges


def addresses_hidden(ranges: list[IomemRange]) -> bool:
    """True when every address reads as 0 (no CAP_SYS_ADMIN, Linux 4.6+)."""
    return bool(ranges) and all(r.start == 0 and r.end == 0 for r in ranges)


def system_ram(ranges: list[IomemRange]) -> list[IomemRange]:
    """Top-level "System RAM" ranges (nested ``System RAM (kmem)`` etc. excluded)."""
    return [r for r in ranges if r.depth == 0 and r.name == "System RAM"]


def pick_probe_page(ranges: list[IomemRange]) -> int | None:
    """First page-aligned System RAM address at or above 16 MiB, else above 1 MiB.

    The fallback starts one page past 1 MiB: 2.6.32's ``devmem_is_allowed()``
    allowed pfn 256 itself (``pagenr <= 256``), so that page would prove nothing.
    """
    ram = system_ram(ranges)
    for floor in (16 * _MIB, _MIB + PAGE_SIZE):
        for r in ram:
            start = max(r.start, floor)
            start = (start + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE
            if start + PAGE_SIZE - 1 <= r.end:
                return start
    return None
