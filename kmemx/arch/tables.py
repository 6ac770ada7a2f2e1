"""Reading one page table for the architectures' walkers."""

from __future__ import annotations

import struct
from typing import Callable

__all__ = ["read_table"]


def read_table(paddr: int, n: int, read_phys_u64: Callable[[int], int | None],
               read_phys_table: Callable[[int], bytes | None] | None) -> tuple[int, ...] | None:
    """The ``n`` 64-bit entries of the page table at physical ``paddr``, or
    None if any is not in the target: one read of the whole 4 KiB table when
    ``read_phys_table`` is given and the table is page-aligned, else entry by
    entry through ``read_phys_u64``."""
    if read_phys_table is not None and n * 8 <= 4096 and not paddr & 0xFFF:
        raw = read_phys_table(paddr)
        return None if raw is None else struct.unpack_from(f"<{n}Q", raw)
    out = []
    for i in range(n):
        e = read_phys_u64(paddr + i * 8)
        if e is None:
            return None
        out.append(e)
    return tuple(out)
