"""SLUB slab caches over views, with a vectorised scan of ``struct page``.

drgn finds a cache's objects by looking at ``struct page``s one by one; that
is what makes it slow.  Here the whole vmemmap array is read in 2 MiB chunks
and decoded with numpy (one structured array per chunk), which yields every
slab at once: its pfn, cache, freelist head and counters.  Free objects are
then found by decoding the freelists (``CONFIG_SLAB_FREELIST_HARDENED``:
``ptr ^ s->random ^ swab(ptr_addr)``) of each slab and of every CPU's active
slab, and allocated objects are the rest (set difference in numpy).

The semantics follow drgn's ``slab_cache_usage()`` and
``slab_cache_for_each_allocated_object()`` so the two agree exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..errors import FaultError, KmemxError
from ..kernel import Kernel
from ..types.view import View, per_cpu_ptr
from .list import list_for_each_entry
from .pages import page_array, page_chunks

if TYPE_CHECKING:  # numpy is imported where it is used: it costs 0.15 s at start-up
    import numpy as np

__all__ = [
    "PageSlab",
    "SlabCacheUsage",
    "SlabInfo",
    "SlabObjectInfo",
    "find_slab_cache",
    "for_each_slab_cache",
    "sheaf_objects",
    "slab_cache_allocated_objects",
    "slab_cache_free_objects",
    "slab_cache_usage",
    "slab_object_info",
    "slab_pages",
    "virt_to_cache",
]

#: a freelist longer than this is corrupt (the largest slab holds 32767 objects)
_MAX_FREELIST = 1 << 15


@dataclass(frozen=True)
class SlabCacheUsage:
    """Like drgn's: slabs, objects, free objects; ``active_objs`` derived."""

    num_slabs: int
    num_objs: int
    free_objs: int

    @property
    def active_objs(self) -> int:
        return self.num_objs - self.free_objs


@dataclass(frozen=True)
class SlabObjectInfo:
    """Where an address lies in a slab: drgn's ``slab_object_info()`` fields."""

    slab_cache: View  # struct kmem_cache *
    slab: int  # struct slab * (address)
    address: int  # start of the object
    allocated: bool | None  # None when the freelists could not be read


class SlabFreelistError(KmemxError):
    """A corrupt freelist: a cycle or a pointer out of its slab."""


def for_each_slab_cache(k: Kernel) -> Iterator[View]:
    """Every ``struct kmem_cache`` on the ``slab_caches`` list."""
    return list_for_each_entry("struct kmem_cache", k.object("slab_caches"), "list")


def find_slab_cache(k: Kernel, name: str | bytes) -> View | None:
    """The ``struct kmem_cache *`` named ``name``, or None."""
    want = name.encode() if isinstance(name, str) else name
    for c in for_each_slab_cache(k):
        if c.name.string() == want:
            return c
    return None


# -- per-program facts -----------------------------------------------------------

@dataclass
class _SlabLayout:
    page_size: int  # sizeof(struct page)
    vmemmap: int
    page_offset: int
    max_pfn: int
    off_cache: int
    off_freelist: int
    off_counters: int
    off_compound_head: int
    #: a tail page's compound_info holds a mask for its head's address, not
    #: the head + 1 (7.1: 8c846c879e22, "mm: rework compound_head() for
    #: power-of-2 sizeof(struct page)")
    compound_mask: bool
    inuse_shift: int
    inuse_mask: int
    objects_shift: int
    objects_mask: int
    #: the type holding a slab's state: "struct slab", or "struct page" before
    #: 5.17 (d122019bf061, "mm: Split slab into its own type")
    slab_type: str
    #: the member linking a slab on a node's partial list: "slab_list", or
    #: "lru" before 4.18 (4da1984edbbe, "mm: combine LRU and main union in
    #: struct page")
    slab_list: str
    #: the count of slabs on a per-CPU partial list from this one on:
    #: "slabs", or "pages" before 5.17 (bb192ed9aa71, "mm/slub: Convert most
    #: struct page to struct slab by spatch")
    cpu_partial_count: str
    #: how slab pages are marked: ("flags", bit) or ("page_type", offset, value, shift)
    marker: tuple[Any, ...]
    cpu_slab_member: str
    nr_nodes: int
    ncpus: int


def _layout(k: Kernel) -> _SlabLayout:
    cached: _SlabLayout | None = k.prog.cache.get("kmemx.helpers.slab.layout")
    if cached is not None:
        return cached
    prog = k.prog
    try:
        # 5.17: d122019bf061 ("mm: Split slab into its own type")
        slab_type = "struct slab"
        prog.type(slab_type)
    except LookupError:
        slab_type = "struct page"
    from drgn.helpers.linux.mm import phys_to_virt

    from ..types.layout import layout_for, resolve_type

    lay = layout_for(prog, resolve_type(prog, slab_type))
    players = layout_for(prog, resolve_type(prog, "struct page"))
    cnt = lay.offsetof("counters")

    def bits(name: str) -> tuple[int, int]:
        m = lay.member(name)
        return (m.offset - cnt) * 8 + m.bit_offset, (1 << m.bit_size) - 1

    inuse_shift, inuse_mask = bits("inuse")
    objects_shift, objects_mask = bits("objects")
    slab_list = "slab_list" if "slab_list" in lay.members else "lru"
    cpu_partial_count = "slabs" if "slabs" in lay.members else "pages"
    try:
        marker: tuple[Any, ...] = ("flags", int(prog.constant("PG_slab").value_()))
    except LookupError:
        # 6.10 turned PG_slab into a page type (46df8e73a4a3, "mm: free up
        # PG_slab"); 6.12 keeps it in the top byte of page_type as PGTY_slab
        # (4ffca5a96678, "mm: support only one page_type per page")
        pt_off = players.offsetof("page_type")
        try:
            marker = ("page_type", pt_off, int(prog.constant("PGTY_slab").value_()), 24)
        except LookupError:
            marker = ("page_type_bit", pt_off, int(prog.constant("PG_slab").value_()), 0)
    try:
        ccpu = layout_for(prog, resolve_type(prog, "struct kmem_cache_cpu"))
        # 5.17 renamed kmem_cache_cpu.page to .slab (bb192ed9aa71, "mm/slub:
        # Convert most struct page to struct slab by spatch")
        cpu_slab_member = "slab" if "slab" in ccpu.members else "page"
    except LookupError:
        # 7.0 removed struct kmem_cache_cpu (32c894c7274b, "slab: remove
        # struct kmem_cache_cpu"): per-CPU sheaves instead
        cpu_slab_member = ""
    cpus = int(prog["nr_cpu_ids"])
    pa = page_array(k)
    # 7.1 renamed page->compound_head to compound_info (d50569612c29, "mm:
    # rename the 'compound_head' field in the 'struct page' to 'compound_info'")
    compound = "compound_info" if "compound_info" in players.members else "compound_head"
    compound_mask = (compound == "compound_info" and pa.page_size & (pa.page_size - 1) == 0
                     and prog.type("struct zone").has_member("vmemmap_tails"))
    out = _SlabLayout(
        page_size=pa.page_size, vmemmap=pa.vmemmap,
        # __va(0) by drgn's rule: page_offset_base on x86-64, the linear map's
        # offset from the page tables on arm64 (phys_to_virt())
        page_offset=int(phys_to_virt(prog, 0)) & 0xFFFFFFFFFFFFFFFF, max_pfn=pa.max_pfn,
        off_cache=lay.offsetof("slab_cache"), off_freelist=lay.offsetof("freelist"),
        off_counters=cnt, off_compound_head=players.offsetof(compound),
        compound_mask=compound_mask,
        inuse_shift=inuse_shift, inuse_mask=inuse_mask, objects_shift=objects_shift,
        objects_mask=objects_mask, slab_type=slab_type, slab_list=slab_list,
        cpu_partial_count=cpu_partial_count, marker=marker,
        cpu_slab_member=cpu_slab_member, nr_nodes=int(prog["nr_node_ids"]), ncpus=cpus)
    k.prog.cache["kmemx.helpers.slab.layout"] = out
    return out


@dataclass
class SlabPages:
    """Every slab in the dump, as parallel numpy arrays."""

    pfn: np.ndarray[Any, Any]
    cache: np.ndarray[Any, Any]
    freelist: np.ndarray[Any, Any]
    counters: np.ndarray[Any, Any]
    #: pfn ranges whose struct pages could not be read (filtered dumps)
    unreadable: list[tuple[int, int]]


def _is_slab(L: _SlabLayout, flags: Any, ptype: Any) -> Any:
    """``PageSlab()`` of struct pages given their ``flags`` (u64) and
    ``page_type`` (u32) words: one rule for the vmemmap scan (numpy arrays of
    those dtypes in, a bool array out) and for one address (ints in, a bool
    out)."""
    if L.marker[0] == "flags":
        return (flags >> L.marker[1]) & 1 == 1
    if L.marker[0] == "page_type":
        return (ptype >> L.marker[3]) == L.marker[2]
    # the page_type bit is *cleared* when the type is set (6.10/6.11)
    return (ptype & (0xF0000080 | L.marker[2])) == 0xF0000000


def slab_pages(k: Kernel, progress: Callable[[int, int], None] | None = None) -> SlabPages:
    """Scan the vmemmap once (cached per program) for slab head pages;
    ``progress(pfns done, max_pfn)`` follows the scan."""
    import numpy as np
    cached: SlabPages | None = k.prog.cache.get("kmemx.helpers.slab.pages")
    if cached is not None:
        return cached
    L = _layout(k)
    members = {"flags": (0, "<u8"), "head": (L.off_compound_head, "<u8"),
               "cache": (L.off_cache, "<u8"), "freelist": (L.off_freelist, "<u8"),
               "counters": (L.off_counters, "<u8"),
               "ptype": (L.marker[1] if L.marker[0] != "flags" else 0, "<u4")}
    pfns, caches, fls, cnts = [], [], [], []
    unreadable: list[tuple[int, int]] = []
    for start, arr in page_chunks(k, members, unreadable, progress):
        is_head = (arr["head"] & np.uint64(1)) == 0
        sel = np.nonzero(_is_slab(L, arr["flags"], arr["ptype"]) & is_head &
                         (arr["cache"] != 0))[0]
        if sel.size:
            pfns.append(sel.astype(np.uint64) + np.uint64(start))
            caches.append(arr["cache"][sel])
            fls.append(arr["freelist"][sel])
            cnts.append(arr["counters"][sel])
    empty = np.zeros(0, dtype=np.uint64)
    out = SlabPages(
        pfn=np.concatenate(pfns) if pfns else empty,
        cache=np.concatenate(caches) if caches else empty,
        freelist=np.concatenate(fls) if fls else empty,
        counters=np.concatenate(cnts) if cnts else empty,
        unreadable=unreadable)
    k.prog.cache["kmemx.helpers.slab.pages"] = out
    return out


# -- freelists ---------------------------------------------------------------------

def _swab(x: int) -> int:
    return int.from_bytes(x.to_bytes(8, "little"), "big")


def _freelist_decoder(cache: View) -> Callable[[int], int]:
    """``get_freepointer()``: the next free object after ``obj``."""
    k: Kernel = cache._k
    off = int(cache.offset)
    read = k.read_u64
    try:
        rnd = int(cache.random)  # CONFIG_SLAB_FREELIST_HARDENED
    except AttributeError:
        return lambda obj: read(obj + off)
    # 5.7 added swab() (1ad53d9fa3f6, "slub: improve bit diffusion for freelist
    # ptr obfuscation"; backported to every stable branch with hardening).
    return lambda obj: read(obj + off) ^ rnd ^ _swab(obj + off)


def _chase(decode: Callable[[int], int], head: int, what: str) -> set[int]:
    free: set[int] = set()
    ptr = head
    while ptr:
        if ptr in free:
            raise SlabFreelistError(f"{what}: freelist cycle at {ptr:#x}")
        if len(free) >= _MAX_FREELIST:
            raise SlabFreelistError(f"{what}: freelist longer than {_MAX_FREELIST}")
        free.add(ptr)
        ptr = decode(ptr)
    return free


def _cpu_slabs(cache: View) -> Iterator[tuple[int, View]]:
    """``(cpu, struct kmem_cache_cpu *)`` of every possible CPU; none from 7.0
    on (32c894c7274b, "slab: remove struct kmem_cache_cpu") nor, before
    6.19, with CONFIG_SLUB_TINY (31e0886fd57d, "slub: remove
    CONFIG_SLUB_TINY specific code paths")."""
    k: Kernel = cache._k
    L = _layout(k)
    if not L.cpu_slab_member:
        return
    try:
        cpu_slab = cache.cpu_slab
    except AttributeError:
        return
    for cpu in range(L.ncpus):
        yield cpu, per_cpu_ptr(cpu_slab, cpu)


def _cpu_active_slabs(cache: View) -> Iterator[tuple[int, View, View]]:
    """``(cpu, struct kmem_cache_cpu *, struct slab *)`` of each CPU whose
    active slab (``c->slab``; ``c->page`` before 5.17) belongs to ``cache``."""
    L = _layout(cache._k)
    for cpu, c in _cpu_slabs(cache):
        slab = getattr(c, L.cpu_slab_member)
        if slab and slab.slab_cache.address == cache.address:
            yield cpu, c, slab


def _cpu_free(cache: View, decode: Callable[[int], int]) -> set[int]:
    """Objects on the per-CPU lockless freelists (``c->freelist``) of
    ``cache``'s active slabs."""
    free: set[int] = set()
    for cpu, c, _slab in _cpu_active_slabs(cache):
        free |= _chase(decode, c.freelist.value(), f"{cache.name.string().decode()} cpu {cpu}")
    return free


def _cpu_partial_free(cache: View) -> int:
    """Free objects (``objects - inuse``) of the slabs on the per-CPU partial
    lists (``c->partial``, linked by ``->next``, each holding the count of
    slabs from it on: ``->slabs``, ``->pages`` before 5.17).

    :raises SlabFreelistError: a count that does not decrease (a cycle)
    """
    L = _layout(cache._k)
    free = 0
    for cpu, c in _cpu_slabs(cache):
        try:
            partial = c.partial
        except AttributeError:  # CONFIG_SLUB_CPU_PARTIAL=n (a93cf07bc3fb, 4.13)
            break
        prev = None
        while partial:
            nr = partial.member(L.cpu_partial_count)
            if prev is not None and nr >= prev:
                raise SlabFreelistError(f"cpu {cpu}: per-CPU partial slab count not decreasing")
            prev = nr
            free += partial.objects - partial.inuse
            partial = partial.next
    return free


def _cache_nodes(cache: View) -> Iterator[tuple[View, View | None]]:
    """``(struct kmem_cache_node *, struct node_barn * or None)`` of each
    node of ``cache``.  7.1 moved both into ``cache->per_node[]``
    (5ba6bc27b1f9, "slab: decouple pointer to barn from kmem_cache_node");
    before, ``cache->node[]``, whose ``barn`` came in 6.18 (2d517aa09bbc,
    "slab: add opt-in caching layer of percpu sheaves")."""
    L = _layout(cache._k)
    try:
        per_node = cache.per_node
    except AttributeError:
        nodes = cache.node
        for i in range(L.nr_nodes):
            n = nodes[i]
            if n:
                try:
                    barn = n.barn
                except AttributeError:
                    barn = None
                yield n, barn or None
        return
    for i in range(L.nr_nodes):
        p = per_node[i]
        if p.node:
            yield p.node, p.barn or None


def _sheaves(cache: View) -> Iterator[tuple[int | None, View]]:
    """``(cpu, struct slab_sheaf *)`` of every sheaf of ``cache`` holding free
    objects: each CPU's ``main`` and ``spare`` (``cache->cpu_sheaves``) with
    that CPU, and each node barn's full sheaves (``barn->sheaves_full``) with
    None; none before 6.18 (2d517aa09bbc, "slab: add opt-in caching layer of
    percpu sheaves")."""
    L = _layout(cache._k)
    try:
        pcs_ptr = cache.cpu_sheaves
    except AttributeError:
        return
    if pcs_ptr:
        for cpu in range(L.ncpus):
            pcs = per_cpu_ptr(pcs_ptr, cpu)
            for sheaf in (pcs.main, pcs.spare):
                if sheaf:
                    yield cpu, sheaf
    for _node, barn in _cache_nodes(cache):
        if barn is not None:
            for sheaf in list_for_each_entry("struct slab_sheaf", barn.sheaves_full,
                                             "barn_list"):
                yield None, sheaf


def sheaf_objects(cache: View) -> dict[int, int | None]:
    """The free objects ``cache`` (``struct kmem_cache *``) keeps in its
    sheaves (6.18 on; empty before), each with the CPU whose ``main`` or
    ``spare`` sheaf holds it, or None for a node barn's full sheaf: objects
    allocated from their slabs' point of view (``slab->inuse`` counts them)
    and free to the allocator, as ``__pcs_replace_empty_main()`` and
    ``free_to_pcs()`` (mm/slub.c) use them.

    :raises drgn.FaultError: an unreadable sheaf
    """
    return {obj: cpu for cpu, sheaf in _sheaves(cache) for obj in _sheaf_objects(sheaf)}


def _sheaf_objects(sheaf: View) -> list[int]:
    """The objects a sheaf holds: ``sheaf->objects[0 .. size)``."""
    n = int(sheaf.size)
    if n:
        objs = sheaf.objects
        base, step = objs.address, 8
        return [sheaf._k.read_u64(base + i * step) for i in range(n)]
    return []


def slab_cache_usage(cache: View) -> SlabCacheUsage:
    """Slabs, objects and free objects of ``cache`` (``struct kmem_cache *``).

    Free objects are those on each CPU's lockless freelist, those other CPUs
    freed onto a CPU's active slab (``slab->freelist``, counted as
    ``objects - inuse`` of that slab: a frozen slab's ``inuse`` drops on each
    remote free in ``__slab_free()``), those of per-CPU partial and node
    partial slabs, and (6.18 on) those in per-CPU and node-barn sheaves;
    totals come from the node counters (needs CONFIG_SLUB_DEBUG).  This is
    crash's ``kmem -s`` count (crash, which does not read sheaves, counts
    their objects allocated, as /proc/slabinfo does) and equals the number of
    objects ``slab_cache_allocated_objects()`` finds; drgn's
    ``slab_cache_usage()`` leaves out the remote frees.  Mirrors ``count_partial()`` and
    ``get_slabinfo()`` (mm/slub.c).

    :raises SlabFreelistError: a corrupt per-CPU freelist or partial list
    :raises KmemxError: a kernel without CONFIG_SLUB_DEBUG (no node counters)
    """
    k: Kernel = cache._k
    L = _layout(k)
    decode = _freelist_decoder(cache)
    free = len(_cpu_free(cache, decode))
    for _cpu, _c, slab in _cpu_active_slabs(cache):
        free += slab.objects - slab.inuse
    free += _cpu_partial_free(cache)
    for _owner, sheaf in _sheaves(cache):
        free += int(sheaf.size)
    num_slabs = num_objs = 0
    for node, _barn in _cache_nodes(cache):
        try:
            num_slabs += node.nr_slabs.counter
            num_objs += node.total_objects.counter
        except AttributeError:
            raise KmemxError("slab usage needs CONFIG_SLUB_DEBUG in the kernel") from None
        for slab in list_for_each_entry(L.slab_type, node.partial, L.slab_list):
            free += slab.objects - slab.inuse
    return SlabCacheUsage(num_slabs, num_objs, free)


def _red_left_pad(cache: View) -> int:
    try:
        return int(cache.red_left_pad)
    except AttributeError:
        return 0


def _cache_slabs(cache: View) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any],
                                       np.ndarray[Any, Any]]:
    import numpy as np
    sp = slab_pages(cache._k)
    sel = sp.cache == np.uint64(cache.address)
    return sp.pfn[sel], sp.freelist[sel], sp.counters[sel]


def _free_objects(cache: View, errors: list[str] | None
                  ) -> tuple[set[int], set[int]]:
    """Free objects of ``cache`` and the pfns of the slabs whose freelists are
    corrupt (whose objects' state is unknown)."""
    decode = _freelist_decoder(cache)
    name = cache.name.string().decode(errors="replace")
    L = _layout(cache._k)
    free: set[int] = set()
    bad: set[int] = set()

    def report(e: Exception, pfn: int) -> None:
        bad.add(pfn)
        if errors is None:
            raise e
        errors.append(f"{name} slab {L.vmemmap + pfn * L.page_size:#x}: {e}; "
                      "its objects are left out")

    for cpu, c, slab in _cpu_active_slabs(cache):
        try:
            free |= _chase(decode, c.freelist.value(), f"cpu {cpu} lockless freelist")
        except (FaultError, SlabFreelistError) as e:
            report(e, (slab.address - L.vmemmap) // L.page_size)
    free.update(sheaf_objects(cache))
    pfns, fls, _ = _cache_slabs(cache)
    for pfn, fl in zip(pfns.tolist(), fls.tolist()):
        if not fl:
            continue
        try:
            free |= _chase(decode, fl, "freelist")
        except (FaultError, SlabFreelistError) as e:
            report(e, pfn)
    return free, bad


def slab_cache_free_objects(cache: View,
                            errors: list[str] | None = None) -> set[int]:
    """Addresses of every free object of ``cache`` (``struct kmem_cache *``):
    slab freelists and the per-CPU freelists.  A slab whose freelist is
    corrupt (a cycle, a pointer out of memory) is reported in ``errors``
    (or raised when ``errors`` is None) and none of its objects is counted:
    their state is unknown.

    :raises SlabFreelistError: a corrupt freelist, when ``errors`` is None
    """
    import numpy as np
    free, bad = _free_objects(cache, errors)
    if not bad:
        return free
    # the bad slabs' objects lie in [first, first + objects * size)
    L = _layout(cache._k)
    pfns, _fls, cnts = _cache_slabs(cache)
    sel = np.isin(pfns, np.fromiter(bad, dtype=np.uint64, count=len(bad)))
    nobj = (cnts[sel] >> np.uint64(L.objects_shift)) & np.uint64(L.objects_mask)
    starts = _first_objects(cache, pfns[sel])
    spans = list(zip(starts.tolist(), (starts + nobj * np.uint64(int(cache.size))).tolist()))
    return {a for a in free if not any(lo <= a < hi for lo, hi in spans)}


def _first_objects(cache: View, pfns: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Address of the first object of each slab (head pfns)."""
    import numpy as np
    L = _layout(cache._k)
    out: np.ndarray[Any, Any] = (np.uint64(L.page_offset) + pfns * np.uint64(4096) +
                                 np.uint64(_red_left_pad(cache)))
    return out


def slab_cache_allocated_objects(cache: View,
                                 errors: list[str] | None = None) -> np.ndarray[Any, Any]:
    """Sorted addresses of the allocated objects of ``cache`` (``struct
    kmem_cache *``) as a numpy array of uint64, equal to drgn's
    ``slab_cache_for_each_allocated_object()``.  The objects of a slab whose
    freelist is corrupt are left out (crash counts such a slab as holding no
    allocated object; drgn raises) and the slab is reported in ``errors``.

    :raises SlabFreelistError: a corrupt freelist, when ``errors`` is None
    """
    import numpy as np
    L = _layout(cache._k)
    size = int(cache.size)
    pfns, _fls, cnts = _cache_slabs(cache)
    if not pfns.size:
        return np.zeros(0, dtype=np.uint64)
    free, bad = _free_objects(cache, errors)
    if bad:
        keep = ~np.isin(pfns, np.fromiter(bad, dtype=np.uint64, count=len(bad)))
        pfns, cnts = pfns[keep], cnts[keep]
    nobj = ((cnts >> np.uint64(L.objects_shift)) & np.uint64(L.objects_mask)).astype(np.int64)
    base = _first_objects(cache, pfns)
    # every object of every slab: base[i] + j*size for j < nobj[i]
    starts = np.repeat(base, nobj)
    idx = np.arange(int(nobj.sum()), dtype=np.int64) - np.repeat(np.cumsum(nobj) - nobj, nobj)
    allobj = starts + idx.astype(np.uint64) * np.uint64(size)
    if free:
        freearr = np.fromiter(free, dtype=np.uint64, count=len(free))
        allobj = allobj[~np.isin(allobj, freearr)]
    allobj.sort()
    out: np.ndarray[Any, Any] = allobj
    return out


# -- address lookup ---------------------------------------------------------------

@dataclass(frozen=True)
class SlabInfo:
    cache: int
    slab: int  # address of the slab's struct slab/page
    first: int  # first object address


def _virt_to_pfn(k: Kernel, addr: int) -> int | None:
    if k.space is not None:
        pa = k.space.translator.translate(addr)
        return None if pa is None else pa >> 12
    L = _layout(k)
    if L.page_offset <= addr < L.page_offset + (L.max_pfn << 12):
        return (addr - L.page_offset) >> 12
    return None


def _slab_of(k: Kernel, addr: int) -> tuple[int, int, int, int] | None:
    """(pfn of head, cache, freelist, counters) of the slab holding addr."""
    L = _layout(k)
    pfn = _virt_to_pfn(k, addr)
    if pfn is None or pfn >= L.max_pfn:
        return None
    page = L.vmemmap + pfn * L.page_size
    head = k.read_u64(page + L.off_compound_head)
    if head & 1:
        page = page & head if L.compound_mask else head - 1
        pfn = (page - L.vmemmap) // L.page_size
    flags = k.read_u64(page)
    ptype = k.read_u32(page + L.marker[1]) if L.marker[0] != "flags" else 0
    if not _is_slab(L, flags, ptype):
        return None
    cache = k.read_u64(page + L.off_cache)
    if not cache:
        return None
    return pfn, cache, k.read_u64(page + L.off_freelist), k.read_u64(page + L.off_counters)


def PageSlab(k: Kernel, page: int) -> bool:
    """``PageSlab()`` of the ``struct page *`` at ``page`` itself (its own
    flags or page type, not its compound head's: a slab's tail pages are not
    slab pages), the rule :func:`slab_pages` scans the vmemmap with.

    :raises drgn.FaultError: the struct page cannot be read"""
    L = _layout(k)
    ptype = k.read_u32(page + L.marker[1]) if L.marker[0] != "flags" else 0
    return bool(_is_slab(L, k.read_u64(page), ptype))


def virt_to_cache(k: Kernel, addr: int) -> View | None:
    """The ``struct kmem_cache`` of the slab holding ``addr`` (any address in a
    slab's pages, free objects and padding included), or None when ``addr`` is
    not in a slab or its struct page cannot be read (``virt_to_cache()``,
    mm/slab.h; crash's ``vaddr_to_kmem_cache()``).

    :param addr: a kernel virtual address (direct map).
    """
    try:
        s = _slab_of(k, addr)
    except FaultError:
        return None
    return None if s is None else k.view("struct kmem_cache", s[1])


def slab_object_info(k: Kernel, addr: int, memo: dict[Any, Any] | None = None
                     ) -> SlabObjectInfo | None:
    """The slab object containing ``addr``, like drgn's ``slab_object_info()``.

    ``memo`` (a dict kept across calls) caches freelists, for looking up many
    addresses of one dump.
    """
    s = _slab_of(k, addr)
    if s is None:
        return None
    pfn, cache_addr, fl, _counters = s
    L = _layout(k)
    memo = {} if memo is None else memo
    cache = memo.get(("cache", cache_addr))
    if cache is None:
        cache = memo[("cache", cache_addr)] = k.view("struct kmem_cache", cache_addr)
    size = memo.get(("size", cache_addr))
    if size is None:
        size = memo[("size", cache_addr)] = (int(cache.size), _red_left_pad(cache))
    osize, pad = size
    first = L.page_offset + pfn * 4096 + pad
    obj = first + (addr - first) // osize * osize
    slab_addr = L.vmemmap + pfn * L.page_size
    decode = memo.get(("decode", cache_addr))
    if decode is None:
        decode = memo[("decode", cache_addr)] = _freelist_decoder(cache)
    allocated: bool | None
    try:
        cpu_free = memo.get(("cpu", cache_addr))
        if cpu_free is None:
            cpu_free = memo[("cpu", cache_addr)] = _cpu_free(cache, decode).union(
                sheaf_objects(cache))
        slab_free = memo.get(("slab", pfn))
        if slab_free is None:
            slab_free = memo[("slab", pfn)] = _chase(decode, fl, f"slab {slab_addr:#x}")
        allocated = obj not in cpu_free and obj not in slab_free
    except (FaultError, SlabFreelistError):
        allocated = None
    return SlabObjectInfo(cache, slab_addr, obj, allocated)
