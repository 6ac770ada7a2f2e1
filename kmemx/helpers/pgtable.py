"""x86-64 page-table walks that show every level, as crash's ``vtop`` and
``pte`` do (kmemx's own translator, :mod:`kmemx.arch.x86_64`, only answers
the physical address)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import drgn

__all__ = ["PTE_FLAG_NAMES", "PgtableEntry", "pgtable_l5_enabled", "pgtable_walk",
           "pte_flag_names", "pte_pfn_phys"]

#: arch/x86/include/asm/pgtable_types.h's _PAGE_BIT_*, in crash's order
PTE_FLAG_NAMES = ((0, "PRESENT"), (1, "RW"), (2, "USER"), (3, "PWT"), (4, "PCD"),
                  (5, "ACCESSED"), (6, "DIRTY"), (7, "PSE"), (8, "GLOBAL"), (63, "NX"))
#: PTE_PFN_MASK with 52 physical address bits (__PHYSICAL_MASK_SHIFT)
_PFN_MASK = ((1 << 52) - 1) & ~0xFFF
_PRESENT, _PSE = 1, 1 << 7


@dataclass(frozen=True)
class PgtableEntry:
    """One level of a walk: ``level`` ("PGD", "P4D", "PUD", "PMD", "PTE"), the
    physical address of the entry and its value (``pgd_t``... ``pte_t``)."""

    level: str
    address: int
    value: int


def pgtable_l5_enabled(prog: drgn.Program) -> bool:
    """``pgtable_l5_enabled()``: 5-level paging (``__pgtable_l5_enabled``,
    CONFIG_X86_5LEVEL), cached in ``prog.cache["kmemx.helpers.pgtable.l5"]``."""
    l5 = prog.cache.get("kmemx.helpers.pgtable.l5")
    if l5 is None:
        try:
            l5 = bool(int(prog["__pgtable_l5_enabled"]))
        except KeyError:  # !CONFIG_X86_5LEVEL
            l5 = False
        prog.cache["kmemx.helpers.pgtable.l5"] = l5
    return bool(l5)


def pte_pfn_phys(value: int) -> int:
    """The physical address an entry points to (``pte_pfn() << PAGE_SHIFT``)."""
    return value & _PFN_MASK


def pte_flag_names(value: int) -> list[str]:
    """The names of the ``_PAGE_*`` bits set in an entry, in crash's order."""
    return [name for bit, name in PTE_FLAG_NAMES if value >> bit & 1]


def pgtable_walk(prog: drgn.Program, pgd_phys: int, vaddr: int) -> Iterator[PgtableEntry]:
    """The entries that translate ``vaddr`` from the top-level table at
    physical ``pgd_phys``: ``pgd_offset()``, ``p4d_offset()`` (5-level paging
    only), ``pud_offset()``, ``pmd_offset()``, ``pte_offset_kernel()``
    (arch/x86/include/asm/pgtable.h), each 512 entries of 8 bytes.  Stops
    after an entry that is not present or maps a large page (``_PAGE_PSE``
    in a PUD or PMD).  Raises :class:`drgn.FaultError` for a table that is
    not in the dump."""
    levels = [("PGD", 48), ("P4D", 39), ("PUD", 30), ("PMD", 21), ("PTE", 12)]
    if not pgtable_l5_enabled(prog):
        levels = [("PGD", 39), ("PUD", 30), ("PMD", 21), ("PTE", 12)]
    table = pgd_phys
    for level, shift in levels:
        addr = table + ((vaddr >> shift) & 511) * 8
        value = int.from_bytes(prog.read(addr, 8, True), "little")
        yield PgtableEntry(level, addr, value)
        if not value & _PRESENT:
            return
        if level in ("PUD", "PMD") and value & _PSE:
            return
        table = pte_pfn_phys(value)
