"""arm64 page tables built at random in a mock physical memory.

Two oracles: a reference walk written here from the Arm ARM's descriptor
rules (4 KiB granule: ``0b11`` a table, or a page at the last level;
``0b01`` a block above it; anything else invalid), and plain drgn's own
AArch64 walker (libdrgn/arch_aarch64.c) on the same tables written out as an
arm64 ELF vmcore: ``kmemx.open()`` on that file must read every sampled
address, and fault at the same address, as plain drgn does.
"""

from __future__ import annotations

import bisect
import random
import struct
from pathlib import Path
from typing import Any

import drgn
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kmemx
from kmemx.arch import Aarch64Translator, elf_machine, make_translator
from kmemx.arch.aarch64 import linear_map_offset
from kmemx.errors import CoreFormatError, NoVmcoreinfoError, TargetError
from kmemx.memory import AddressSpace
from kmemx.readers.base import ReadStats
from kmemx.readers.elfcore import ElfCoreMemory, parse_elf_core
from kmemx.target import _linear_runs, _make_space
from kmemx.vmcoreinfo import Vmcoreinfo

MASK64 = (1 << 64) - 1
PAGE = 4096
TABLE, BLOCK, PAGE_DESC = 0b11, 0b01, 0b11
AF = 1 << 10  # access flag: set on real leaves, irrelevant to translation
CONT = 1 << 52  # contiguous hint: irrelevant to translation
RAM = 0x40000000  # where QEMU's virt machine puts RAM
EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
EM_AARCH64 = 183


def encode(pa: int, va_bits: int) -> int:
    """The output-address bits of a descriptor for ``pa``: bits [47:12] in
    place; with 52-bit VAs (FEAT_LPA2) [49:48] in place and [51:50] in [9:8]."""
    if va_bits == 52:
        return (pa & 0x0003FFFFFFFFF000) | ((pa >> 50) & 3) << 8
    return pa & 0x0000FFFFFFFFF000


def decode(e: int, va_bits: int) -> int:
    if va_bits == 52:
        return (e & 0x0003FFFFFFFFF000) | ((e >> 8) & 3) << 50
    return e & 0x0000FFFFFFFFF000


class Memory:
    """Sparse physical memory of 4 KiB pages, with page tables in it."""

    def __init__(self, rnd: random.Random, va_bits: int, ram_size: int = 8 << 20) -> None:
        self.rnd = rnd
        self.va_bits = va_bits
        self.levels = (va_bits - 12 + 8) // 9
        self.top_entries = 1 << ((va_bits - 13) % 9 + 1)
        self.top_shift = 12 + 9 * (self.levels - 1)
        self.va_min = (MASK64 << va_bits) & MASK64
        self.ram = bytearray(rnd.randbytes(ram_size))
        self.ram_size = ram_size
        #: pages outside RAM (a high segment for 52-bit output addresses)
        self.extra: dict[int, bytearray] = {}
        self.next_table = RAM + ram_size - PAGE  # tables from the top of RAM down
        self.root = self.table()

    # -- memory ------------------------------------------------------------------
    def page(self, pa: int) -> bytearray | memoryview | None:
        pa &= ~0xFFF
        if RAM <= pa < RAM + self.ram_size:
            return memoryview(self.ram)[pa - RAM:pa - RAM + PAGE]
        return self.extra.get(pa)

    def read_u64(self, pa: int) -> int | None:
        p = self.page(pa)
        return None if p is None else int(struct.unpack_from("<Q", p, pa & 0xFFF)[0])

    def read_table(self, pa: int) -> bytes | None:
        p = self.page(pa)
        return None if p is None else bytes(p)

    def write_u64(self, pa: int, v: int) -> None:
        p = self.page(pa)
        assert p is not None
        struct.pack_into("<Q", p, pa & 0xFFF, v)

    def table(self) -> int:
        pa = self.next_table
        self.next_table -= PAGE
        self.ram[pa - RAM:pa - RAM + PAGE] = bytes(PAGE)
        return pa

    # -- descriptors ---------------------------------------------------------------
    def entry_at(self, va: int, shift: int) -> int:
        """Physical address of ``va``'s descriptor at level ``shift``, making
        tables on the way."""
        table = self.root
        s, n = self.top_shift, self.top_entries
        while s > shift:
            at = table + ((va >> s) & (n - 1)) * 8
            e = self.read_u64(at)
            assert e is not None
            if e & 3 != TABLE or self.page(decode(e, self.va_bits)) is None:
                sub = self.table()
                self.write_u64(at, encode(sub, self.va_bits) | TABLE)
                e = self.read_u64(at)
                assert e is not None
            table = decode(e, self.va_bits)
            s, n = s - 9, 512
        return table + ((va >> s) & (n - 1)) * 8

    def map(self, va: int, pa: int, shift: int) -> None:
        """A leaf: a page (shift 12) or a block (21, 30; 39 only as drgn reads it)."""
        kind = PAGE_DESC if shift == 12 else BLOCK
        extra = AF | (CONT if self.rnd.random() < 0.3 else 0)
        self.write_u64(self.entry_at(va, shift), encode(pa, self.va_bits) | kind | extra)

    def fill(self, table: int, shift: int, i: int, n: int = 512) -> None:
        """Random descriptors under entry ``i`` of ``table``."""
        r = self.rnd.random()
        at = table + i * 8
        ram_pa = RAM + self.rnd.randrange(self.ram_size >> 12) * PAGE
        if shift == 12:
            kind = PAGE_DESC if r < 0.75 else self.rnd.choice((0b00, 0b01, 0b10))
            pa = ram_pa if self.rnd.random() < 0.9 else self.rnd.randrange(1 << 36) << 12
            self.write_u64(at, encode(pa, self.va_bits) | kind | AF)
        elif r < 0.1:
            self.write_u64(at, encode(ram_pa, self.va_bits) | self.rnd.choice((0b00, 0b10)))
        elif r < 0.25 and shift <= 30:
            # a block; address bits under the block size are ignored
            self.write_u64(at, encode(self.rnd.randrange(1 << 36) << 12, self.va_bits) |
                           BLOCK | AF)
        elif r < 0.3:
            self.write_u64(at, encode(0xFFFFF000 << 12, self.va_bits) | TABLE)  # not in memory
        elif self.next_table > RAM + (self.ram_size >> 1):
            sub = self.table()
            self.write_u64(at, encode(sub, self.va_bits) | TABLE)
            for _ in range(self.rnd.randint(1, 6)):
                self.fill(sub, shift - 9, self.rnd.randrange(512))

    # -- the vmcore --------------------------------------------------------------------
    def segments(self) -> list[tuple[int, bytes]]:
        segs = [(RAM, bytes(self.ram))]
        for pa in sorted(self.extra):
            segs.append((pa, bytes(self.extra[pa])))
        return segs


def walk_ref(mem: Memory, va: int) -> int | None:
    """The Arm ARM's stage-1 walk of the TTBR1 tables, written the plain way."""
    if va < mem.va_min:
        return None
    table = mem.root
    for level in range(mem.levels - 1, -1, -1):
        shift = 12 + 9 * level
        n = mem.top_entries if level == mem.levels - 1 else 512
        e = mem.read_u64(table + ((va >> shift) % n) * 8)
        if e is None:
            return None
        if level == 0:
            return decode(e, mem.va_bits) + (va & 0xFFF) if e & 3 == PAGE_DESC else None
        if e & 3 == BLOCK:
            mask = (1 << shift) - 1
            return (decode(e, mem.va_bits) & ~mask) + (va & mask)
        if e & 3 != TABLE:
            return None
        table = decode(e, mem.va_bits)
    raise AssertionError


def random_memory(rnd: random.Random, va_bits: int) -> Memory:
    mem = Memory(rnd, va_bits)
    for _ in range(rnd.randint(1, 4)):
        mem.fill(mem.root, mem.top_shift, rnd.randrange(mem.top_entries), mem.top_entries)
    return mem


def samples(rnd: random.Random, mem: Memory, leaves: list[tuple[int, int, int]],
            n: int) -> list[int]:
    out = [rnd.randrange(1 << 64) for _ in range(n)]
    out += [mem.va_min + rnd.randrange(1 << mem.va_bits) for _ in range(n)]
    for va, _pa, size in rnd.sample(leaves, min(len(leaves), 300)):
        out += [va, va + size - 1, va - 1, (va + size) & MASK64, va + rnd.randrange(size)]
    return [a & MASK64 for a in out]


# -- the walk against the reference ---------------------------------------------------------------

@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), va_bits=st.sampled_from([39, 48, 52]),
       with_table=st.booleans())
def test_translate_and_leaves_equal_the_reference_walk(seed: int, va_bits: int,
                                                       with_table: bool) -> None:
    rnd = random.Random(seed)
    mem = random_memory(rnd, va_bits)
    tr = Aarch64Translator(mem.root, va_bits, mem.read_u64,
                           mem.read_table if with_table else None)
    assert tr.levels == {39: 3, 48: 4, 52: 5}[va_bits]
    leaves = list(tr.leaves(0, 1 << 64))
    for (va, _, size), (vb, _, _) in zip(leaves, leaves[1:]):
        assert va + size <= vb  # sorted and disjoint
    assert all(va >= mem.va_min for va, _, _ in leaves)
    starts = [va for va, _, _ in leaves]

    def by_leaves(a: int) -> int | None:
        i = bisect.bisect_right(starts, a) - 1
        if i >= 0:
            va, pa, size = leaves[i]
            if a < va + size:
                return pa + (a - va)
        return None

    for a in samples(rnd, mem, leaves, 200):
        want = walk_ref(mem, a)
        assert tr.translate(a) == want, hex(a)
        assert tr.translate(a) == want, hex(a)  # from the block cache
        assert by_leaves(a) == want, hex(a)
    if leaves:  # a clipped range gives the clipped leaves
        va, _, size = leaves[len(leaves) // 2]
        lo, hi = va + size // 3, va + size // 3 + 5000
        clipped = list(tr.leaves(lo, hi))
        assert clipped and clipped[0][0] == lo
        assert sum(s for _, _, s in clipped) <= hi - lo


def _fixed(va_bits: int) -> tuple[Memory, dict[str, int]]:
    """One leaf of each kind, at known addresses."""
    rnd = random.Random(va_bits)
    mem = Memory(rnd, va_bits)
    lin = (-(1 << va_bits)) & MASK64  # PAGE_OFFSET since 14c127c957c1
    va = {"block1g": lin, "block2m": lin + (1 << 30) + (2 << 21),
          "page": lin + (2 << 30) + 0x5000, "invalid": lin + (2 << 30) + 0x6000,
          "reserved": lin + (2 << 30) + 0x7000, "unmapped": lin + (3 << 30)}
    mem.map(va["block1g"], RAM, 30)
    mem.map(va["block2m"], RAM + (2 << 20), 21)
    mem.map(va["page"], RAM + 0x3000, 12)
    mem.write_u64(mem.entry_at(va["invalid"], 12), encode(RAM, va_bits) | 0b10)
    mem.write_u64(mem.entry_at(va["reserved"], 12), encode(RAM, va_bits) | 0b01)
    return mem, va


@pytest.mark.parametrize("va_bits", [39, 48, 52])
def test_blocks_pages_and_invalid_descriptors(va_bits: int) -> None:
    mem, va = _fixed(va_bits)
    tr = Aarch64Translator(mem.root, va_bits, mem.read_u64, mem.read_table)
    assert tr.translate(va["block1g"] + 0x123456) == RAM + 0x123456
    assert tr.translate(va["block2m"] + 0x1FFFFF) == RAM + (2 << 20) + 0x1FFFFF
    assert tr.translate(va["page"] + 0xABC) == RAM + 0x3ABC
    assert tr.translate(va["page"] + 0x1000) is None
    assert tr.translate(va["invalid"]) is None
    assert tr.translate(va["reserved"]) is None  # 0b01 is no page at the last level
    assert tr.translate(va["unmapped"]) is None
    assert tr.translate(tr.va_min - 1) is None  # the TTBR0 half
    assert tr.translate(0x400000) is None
    walks = tr.walks
    assert tr.translate(va["block1g"] + 0x999000) == RAM + 0x999000
    assert tr.walks == walks  # the 1 GiB block was cached
    tr.clear()
    assert tr.translate(va["block1g"] + 0x999000) == RAM + 0x999000
    assert tr.walks == walks + 1


def test_lpa2_output_address_bits() -> None:
    """52-bit VAs with 4 KiB pages (FEAT_LPA2): output bits [51:50] come from
    descriptor bits [9:8] and [49:48] from [49:48]."""
    mem = Memory(random.Random(1), 52)
    high = 0x000E_1234_5678_0000
    mem.extra[high] = bytearray(b"\x5a" * PAGE)
    lin = (-(1 << 52)) & MASK64
    mem.map(lin + 0x10000, high, 12)
    e = mem.read_u64(mem.entry_at(lin + 0x10000, 12))
    assert e is not None and (e >> 8) & 3 == 3 and (e >> 48) & 3 == 2
    tr = Aarch64Translator(mem.root, 52, mem.read_u64, mem.read_table)
    assert tr.translate(lin + 0x10123) == high + 0x123
    assert list(tr.leaves(lin + 0x10000, lin + 0x11000)) == [(lin + 0x10000, high, PAGE)]


# -- VMCOREINFO -> translator ----------------------------------------------------------------------

def vmcoreinfo(*, va_bits: int, pgd_va: int, voff: int, phys_offset: int,
               t1sz: int | None, kaslr: int = 0) -> bytes:
    lines = ["OSRELEASE=6.1.0-test-arm64", "PAGESIZE=4096",
             f"SYMBOL(swapper_pg_dir)={pgd_va:x}", f"KERNELOFFSET={kaslr:x}",
             f"NUMBER(VA_BITS)={va_bits}", f"NUMBER(kimage_voffset)={voff:#x}",
             f"NUMBER(PHYS_OFFSET)={phys_offset:#x}", "NUMBER(KERNELPACMASK)=0x0"]
    if t1sz is not None:
        lines.append(f"NUMBER(TCR_EL1_T1SZ)={t1sz:#x}")
    return ("\n".join(lines) + "\n").encode()


def _none(pa: int) -> None:
    return None


def test_vmcoreinfo_picks_the_run_time_va_size_and_the_image_offset() -> None:
    pgd_va = 0xFFFF_8000_0A3F_1000
    voff = 0xFFFF_8000_0A3F_1000 - 0x4123_4000
    v = Vmcoreinfo(vmcoreinfo(va_bits=52, pgd_va=pgd_va, voff=voff, phys_offset=RAM, t1sz=16))
    assert v.machine == "aarch64" and v.va_bits == 52 and v.kimage_voffset == voff
    assert v.tcr_el1_t1sz == 16 and v.phys_offset == RAM and v.kernel_pac_mask == 0
    tr = make_translator("aarch64", v, _none, _none)
    assert isinstance(tr, Aarch64Translator)
    # a 52-bit kernel on hardware without LPA2 runs with 48 bits: 4 levels
    assert tr.va_bits == 48 and tr.levels == 4
    assert tr.pgd_phys == 0x4123_4000  # __pa_symbol(swapper_pg_dir)
    # the configured VA_BITS places PAGE_OFFSET; memstart_addr moved instead
    assert tr.linear_offset == ((-(1 << 52)) - RAM) & MASK64
    # no TCR_EL1_T1SZ (before v5.9): VA_BITS
    v = Vmcoreinfo(vmcoreinfo(va_bits=48, pgd_va=pgd_va, voff=voff, phys_offset=RAM, t1sz=None))
    tr = make_translator(v.machine, v, _none, _none)
    assert isinstance(tr, Aarch64Translator) and tr.va_bits == 48
    assert tr.linear_offset == ((-(1 << 48)) - RAM) & MASK64


def test_linear_map_before_and_after_the_flip() -> None:
    """14c127c957c1 (v5.4) moved the linear map to the bottom of the kernel
    half; before it, the image lay below PAGE_OFFSET = -(1 << (VA_BITS - 1))."""
    assert linear_map_offset(48, RAM, 0xFFFF_8000_0800_0000) == \
        (0xFFFF_0000_0000_0000 - RAM) & MASK64
    assert linear_map_offset(48, RAM, 0xFFFF_0000_0808_0000) == \
        (0xFFFF_8000_0000_0000 - RAM) & MASK64
    assert linear_map_offset(39, 0x8000_0000, 0xFFFF_FFC0_0808_0000) == \
        (0xFFFF_FF80_0000_0000 - 0x8000_0000) & MASK64
    assert linear_map_offset(39, 0x8000_0000, 0xFFFF_FF80_0808_0000) == \
        (0xFFFF_FFC0_0000_0000 - 0x8000_0000) & MASK64


def test_bad_vmcoreinfo_is_one_error() -> None:
    good = vmcoreinfo(va_bits=48, pgd_va=0xFFFF_8000_0800_1000, voff=0xFFFF_7FFF_C800_0000,
                      phys_offset=RAM, t1sz=16)
    no_va = b"\n".join(x for x in good.split(b"\n") if not x.startswith(b"NUMBER(VA_BITS)"))
    with pytest.raises(CoreFormatError, match=r"NUMBER\(VA_BITS\)"):
        make_translator("aarch64", Vmcoreinfo(no_va), _none, _none, "dump")
    bad = good.replace(b"NUMBER(TCR_EL1_T1SZ)=0x10", b"NUMBER(TCR_EL1_T1SZ)=0x2")
    with pytest.raises(CoreFormatError, match="TCR_EL1_T1SZ=2"):
        make_translator("aarch64", Vmcoreinfo(bad), _none, _none, "dump")
    big = good.replace(b"PAGESIZE=4096", b"PAGESIZE=8192")
    with pytest.raises(CoreFormatError, match="page size 8192"):
        make_translator("aarch64", Vmcoreinfo(big), _none, _none, "dump")
    no_pgd = b"\n".join(x for x in good.split(b"\n") if not x.startswith(b"SYMBOL("))
    with pytest.raises(NoVmcoreinfoError, match="swapper_pg_dir"):
        make_translator("aarch64", Vmcoreinfo(no_pgd), _none, _none, "dump")
    with pytest.raises(TargetError, match="s390x"):
        make_translator("s390x", Vmcoreinfo(good), _none, _none, "dump")
    assert elf_machine(EM_AARCH64) == "aarch64" and elf_machine(62) == "x86_64"
    assert elf_machine(22) is None


# -- arm64 ELF vmcores: kmemx against plain drgn's own AArch64 walker ------------------------

def write_vmcore(path: Path, mem: Memory, vmci: bytes, machine: int = EM_AARCH64) -> None:
    name = b"VMCOREINFO\0\0"
    notes = struct.pack("<III", 11, len(vmci), 0) + name + vmci + b"\0" * (-len(vmci) % 4)
    segs = mem.segments()
    phnum = 1 + len(segs)
    off = EHDR.size + PHDR.size * phnum
    phdrs = [PHDR.pack(4, 0, off, 0, 0, len(notes), len(notes), 0)]
    data = (off + len(notes) + PAGE - 1) & ~(PAGE - 1)
    pos = data
    for pa, blob in segs:
        phdrs.append(PHDR.pack(1, 7, pos, 0, pa, len(blob), len(blob), PAGE))
        pos += len(blob)
    ident = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    ehdr = EHDR.pack(ident, 4, machine, 1, 0, EHDR.size, 0, 0, EHDR.size, PHDR.size,
                     phnum, 64, 0, 0)
    head = ehdr + b"".join(phdrs) + notes
    with open(path, "wb") as f:
        f.write(head + bytes(data - len(head)))
        for _, blob in segs:
            f.write(blob)


def kernel_layout(rnd: random.Random, mem: Memory, *, flipped: bool = True,
                  kaslr: int = 0) -> tuple[bytes, int]:
    """A kernel's mappings over ``mem``: the linear map of RAM (1 GiB block,
    2 MiB blocks, 4 KiB pages with a hole), the image (2 MiB blocks) holding
    ``swapper_pg_dir`` (moved by ``kaslr``), vmalloc pages; its VMCOREINFO and
    the linear offset."""
    va_bits = mem.va_bits
    if flipped:  # 14c127c957c1 (v5.4): linear map at the bottom, image in the top half
        page_offset = (-(1 << va_bits)) & MASK64
        image = ((-(1 << (va_bits - 1))) & MASK64) + 0x800_0000 + kaslr
    else:
        page_offset = (-(1 << (va_bits - 1))) & MASK64
        image = ((-(1 << va_bits)) & MASK64) + 0x800_0000 + kaslr
    offset = (page_offset - RAM) & MASK64
    # linear map: the first 2 MiB as pages (one hole), then 2 MiB blocks
    for p in range(0, 2 << 20, PAGE):
        if p != 0x7000:
            mem.map(page_offset + p, RAM + p, 12)
    for p in range(2 << 20, mem.ram_size, 2 << 20):
        mem.map(page_offset + p, RAM + p, 21)
    # a 1 GiB block aliasing RAM (most of it outside the dump: faults)
    mem.map(page_offset + (1 << 30), RAM, 30)
    # the image: 2 MiB blocks at RAM + 2 MiB; swapper_pg_dir lives in it
    image_pa = RAM + (2 << 20)
    mem.map(image, image_pa, 21)
    mem.map(image + (2 << 20), image_pa + (2 << 20), 21)
    # vmalloc: scattered pages
    vmalloc = ((-(1 << (va_bits - 1))) & MASK64) + (1 << 33) if flipped else \
        ((-(1 << va_bits)) & MASK64) + (1 << 33)
    for i in range(64):
        if rnd.random() < 0.7:
            mem.map(vmalloc + i * PAGE, RAM + rnd.randrange(mem.ram_size >> 12) * PAGE, 12)
    if va_bits == 52:  # an output address above 48 bits (FEAT_LPA2)
        high = 0x000E_0000_0004_0000
        mem.extra[high] = bytearray(rnd.randbytes(PAGE))
        mem.map(vmalloc + 64 * PAGE, high, 12)
    # copy the real root into the image, where __pa_symbol() will find it
    pgd_pa = image_pa + 0x10_0000
    root = mem.read_table(mem.root)
    assert root is not None
    mem.ram[pgd_pa - RAM:pgd_pa - RAM + PAGE] = root
    mem.root = pgd_pa
    voff = (image - image_pa) & MASK64
    vmci = vmcoreinfo(va_bits=va_bits, pgd_va=image + 0x10_0000, voff=voff,
                      phys_offset=RAM, t1sz=64 - va_bits, kaslr=kaslr)
    return vmci, offset


def _read(read: Any, addr: int, size: int) -> bytes | str:
    try:
        return bytes(read(addr, size))
    except drgn.FaultError as e:
        return f"fault at {e.address:#x}"


def _compare(path: Path, mem: Memory, rnd: random.Random, offset: int) -> None:
    plain = drgn.Program()
    plain.set_core_dump(str(path))
    k = kmemx.open(str(path), debug_info=False)
    try:
        assert k.reader.name == "mmap-elf"
        assert k.space is not None
        tr = k.space.translator
        assert isinstance(tr, Aarch64Translator)
        assert tr.linear_offset == offset
        leaves = list(tr.leaves(0, 1 << 64))
        addrs = samples(rnd, mem, leaves, 100)
        for a in addrs:
            assert tr.translate(a) == walk_ref(mem, a), hex(a)
            size = rnd.choice((1, 8, 8, 100, 5000))
            want = _read(plain.read, a, size)
            assert _read(k.read, a, size) == want, hex(a)
            if not isinstance(want, str):  # served by kmemx's walk and mmap, not drgn's
                assert _read(k.space.read, a, size) == want, hex(a)
            assert _read(k.prog.read, a, size) == want, hex(a)
            if size == 8:
                w64 = _read(lambda x, _n: plain.read_u64(x).to_bytes(8, "little"), a, 8)
                assert _read(lambda x, _n: k.read_u64(x).to_bytes(8, "little"), a, 8) == w64
        # bulk reads over whole leaves, across their ends (faults at the first byte missing)
        for va, _pa, size in leaves[:40]:
            n = min(size + PAGE, 3 << 20)
            want = _read(plain.read, va, n)
            assert _read(k.read, va, n) == want, hex(va)
            assert _read(k.prog.read, va, n) == want, hex(va)
    finally:
        k.close()


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), va_bits=st.sampled_from([39, 48, 52]),
       flipped=st.booleans(), kaslr_2m=st.integers(0, 255))
def test_arm64_vmcore_reads_as_plain_drgn(tmp_path: Path, seed: int, va_bits: int,
                                          flipped: bool, kaslr_2m: int) -> None:
    rnd = random.Random(seed)
    mem = random_memory(rnd, va_bits)
    vmci, offset = kernel_layout(rnd, mem, flipped=flipped, kaslr=kaslr_2m << 21)
    path = tmp_path / f"vmcore-{seed}-{va_bits}.elf"
    write_vmcore(path, mem, vmci)
    _compare(path, mem, rnd, offset)


def test_arm64_vmcore_faults_name_the_address(tmp_path: Path) -> None:
    rnd = random.Random(7)
    mem = Memory(rnd, 48)
    vmci, offset = kernel_layout(rnd, mem, kaslr=0x1E0_0000)
    path = tmp_path / "vmcore.elf"
    write_vmcore(path, mem, vmci)
    k = kmemx.open(str(path), debug_info=False)
    try:
        lin = (-(1 << 48)) & MASK64
        assert k.read(lin + 0x6FF8, 8) == bytes(mem.ram[0x6FF8:0x7000])
        with pytest.raises(drgn.FaultError) as e:  # the hole in the linear map
            k.read(lin + 0x6FF8, 16)
        assert e.value.address == lin + 0x7000
        with pytest.raises(drgn.FaultError) as e:
            k.read_u64(lin + 0x7010)
        assert e.value.address == lin + 0x7010
        with pytest.raises(drgn.FaultError) as e:  # mapped, but not in the dump:
            k.read(lin + (1 << 30) + mem.ram_size, 8)
        assert e.value.address == RAM + mem.ram_size  # drgn names the physical address
        with pytest.raises(drgn.FaultError) as e:  # the TTBR0 half
            k.read(0x0000_7FFF_0000_0000, 8)
        assert e.value.address == 0x0000_7FFF_0000_0000
        assert k.space is not None and k.space.stats.faults >= 4
        # the direct-map runs handed to drgn follow the page tables, hole included
        runs = _linear_runs(k.space, lin, lin + mem.ram_size, offset)
        assert runs[0] == (lin, lin + 0x7000) and runs[1][0] == lin + 0x8000
    finally:
        k.close()


def test_machine_comes_from_the_elf_header(tmp_path: Path) -> None:
    """An arm64 VMCOREINFO in an x86-64 ELF header walks x86-64 tables: the
    header decides, as it does for drgn; an unknown machine is drgn's to read."""
    rnd = random.Random(3)
    mem = Memory(rnd, 48)
    vmci, _ = kernel_layout(rnd, mem)
    path = tmp_path / "vmcore.elf"
    write_vmcore(path, mem, vmci)
    core = parse_elf_core(str(path))
    phys = ElfCoreMemory(core)
    try:
        v = Vmcoreinfo(vmci)
        assert isinstance(_make_space(phys, v, ReadStats(), "x").translator, Aarch64Translator)
        space = _make_space(phys, v, ReadStats(), "x", "x86_64")
        assert type(space.translator).__name__ == "X86_64Translator"
        assert isinstance(space, AddressSpace)
    finally:
        phys.close()
    s390 = tmp_path / "s390.elf"
    write_vmcore(s390, mem, vmci, machine=22)
    with pytest.raises(TargetError, match="e_machine 22"):
        kmemx.open(str(s390), debug_info=False, reader="mmap-elf")


def test_kdump_prstatus_size_is_the_machines() -> None:
    """An arm64 NT_PRSTATUS holds 34 registers (392 bytes): a 336-byte one
    (x86-64's size) would overrun libkdumpfile's read on arm64."""
    from kmemx.vmcoreinfo import _bad_note

    def note(size: int) -> bytes:
        return struct.pack("<III", 5, size, 1) + b"CORE\0\0\0\0" + bytes(size)

    assert _bad_note(note(336), "x86_64") is None
    assert _bad_note(note(336), "aarch64") == "NT_PRSTATUS note at 0 is too short (336 bytes)"
    assert _bad_note(note(392), "aarch64") is None
