"""Random x86-64 page tables: ``leaves()`` and ``translate()`` give the same map
at 4 KiB granularity, and the direct-map runs handed to drgn follow the leaves.

drgn's walker (libdrgn/arch_x86_64.c) is the reference for the corner cases:
a non-present entry faults at every level, PSE makes a leaf at every level
above the PTEs, and a non-canonical address faults.
"""

from __future__ import annotations

import random
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmemx.arch.x86_64 import X86_64Translator
from kmemx.target import _linear_runs

PRESENT, PSE = 1, 1 << 7
MASK64 = (1 << 64) - 1


class Tables:
    """Physical memory holding page tables built at random."""

    def __init__(self, rnd: random.Random, five_level: bool) -> None:
        self.rnd = rnd
        self.pages: dict[int, list[int]] = {}
        self.next = 0x100000
        self.five_level = five_level
        self.root = self.table()
        top = 48 if five_level else 39
        for _ in range(rnd.randint(1, 3)):
            self.fill(self.root, top, rnd.randrange(512))
        # a direct map of 1..3 GiB: 1 GiB, 2 MiB and 4 KiB leaves with holes
        self.pob = (0x1FF if not five_level else 0x1FE) << top | (
            (MASK64 << (top + 9)) & MASK64)
        self.direct(self.pob, rnd.randint(1, 2) << 30)

    def table(self) -> int:
        addr = self.next
        self.next += 4096
        self.pages[addr] = [0] * 512
        return addr

    def entry_at(self, vaddr: int, shift: int, create: bool = True) -> tuple[list[int], int]:
        """The table and index that hold ``vaddr``'s entry at level ``shift``."""
        table = self.root
        s = 48 if self.five_level else 39
        while s > shift:
            t = self.pages[table]
            i = (vaddr >> s) & 511
            if not t[i] & PRESENT:
                t[i] = self.table() | PRESENT
            table = t[i] & ~0xFFF & ((1 << 52) - 1)
            s -= 9
        return self.pages[table], (vaddr >> shift) & 511

    def fill(self, table: int, shift: int, i: int) -> None:
        r = self.rnd.random()
        t = self.pages[table]
        if shift == 12:
            t[i] = (self.rnd.randrange(1 << 40) << 12) | (PRESENT if r < 0.8 else 0)
        elif r < 0.1:
            t[i] = self.rnd.randrange(1 << 40) << 12  # not present
        elif r < 0.25 or (shift > 30 and r < 0.27):
            # a leaf (PSE); address bits under the leaf size are ignored
            t[i] = (self.rnd.randrange(1 << 40) << 12) | PRESENT | PSE
        elif r < 0.3:
            t[i] = (0xFFFFF000 << 12) | PRESENT  # a table outside memory
        else:
            sub = self.table()
            t[i] = sub | PRESENT
            for _ in range(self.rnd.randint(1, 6)):
                self.fill(sub, shift - 9, self.rnd.randrange(512))

    def direct(self, pob: int, size: int) -> None:
        pa = 0
        while pa < size:
            r = self.rnd.random()
            if pa % (1 << 30) == 0 and r < 0.3 and pa + (1 << 30) <= size:
                t, i = self.entry_at(pob + pa, 30)
                t[i] = pa | PRESENT | PSE
                pa += 1 << 30
            elif pa % (1 << 21) == 0 and r < 0.97:
                t, i = self.entry_at(pob + pa, 21)
                t[i] = pa | PRESENT | PSE | (1 << 12)  # PAT bit of a huge page
                pa += 1 << 21
            else:
                t, i = self.entry_at(pob + pa, 12)
                hole = self.rnd.random() < 0.2
                elsewhere = self.rnd.random() < 0.05
                t[i] = (0 if hole else PRESENT) | ((pa + (1 << 34)) if elsewhere else pa) | \
                    (self.rnd.random() < 0.5) * PSE  # PSE is PAT in a PTE
                pa += 4096

    def read_u64(self, paddr: int) -> int | None:
        t = self.pages.get(paddr & ~0xFFF)
        return None if t is None else t[(paddr & 0xFFF) >> 3]

    def read_table(self, paddr: int) -> bytes | None:
        t = self.pages.get(paddr)
        return None if t is None else struct.pack("<512Q", *t)


def translate_ref(tb: Tables, vaddr: int) -> int | None:
    """drgn's walk, written the plain way."""
    return walk_ref(tb, vaddr)[0]


def walk_ref(tb: Tables, vaddr: int) -> tuple[int | None, int]:
    """The physical address of ``vaddr`` (or None) and the size of the leaf
    or hole that holds it."""
    levels = 5 if tb.five_level else 4
    bits = 12 + 9 * levels - 1
    if 1 << bits <= vaddr < (MASK64 << bits) & MASK64:
        return None, 4096
    table = tb.root
    for level in range(levels - 1, -1, -1):
        shift = 12 + 9 * level
        e = tb.read_u64(table + ((vaddr >> shift) & 511) * 8)
        if e is None or not e & PRESENT:
            return None, 1 << shift
        if level == 0 or e & PSE:
            mask = (1 << shift) - 1
            return (e & 0xFFFFFFFFFF000 & ~mask) | (vaddr & mask), 1 << shift
        table = e & 0xFFFFFFFFFF000
    raise AssertionError


def _samples(rnd: random.Random, leaves: list[tuple[int, int, int]], n: int) -> list[int]:
    out = [rnd.randrange(1 << 64) for _ in range(n)]
    for va, _pa, size in rnd.sample(leaves, min(len(leaves), 500)):
        out += [va, va + size - 1, va - 1, (va + size) & MASK64,
                va + rnd.randrange(size)]
    return [a & MASK64 for a in out]


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), five_level=st.booleans(), with_table=st.booleans())
def test_leaves_equal_translate(seed: int, five_level: bool, with_table: bool) -> None:
    rnd = random.Random(seed)
    tb = Tables(rnd, five_level)
    tr = X86_64Translator(tb.root, five_level, tb.read_u64,
                          tb.read_table if with_table else None)
    leaves = list(tr.leaves(0, 1 << 64))
    # sorted, disjoint, inside one leaf size each
    for (va, _, size), (vb, _, _) in zip(leaves, leaves[1:]):
        assert va + size <= vb
    starts = [va for va, _, _ in leaves]

    def by_leaves(a: int) -> int | None:
        import bisect

        i = bisect.bisect_right(starts, a) - 1
        if i >= 0:
            va, pa, size = leaves[i]
            if a < va + size:
                return pa + (a - va)
        return None

    for a in _samples(rnd, leaves, 300):
        want = translate_ref(tb, a)
        assert tr.translate(a) == want, hex(a)
        assert tr.translate(a) == want, hex(a)  # cached
        assert by_leaves(a) == want, hex(a)
    # a clipped range gives the clipped leaves
    if leaves:
        va, _, size = leaves[len(leaves) // 2]
        lo, hi = va + size // 3, va + size // 3 + 5000
        clipped = list(tr.leaves(lo, hi))
        assert clipped and clipped[0][0] == lo
        assert sum(s for _, _, s in clipped) <= hi - lo


class _Space:
    def __init__(self, tr: X86_64Translator) -> None:
        self.translator = tr


@settings(max_examples=100, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32))
def test_direct_map_runs_follow_the_page_tables(seed: int) -> None:
    """Every page of a run is mapped to ``v - page_offset_base``, and every such
    page is in a run: holes of one 4 KiB page are found."""
    rnd = random.Random(seed)
    tb = Tables(rnd, False)
    tr = X86_64Translator(tb.root, False, tb.read_u64, tb.read_table)
    space: Any = _Space(tr)
    size = 2 << 30
    runs = _linear_runs(space, tb.pob, tb.pob + size, tb.pob)
    for (_, e1), (s2, _) in zip(runs, runs[1:]):
        assert e1 < s2  # coalesced
    # the runs, leaf by leaf (or hole by hole) of the reference walk
    want: list[tuple[int, int]] = []
    a = tb.pob
    while a < tb.pob + size:
        pa, leaf = walk_ref(tb, a)
        end = (a & ~(leaf - 1)) + leaf
        if pa == a - tb.pob:
            if want and want[-1][1] == a:
                want[-1] = (want[-1][0], end)
            else:
                want.append((a, end))
        a = end
    assert runs == [(s, min(e, tb.pob + size)) for s, e in want]
