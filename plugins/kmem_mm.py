"""crash's ``kmem`` memory options: ``-v -V -z -p -n -h -f -F``, as typed rows.

The ``kmem`` command itself is in :mod:`.slabs`; this module yields the rows
of each option from :mod:`kmemx.helpers.mmzone` and
:mod:`kmemx.helpers.vmalloc`.  Columns and units are crash 8.0.6's; where a
crash line holds two values (``MIN/LOW/HIGH``, a page's flags and their
names) the row has typed cells the text renders as crash does.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator
from typing import Any

import drgn

from kmemx.commands import Address, CommandError, Context, Name, Row, kernel_str, parse_hex
from kmemx.commands.cells import crash_size_text
from kmemx.helpers import mmzone
from kmemx.helpers.vmalloc import for_each_vmap_area
from kmemx.kernel import Kernel

__all__ = [
    "KMEM_F_ADDR_COLUMNS",
    "KMEM_F_AREA_COLUMNS",
    "KMEM_F_PAGE_COLUMNS",
    "KMEM_F_ZONE_COLUMNS",
    "KMEM_G_COLUMNS",
    "KMEM_H_COLUMNS",
    "KMEM_N_BLOCK_COLUMNS",
    "KMEM_N_NODE_COLUMNS",
    "KMEM_N_SECTION_COLUMNS",
    "KMEM_N_ZONE_COLUMNS",
    "KMEM_O_COLUMNS",
    "KMEM_P_COLUMNS",
    "KMEM_S_CPU_COLUMNS",
    "KMEM_S_NODE_COLUMNS",
    "KMEM_S_OBJECT_COLUMNS",
    "KMEM_S_SLAB_COLUMNS",
    "KMEM_VM_STAT_COLUMNS",
    "KMEM_V_COLUMNS",
    "KMEM_Z_STAT_COLUMNS",
    "KMEM_Z_ZONE_COLUMNS",
    "AddressRange",
    "HugeSize",
    "OrderSize",
    "PageFlags",
    "kmem_S",
    "kmem_drgn",
    "kmem_f",
    "kmem_f_addresses",
    "kmem_f_zone_rows",
    "kmem_free_block_text",
    "kmem_g",
    "kmem_h",
    "kmem_m",
    "kmem_n",
    "kmem_o",
    "kmem_p",
    "kmem_v",
    "kmem_vm_stat",
    "kmem_z",
    "phys_to_kernel",
    "phys_to_vmalloc",
]


class AddressRange(tuple[int, int]):
    """``start - end`` as crash prints a range; JSON: ``["0x..", "0x.."]``."""

    def __new__(cls, start: int, end: int) -> AddressRange:
        return super().__new__(cls, (Address(start), Address(end)))

    def __str__(self) -> str:
        return f"{int(self[0]):x} - {int(self[1]):x}"


class HugeSize(int):
    """A huge page size as crash's ``kmem -h`` prints it (``2MB``, ``1GB``);
    JSON: bytes."""

    __slots__ = ()

    def __str__(self) -> str:
        return crash_size_text(int(self)).replace(" ", "")


class OrderSize(int):
    """A free-area block size as crash's ``kmem -f`` prints it (``4k``,
    ``4096k``); JSON: bytes."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"{int(self) >> 10}k"


class HexValue(int):
    """A number crash prints in hex without ``0x`` (a page's index); JSON: int."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"{int(self):x}"


class PageFlags(Address):
    """``page->flags``: hex, then the names of the set ``pageflag_names[]``
    bits (``fffffc0010200 slab,head``), as crash's ``kmem -p``; JSON: the
    value, ``"0x..."`` (left-aligned like an address)."""

    names: str

    def __new__(cls, value: int, names: str) -> PageFlags:
        obj = super().__new__(cls, value)
        obj.names = names
        return obj

    def __str__(self) -> str:
        return f"{int(self):x} {self.names}" if self.names else f"{int(self):x}"


# ---------------------------------------------------------------- -v

KMEM_V_COLUMNS = ("VMAP_AREA", "VM_STRUCT", "ADDRESS RANGE", "SIZE")


def kmem_v(ctx: Context, addrs: list[int]) -> Iterator[Row]:
    """crash's ``kmem -v``: every busy ``vmap_area`` with a ``vm_struct``
    (``vm_map_ram()`` areas have none and are left out, as crash does), in
    address order; with addresses, the areas that contain them."""
    k = ctx.k
    areas = sorted(((int(va.va_start), int(va.va_end), va.address, int(va.vm.value()))
                    for va in for_each_vmap_area(k)), key=lambda a: a[0])
    for start, end, va, vm in areas:
        if not vm:
            continue
        if addrs and not any(start <= a < end for a in addrs):
            continue
        yield Row(KMEM_V_COLUMNS, (Address(va), Address(vm), AddressRange(start, end),
                                   end - start), k.view("struct vmap_area", va))


# ---------------------------------------------------------------- -V

KMEM_VM_STAT_COLUMNS = ("TABLE", "ITEM", "VALUE")


def kmem_vm_stat(ctx: Context) -> Iterator[Row]:
    """crash's ``kmem -V``: the global ``vm_zone_stat``, ``vm_node_stat``
    (``vm_numa_stat`` before 5.14) and the summed ``vm_event_states``."""
    k = ctx.k
    for table, item, value in mmzone.global_vm_stat(k):
        yield Row(KMEM_VM_STAT_COLUMNS, (table, Name(item), value))
    try:
        events = mmzone.all_vm_events(k)
    except LookupError:
        return
    for item, value in events:
        yield Row(KMEM_VM_STAT_COLUMNS, ("VM_EVENT_STATES", Name(item), value))


# ---------------------------------------------------------------- -z

KMEM_Z_ZONE_COLUMNS = ("NODE", "ZONE", "ADDR", "NAME", "SIZE", "PRESENT", "MIN", "LOW", "HIGH")
KMEM_Z_STAT_COLUMNS = ("NODE", "ZONE", "ITEM", "VALUE")


def _zones(k: Kernel) -> Iterator[tuple[int, int, Any]]:
    """(node id, zone index, zone view) of every zone of the online nodes."""
    for pgdat in mmzone.for_each_online_pgdat(k):
        zones = pgdat.node_zones
        for i in range(len(zones)):
            yield int(pgdat.node_id), i, zones[i]


def _watermarks(zone: Any) -> tuple[int, int, int]:
    """``min_wmark_pages()``, ``low_...``, ``high_...`` without the boost, as
    crash reads them: ``zone->_watermark[WMARK_*]`` (5.0, 1c30844d2dfe, "mm:
    reclaim small amounts of memory when an external fragmentation event
    occurs", renamed ``watermark``)."""
    try:
        wm = zone._watermark
    except AttributeError:
        wm = zone.watermark
    return int(wm[0]), int(wm[1]), int(wm[2])


def kmem_z(ctx: Context) -> Iterator[Row]:
    """crash's ``kmem -z``: each zone (SIZE is ``spanned_pages``, PRESENT
    ``present_pages``, MIN/LOW/HIGH the watermarks), then its ``vm_stat``
    counters; an unpopulated zone (no pages spanned) has no counters."""
    k = ctx.k
    for nid, i, z in _zones(k):
        size = int(z.spanned_pages)
        lo = _watermarks(z)
        yield Row(KMEM_Z_ZONE_COLUMNS, (nid, i, Address(z.address),
                                        Name(kernel_str(z.name.string())), size,
                                        int(z.present_pages), *lo), z)
        if size:
            for item, value in mmzone.zone_vm_stat(z):
                yield Row(KMEM_Z_STAT_COLUMNS, (nid, i, Name(item), value))


# ---------------------------------------------------------------- -h

KMEM_H_COLUMNS = ("HSTATE", "SIZE", "FREE", "TOTAL", "NAME")


def kmem_h(ctx: Context) -> Iterator[Row]:
    """crash's ``kmem -h``: each ``hstate`` in use (order > 0): its huge page
    size, ``free_huge_pages``, ``nr_huge_pages`` and name."""
    try:
        hstates = list(mmzone.for_each_hstate(ctx.k))
    except LookupError:
        raise CommandError("kmem -h: this kernel has no hstates (CONFIG_HUGETLB_PAGE off)")\
            from None
    for h in hstates:
        order = int(h.order)
        if not order:
            continue
        yield Row(KMEM_H_COLUMNS, (Address(h.address), HugeSize(4096 << order),
                                   int(h.free_huge_pages), int(h.nr_huge_pages),
                                   Name(kernel_str(h.name.string()))), h)


# ---------------------------------------------------------------- -n

KMEM_N_NODE_COLUMNS = ("NODE", "SIZE", "PGLIST_DATA", "BOOTMEM_DATA", "NODE_ZONES", "MEM_MAP",
                       "START_PADDR", "START_MAPNR")
KMEM_N_ZONE_COLUMNS = ("NODE", "ZONE", "NAME", "SIZE", "MEM_MAP", "START_PADDR", "START_MAPNR")
KMEM_N_SECTION_COLUMNS = ("NR", "SECTION", "CODED_MEM_MAP", "MEM_MAP", "STATE", "PFN")
KMEM_N_BLOCK_COLUMNS = ("MEM_BLOCK", "NAME", "PHYSICAL RANGE", "NODE", "STATE",
                        "START_SECTION_NO")
_SECTION_STATE = (("SECTION_MARKED_PRESENT", "P"), ("SECTION_HAS_MEM_MAP", "M"),
                  ("SECTION_IS_ONLINE", "O"), ("SECTION_IS_EARLY", "E"),
                  ("SECTION_TAINT_ZONE_DEVICE", "D"))


def _page_of_pfn(k: Kernel, pfn: int) -> int:
    """``pfn_to_page()`` on the vmemmap."""
    from kmemx.helpers.pages import page_array

    pa = page_array(k)
    return (pa.vmemmap + pfn * pa.page_size) & 0xFFFFFFFFFFFFFFFF


def kmem_n(ctx: Context) -> Iterator[Row]:
    """crash's ``kmem -n``: the online nodes (SIZE: ``node_spanned_pages``;
    MEM_MAP: the struct page of ``node_start_pfn``), their zones (START_MAPNR
    is the zone's first pfn, MEM_MAP its struct page, 0 for an empty zone),
    the present memory sections (STATE: P present, M has mem_map, O online,
    E early, D zone device) and the memory block devices."""
    k = ctx.k
    pgdats = list(mmzone.for_each_online_pgdat(k))
    for pgdat in pgdats:
        start = int(pgdat.node_start_pfn)
        yield Row(KMEM_N_NODE_COLUMNS, (
            int(pgdat.node_id), int(pgdat.node_spanned_pages), Address(pgdat.address), None,
            Address(pgdat.node_zones.address), Address(_page_of_pfn(k, start)),
            Address(start << 12), start), pgdat)
    for pgdat in pgdats:
        zones = pgdat.node_zones
        for i in range(len(zones)):
            z = zones[i]
            size = int(z.spanned_pages)
            pfn = int(z.zone_start_pfn)
            yield Row(KMEM_N_ZONE_COLUMNS, (
                int(pgdat.node_id), i, Name(kernel_str(z.name.string())), size,
                Address(_page_of_pfn(k, pfn) if size else 0), Address(pfn << 12),
                pfn if size else 0), z)
    flags = mmzone.section_flags(k)
    for sec in mmzone.for_each_present_section(k):
        state = "".join(c for name, c in _SECTION_STATE if sec.flags & flags.get(name, 0))
        yield Row(KMEM_N_SECTION_COLUMNS, (sec.nr, Address(sec.address),
                                           Address(sec.coded_mem_map), Address(sec.mem_map),
                                           state, sec.pfn))
    try:
        blocks = list(mmzone.for_each_memory_block(k))
    except LookupError:
        return
    for b in blocks:
        yield Row(KMEM_N_BLOCK_COLUMNS, (Address(b.address), Name(b.name),
                                         AddressRange(b.start, b.end), b.nid,
                                         b.state,
                                         b.start_section_nr))


# ---------------------------------------------------------------- -f / -F

KMEM_F_ZONE_COLUMNS = ("NODE", "ZONE", "NAME", "SIZE", "FREE", "MEM_MAP", "START_PADDR",
                       "START_MAPNR")
KMEM_F_AREA_COLUMNS = ("AREA", "SIZE", "FREE_AREA_STRUCT", "BLOCKS", "PAGES")
KMEM_F_PAGE_COLUMNS = ("AREA", "SIZE", "FREE_AREA_STRUCT", "PAGE")


def kmem_f(ctx: Context, pages: bool) -> Iterator[Row]:
    """crash's ``kmem -f`` (``-F``: ``pages``): per zone, its header (SIZE
    spanned, FREE ``NR_FREE_PAGES``, START_MAPNR the zone's first pfn less
    the node's), then each free list ``free_area[order].free_list[type]``:
    its address, BLOCKS on it and PAGES (blocks << order); with ``-F``, one
    row per block instead (its first struct page).  Empty zones have no
    lists.  A free list that cannot be read is reported and skipped."""
    k = ctx.k
    for pgdat in mmzone.for_each_online_pgdat(k):
        zones = pgdat.node_zones
        for i in range(len(zones)):
            z = zones[i]
            size = int(z.spanned_pages)
            yield from kmem_f_zone_rows(k, pgdat, i, z)
            if not size:
                continue
            try:
                lists = list(mmzone.for_each_free_list(z))
            except drgn.FaultError as e:
                ctx.warn(f"zone {z.address:#x}: cannot read free list at {e.address:#x}")
                continue
            for fl in lists:
                bsize = OrderSize(4096 << fl.order)
                if pages:
                    for p in fl.pages:
                        yield Row(KMEM_F_PAGE_COLUMNS, (fl.order, bsize, Address(fl.head),
                                                        Address(p)))
                else:
                    yield Row(KMEM_F_AREA_COLUMNS, (fl.order, bsize, Address(fl.head),
                                                    len(fl.pages), len(fl.pages) << fl.order))


KMEM_F_ADDR_COLUMNS = ("AREA", "SIZE", "FREE_AREA_STRUCT", "PAGE", "ADDRESS", "NTH", "PAGES")


def _zone_of(k: Kernel, zone: int) -> tuple[Any, int, Any]:
    """``(pgdat, index in pgdat->node_zones, zone view)`` of ``struct zone *``."""
    z = k.view("struct zone", zone)
    pgdat = z.zone_pgdat
    return pgdat, (zone - int(pgdat.node_zones.address)) // k.sizeof("struct zone"), z


def kmem_f_addresses(ctx: Context, addrs: list[int]) -> Iterator[Row]:
    """crash's ``kmem -f ADDR``: for each address (struct page, kernel
    virtual or physical) inside a free buddy block, the zone, then the free
    list holding the block: its first PAGE, the ADDRESS asked about as that
    page's struct page, which page of the block it is (NTH, from 1) of PAGES.
    An address in no free block gives nothing, as in crash."""
    from kmemx.helpers.pages import page_array

    k = ctx.k
    pa = page_array(k)
    by_zone: dict[int, list[tuple[mmzone.FreeBlock, int]]] = {}
    for pfn in _page_targets(ctx, addrs):
        block = mmzone.find_free_block(k, pfn)
        if block is not None:
            by_zone.setdefault(block.free_list.zone, []).append((block, pfn))
    for zone in sorted(by_zone):
        yield from kmem_f_zone_rows(k, *_zone_of(k, zone))
        for block, pfn in by_zone[zone]:
            fl = block.free_list
            yield Row(KMEM_F_ADDR_COLUMNS, (
                fl.order, OrderSize(4096 << fl.order), Address(fl.head), Address(block.page),
                Address((pa.vmemmap + pfn * pa.page_size) & 0xFFFFFFFFFFFFFFFF),
                pfn - block.pfn + 1, 1 << fl.order))


def _ordinal(n: int) -> str:
    """crash's ordinal() (tools.c): the suffix from the last digit alone
    (``1st``, ``2nd``, ``11st``, ``12nd``, as crash prints them)."""
    return f"{n}" + {"1": "st", "2": "nd", "3": "rd"}.get(str(n)[-1], "th")


def kmem_free_block_text(ctx: Context, addr: int, physical: int | None = None) -> list[str]:
    """crash's lines for a kernel virtual, ``struct page`` or physical
    address inside a free buddy block, as ``kmem ADDR`` prints them
    (memory.c ``dump_free_pages_zones_v2()`` with ADDRESS_SPECIFIED):
    ``NODE`` and its number (more than one node only), the zone under
    ``kmem -f``'s header, the free list under ``AREA    SIZE
    FREE_AREA_STRUCT``, then the block's first struct page and, for a block
    of more than one page, ``(ADDR is Nth of M pages)``; ``physical``: the
    physical address asked about (``addr`` its direct-map address), named
    instead, ``(123010 is in 4th of 32 pages)`` inside a page.  [] where
    the page is in no free block.  Where two blocks are adjacent crash can
    stop at the one before, as its free-list callback compares ``<=`` the
    block's end: kmemx names the block that holds the page."""
    from kmemx.commands.cells import crash_centre

    k = ctx.k
    pfn = _page_target(ctx, addr)
    block = None if pfn is None else mmzone.find_free_block(k, pfn)
    if block is None or pfn is None:
        return []
    fl = block.free_list
    pgdat, i, z = _zone_of(k, fl.zone)
    zone = next(kmem_f_zone_rows(k, pgdat, i, z)).cells
    nodes = sum(1 for _ in mmzone.for_each_online_node(k))
    lines = ["NODE", f" {zone[0]:2d}"] if nodes > 1 else []
    lines += [
        "ZONE  NAME        SIZE    FREE  " + crash_centre("MEM_MAP", 16, False)
        + "  START_PADDR  START_MAPNR",
        f"{i:3d}   {zone[2]!s:<9} {zone[3]:6d}  {zone[4]:6d}  "
        f"{crash_centre(f'{zone[5]:x}', 16, False)}  {crash_centre(f'{zone[6]:x}', 11, True)}"
        f"  {crash_centre(str(zone[7]), 11, True)}",
        "AREA    SIZE  FREE_AREA_STRUCT",
        f"{fl.order:3d}  {OrderSize(4096 << fl.order)!s:>7}  "
        f"{crash_centre(f'{fl.head:x}', 16, False)}  ",
    ]
    nth = _ordinal(pfn - block.pfn + 1)
    shown = (f"{addr:x} is " if physical is None
             else f"{physical:x} is " + ("in " if physical & 0xFFF else ""))
    lines.append(f"{block.page:x}  " + (f"({shown}{nth} of {1 << fl.order} pages)"
                                        if fl.order else ""))
    return lines


def kmem_f_zone_rows(k: Kernel, pgdat: Any, i: int, z: Any) -> Iterator[Row]:
    """The zone row of ``kmem -f``."""
    size = int(z.spanned_pages)
    pfn = int(z.zone_start_pfn)
    free = mmzone.zone_vm_stat(z)[0][1]
    yield Row(KMEM_F_ZONE_COLUMNS, (
        int(pgdat.node_id), i, Name(kernel_str(z.name.string())), size, free,
        Address(_page_of_pfn(k, pfn) if size else 0), Address(pfn << 12 if size else 0),
        pfn - int(pgdat.node_start_pfn) if size else 0), z)


# ---------------------------------------------------------------- -p

KMEM_P_COLUMNS = ("PAGE", "PHYSICAL", "MAPPING", "INDEX", "CNT", "FLAGS")


def _flag_names(names: list[tuple[int, str]], flags: int,
                cache: dict[int, str]) -> str:
    """The comma-separated ``pageflag_names`` of the bits set in ``flags``
    (per distinct low-bits value, cached)."""
    low = flags & 0xFFFFFFFF
    text = cache.get(low)
    if text is None:
        text = cache[low] = ",".join(n for mask, n in names if flags & mask)
    return text


def _page_target(ctx: Context, a: int) -> int | None:
    """The pfn of ``kmem -p ADDR``'s ``a``: a ``struct page *`` in the
    vmemmap, a kernel virtual address (translated; None where it is not
    mapped), or else a physical address."""
    from kmemx.helpers.pages import page_array

    k = ctx.k
    pa = page_array(k)
    if pa.vmemmap <= a < pa.vmemmap + pa.max_pfn * pa.page_size:
        return (a - pa.vmemmap) // pa.page_size
    if not a >> 63:  # below the kernel half (4- and 5-level paging): physical
        return a >> 12
    tr = getattr(k.space, "translator", None)
    phys = tr.translate(a) if tr is not None else None
    if phys is None:
        try:
            from drgn.helpers.linux.mm import follow_phys
            phys = int(follow_phys(k.prog["init_mm"].address_of_(), a))
        except (drgn.FaultError, ValueError):
            return None
    return phys >> 12


def _page_targets(ctx: Context, addrs: Iterable[int]) -> list[int]:
    """pfns of ``kmem -p ADDR...`` (:func:`_page_target`); an address that
    is not mapped is reported and left out."""
    pfns = []
    for a in addrs:
        pfn = _page_target(ctx, a)
        if pfn is None:
            ctx.warn(f"{a:x}: not mapped")
        else:
            pfns.append(pfn)
    return pfns


def _page_arrays(ctx: Context, addrs: list[int], members: dict[str, tuple[int, str]]
                 ) -> Iterator[tuple[mmzone.MemSection, Any, Iterable[int]]]:
    """``(section, decoded struct pages, indices wanted)`` of every present
    section (one numpy decode each), or of the sections holding the pages
    of ``addrs`` (then only their indices); pages not found and unreadable
    sections are reported."""
    k = ctx.k
    want = set(_page_targets(ctx, addrs)) if addrs else None
    pps = mmzone.PAGES_PER_SECTION(k)
    sections = list(mmzone.for_each_present_section(k))
    if want is not None:
        sections = [s for s in sections if any(s.pfn <= p < s.pfn + pps for p in want)]
    unreadable: list[tuple[int, int]] = []
    found: set[int] = set()
    for sec, arr in mmzone.for_each_section_pages(k, members, sections, unreadable):
        if want is None:
            idx: Iterable[int] = range(pps)
        else:
            idx = [p - sec.pfn for p in sorted(want) if sec.pfn <= p < sec.pfn + pps]
            found.update(sec.pfn + i for i in idx)
        yield sec, arr, idx
        ctx.progress("struct pages", sec.pfn + pps, (sections[-1].pfn + pps) if sections else 0)
    for pfn in sorted((want or set()) - found):
        ctx.warn(f"physical address {pfn << 12:x}: no struct page (not in a present section)")
    for a, b in unreadable:
        ctx.warn(f"struct pages of pfns {a:#x}-{b:#x} cannot be read (filtered dump?)")


def phys_to_kernel(ctx: Context, addrs: list[int], for_pages: bool) -> list[int]:
    """``kmem -P``: physical addresses as the kernel addresses the option
    looks up: the ``struct page`` of each (``-p``, ``-m``), or (``-v``) the
    vmalloc address of each page of a busy vmap area that maps it (crash's
    ``dump_vmap_area()`` walks the areas page by page the same way)."""
    from kmemx.helpers.pages import page_array

    k = ctx.k
    if for_pages:
        pa = page_array(k)
        return [(pa.vmemmap + (a >> 12) * pa.page_size) & 0xFFFFFFFFFFFFFFFF for a in addrs]
    tr = getattr(k.space, "translator", None)
    if tr is None:
        raise CommandError("kmem -v -P needs kmemx's own page-table reader")
    want = {a >> 12: a & 0xFFF for a in addrs}
    out = []
    for va in for_each_vmap_area(k):
        if not int(va.vm.value()):
            continue
        for page in range(int(va.va_start), int(va.va_end), 4096):
            phys = tr.translate(page)
            if phys is not None and phys >> 12 in want:
                out.append(page + want[phys >> 12])
    return out


def phys_to_vmalloc(ctx: Context, phys: int) -> list[int]:
    """The vmalloc addresses mapping physical address ``phys`` (crash's
    dump_vmlist() with GET_PHYS_TO_VMALLOC, :func:`phys_to_kernel`'s walk),
    in area order; empty when none maps it, or when the dump is read through
    drgn's reader (no page-table reader of kmemx's to walk the areas with)."""
    if getattr(ctx.k.space, "translator", None) is None:
        return []
    return phys_to_kernel(ctx, [phys], for_pages=False)


def kmem_p(ctx: Context, addrs: list[int]) -> Iterator[Row]:
    """crash's ``kmem -p``: every struct page of every present section with a
    mem_map (one numpy decode per section): PAGE, PHYSICAL, MAPPING, INDEX,
    CNT (``_refcount``) and FLAGS (value and ``pageflag_names``); with
    addresses, only their pages."""
    k = ctx.k
    try:  # 4.6 renamed page->_count to _refcount (0139aa7b7fa1)
        ref = k.offsetof("struct page", "_refcount")
    except LookupError:
        ref = k.offsetof("struct page", "_count")
    try:
        index = k.offsetof("struct page", "index")
    except LookupError:  # 6.16, "mm: rename page->index to page->__folio_index"
        index = k.offsetof("struct page", "__folio_index")
    members = {"flags": (0, "<u8"), "mapping": (k.offsetof("struct page", "mapping"), "<u8"),
               "index": (index, "<u8"), "count": (ref, "<i4")}
    try:
        names = mmzone.pageflag_names(k)
    except LookupError:
        names = []
    cache: dict[int, str] = {}
    psize = k.sizeof("struct page")
    for sec, arr, idx in _page_arrays(ctx, addrs, members):
        flags = arr["flags"].tolist()
        mapping = arr["mapping"].tolist()
        index_ = arr["index"].tolist()
        count = arr["count"].tolist()
        for i in idx:
            f = flags[i]
            yield Row(KMEM_P_COLUMNS, (
                Address(sec.mem_map + i * psize), Address((sec.pfn + i) << 12),
                Address(mapping[i]), HexValue(index_[i]), count[i],
                PageFlags(f, _flag_names(names, f, cache))))


def _page_member_leaves(k: Kernel, path: str) -> list[tuple[str, int, str, str]]:
    """``(column, offset, numpy format, kind)`` of each scalar a ``struct
    page`` member path holds (a struct member expands to its scalar members,
    as crash's ``-m lru`` prints ``lru.next`` and ``lru.prev``); kind is
    ``ptr``, ``hex`` (``flags``) or ``int``.

    :raises CommandError: no such member, or a bit field / array member
    """
    t = k.prog.type("struct page")
    try:
        for name in path.split("."):
            t = t.unaliased().member(name).type
        off = k.offsetof("struct page", path)
    except (LookupError, ValueError):
        raise CommandError(f"kmem -m: struct page has no member {path!r}") from None
    u = t.unaliased()
    if u.kind.name in ("STRUCT", "UNION"):
        out = []
        for m in u.members or ():
            if m.name is None:
                continue
            out += _page_member_leaves(k, f"{path}.{m.name}")
        return out
    if u.kind.name == "POINTER":
        return [(path, off, "<u8", "ptr")]
    if u.kind.name in ("INT", "BOOL", "ENUM") and u.size in (1, 2, 4, 8):
        signed = u.kind.name == "INT" and u.is_signed
        fmt = ("<i" if signed else "<u") + str(u.size)
        # flags in hex, crash's way; 7.x wraps it in memdesc_flags_t { f; }
        return [(path, off, fmt, "hex" if path.split(".")[0] == "flags" else "int")]
    raise CommandError(f"kmem -m: member {path!r} is not a pointer or integer")


def kmem_m(ctx: Context, spec: str, addrs: list[int]) -> Iterator[Row]:
    """crash's ``kmem -m member[,member...]``: PAGE and the members' values
    of every struct page (or of the pages of ``addrs``): pointers and
    ``flags`` as addresses, integers in decimal (crash's radix 10)."""
    k = ctx.k
    leaves: list[tuple[str, int, str, str]] = []
    for path in filter(None, (p.strip() for p in spec.split(","))):
        leaves += _page_member_leaves(k, path)
    if not leaves:
        raise CommandError("kmem -m: give struct page members: -m flags,_refcount")
    columns = ("PAGE", *(c for c, _o, _f, _k in leaves))
    members = {f"m{i}": (off, fmt) for i, (_c, off, fmt, _k) in enumerate(leaves)}
    psize = k.sizeof("struct page")
    for sec, arr, idx in _page_arrays(ctx, addrs, members):
        cols = [(arr[f"m{i}"].tolist(), kind) for i, (_c, _o, _f, kind) in enumerate(leaves)]
        for i in idx:
            yield Row(columns, (Address(sec.mem_map + i * psize),
                                *(Address(v[i]) if kind != "int" else v[i] for v, kind in cols)))


# ---------------------------------------------------------------- -S

KMEM_S_CPU_COLUMNS = ("CPU", "KMEM_CACHE_CPU")
KMEM_S_SLAB_COLUMNS = ("LIST", "SLAB", "MEMORY", "NODE", "TOTAL", "ALLOCATED", "FREE")
KMEM_S_OBJECT_COLUMNS = ("SLAB", "OBJECT", "ALLOCATED", "CPU_CACHE")
KMEM_S_NODE_COLUMNS = ("KMEM_CACHE_NODE", "NODE", "SLABS", "PARTIAL", "PER-CPU")


def kmem_S(ctx: Context, cache: Any, cpus: Container[int] | None = None) -> Iterator[Row]:
    """crash's ``kmem -S`` after a cache's summary row: per CPU its
    ``kmem_cache_cpu``, active slab and per-CPU partial slabs with each
    object (ALLOCATED, and CPU_CACHE: the CPU whose active slab or sheaf
    holds the free object, as crash's ``(cpu N cache)``), then per node its
    ``kmem_cache_node`` counts and partial slabs.  LIST is crash's heading
    (``CPU 0 SLAB``, ``CPU 0 PARTIAL``, ``NODE 0 PARTIAL``, ``NODE 0 FULL``).
    ``cpus`` (crash's ``-S=CPUS``): the per-CPU part of these CPUs only."""
    from kmemx.helpers.slub import SlubCpu, SlubNode, slub_cache_lists

    kinds = {"cpu": "CPU {} SLAB", "cpu partial": "CPU {} PARTIAL",
             "node partial": "NODE {} PARTIAL", "node full": "NODE {} FULL"}
    for item in slub_cache_lists(cache):
        if cpus is not None and (item.cpu not in cpus if isinstance(item, SlubCpu) else
                                 not isinstance(item, SlubNode)
                                 and item.list.startswith("cpu") and item.owner not in cpus):
            continue
        if isinstance(item, SlubCpu):
            yield Row(KMEM_S_CPU_COLUMNS, (item.cpu, Address(item.address)))
        elif isinstance(item, SlubNode):
            yield Row(KMEM_S_NODE_COLUMNS, (Address(item.address), item.node, item.nr_slabs,
                                            item.nr_partial, item.cpu_slabs))
        else:
            yield Row(KMEM_S_SLAB_COLUMNS, (kinds[item.list].format(item.owner),
                                            Address(item.slab), Address(item.memory),
                                            item.nid, item.total, item.allocated, item.free))
            for addr, free, cpu in item.objects:
                yield Row(KMEM_S_OBJECT_COLUMNS, (Address(item.slab), Address(addr), not free,
                                                  cpu))


# ---------------------------------------------------------------- --drgn

_ENUM_NAMES_CODE = '''\
# an enum's names by value, the last name of a value winning as in crash
# (NR_ZONE_INACTIVE_ANON = NR_ZONE_LRU_BASE)
def enum_names(enum, count):
    n = prog.constant(count).value_()
    names = {}
    for e in prog.type("enum " + enum).enumerators:
        if 0 <= e.value < n:
            names[e.value] = e.name
    return [names.get(i, f"[{i}]") for i in range(n)]


'''

_ZONES_CODE = '''\
def zones():
    for pgdat in for_each_online_pgdat(prog):
        for i in range(len(pgdat.node_zones)):
            yield pgdat, i, pgdat.node_zones[i]


'''


def kmem_drgn(ctx: Context, args: Any) -> str | None:
    """``kmem -v/-V/-z/-h/-n/-f/-F --drgn``: drgn code computing the rows
    (drgn's vmalloc, mmzone, hugetlb and memory-block helpers), or None for
    an option without one."""
    from kmemx.commands.drgncode import table_script

    if args.vmalloc and not args.addresses:
        return table_script(ctx, KMEM_V_COLUMNS, """\
# busy vmap areas with a vm_struct (vm_map_ram areas have none), by address
for va in sorted(for_each_vmap_area(prog), key=lambda va: va.va_start.value_()):
    if va.vm:
        start, end = va.va_start.value_(), va.va_end.value_()
        row(hex(va.value_()), hex(va.vm.value_()), f"{hex(start)} {hex(end)}", end - start)
""", ["drgn.helpers.linux.mm:for_each_vmap_area"])
    if args.vm_stat:
        return table_script(ctx, KMEM_VM_STAT_COLUMNS, _ENUM_NAMES_CODE + """\
tables = [("VM_ZONE_STAT", "vm_zone_stat", "zone_stat_item", "NR_VM_ZONE_STAT_ITEMS"),
          ("VM_NODE_STAT", "vm_node_stat", "node_stat_item", "NR_VM_NODE_STAT_ITEMS")]
try:  # until 5.14 (f19298b9516c): the NUMA counters, since then vm_numa_event
    prog["vm_numa_stat"]
    tables.append(("VM_NUMA_STAT", "vm_numa_stat", "numa_stat_item", "NR_VM_NUMA_STAT_ITEMS"))
except KeyError:
    pass
for table, var, enum, count in tables:
    for i, name in enumerate(enum_names(enum, count)):
        row(table, name, prog[var][i].counter.value_())
# the per-CPU event counters, summed over the possible CPUs
events = prog["vm_event_states"]
for i, name in enumerate(enum_names("vm_event_item", "NR_VM_EVENT_ITEMS")):
    row("VM_EVENT_STATES", name, sum(per_cpu(events, cpu).event[i].value_()
                                     for cpu in for_each_possible_cpu(prog)))
""", ["drgn.helpers.linux.percpu:per_cpu",
      "drgn.helpers.linux.cpumask:for_each_possible_cpu"])
    if args.zones:
        return table_script(ctx, (), _ENUM_NAMES_CODE + _ZONES_CODE + """\
names = enum_names("zone_stat_item", "NR_VM_ZONE_STAT_ITEMS")
for pgdat, i, zone in zones():
    nid = pgdat.node_id.value_()
    size = zone.spanned_pages.value_()
    table("NODE", "ZONE", "ADDR", "NAME", "SIZE", "PRESENT", "MIN", "LOW", "HIGH")
    row(nid, i, hex(zone.address_), zone.name.string_().decode(), size,
        zone.present_pages.value_(), min_wmark_pages(zone), low_wmark_pages(zone),
        high_wmark_pages(zone))
    if size:
        table("NODE", "ZONE", "ITEM", "VALUE")
        for j, name in enumerate(names):
            row(nid, i, name, zone.vm_stat[j].counter.value_())
""", ["drgn.helpers.linux.mmzone:for_each_online_pgdat,min_wmark_pages,low_wmark_pages,"
      "high_wmark_pages"])
    if args.offsets:
        return table_script(ctx, KMEM_O_COLUMNS, """\
for cpu in for_each_possible_cpu(prog):
    row(cpu, hex(prog["__per_cpu_offset"][cpu].value_()))
""", ["drgn.helpers.linux.cpumask:for_each_possible_cpu"])
    if args.pageflags:
        flags = parse_hex(args.addresses[0]) if args.addresses else None
        test = "" if flags is None else f" and {flags:#x} >> e.value & 1"
        return table_script(ctx, KMEM_G_COLUMNS, f"""\
for e in prog.type("enum pageflags").enumerators:
    if "PG_" in e.name{test}:
        row(e.name, e.value, 1 << e.value)
""")
    if args.hstates:
        return table_script(ctx, KMEM_H_COLUMNS, """\
for h in for_each_hstate(prog):
    if h.order:
        row(hex(h.value_()), huge_page_size(h).value_(), h.free_huge_pages.value_(),
            h.nr_huge_pages.value_(), h.name.string_().decode())
""", ["drgn.helpers.linux.hugetlb:for_each_hstate,huge_page_size"])
    if (args.free or args.free_pages) and not args.addresses:
        per_list = ("""\
            for page in pages:
                row(order, 4096 << order, hex(head.address_), hex(page.value_()))
""" if args.free_pages else """\
            row(order, 4096 << order, hex(head.address_), len(pages), len(pages) << order)
""")
        cols = KMEM_F_PAGE_COLUMNS if args.free_pages else KMEM_F_AREA_COLUMNS
        return table_script(ctx, (), _ZONES_CODE + f"""\
# struct page's buddy list link: buddy_list since 6.2, lru before
try:
    link = "buddy_list"
    prog.type("struct page").member(link)
except LookupError:
    link = "lru"
for pgdat, i, zone in zones():
    size = zone.spanned_pages.value_()
    pfn = zone.zone_start_pfn.value_()
    table(*{KMEM_F_ZONE_COLUMNS!r})
    row(pgdat.node_id.value_(), i, zone.name.string_().decode(), size,
        zone.vm_stat[prog["NR_FREE_PAGES"]].counter.value_(),
        hex(pfn_to_page(prog, pfn).value_() if size else 0), hex(pfn << 12 if size else 0),
        pfn - pgdat.node_start_pfn.value_() if size else 0)
    if not size:
        continue
    table(*{cols!r})
    for order in range(len(zone.free_area)):
        for mt in range(len(zone.free_area[order].free_list)):
            head = zone.free_area[order].free_list[mt]
            pages = list(list_for_each_entry("struct page", head.address_of_(), link))
{per_list}""", ["drgn.helpers.linux.list:list_for_each_entry",
                "drgn.helpers.linux.mm:pfn_to_page",
                "drgn.helpers.linux.mmzone:for_each_online_pgdat"])
    if args.nodes:
        return table_script(ctx, (), _ZONES_CODE + """\
pgdats = list(for_each_online_pgdat(prog))
table("NODE", "SIZE", "PGLIST_DATA", "BOOTMEM_DATA", "NODE_ZONES", "MEM_MAP", "START_PADDR",
      "START_MAPNR")
for pgdat in pgdats:
    start = pgdat.node_start_pfn.value_()
    row(pgdat.node_id.value_(), pgdat.node_spanned_pages.value_(), hex(pgdat.value_()), None,
        hex(pgdat.node_zones.address_), hex(pfn_to_page(prog, start).value_()),
        hex(start << 12), start)
table("NODE", "ZONE", "NAME", "SIZE", "MEM_MAP", "START_PADDR", "START_MAPNR")
for pgdat, i, zone in zones():
    size = zone.spanned_pages.value_()
    pfn = zone.zone_start_pfn.value_()
    row(pgdat.node_id.value_(), i, zone.name.string_().decode(), size,
        hex(pfn_to_page(prog, pfn).value_() if size else 0), hex(pfn << 12),
        pfn if size else 0)
table("NR", "SECTION", "CODED_MEM_MAP", "MEM_MAP", "STATE", "PFN")
letters = {"SECTION_MARKED_PRESENT": "P", "SECTION_HAS_MEM_MAP": "M",
           "SECTION_IS_ONLINE": "O", "SECTION_IS_EARLY": "E", "SECTION_TAINT_ZONE_DEVICE": "D"}
for nr, sec in for_each_present_section(prog):
    state = "".join(letters[f] for f in decode_section_flags(sec).split("|") if f in letters)
    pfn = section_nr_to_pfn(prog, nr).value_()
    row(nr, hex(sec.value_()), hex(section_mem_map_addr(sec).value_()),
        hex(section_decode_mem_map(sec, nr).value_()), state, pfn)
table("MEM_BLOCK", "NAME", "PHYSICAL RANGE", "NODE", "STATE", "START_SECTION_NO")
size = memory_block_size_bytes(prog)
for mb in for_each_memory_block(prog):
    start = section_nr_to_pfn(prog, mb.start_section_nr.value_()).value_() << 12
    row(hex(mb.value_()), mb.dev.kobj.name.string_().decode(),
        f"{hex(start)} {hex(start + size - 1)}", mb.nid.value_(),
        decode_memory_block_state(mb).removeprefix("MEM_"), mb.start_section_nr.value_())
""", ["drgn.helpers.linux.mm:pfn_to_page,for_each_memory_block,decode_memory_block_state,"
      "memory_block_size_bytes",
      "drgn.helpers.linux.mmzone:for_each_online_pgdat,for_each_present_section,"
      "decode_section_flags,section_mem_map_addr,section_decode_mem_map,section_nr_to_pfn"])
    return None


# ---------------------------------------------------------------- -o, -g

KMEM_O_COLUMNS = ("CPU", "OFFSET")
KMEM_G_COLUMNS = ("PAGE-FLAG", "BIT", "VALUE")


def kmem_o(ctx: Context) -> Iterator[Row]:
    """crash's ``kmem -o``: ``__per_cpu_offset[cpu]`` of each possible CPU."""
    from kmemx.helpers.cpumask import for_each_possible_cpu
    from kmemx.types.view import _percpu_offset

    for cpu in for_each_possible_cpu(ctx.k):
        yield Row(KMEM_O_COLUMNS, (cpu, Address(_percpu_offset(ctx.k, cpu))))


def kmem_g(ctx: Context, flags: int | None) -> Iterator[Row]:
    """crash's ``kmem -g [FLAGS]``: every ``enum pageflags`` name starting
    ``PG_`` (aliases such as ``PG_checked = PG_owner_priv_1`` too) with its
    bit and mask, in the enum's order; with FLAGS, those set in it."""
    try:
        enum = ctx.k.prog.type("enum pageflags")
    except LookupError:
        raise CommandError("kmem -g: enum pageflags does not exist in this kernel") from None
    for e in enum.enumerators or ():
        if "PG_" in e.name and (flags is None or flags >> e.value & 1):
            yield Row(KMEM_G_COLUMNS, (Name(e.name), e.value, HexValue(1 << e.value)))
