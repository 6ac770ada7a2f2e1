"""kmemx.helpers.pagewalk on hand-built x86-64 page tables: the cases the
test bed's dumps do not have (no swap in the guest, no huge user pages, no
PROT_NONE PTEs), each against the kernel's own encoding."""

from __future__ import annotations

from typing import Any

from kmemx.helpers.pagewalk import follow_pte, swp_offset, swp_type

_PRESENT, _RW, _USER, _PSE, _PROTNONE = 1, 2, 4, 1 << 7, 1 << 8
_SWP_TYPE_BITS, _SWP_OFFSET_SHIFT = 5, 14


def swp_entry_pte(type_: int, offset: int) -> int:
    """arch/x86/include/asm/pgtable_64.h's __swp_entry(): the offset stored
    inverted, the type in the top bits."""
    mask = (1 << 64) - 1
    return ((((~offset & mask) << _SWP_OFFSET_SHIFT) & mask) >> _SWP_TYPE_BITS) \
        | (type_ << (64 - _SWP_TYPE_BITS))


class FakeProg:
    """Physical memory of 4 KiB tables, 4-level paging."""

    def __init__(self) -> None:
        self.cache: dict[str, Any] = {"kmemx.helpers.pgtable.l5": False}
        self.pages: dict[int, bytearray] = {}

    def table(self, phys: int) -> bytearray:
        return self.pages.setdefault(phys, bytearray(4096))

    def set(self, table: int, index: int, value: int) -> None:
        self.table(table)[index * 8:index * 8 + 8] = value.to_bytes(8, "little")

    def read(self, addr: int, size: int, physical: bool = False) -> bytes:
        assert physical and size == 4096 and addr % 4096 == 0
        return bytes(self.table(addr))


def _tables() -> FakeProg:
    p = FakeProg()
    pgd, pud, pmd, pte = 0x1000, 0x2000, 0x3000, 0x4000
    p.set(pgd, 0, pud | _PRESENT | _RW | _USER)
    p.set(pud, 0, pmd | _PRESENT | _RW | _USER)
    p.set(pmd, 2, pte | _PRESENT | _RW | _USER)                      # 0x400000: 4K pages
    p.set(pmd, 3, 0x40000000 | _PRESENT | _RW | _USER | _PSE)        # 0x600000: a 2M page
    p.set(pte, 0, 0x7000 | _PRESENT | _USER)                         # 0x400000
    p.set(pte, 1, 0x8000 | _PROTNONE)                                # 0x401000: PROT_NONE
    p.set(pte, 2, swp_entry_pte(3, 0x12345))                         # 0x402000: swapped out
    return p


def test_follow_pte_cases() -> None:
    p = _tables()
    prog: Any = p
    assert follow_pte(prog, 0x1000, 0x400123) == (0x7123, 0x7000 | _PRESENT | _USER)
    assert follow_pte(prog, 0x1000, 0x401000)[0] == 0x8000          # pte_present(): PROTNONE
    phys, pte = follow_pte(prog, 0x1000, 0x402000)
    assert phys is None and (swp_type(pte), swp_offset(pte)) == (3, 0x12345)
    assert follow_pte(prog, 0x1000, 0x403000) == (None, 0)          # pte_none()
    assert follow_pte(prog, 0x1000, 0x6ab000)[0] == 0x40000000 + 0xab000  # inside the 2M page
    assert follow_pte(prog, 0x1000, 0x800000) == (None, 0)          # PMD not present
    assert follow_pte(prog, 0x1000, 1 << 39) == (None, 0)           # PGD not present


def test_swap_entries_round_trip() -> None:
    for type_, offset in ((0, 0), (1, 1), (31, 1), (7, (1 << 40) - 1), (2, 0xABCDE)):
        pte = swp_entry_pte(type_, offset)
        assert not pte & _PRESENT
        assert (swp_type(pte), swp_offset(pte)) == (type_, offset)
