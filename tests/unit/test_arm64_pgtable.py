"""kmemx.arch.aarch64's level-by-level walk (vtop's rows), output addresses,
PAGE_OFFSET and descriptor names, on random page tables in a mock physical
memory (tests/unit/test_arm64_translate.py's), against the reference walk
written there from the Arm ARM and against the translator itself."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmemx.arch import Aarch64Translator
from kmemx.arch.aarch64 import (
    descriptor_phys,
    page_offset,
    pgtable_walk,
    pte_flag_names,
    runtime_va_bits,
)
from tests.unit.test_arm64_translate import (
    MASK64,
    RAM,
    Memory,
    _fixed,
    encode,
    random_memory,
    walk_ref,
)


def _read(mem: Memory) -> Callable[[int], int]:
    """A descriptor reader that raises, as drgn's reads do, off the memory."""
    def read(pa: int) -> int:
        v = mem.read_u64(pa)
        if v is None:
            raise LookupError(hex(pa))
        return v
    return read


def _result(entries: list[tuple[str, int, int]], va: int, va_bits: int) -> int | None:
    """The address the walk's last descriptor maps ``va`` to, as vtop reads it."""
    level, _, value = entries[-1]
    shift = {"PTE": 12, "PMD": 21, "PUD": 30}.get(level)
    if level == "PTE":
        ok = value & 3 == 3
    else:
        ok = value & 3 == 1 and shift is not None
    if not ok or shift is None:
        return None
    mask = (1 << shift) - 1
    return (descriptor_phys(value, va_bits) & ~mask) | (va & mask)


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), va_bits=st.sampled_from([39, 48, 52]))
def test_walk_ends_where_the_reference_walk_does(seed: int, va_bits: int) -> None:
    rnd = random.Random(seed)
    mem = random_memory(rnd, va_bits)
    tr = Aarch64Translator(mem.root, va_bits, mem.read_u64, mem.read_table)
    names = {39: ["PGD", "PMD", "PTE"], 48: ["PGD", "PUD", "PMD", "PTE"],
             52: ["PGD", "P4D", "PUD", "PMD", "PTE"]}[va_bits]
    leaves = list(tr.leaves(0, 1 << 64))
    addrs = [mem.va_min + rnd.randrange(1 << va_bits) for _ in range(100)]
    for va, _, size in rnd.sample(leaves, min(len(leaves), 100)):
        addrs += [va, va + size - 1]
    for va in addrs:
        try:
            entries = list(pgtable_walk(mem.root, va, va_bits, _read(mem)))
        except LookupError:
            assert walk_ref(mem, va) is None  # a table not in memory maps nothing
            continue
        assert [e[0] for e in entries] == names[:len(entries)]
        assert entries[0][1] == mem.root + ((va >> (12 + 9 * (len(names) - 1)))
                                            & (mem.top_entries - 1)) * 8
        for _, addr, value in entries:
            assert mem.read_u64(addr) == value
        want = walk_ref(mem, va)
        if entries[-1][0] in ("PGD", "P4D") and entries[-1][2] & 3 == 1:
            continue  # a block at the top levels: drgn's reading, not vtop's sizes
        assert _result(entries, va, va_bits) == want, hex(va)
        assert tr.translate(va) == want


@pytest.mark.parametrize("va_bits", [39, 48, 52])
def test_walk_of_blocks_pages_and_invalid_descriptors(va_bits: int) -> None:
    mem, va = _fixed(va_bits)
    read = _read(mem)
    last = {k: list(pgtable_walk(mem.root, v, va_bits, read))[-1] for k, v in va.items()
            if k != "unmapped"}
    assert last["block1g"][0] == ("PGD" if va_bits == 39 else "PUD")
    assert last["block2m"][0] == "PMD" and last["page"][0] == "PTE"
    assert descriptor_phys(last["page"][2], va_bits) == RAM + 0x3000
    assert descriptor_phys(last["block2m"][2], va_bits) == RAM + (2 << 20)
    assert last["invalid"][2] & 3 == 0b10 and last["reserved"][2] & 3 == 0b01


def test_descriptor_phys_52_bit_output_addresses() -> None:
    pa = (3 << 50) | (1 << 48) | 0x1234000
    assert descriptor_phys(encode(pa, 52) | 0b11, 52) == pa
    assert descriptor_phys(encode(pa & ((1 << 48) - 1), 48) | 0b11, 48) == \
        pa & ((1 << 48) - 1)


def test_page_offset_before_and_after_the_flip() -> None:
    # 14c127c957c1 (v5.4): the image in the kernel half's top half
    assert page_offset(48, 0xFFFFDE0A7E658000) == 0xFFFF000000000000
    assert page_offset(52, 0xFFFFA7ADBB703000) == 0xFFF0000000000000
    # before it: PAGE_OFFSET in the middle, the image below it
    assert page_offset(48, 0xFFFF000008080000) == 0xFFFF800000000000
    assert page_offset(39, 0xFFFFFF8008080000) == (-(1 << 38)) & MASK64
    assert page_offset(39, 0xFFFFFFC008080000) == (-(1 << 39)) & MASK64


def test_runtime_va_bits() -> None:
    assert runtime_va_bits(52, 0x10, 12) == 48  # a 52-bit kernel on a 48-bit CPU
    assert runtime_va_bits(52, 0xC, 12) == 52
    assert runtime_va_bits(48, None, 12) == 48
    assert runtime_va_bits(52, 0x10, 16) == 52  # 64 KiB pages: VA_BITS


def test_pte_flag_names_in_crashs_order() -> None:
    # the 6.1 arm64 guest's kernel-image PTE and init's busybox text PTE
    assert pte_flag_names(0xF8000041EC8703) == ["VALID", "SHARED", "AF", "PXN", "UXN",
                                                "DIRTY"]
    assert pte_flag_names(0x24000042326FC3) == ["VALID", "USER", "RDONLY", "SHARED", "AF",
                                                "NG", "PXN"]
    assert pte_flag_names((1 << 58) | (1 << 56)) == ["PROT_NONE", "SPECIAL"]
    assert pte_flag_names(0) == []
