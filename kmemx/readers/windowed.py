"""Shared logic of the device readers: System RAM ranges mapped in windows.

Mapping all of RAM at once costs 2 MiB of page tables per GiB (``mmap_mem``
fills every PTE with ``remap_pfn_range``), so ranges are mapped on demand in
aligned windows, and only the "System RAM" ranges of ``/proc/iomem``: holes
below ``high_memory`` would be mapped write-back, and MMIO must not be
touched.
"""

from __future__ import annotations

import abc
import bisect
import re

from .base import Buffer, PhysicalMemory

__all__ = ["WindowedMemory", "parse_iomem_ram"]

PAGE = 4096
WINDOW_SHIFT = 26  # 64 MiB windows

#: marks a window not mapped yet (None marks one that failed to map)
_UNMAPPED: tuple[Buffer, int] = (b"", -1)

_IOMEM_RE = re.compile(r"^([0-9a-fA-F]+)-([0-9a-fA-F]+) : System RAM\s*$")


def parse_iomem_ram(text: str) -> list[tuple[int, int]]:
    """Top-level "System RAM" ranges of ``/proc/iomem`` as ``(start, end)``,
    ``end`` exclusive.  Without CAP_SYS_ADMIN the kernel shows zeros: the
    result is then empty."""
    out = []
    for line in text.splitlines():
        m = _IOMEM_RE.match(line)
        if m:
            start, last = int(m.group(1), 16), int(m.group(2), 16)
            if last > start:
                out.append((start, last + 1))
    return out


class WindowedMemory(PhysicalMemory):
    """Physical memory mapped from a device in windows over given ranges."""

    def __init__(self, ranges: list[tuple[int, int]], window_shift: int = WINDOW_SHIFT) -> None:
        # page-align inwards
        self._ranges = sorted(((s + PAGE - 1) & ~(PAGE - 1), e & ~(PAGE - 1))
                              for s, e in ranges)
        self._ranges = [(s, e) for s, e in self._ranges if e > s]
        self._starts = [s for s, _ in self._ranges]
        self._shift = window_shift
        self._windows: dict[tuple[int, int], tuple[Buffer, int] | None] = {}

    def ranges(self) -> list[tuple[int, int]]:
        return list(self._ranges)

    @abc.abstractmethod
    def _map(self, start: int, length: int) -> Buffer | None:
        """Map ``length`` bytes of physical memory at ``start``, or None on failure."""

    def locate(self, paddr: int) -> tuple[Buffer, int] | None:
        page = paddr & ~(PAGE - 1)
        i = bisect.bisect_right(self._starts, page) - 1
        if i < 0:
            return None
        rstart, rend = self._ranges[i]
        if page >= rend:
            return None
        win = page >> self._shift
        key = (i, win)
        entry = self._windows.get(key, _UNMAPPED)
        if entry is _UNMAPPED:
            wstart = max(rstart, win << self._shift)
            wend = min(rend, (win + 1) << self._shift)
            buf = self._map(wstart, wend - wstart)
            entry = (buf, wstart) if buf is not None else None
            self._windows[key] = entry
        if entry is None or entry is _UNMAPPED:
            return None
        buf, wstart = entry
        return buf, page - wstart
