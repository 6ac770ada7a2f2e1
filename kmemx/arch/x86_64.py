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
from typing import Callable, Iterator

from .tables import read_table

__all__ = ["MODULES_END", "MODULES_VADDR", "START_KERNEL_MAP", "TIF_SIGPENDING",
           "X86_64Translator"]

#: the bit of ``thread_info.flags`` that says a signal is pending
#: (arch/x86/include/asm/thread_info.h; crash's defs.h for X86_64 has the same 2)
TIF_SIGPENDING = 2

#: __START_KERNEL_map: where x86-64 links the kernel image.  It is an ABI
#: constant of the architecture (arch/x86/include/asm/page_64_types.h), not a
#: randomized base; KASLR moves the image inside this map and is accounted
#: for by phys_base and KERNELOFFSET from VMCOREINFO.
START_KERNEL_MAP = 0xFFFFFFFF80000000

#: The module area (arch/x86/include/asm/pgtable_64_types.h): MODULES_VADDR
#: is __START_KERNEL_map + KERNEL_IMAGE_SIZE, 1 GiB with CONFIG_RANDOMIZE_BASE
#: (every Debian kernel), and MODULES_END is fixed.
MODULES_VADDR = START_KERNEL_MAP + (1 << 30)
MODULES_END = 0xFFFFFFFFFF000000

_PRESENT = 1
_PSE = 1 << 7
_ADDR_MASK = 0x000FFFFFFFFFF000
_U64 = struct.Struct("<Q").unpack_from
_MASK64 = 0xFFFFFFFFFFFFFFFF


class X86_64Translator:
    """Walks x86-64 page tables.

    ``read_phys_u64(paddr)`` reads a page-table entry (or returns None if the
    physical page is not in the target); ``read_phys_table(paddr)``, if
    given, reads a whole 4 KiB table (``bytes``, or None) for :meth:`leaves`.
    """

    #: x86-64 keeps the direct map's base in ``page_offset_base`` (randomized
    #: by CONFIG_RANDOMIZE_MEMORY), in memory, not in the dump's headers
    linear_offset: int | None = None

    def __init__(self, pgd_phys: int, five_level: bool,
                 read_phys_u64: Callable[[int], int | None],
                 read_phys_table: Callable[[int], bytes | None] | None = None) -> None:
        self.pgd_phys = pgd_phys
        self.five_level = five_level
        self._read = read_phys_u64
        self._read_table = read_phys_table
        #: lowest non-canonical address (bit 47, or 56 with 5-level paging)
        self._noncanonical = 1 << (56 if five_level else 47)
        self._gb: dict[int, int] = {}  # vaddr >> 30 -> physical base of a 1 GiB leaf
        self._mb: dict[int, int] = {}  # vaddr >> 21 -> physical base of a 2 MiB leaf
        self.walks = 0
        #: the page-table entry the last walk could not read (not in the
        #: target), or None: the last None of translate() was "not mapped"
        self.missing: int | None = None

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
        self.missing = None
        if self._noncanonical <= vaddr < (-self._noncanonical) & _MASK64:
            return None  # non-canonical, as drgn's walker says
        table = self.pgd_phys
        shift = 48 if self.five_level else 39
        while True:
            entry = table + ((vaddr >> shift) & 511) * 8
            e = self._read(entry)
            if e is None:
                self.missing = entry
                return None
            if not e & _PRESENT:
                return None
            if shift == 12:
                return (e & _ADDR_MASK) | (vaddr & 0xFFF)
            if e & _PSE:
                # a leaf at any level above the PTEs, as drgn's walker reads
                # it (only 1 GiB and 2 MiB leaves exist on real hardware)
                mask = (1 << shift) - 1
                base = e & _ADDR_MASK & ~mask
                if shift == 30:
                    self._gb[vaddr >> 30] = base
                elif shift == 21:
                    self._mb[vaddr >> 21] = base
                return base | (vaddr & mask)
            table = e & _ADDR_MASK
            shift -= 9

    def _table(self, paddr: int) -> tuple[int, ...] | None:
        """The 512 entries of the table at ``paddr``, or None if it is not in the target."""
        return read_table(paddr, 512, self._read, self._read_table)

    def leaves(self, start: int, end: int) -> Iterator[tuple[int, int, int]]:
        """The present leaves of the page tables that overlap ``[start, end)``,
        in address order, as ``(vaddr, paddr, size)`` clipped to the range.

        A 1 GiB or 2 MiB leaf comes as one entry; consecutive 4 KiB leaves of
        one page table that map consecutive physical pages come as one entry
        too.  This is the page tables' own answer at 4 KiB granularity: an
        address is covered exactly when :meth:`translate` maps it.  A table
        that is not in the target maps nothing (drgn faults there too).
        ``start`` and ``end`` are unsigned 64-bit addresses; non-canonical
        ones map nothing.
        """
        start = max(start, 0)
        end = min(end, 1 << 64)
        levels = 5 if self.five_level else 4
        top_shift = 12 + 9 * (levels - 1)
        # the canonical halves, as unsigned [lo, hi)
        for lo, hi in ((0, self._noncanonical), ((-self._noncanonical) & _MASK64, 1 << 64)):
            s, e = max(start, lo), min(end, hi)
            if s < e:
                yield from self._leaves(self.pgd_phys, top_shift, s, e,
                                        s & ~((1 << (top_shift + 9)) - 1))

    def _leaves(self, table: int, shift: int, start: int, end: int,
                base: int) -> Iterator[tuple[int, int, int]]:
        """Leaves of ``table``, whose entry ``i`` maps ``1 << shift`` bytes at
        ``base + (i << shift)``, overlapping ``[start, end)``."""
        entries = self._table(table)
        if entries is None:
            return
        first = (start - base) >> shift
        last = min(511, (end - 1 - base) >> shift)
        if shift == 12:
            for va, pa, n in self._pte_runs(entries, first, last, base):
                s, t = max(start, va), min(end, va + n)
                yield s, pa + (s - va), t - s
            return
        size = 1 << shift
        for i in range(first, last + 1):
            e = entries[i]
            if not e & _PRESENT:
                continue
            va = base + (i << shift)
            s, t = max(start, va), min(end, va + size)
            if e & _PSE:
                # a leaf at any level above the PTEs, as drgn reads it
                yield s, (e & _ADDR_MASK & ~(size - 1)) + (s - va), t - s
            else:
                yield from self._leaves(e & _ADDR_MASK, shift - 9, s, t, va)

    @staticmethod
    def _pte_runs(entries: tuple[int, ...], first: int, last: int,
                  base: int) -> Iterator[tuple[int, int, int]]:
        """Runs of present PTEs ``first..last`` that map consecutive pages."""
        run_i = -1  # index of the run's first PTE
        run_pa = nxt = 0
        for i in range(first, last + 1):
            e = entries[i]
            if e & _PRESENT:
                pa = e & _ADDR_MASK
                if run_i >= 0 and pa == nxt:
                    nxt += 4096
                    continue
                if run_i >= 0:
                    yield base + (run_i << 12), run_pa, nxt - run_pa
                run_i, run_pa, nxt = i, pa, pa + 4096
            elif run_i >= 0:
                yield base + (run_i << 12), run_pa, nxt - run_pa
                run_i = -1
        if run_i >= 0:
            yield base + (run_i << 12), run_pa, nxt - run_pa

    def clear(self) -> None:
        """Forget the cached leaves."""
        self._gb.clear()
        self._mb.clear()
