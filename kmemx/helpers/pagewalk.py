"""Page by page through a user VMA (crash's ``vm -p``) and through an inode's
page cache (crash's ``files -p``); x86-64 page tables.

Pure generators: they read, never print, and raise :class:`drgn.FaultError`
(with the address) for a table or structure that is not in the dump.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import drgn

from ..arch import aarch64, aarch64_va_bits, is_aarch64
from .pgtable import pgtable_l5_enabled, pte_pfn_phys

__all__ = ["VmaPage", "follow_pte", "swp_offset", "swp_type", "walk_page_vma",
           "xa_for_each_folio"]

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
#: arch/x86/include/asm/pgtable_types.h: _PAGE_PRESENT, _PAGE_PSE, _PAGE_PROTNONE
_PRESENT, _PSE, _PROTNONE = 1, 1 << 7, 1 << 8
#: arch/x86/include/asm/pgtable_64.h: SWP_TYPE_BITS, SWP_OFFSET_SHIFT
_SWP_TYPE_BITS = 5
_SWP_OFFSET_SHIFT = 9 + _SWP_TYPE_BITS


def swp_type(pte: int) -> int:
    """``__swp_type(__pte_to_swp_entry(pte))`` (arch/x86/include/asm/pgtable_64.h):
    the swap device's index in ``swap_info[]``."""
    return pte >> (64 - _SWP_TYPE_BITS)


def swp_offset(pte: int) -> int:
    """``__swp_offset(__pte_to_swp_entry(pte))``: the page's slot in the swap
    device (the offset bits are stored inverted since 4.18's
    "x86/speculation/l1tf: Protect swap entries against L1TF")."""
    return ((~pte << _SWP_TYPE_BITS) & ((1 << 64) - 1)) >> _SWP_OFFSET_SHIFT


def follow_pte(prog: drgn.Program, pgd_phys: int, vaddr: int,
               tables: dict[int, bytes] | None = None) -> tuple[int | None, int]:
    """``(physical address or None, entry)`` of the user address ``vaddr``
    (``unsigned long``, bytes) through the page tables whose top level is at
    physical ``pgd_phys``, as mm/memory.c's ``follow_pte()`` then
    ``pte_pfn()`` find it.  A 1 GiB or 2 MiB page gives the address inside
    it.  When ``vaddr`` is not mapped, the entry is the PTE's value when the
    walk reached the last level (non-zero: a swap or migration entry), else
    0.  A PTE with ``_PAGE_PROTNONE`` counts as present (``pte_present()``).
    ``tables`` caches the 4 KiB tables read (physical address -> bytes)
    across calls.  Raises :class:`drgn.FaultError` for a table missing from
    the dump."""
    cache = tables if tables is not None else {}
    levels = [48, 39, 30, 21, 12] if pgtable_l5_enabled(prog) else [39, 30, 21, 12]
    table = pgd_phys
    for i, shift in enumerate(levels):
        raw = cache.get(table)
        if raw is None:
            raw = prog.read(table, PAGE_SIZE, True)
            cache[table] = raw
        j = ((vaddr >> shift) & 511) * 8
        value = int.from_bytes(raw[j:j + 8], "little")
        last = i == len(levels) - 1
        if last or shift == 21:  # pte_present() / pmd_present() take PROTNONE
            if not value & (_PRESENT | _PROTNONE):
                return None, value if last else 0
        elif not value & _PRESENT:
            return None, 0
        if last or (shift in (30, 21) and value & _PSE):
            size = 1 << shift
            return (pte_pfn_phys(value) & ~(size - 1)) | (vaddr & (size - 1)), value
        table = pte_pfn_phys(value)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class VmaPage:
    """One page of a VMA: ``vaddr``; ``phys`` when mapped; else ``swap``
    (``(type, offset)`` of a non-present, non-zero PTE), or the mapped
    ``file`` and the byte ``offset`` in it, or neither (not mapped)."""

    vaddr: int
    phys: int | None
    pte: int
    swap: tuple[int, int] | None
    file: drgn.Object | None
    offset: int | None


def walk_page_vma(vma: drgn.Object, pgd_phys: int) -> Iterator[VmaPage]:
    """Each page of ``vma`` (``struct vm_area_struct *``) from ``vm_start``
    to ``vm_end``, translated through the page tables at physical
    ``pgd_phys`` (the mm's ``pgd``), as mm/pagewalk.c's ``walk_page_vma()``
    visits them (on arm64 by crash's rule, :func:`kmemx.arch.aarch64.uvtop`,
    4 KiB pages).  An unmapped page of a file mapping gives the file and its
    byte offset, ``(vm_pgoff + page index) << PAGE_SHIFT`` (the page's
    ``linear_page_index()``).  Raises :class:`drgn.FaultError`."""
    prog = vma.prog_
    start = int(vma.vm_start)
    end = int(vma.vm_end)
    pgoff = int(vma.vm_pgoff)
    file = vma.vm_file.read_()
    tables: dict[int, bytes] = {}
    arm64 = is_aarch64(prog)  # crash's arm64 rule: kmemx.arch.aarch64.uvtop()
    va_bits = aarch64_va_bits(prog) if arm64 else 0

    def read_u64(paddr: int) -> int:
        base = paddr & ~(PAGE_SIZE - 1)
        raw = tables.get(base)
        if raw is None:
            raw = tables[base] = prog.read(base, PAGE_SIZE, True)
        return int.from_bytes(raw[paddr - base:paddr - base + 8], "little")

    for vaddr in range(start, end, PAGE_SIZE):
        if arm64:
            phys, pte = aarch64.uvtop(pgd_phys, vaddr, va_bits, read_u64)
            swap = (aarch64.swp_type(pte), aarch64.swp_offset(pte))
        else:
            phys, pte = follow_pte(prog, pgd_phys, vaddr, tables)
            swap = (swp_type(pte), swp_offset(pte))
        if phys is not None:
            yield VmaPage(vaddr, phys, pte, None, None, None)
        elif pte:
            yield VmaPage(vaddr, None, pte, swap, None, None)
        elif file:
            offset = (((vaddr - start) >> PAGE_SHIFT) + pgoff) << PAGE_SHIFT
            yield VmaPage(vaddr, None, 0, None, file, offset)
        else:
            yield VmaPage(vaddr, None, 0, None, None, None)


def xa_for_each_folio(mapping: drgn.Object) -> Iterator[tuple[int, drgn.Object]]:
    """``(index, struct page *)`` of each page in the page cache of
    ``mapping`` (``struct address_space *``), by index: ``i_pages`` walked
    as include/linux/xarray.h's ``xa_for_each()`` does, value entries
    (shadow and swap entries, ``xa_is_value()``) left out.  Since the page
    cache holds folios (5.16+) the entry is the folio's first page, as
    before.  Raises :class:`drgn.FaultError`."""
    from drgn.helpers.linux.xarray import xa_for_each, xa_is_value

    page_type = mapping.prog_.type("struct page *")
    for index, entry in xa_for_each(mapping.i_pages.address_of_()):
        if xa_is_value(entry):
            continue
        yield int(index), drgn.cast(page_type, entry)
