"""Memory nodes, zones, free lists, sections, vm counters and hugetlb
states (include/linux/mmzone.h, mm/vmstat.c, mm/hugetlb.c), over views.

Pure generators named after the kernel macros they mirror; they never print.
Counters are read as the kernel keeps them centrally (``atomic_long_t``
arrays, not folding in the per-CPU deltas), as crash reads them; the per-CPU
``vm_event_states`` are summed over the possible CPUs.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import FaultError
from ..kernel import Kernel
from ..types.view import View, _percpu_offset
from .cpumask import for_each_possible_cpu
from .list import list_for_each
from .pages import page_array
from .xarray import xa_for_each

if TYPE_CHECKING:  # numpy is imported where it is used
    import numpy as np

__all__ = [
    "NODE_DATA",
    "PAGES_PER_SECTION",
    "FreeBlock",
    "FreeList",
    "MemSection",
    "MemoryBlock",
    "all_vm_events",
    "enum_item_names",
    "find_free_block",
    "for_each_free_list",
    "for_each_hstate",
    "for_each_memory_block",
    "for_each_online_node",
    "for_each_online_pgdat",
    "for_each_present_section",
    "for_each_section_pages",
    "for_each_zone",
    "global_vm_stat",
    "pageflag_names",
    "zone_vm_stat",
]


def enum_item_names(k: Kernel, enum: str, count: str) -> list[str]:
    """The names of ``enum <enum>``'s values ``0 .. <count> - 1`` (the
    counter arrays' indices: ``enum zone_stat_item`` up to
    ``NR_VM_ZONE_STAT_ITEMS``...); where two names share a value, the last
    (``NR_ZONE_INACTIVE_ANON = NR_ZONE_LRU_BASE``: the name /proc/vmstat
    and crash show).
    Cached per program.

    :raises LookupError: no such enum or count
    """
    key = f"kmemx.helpers.mmzone.enum.{enum}"
    names: list[str] | None = k.prog.cache.get(key)
    if names is None:
        n = int(k.prog.constant(count).value_())
        by_value: dict[int, str] = {}
        for e in k.prog.type(f"enum {enum}").enumerators or ():
            if 0 <= e.value < n:
                by_value[e.value] = e.name
        names = [by_value.get(i, f"[{i}]") for i in range(n)]
        k.prog.cache[key] = names
    return names


def for_each_online_node(k: Kernel) -> Iterator[int]:
    """``for_each_online_node()``: the set bits of ``node_states[N_ONLINE]``
    below ``nr_node_ids`` (node 0 alone on !NUMA kernels)."""
    try:
        states = k.object("node_states")
    except LookupError:
        yield 0
        return
    nr = int(k.prog["nr_node_ids"]) if "nr_node_ids" in _names(k) else 1
    bits = states[int(k.prog.constant("N_ONLINE").value_())].bits
    for word_i in range((nr + 63) // 64):
        word = int(bits[word_i])
        for b in range(64):
            if word >> b & 1 and word_i * 64 + b < nr:
                yield word_i * 64 + b


def _names(k: Kernel) -> set[str]:
    """Names that exist among the few optional globals this module reads."""
    have: set[str] | None = k.prog.cache.get("kmemx.helpers.mmzone.names")
    if have is None:
        have = set()
        for n in ("nr_node_ids", "node_data", "contig_page_data", "vm_numa_stat",
                  "vm_numa_event", "memory_block_size_probed", "__highest_present_section_nr",
                  "hugetlb_max_hstate"):
            try:
                k.prog[n]
            except (KeyError, LookupError):
                continue
            have.add(n)
        k.prog.cache["kmemx.helpers.mmzone.names"] = have
    return have


def NODE_DATA(k: Kernel, nid: int) -> View:
    """``NODE_DATA(nid)``: ``node_data[nid]`` (NUMA), else ``&contig_page_data``,
    as ``struct pglist_data *``."""
    if "node_data" in _names(k):
        return k.view("struct pglist_data", int(k.object("node_data")[nid]))
    return k.object("contig_page_data")


def for_each_online_pgdat(k: Kernel) -> Iterator[View]:
    """``for_each_online_pgdat()``: each online node's ``struct pglist_data``."""
    for nid in for_each_online_node(k):
        yield NODE_DATA(k, nid)


def for_each_zone(k: Kernel) -> Iterator[View]:
    """``for_each_zone()``: every ``struct zone`` of every online node,
    populated or not (``pgdat->node_zones[0 .. MAX_NR_ZONES)``)."""
    for pgdat in for_each_online_pgdat(k):
        zones = pgdat.node_zones
        for i in range(len(zones)):
            yield zones[i]


def _counters(k: Kernel, addr: int, n: int) -> list[int]:
    """``n`` signed longs (``atomic_long_t``) at ``addr``."""
    raw = k.read(addr, 8 * n)
    return [int.from_bytes(raw[8 * i:8 * i + 8], "little", signed=True) for i in range(n)]


def zone_vm_stat(zone: View) -> list[tuple[str, int]]:
    """``(item name, zone->vm_stat[item])`` for each ``enum zone_stat_item``
    (the central counters, as ``zone_page_state()`` reads them)."""
    k: Kernel = zone._k
    names = enum_item_names(k, "zone_stat_item", "NR_VM_ZONE_STAT_ITEMS")
    return list(zip(names, _counters(k, int(zone.vm_stat.address), len(names))))


def global_vm_stat(k: Kernel) -> Iterator[tuple[str, str, int]]:
    """``(table, item, value)`` of the global vm counters, in the kernel's
    order: ``vm_zone_stat`` (VM_ZONE_STAT), ``vm_node_stat`` (VM_NODE_STAT)
    and, until 5.14 (f19298b9516c, "mm/vmstat: convert NUMA statistics to
    basic NUMA counters", which made them ``vm_numa_event`` events),
    ``vm_numa_stat`` (VM_NUMA_STAT).  Kernels before 4.8 (75ef71840539,
    "mm, vmstat: add infrastructure for per-node vmstats") had one
    ``vm_stat`` (VM_STAT), indexed by ``enum zone_stat_item``.

    :raises LookupError: none of these counters exists
    """
    tables: list[tuple[str, str, str, str]] = [
        ("VM_ZONE_STAT", "vm_zone_stat", "zone_stat_item", "NR_VM_ZONE_STAT_ITEMS"),
        ("VM_NODE_STAT", "vm_node_stat", "node_stat_item", "NR_VM_NODE_STAT_ITEMS")]
    if "vm_numa_stat" in _names(k):
        tables.append(("VM_NUMA_STAT", "vm_numa_stat", "numa_stat_item",
                       "NR_VM_NUMA_STAT_ITEMS"))
    try:
        k.object("vm_zone_stat")
    except LookupError:
        tables = [("VM_STAT", "vm_stat", "zone_stat_item", "NR_VM_ZONE_STAT_ITEMS")]
    for table, var, enum, count in tables:
        names = enum_item_names(k, enum, count)
        values = _counters(k, int(k.object(var).address), len(names))
        for name, value in zip(names, values):
            yield table, name, value


def all_vm_events(k: Kernel) -> list[tuple[str, int]]:
    """``(item name, count)`` for each ``enum vm_event_item``: the per-CPU
    ``vm_event_states.event[]`` summed over the possible CPUs, as
    ``all_vm_events()`` (mm/vmstat.c) sums them (a CPU that never came up
    keeps zeros).  Values are ``unsigned long``.

    :raises LookupError: CONFIG_VM_EVENT_COUNTERS is off
    """
    names = enum_item_names(k, "vm_event_item", "NR_VM_EVENT_ITEMS")
    base = int(k.object("vm_event_states").event.address)
    sums = [0] * len(names)
    for cpu in for_each_possible_cpu(k):
        raw = k.read(base + _percpu_offset(k, cpu), 8 * len(names))
        for i in range(len(names)):
            sums[i] += int.from_bytes(raw[8 * i:8 * i + 8], "little")
    return [(n, v & 0xFFFFFFFFFFFFFFFF) for n, v in zip(names, sums)]


@dataclass(frozen=True)
class FreeList:
    """One buddy free list: ``zone->free_area[order].free_list[migratetype]``."""

    #: ``struct zone *``
    zone: int
    order: int
    migratetype: int
    #: address of the ``struct list_head``
    head: int
    #: ``struct page *`` of each free block (its first page), in list order
    pages: tuple[int, ...]


def for_each_free_list(zone: View) -> Iterator[FreeList]:
    """Every free list of ``struct zone *``, by order then migrate type,
    each with the pages on it (``list_for_each_entry(page, list,
    buddy_list)``: 6.2 named the member ``buddy_list``, bd2a745ba9c6
    ("mm/page_alloc: split out buddy removal code from rmqueue into separate
    helper"... kept in a union with ``lru``); before, ``lru``).

    :raises drgn.FaultError: a list cannot be read
    """
    k: Kernel = zone._k
    try:
        link = k.offsetof("struct page", "buddy_list")
    except LookupError:
        link = k.offsetof("struct page", "lru")
    areas = zone.free_area
    for order in range(len(areas)):
        lists = areas[order].free_list
        for mt in range(len(lists)):
            head = int(lists[mt].address)
            pages = tuple(a - link for a in list_for_each(head, k=k))
            yield FreeList(zone.address, order, mt, head, pages)


@dataclass(frozen=True)
class FreeBlock:
    """A free buddy block: ``1 << order`` pages from ``pfn`` on one free list."""

    pfn: int
    #: ``struct page *`` of its first page
    page: int
    free_list: FreeList

    @property
    def order(self) -> int:
        return self.free_list.order


def _free_blocks(k: Kernel) -> tuple[list[int], list[FreeBlock]]:
    """Every free block of every zone, sorted by pfn (their first pfns, and
    the blocks), as the free lists hold them now: kept per program on a dump,
    whose memory does not change; read again each time on a live kernel."""
    key = "kmemx.helpers.mmzone.free_blocks"
    live = getattr(k, "is_live", False)
    table: tuple[list[int], list[FreeBlock]] | None = None if live else k.prog.cache.get(key)
    if table is None:
        pa = page_array(k)
        blocks = sorted((FreeBlock((p - pa.vmemmap) // pa.page_size, p, fl)
                         for z in for_each_zone(k) if int(z.spanned_pages)
                         for fl in for_each_free_list(z) for p in fl.pages),
                        key=lambda b: b.pfn)
        table = ([b.pfn for b in blocks], blocks)
        if not live:
            k.prog.cache[key] = table
    return table


def find_free_block(k: Kernel, pfn: int) -> FreeBlock | None:
    """The free buddy block that holds page frame ``pfn`` (``unsigned
    long``), or None: the block on a free list (``zone->free_area[order]
    .free_list[migratetype]``, mm/page_alloc.c) whose ``1 << order`` pages
    from its first pfn include ``pfn``.  A page in no block is allocated,
    on a per-CPU list (``pcp``) or not RAM.

    :raises drgn.FaultError: a free list cannot be read
    """
    pfns, blocks = _free_blocks(k)
    i = bisect.bisect_right(pfns, pfn) - 1
    if i >= 0 and pfn < blocks[i].pfn + (1 << blocks[i].order):
        return blocks[i]
    return None


@dataclass(frozen=True)
class MemSection:
    """A present SPARSEMEM section."""

    nr: int
    #: ``struct mem_section *``
    address: int
    #: ``section_mem_map`` less the flag bits (``section_mem_map_addr()``)
    coded_mem_map: int
    #: ``struct page *`` of the section's first pfn (``sparse_decode_mem_map()``)
    mem_map: int
    #: the flag bits of ``section_mem_map``
    flags: int
    #: the first pfn (``section_nr_to_pfn()``)
    pfn: int


def PAGES_PER_SECTION(k: Kernel) -> int:
    """``PAGES_PER_SECTION``: ``1 << (SECTION_SIZE_BITS - PAGE_SHIFT)`` (drgn
    knows SECTION_SIZE_BITS from VMCOREINFO)."""
    return 1 << (int(k.prog["SECTION_SIZE_BITS"]) - int(k.prog["PAGE_SHIFT"]))


def section_flags(k: Kernel) -> dict[str, int]:
    """The ``section_mem_map`` flag bits, ``{"SECTION_MARKED_PRESENT": 1, ...}``
    and ``SECTION_MAP_MASK``'s complement under ``"_MAP_LAST"``.  Since 5.19
    (ed7802dd48f7, "mm: memory_hotplug: enumerate all supported section
    flags") they are ``enum`` values ``SECTION_*_BIT``; before, fixed bits."""
    names = ("SECTION_MARKED_PRESENT", "SECTION_HAS_MEM_MAP", "SECTION_IS_ONLINE",
             "SECTION_IS_EARLY", "SECTION_TAINT_ZONE_DEVICE")
    flags: dict[str, int] = {}
    try:
        for n in names:
            try:
                flags[n] = 1 << int(k.prog.constant(n + "_BIT").value_())
            except LookupError:
                if n != "SECTION_TAINT_ZONE_DEVICE":  # 5.12+ only
                    raise
        last = int(k.prog.constant("SECTION_MAP_LAST_BIT").value_())
    except LookupError:
        flags = {n: 1 << i for i, n in enumerate(names[:4])}
        last = 4
    flags["_MAP_LAST"] = 1 << last
    return flags


def for_each_present_section(k: Kernel) -> Iterator[MemSection]:
    """Each SPARSEMEM section with ``SECTION_MARKED_PRESENT``, up to
    ``__highest_present_section_nr``, through the ``mem_section`` roots
    (SPARSEMEM_EXTREME: ``struct mem_section **``, ``SECTIONS_PER_ROOT``
    sections per root; else a static two-level array)."""
    flags = section_flags(k)
    present = flags["SECTION_MARKED_PRESENT"]
    mask = ~(flags["_MAP_LAST"] - 1) & 0xFFFFFFFFFFFFFFFF
    pps = PAGES_PER_SECTION(k)
    per_root = int(k.prog["SECTIONS_PER_ROOT"])
    if "__highest_present_section_nr" in _names(k):
        highest = int(k.prog["__highest_present_section_nr"])
    else:
        highest = (int(k.prog["max_pfn"]) - 1) // pps
    size = k.sizeof("struct mem_section")
    ms = k.prog["mem_section"]
    extreme = ms.type_.unaliased_kind().name == "POINTER"
    base = int(ms.value_()) if extreme else int(ms.address_)
    page_size = k.sizeof("struct page")
    for root_nr in range(highest // per_root + 1):
        if extreme:
            root = k.read_u64(base + 8 * root_nr)
            if not root:
                continue
        else:
            root = base + root_nr * per_root * size
        n = min(per_root, highest + 1 - root_nr * per_root)
        raw = k.read(root, n * size)
        for i in range(n):
            word = int.from_bytes(raw[i * size:i * size + 8], "little")
            if not word & present:
                continue
            nr = root_nr * per_root + i
            coded = word & mask
            pfn = nr * pps
            yield MemSection(nr, root + i * size, coded,
                             (coded + pfn * page_size) & 0xFFFFFFFFFFFFFFFF,
                             word & (flags["_MAP_LAST"] - 1), pfn)


@dataclass(frozen=True)
class MemoryBlock:
    """A memory block device (``struct memory_block``)."""

    address: int
    name: str
    start_section_nr: int
    #: physical address range, inclusive
    start: int
    end: int
    nid: int | None
    #: the state's name less ``MEM_``: ``ONLINE``, ``OFFLINE``, ``GOING_OFFLINE``...
    state: str


#: include/linux/memory.h's MEM_* bits, before they became enum memory_block_state
_MEM_STATE_BITS = {1: "ONLINE", 2: "GOING_OFFLINE", 4: "OFFLINE", 8: "GOING_ONLINE",
                   16: "CANCEL_ONLINE", 32: "CANCEL_OFFLINE"}


def _memory_block_states(k: Kernel) -> dict[int, str]:
    """``memory_block.state`` value -> name.  Newer kernels (Debian's 6.12
    has it) declare the states as ``enum memory_block_state`` with
    ``MEM_ONLINE = 0``; before, ``#define MEM_ONLINE (1<<0)`` and so on."""
    try:
        enum = k.prog.type("enum memory_block_state")
    except LookupError:
        return _MEM_STATE_BITS
    return {e.value: e.name.removeprefix("MEM_") for e in enum.enumerators or ()}


def for_each_memory_block(k: Kernel) -> Iterator[MemoryBlock]:
    """Every ``struct memory_block``, by block id, from the ``memory_blocks``
    xarray (5.8, 4fb6eabf1037, "drivers/base/memory.c: cache memory blocks in
    xarray to accelerate lookup").  The size is ``memory_block_size_probed``
    where the architecture probed one, else one section.

    :raises LookupError: no ``memory_blocks`` (older kernel, !MEMORY_HOTPLUG)
    """
    xa = k.object("memory_blocks")
    sec_bytes = PAGES_PER_SECTION(k) << int(k.prog["PAGE_SHIFT"])
    size = 0
    if "memory_block_size_probed" in _names(k):
        size = int(k.prog["memory_block_size_probed"])
    size = size or sec_bytes
    states = _memory_block_states(k)
    for _index, entry in xa_for_each(xa, k=k):
        mb = k.view("struct memory_block", entry)
        start_sec = int(mb.start_section_nr)
        start = start_sec * sec_bytes
        try:
            nid: int | None = int(mb.nid)
        except AttributeError:
            nid = None
        name = mb.dev.kobj.name.string().decode(errors="replace")
        yield MemoryBlock(entry, name, start_sec, start, start + size - 1, nid,
                          states.get(int(mb.state), "UNKNOWN"))


def for_each_hstate(k: Kernel) -> Iterator[View]:
    """``for_each_hstate()``: ``hstates[0 .. hugetlb_max_hstate)``.

    :raises LookupError: !CONFIG_HUGETLB_PAGE
    """
    hs = k.object("hstates")
    n = int(k.object("hugetlb_max_hstate")) if "hugetlb_max_hstate" in _names(k) else len(hs)
    for i in range(n):
        yield hs[i]


def pageflag_names(k: Kernel) -> list[tuple[int, str]]:
    """``(mask, name)`` of each entry of the kernel's ``pageflag_names[]``
    (mm/debug.c, what ``%pGp`` prints), up to its ``{0, NULL}`` end.  Cached.

    :raises LookupError: no ``pageflag_names`` (before 4.6)
    """
    names: list[tuple[int, str]] | None = k.prog.cache.get("kmemx.helpers.mmzone.pageflags")
    if names is None:
        arr = k.object("pageflag_names")
        names = []
        for i in range(len(arr)):
            e = arr[i]
            name = int(e.name.value()) if hasattr(e.name, "value") else 0
            mask = int(e.mask)
            if not name:
                break
            names.append((mask, e.name.string().decode(errors="replace")))
        k.prog.cache["kmemx.helpers.mmzone.pageflags"] = names
    return names


def for_each_section_pages(k: Kernel, members: dict[str, tuple[int, str]],
                           sections: list[MemSection] | None = None,
                           unreadable: list[tuple[int, int]] | None = None
                           ) -> Iterator[tuple[MemSection, np.ndarray[Any, Any]]]:
    """``(section, array)`` for each present section with a mem_map: its
    ``PAGES_PER_SECTION`` ``struct page``s read at once and decoded as a
    numpy structured array with the ``members`` asked for (``{name: (offset,
    numpy format)}``), as :func:`kmemx.helpers.pages.page_chunks` does.  A
    section whose struct pages cannot be read is appended to ``unreadable``
    as a pfn range."""
    import numpy as np

    page_size = k.sizeof("struct page")
    names = list(members)
    dt = np.dtype({"names": names, "formats": [members[n][1] for n in names],
                   "offsets": [members[n][0] for n in names], "itemsize": page_size})
    pps = PAGES_PER_SECTION(k)
    has_map = section_flags(k)["SECTION_HAS_MEM_MAP"]
    for sec in (sections if sections is not None else for_each_present_section(k)):
        if not sec.flags & has_map:
            continue
        try:
            raw = k.read(sec.mem_map, pps * page_size)
        except FaultError:
            if unreadable is not None:
                unreadable.append((sec.pfn, sec.pfn + pps))
            continue
        yield sec, np.frombuffer(raw, dtype=dt, count=pps)
