"""x86-64 virtual-to-physical translation by walking the kernel page tables.

Every kernel virtual address -- direct map, kernel image, vmalloc (task
stacks), vmemmap, modules, fixmap, per-cpu -- is translated by walking the
page tables from ``swapper_pg_dir``, with 4- or 5-level paging and 1 GiB /
2 MiB leaves.  Leaves are cached at their own size, so the direct map (1 GiB
pages) costs one walk per GiB.  The result therefore agrees with the page
tables, and so with drgn, everywhere: there are no hard-coded region bases.
"""

from __future__ import annotations

import struct
from typing import Callable

__all__ = ["START_KERNEL_MAP", "X86_64Translator"]

#: __START_KERNEL_map: where x86-64 links the kernel image.  It is an ABI
#: constant of the architecture (arch/x86/include/asm/page_64_types.h), not a
#: randomized base; KASLR moves the image inside this map and is accounted
#: for by phys_base and KERNELOFFSET from VMCOREINFO.
START_KERNEL_MAP = 0xFFFFFFFF80000000

_PRESENT = 1
_PSE = 1 << 7
_ADDR_MASK = 0x000FFFFFFFFFF000
_U64 = struct.Struct("<Q").unpack_from


class X86_64Translator:
    """Walks x86-64 page tables.

    ``read_phys_u64(paddr)`` reads a page-table entry (or returns None if the
    physical page is not in the target).
    """

    def __init__(self, pgd_phys: int, five_level: bool,
                 read_phys_u64: Callable[[int], int | None]) -> None:
        self.pgd_phys = pgd_phys
        self.five_level = five_level
        self._read = read_phys_u64
        self._gb: dict[int, int] = {}  # vaddr >> 30 -> physical base of a 1 GiB leaf
        self._mb: dict[int, int] = {}  # vaddr >> 21 -> physical base of a 2 MiB leaf
        self.walks = 0

    @staticmethod
    def pa_symbol(vaddr: int, phys_base: int) -> int:
        """``__pa_symbol()``: physical address of a kernel-image address."""
        return (vaddr - START_KERNEL_MAP + phys_base) & 0xFFFFFFFFFFFFFFFF

    def translate(self, vaddr: int) -> int | None:
        """Physical address of ``vaddr``, or None when it is not mapped."""
        base = self._gb.get(vaddr >> 30)
        if base is not None:
            return base | (vaddr & 0x3FFFFFFF)
        base = self._mb.get(vaddr >> 21)
        if base is not None:
            return base | (vaddr & 0x1FFFFF)
        return self._walk(vaddr)

    def _walk(self, vaddr: int) -> int | None:
        self.walks += 1
        if not (vaddr >> 47 == 0 or vaddr >> 47 == 0x1FFFF or self.five_level):
            return None  # non-canonical for 4-level paging
        table = self.pgd_phys
        if self.five_level:
            e = self._read(table + ((vaddr >> 48) & 511) * 8)
            if e is None or not e & _PRESENT:
                return None
            table = e & _ADDR_MASK
        e = self._read(table + ((vaddr >> 39) & 511) * 8)  # p4d (or pgd on 4-level)
        if e is None or not e & _PRESENT:
            return None
        e = self._read((e & _ADDR_MASK) + ((vaddr >> 30) & 511) * 8)  # pud
        if e is None or not e & _PRESENT:
            return None
        if e & _PSE:
            base = e & _ADDR_MASK & ~0x3FFFFFFF
            self._gb[vaddr >> 30] = base
            return base | (vaddr & 0x3FFFFFFF)
        e = self._read((e & _ADDR_MASK) + ((vaddr >> 21) & 511) * 8)  # pmd
        if e is None or not e & _PRESENT:
            return None
        if e & _PSE:
            base = e & _ADDR_MASK & ~0x1FFFFF
            self._mb[vaddr >> 21] = base
            return base | (vaddr & 0x1FFFFF)
        e = self._read((e & _ADDR_MASK) + ((vaddr >> 12) & 511) * 8)  # pte
        if e is None or not e & _PRESENT:
            return None
        return (e & _ADDR_MASK) | (vaddr & 0xFFF)

    def clear(self) -> None:
        self._gb.clear()
        self._mb.clear()
