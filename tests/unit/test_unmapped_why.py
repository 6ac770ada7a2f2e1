"""Why a virtual read faults: "address is not mapped" (drgn's words) when
the page tables say so, or the page table its walk needs that the dump
lacks, with the dump's reason, on x86-64 and arm64 tables built by hand."""

from __future__ import annotations

import drgn
import pytest

from kmemx.arch.aarch64 import Aarch64Translator
from kmemx.arch.x86_64 import X86_64Translator
from kmemx.memory import AddressSpace
from kmemx.readers.base import ReadStats


class Phys:
    """Physical memory of page tables; ``lost`` pages are not in the dump."""

    def __init__(self, lost: set[int]) -> None:
        self.mem: dict[int, bytearray] = {}
        self.lost = lost

    def set(self, table: int, index: int, value: int) -> None:
        page = self.mem.setdefault(table, bytearray(4096))
        page[index * 8:index * 8 + 8] = value.to_bytes(8, "little")

    def u64(self, paddr: int) -> int | None:
        page = self.mem.get(paddr & ~0xFFF)
        if page is None or paddr & ~0xFFF in self.lost:
            return None
        o = paddr & 0xFFF
        return int.from_bytes(page[o:o + 8], "little")

    def locate(self, paddr: int) -> tuple[bytearray, int] | None:
        page = self.mem.get(paddr & ~0xFFF)
        return None if page is None or paddr & ~0xFFF in self.lost else (page, 0)

    def why_missing(self, paddr: int) -> str:
        return "page excluded from the dump by makedumpfile (dump level 31)"


def _space(translator: object, phys: Phys) -> AddressSpace:
    return AddressSpace(phys, translator, ReadStats())  # type: ignore[arg-type]


def _fault(space: AddressSpace, vaddr: int) -> str:
    with pytest.raises(drgn.FaultError) as e:
        space.read(vaddr, 8)
    assert e.value.address == vaddr
    return str(e.value.message)


def test_x86_64_unmapped_and_missing_table() -> None:
    pgd, pud, lost_pud = 0x1000, 0x2000, 0x3000
    phys = Phys({lost_pud})
    high = 0xFFFF888000000000  # PGD index 273
    phys.set(pgd, 273, pud | 1)
    phys.mem[pud] = bytearray(4096)  # every entry empty
    phys.set(pgd, 274, lost_pud | 1)
    phys.set(lost_pud, 0, 0x5000 | 1)
    phys.mem[0x5000] = bytearray(4096)
    space = _space(X86_64Translator(pgd, False, phys.u64), phys)
    assert _fault(space, high) == "address is not mapped"          # PUD entry 0 not present
    assert _fault(space, high + (1 << 39)) == (
        "its page table at physical address 0x3000 is not in the dump: "
        "page excluded from the dump by makedumpfile (dump level 31)")
    assert _fault(space, 0xFFFF000000000000) == "address is not mapped"  # PGD entry empty


def test_aarch64_unmapped_and_missing_table() -> None:
    # 4 KiB pages, 48-bit VA: 4 levels, the top at bits 47:39
    pgd, lost_pud = 0x10000, 0x20000
    phys = Phys({lost_pud})
    phys.set(pgd, 0, lost_pud | 3)  # a table descriptor to a page the dump lacks
    phys.mem[lost_pud] = bytearray(4096)
    space = _space(Aarch64Translator(pgd, 48, phys.u64), phys)
    base = 0xFFFF000000000000
    assert _fault(space, base).startswith("its page table at physical address 0x20000 ")
    assert _fault(space, base + (1 << 39)) == "address is not mapped"  # entry 1 invalid
