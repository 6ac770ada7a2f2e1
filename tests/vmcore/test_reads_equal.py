"""Every page of the kernel's address space reads (or faults) as plain drgn says.

For each dump variant, the pages compared are every page of every present
leaf of the kernel's page tables (the direct map, vmemmap, vmalloc and module
space, the kernel image, cpu_entry_area, fixmap...), every page of the direct
map up to 2 MiB past ``max_pfn``, of the kernel image, of the vmemmap
of ``max_pfn`` pages and of every module (mapped or not), and pages sampled
from every hole between leaves (its ends and evenly spaced pages).  Each page
is read once, 8 bytes at an in-page offset that varies from page to page (so
some reads cross into the next page), by ``k.read``, ``k.read_u64`` and drgn
on kmemx (``k.prog.read``), against a plain :class:`drgn.Program` on the same
dump; and every present leaf is read in bulk by all three, faults (with their
address) included.

The leaves come from a page-table walk written here, on plain drgn's physical
reads, so the test does not rest on kmemx's own walker.
"""

from __future__ import annotations

import bisect
import struct
from typing import Any, Callable, Iterator

import drgn
import pytest
from drgn.helpers.linux.module import for_each_module

import kmemx
from tests.fixtures.fixture import Fixture
from tests.vmcore.regions import (
    direct_map_base,
    kernel_image,
    kernel_image_holes,
    vmalloc_start,
)

pytestmark = pytest.mark.vmcore

START_KERNEL_MAP = 0xFFFFFFFF80000000
MASK64 = (1 << 64) - 1
PAGE = 4096
_TABLE = struct.Struct("<512Q").unpack_from
#: pages sampled from the inside of a hole between leaves, besides its first
#: and last page (espfix alone makes 65,536 holes)
HOLE_SAMPLES = 16
BULK = 1 << 21


def _vmcoreinfo_number(prog: Any, key: str) -> int | None:
    for line in prog["VMCOREINFO"].string_().decode().splitlines():
        if line.startswith(f"NUMBER({key})="):
            return int(line.split("=", 1)[1], 0)  # arm64 prints some in hex
    return None


def _is_arm64(prog: Any) -> bool:
    return bool(prog.platform.arch == drgn.Architecture.AARCH64)


def _arm64_va_bits(prog: Any) -> int:
    """The run-time size of the kernel half: 64 - TCR_EL1_T1SZ (v5.9), else VA_BITS."""
    t1sz = _vmcoreinfo_number(prog, "TCR_EL1_T1SZ")
    va_bits = _vmcoreinfo_number(prog, "VA_BITS")
    assert va_bits is not None
    return 64 - t1sz if t1sz else va_bits


def _arm64_leaves(prog: Any) -> list[tuple[int, int]]:
    """:func:`kernel_leaves` on arm64 (4 KiB granule), from the Arm ARM's
    descriptor rules: 0b11 a table (a page at the last level), 0b01 a block
    above it; the TTBR1 table is ``swapper_pg_dir - kimage_voffset``."""
    va_bits = _arm64_va_bits(prog)
    voff = _vmcoreinfo_number(prog, "kimage_voffset")
    assert voff is not None
    root = (prog.symbol("swapper_pg_dir").address - voff) & MASK64
    levels = (va_bits - 12 + 8) // 9
    lpa2 = va_bits == 52
    out: list[tuple[int, int]] = []

    def oa(e: int) -> int:
        if lpa2:
            return (e & 0x0003FFFFFFFFF000) | ((e >> 8) & 3) << 50
        return e & 0x0000FFFFFFFFF000

    def walk(table: int, shift: int, n: int, base: int) -> None:
        try:
            entries = struct.unpack(f"<{n}Q", prog.read(table, 8 * n, True))
        except drgn.FaultError:
            return
        for i, e in enumerate(entries):
            va = base + (i << shift)
            if (e & 3 == 3 and shift == 12) or (e & 3 == 1 and shift > 12):
                if out and out[-1][1] == va:
                    out[-1] = (out[-1][0], va + (1 << shift))
                else:
                    out.append((va, va + (1 << shift)))
            elif e & 3 == 3:
                walk(oa(e), shift - 9, 512, va)

    walk(root, 12 + 9 * (levels - 1), 1 << ((va_bits - 13) % 9 + 1), (MASK64 << va_bits) & MASK64)
    return out


def kernel_leaves(prog: Any) -> list[tuple[int, int]]:
    """Virtual ``[start, end)`` ranges of the present leaves of the kernel
    half of ``swapper_pg_dir``, merged when adjacent, read with ``prog``'s
    physical reads (drgn's walk: PSE makes a leaf above the PTEs)."""
    if _is_arm64(prog):
        return _arm64_leaves(prog)
    five = bool(_vmcoreinfo_number(prog, "pgtable_l5_enabled"))
    phys_base = _vmcoreinfo_number(prog, "phys_base") or 0
    root = int(prog["init_mm"].pgd) - START_KERNEL_MAP + phys_base  # swapper_pg_dir
    top = 48 if five else 39
    sign = MASK64 << (top + 9) & MASK64
    out: list[tuple[int, int]] = []

    def walk(table: int, shift: int, base: int, first: int) -> None:
        try:
            entries = _TABLE(prog.read(table, PAGE, True))
        except drgn.FaultError:
            return
        for i in range(first, 512):
            e = entries[i]
            if not e & 1:
                continue
            va = base + (i << shift)
            if shift == 12 or e & 0x80:
                if out and out[-1][1] == va:
                    out[-1] = (out[-1][0], va + (1 << shift))
                else:
                    out.append((va, va + (1 << shift)))
            else:
                walk(e & 0xFFFFFFFFFF000, shift - 9, va, 0)

    walk(root, top, sign, 256)  # the upper (kernel) half
    return out


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _module_ranges(prog: Any) -> list[tuple[int, int]]:
    out = []
    for mod in for_each_module(prog):
        try:  # 6.4 (ac3b43283923 "module: replace module_layout with module_memory")
            mems = [(int(m.base), int(m.size)) for m in mod.mem]
        except AttributeError:
            mems = [(int(lay.base), int(lay.size)) for lay in (mod.core_layout, mod.init_layout)]
        out += [(b & ~(PAGE - 1), (b + n + PAGE - 1) & ~(PAGE - 1)) for b, n in mems if n]
    return out


class Regions:
    """Which region an address belongs to, for the report."""

    def __init__(self, prog: Any, modules: list[tuple[int, int]]) -> None:
        self.text = kernel_image(prog)
        self.holes = kernel_image_holes(prog)
        self.modules = _merge(modules)
        self.mod_starts = [s for s, _ in self.modules]
        if _is_arm64(prog):
            bases = self._arm64_bases(prog)
        else:
            bases = self._x86_64_bases(prog)
        bases.sort()
        self.bases = [b for b, _ in bases]
        self.names = [n for _, n in bases]

    @staticmethod
    def _arm64_bases(prog: Any) -> list[tuple[int, str]]:
        """Documentation/arch/arm64/memory.rst since 14c127c957c1 (v5.4): the
        linear map, the end of it (PAGE_END), modules, vmalloc (holding the
        image), vmemmap, then PCI I/O and fixmap."""
        va_bits = _vmcoreinfo_number(prog, "VA_BITS")
        assert va_bits is not None
        min_pfn, max_pfn = int(prog["min_low_pfn"]), int(prog["max_pfn"])
        page_size = int(prog.type("struct page").size)
        vmemmap = int(prog["vmemmap"])
        end = _vmcoreinfo_number(prog, "VMEMMAP_END")
        if end is None:
            end = (vmemmap + max_pfn * page_size + (1 << 30) - 1) & ~((1 << 30) - 1)
        return [(direct_map_base(prog) + (min_pfn << 12), "direct map"),
                ((-(1 << (va_bits - 1))) & MASK64, "other"),
                (vmalloc_start(prog), "vmalloc"),
                (vmemmap + min_pfn * page_size, "vmemmap"),
                (end & MASK64, "other")]

    @staticmethod
    def _x86_64_bases(prog: Any) -> list[tuple[int, str]]:
        # Documentation/arch/x86/x86_64/mm.rst: the last three are fixed
        return [(int(prog["page_offset_base"]), "direct map"),
                (int(prog["vmalloc_base"]), "vmalloc"),
                (int(prog["vmemmap_base"]), "vmemmap"),
                (0xFFFFFC0000000000, "other"),
                (0xFFFFFE0000000000, "cpu_entry_area"),
                (0xFFFFFF0000000000, "espfix"),
                (0xFFFFFFEF00000000, "other"),
                (START_KERNEL_MAP, "kernel map")]

    def of(self, addr: int) -> str:
        if self.text[0] <= addr < self.text[1]:
            if any(s <= addr < e for s, e in self.holes):
                return "kernel image, unmapped"
            return "kernel image"
        i = bisect.bisect_right(self.mod_starts, addr) - 1
        if i >= 0 and addr < self.modules[i][1]:
            return "modules"
        j = bisect.bisect_right(self.bases, addr) - 1
        if j < 0:
            return "other"
        name = self.names[j]
        return "module area, fixmap" if name == "kernel map" else name


def pages_to_compare(prog: Any, leaves: list[tuple[int, int]]) -> Iterator[int]:
    """Page addresses, in order: every page of ``leaves`` and of the dense
    ranges, and samples of every hole between them in the kernel half."""
    pob = direct_map_base(prog)
    min_pfn, max_pfn = int(prog["min_low_pfn"]), int(prog["max_pfn"])
    page_size = int(prog.type("struct page").size)
    direct_end = (((max_pfn << 12) + (1 << 21) - 1) & ~((1 << 21) - 1)) + (1 << 21)
    vmemmap = int(prog["vmemmap"])  # drgn's; vmemmap_base on x86-64
    dense = [(pob + (min_pfn << 12), pob + direct_end),
             (kernel_image(prog)[0] & ~(PAGE - 1),
              (kernel_image(prog)[1] + PAGE - 1) & ~(PAGE - 1)),
             (vmemmap + ((min_pfn * page_size) & ~(PAGE - 1)),
              vmemmap + ((max_pfn * page_size + PAGE - 1) & ~(PAGE - 1)))]
    covered = _merge(leaves + dense + _module_ranges(prog))
    if _is_arm64(prog):  # the TTBR1 half
        hole_start = (MASK64 << _arm64_va_bits(prog)) & MASK64
    else:
        hole_start = 0xFF00000000000000 if _vmcoreinfo_number(prog, "pgtable_l5_enabled") \
            else 0xFFFF800000000000
    for s, e in [*covered, (1 << 64, 1 << 64)]:
        if hole_start < s:
            n = (s - hole_start) // PAGE
            yield hole_start
            if n > 4 * HOLE_SAMPLES:
                step = n // (HOLE_SAMPLES + 1)
                for k in range(1, HOLE_SAMPLES + 1):
                    yield hole_start + k * step * PAGE
            if n > 1:
                yield s - PAGE
        if s < 1 << 64:
            yield from range(s, e, PAGE)
        hole_start = e


def _read(read: Callable[[int, int], Any], addr: int, size: int) -> bytes | str:
    try:
        return bytes(read(addr, size))
    except drgn.FaultError as e:
        return f"fault at {e.address:#x}"


def _read_u64(read: Callable[[int], int], addr: int) -> bytes | str:
    try:
        return read(addr).to_bytes(8, "little")
    except drgn.FaultError as e:
        return f"fault at {e.address:#x}"


def _offset(page: int) -> int:
    """An in-page offset that varies from page to page; 1 in 64 cross into the next page."""
    return ((page >> 12) * 0x9E3779B1 >> 7) & 0xFFF


@pytest.fixture(scope="module")
def pair(fixture: Fixture, dump_variant: str) -> Iterator[tuple[Any, kmemx.Kernel]]:
    plain = fixture.drgn_program(dump_variant)
    k = kmemx.open(fixture.core(dump_variant), fixture.vmlinux)
    yield plain, k
    k.close()


def test_every_page_reads_as_plain_drgn(fixture: Fixture, pair: tuple[Any, kmemx.Kernel],
                                        dump_variant: str) -> None:
    plain, k = pair
    leaves = kernel_leaves(plain)
    regions = Regions(plain, _module_ranges(plain))
    counts: dict[str, list[int]] = {}  # region -> [pages, faults]
    bad: list[str] = []
    readers = (("k.read", k.read), ("k.prog.read", k.prog.read))
    for page in pages_to_compare(plain, leaves):
        addr = (page + _offset(page)) & MASK64
        want = _read(plain.read, addr, 8)
        c = counts.setdefault(regions.of(page), [0, 0])
        c[0] += 1
        c[1] += isinstance(want, str)
        for name, read in readers:
            got = _read(read, addr, 8)
            if got != want:
                bad.append(f"{name}({addr:#x}, 8) = {got!r}, drgn: {want!r}")
        got = _read_u64(k.read_u64, addr)
        w64 = _read_u64(plain.read_u64, addr)
        if got != w64:
            bad.append(f"k.read_u64({addr:#x}) = {got!r}, drgn: {w64!r}")
        if len(bad) >= 20:
            break
    summary = ", ".join(f"{r}: {n} pages ({f} faults)" for r, (n, f) in sorted(counts.items()))
    print(f"\n{dump_variant}: {summary}")
    assert not bad, "\n".join(bad)
    # the test bed's guest: 512 MiB of RAM, a direct map of it, modules loaded
    ram_pages = int(plain["max_pfn"]) - int(plain["min_low_pfn"])  # arm64's RAM starts high
    assert counts["direct map"][0] >= ram_pages
    # (a filtered kdump dump, -d 31 or the flattened one, drops free, cache,
    # user and zero pages: most of a small guest)
    mapped = counts["direct map"][0] - counts["direct map"][1]
    elf = str(fixture.core(dump_variant)).endswith(".elf")
    assert mapped >= (ram_pages * 9 // 10 if elf else ram_pages // 16)
    # a filtered dump may drop the image's zero-filled pages (.bss, -d 1): drgn
    # faults there too (bad is empty); an ELF dump holds every page of it
    if elf:
        assert counts["kernel image"][1] == 0
    assert counts["modules"][0] > 0 and counts["vmemmap"][0] > 0 and counts["vmalloc"][0] > 0


def test_every_leaf_reads_as_plain_drgn_in_bulk(pair: tuple[Any, kmemx.Kernel],
                                                dump_variant: str) -> None:
    """Whole leaves, read in chunks of up to 2 MiB: the same bytes, or a fault
    at the same address, after which the comparison goes on at the next page."""
    plain, k = pair
    total = faults = 0
    for start, end in kernel_leaves(plain):
        pos = start
        while pos < end:
            stop = min(end, (pos + BULK) & ~(BULK - 1))
            want = _read(plain.read, pos, stop - pos)
            for name, read in (("k.read", k.read), ("k.prog.read", k.prog.read)):
                got = _read(read, pos, stop - pos)
                assert got == want, f"{name}({pos:#x}, {stop - pos:#x}) differs from drgn's"
            if isinstance(want, str):
                faults += 1
                fault = int(want.split()[-1], 16)
                # a page mapped to a physical address the dump lacks faults
                # there: go on page by page
                pos = (fault if pos <= fault < stop else pos) // PAGE * PAGE + PAGE
            else:
                total += stop - pos
                pos = stop
    print(f"\n{dump_variant}: {total >> 20} MiB compared in bulk, {faults} faults")
    assert total >> 20 >= 16
