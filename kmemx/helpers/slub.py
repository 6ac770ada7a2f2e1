"""SLUB's per-CPU and per-node slab lists of one cache, slab by slab, with
each slab's objects and which of them are free (mm/slub.c), over views: what
crash's ``kmem -S`` shows.  Pure generators; they never print.

The bookkeeping (layout per kernel, freelist pointer decoding, the per-CPU
``kmem_cache_cpu`` and the nodes) is :mod:`kmemx.helpers.slab`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..kernel import Kernel
from ..types.view import View
from .list import list_for_each_entry
from .mmzone import for_each_online_pgdat
from .slab import (
    _cache_nodes,
    _chase,
    _cpu_active_slabs,
    _cpu_slabs,
    _freelist_decoder,
    _layout,
    _slab_of,
    sheaf_objects,
)

__all__ = ["SlubCpu", "SlubNode", "SlubSlab", "slub_cache_lists", "slub_slab_of"]

#: include/linux/slab.h
_SLAB_RED_ZONE = 0x400
_SLAB_STORE_USER = 0x10000


@dataclass(frozen=True)
class SlubCpu:
    """A CPU's ``struct kmem_cache_cpu`` of the cache."""

    cpu: int
    address: int


@dataclass(frozen=True)
class SlubNode:
    """A node's ``struct kmem_cache_node`` of the cache: ``nr_slabs``,
    ``nr_partial``, and how many CPUs' active slabs are on the node."""

    node: int
    address: int
    nr_slabs: int
    nr_partial: int
    cpu_slabs: int
    #: ``SLAB_STORE_USER`` caches keep a ``full`` list (CONFIG_SLUB_DEBUG)
    full_tracked: bool


@dataclass(frozen=True)
class SlubSlab:
    """One slab: the list it is on (``"cpu"`` active, ``"cpu partial"``,
    ``"node partial"``, ``"node full"``), the CPU or node of that list, the
    ``struct slab *`` (``struct page *`` before 5.17), its memory, node, and
    object counts.  ``objects`` lists ``(address, free, cpu)`` for the slabs
    crash lists objects of (CPU active and CPU partial, and the slab of
    ``kmem -S ADDR``): ``cpu`` is the CPU whose lockless freelist or sheaf
    holds the free object (crash's ``(cpu N cache)``), else None."""

    list: str
    owner: int
    slab: int
    memory: int
    nid: int
    total: int
    allocated: int
    objects: tuple[tuple[int, bool, int | None], ...]

    @property
    def free(self) -> int:
        return self.total - self.allocated


def _nid_of_pfn(k: Kernel, pfn: int) -> int:
    """``page_to_nid()`` by the node spans (``node_start_pfn``,
    ``node_spanned_pages``)."""
    spans: list[tuple[int, int, int]] | None = k.prog.cache.get("kmemx.helpers.slub.spans")
    if spans is None:
        spans = [(int(p.node_start_pfn), int(p.node_start_pfn) + int(p.node_spanned_pages),
                  int(p.node_id)) for p in for_each_online_pgdat(k)]
        k.prog.cache["kmemx.helpers.slub.spans"] = spans
    for lo, hi, nid in spans:
        if lo <= pfn < hi:
            return nid
    return -1


def _slab(cache: View, slab: View, kind: str, owner: int, cpu_freelist: int | None,
          with_objects: bool, sheaves: dict[int, int | None]) -> SlubSlab:
    """A slab's row: for a CPU's active slab (``cpu_freelist`` not None) the
    free objects are those on the CPU's lockless freelist plus, when the slab
    has a freelist of remote frees, ``objects - inuse`` (crash's
    ``do_slab_slub()``); else ``objects - inuse``.  The objects of the slab
    in the cache's sheaves (``sheaves``, :func:`~kmemx.helpers.slab.sheaf_objects`)
    are free too, as kmemx's ``kmem -s`` counts them: ``inuse`` counts them
    (crash 9, which does not read sheaves, shows them allocated)."""
    k: Kernel = cache._k
    L = _layout(k)
    pfn = (slab.address - L.vmemmap) // L.page_size
    memory = L.page_offset + pfn * 4096
    total = int(slab.objects)
    inuse = int(slab.inuse)
    size = int(cache.size)
    decode = _freelist_decoder(cache)
    name = cache.name.string().decode(errors="replace")
    freelist = int(slab.freelist.value())
    slab_free = _chase(decode, freelist, f"{name} slab {slab.address:#x}")
    cpu_free: set[int] = set()
    if cpu_freelist is not None:
        cpu_free = _chase(decode, cpu_freelist, f"{name} cpu {owner}")
        nfree = len(cpu_free) + (total - inuse if freelist else 0)
        inuse = total - nfree
    end = memory + total * size
    inuse -= sum(1 for obj in sheaves if memory <= obj < end)
    objs: tuple[tuple[int, bool, int | None], ...] = ()
    if with_objects:
        pad = 0
        if int(cache.flags) & _SLAB_RED_ZONE:
            try:
                pad = int(cache.red_left_pad)
            except AttributeError:
                pad = 0
        rows = []
        for p in range(memory + pad, end + pad, size):
            if p in sheaves:
                rows.append((p, True, sheaves[p]))
            else:  # crash: any free object of a CPU's active slab is "(cpu N cache)"
                free = p in slab_free or p in cpu_free
                rows.append((p, free, owner if free and cpu_freelist is not None else None))
        objs = tuple(rows)
    return SlubSlab(kind, owner, slab.address, memory, _nid_of_pfn(k, pfn), total, inuse, objs)


def slub_cache_lists(cache: View) -> Iterator[SlubCpu | SlubSlab | SlubNode]:
    """For ``struct kmem_cache *`` ``cache``, in crash's ``kmem -S`` order:
    each possible CPU's :class:`SlubCpu`, its active slab (``c->slab``,
    ``c->page`` before 5.17) and the slabs of its partial list
    (``c->partial`` through ``->next``), each with its objects; then each
    node's :class:`SlubNode` and the slabs of its ``partial`` list (and
    ``full`` for ``SLAB_STORE_USER`` caches), without objects.

    :raises SlabFreelistError: a corrupt freelist
    :raises drgn.FaultError: unreadable slab memory
    """
    k: Kernel = cache._k
    L = _layout(k)
    sheaves = sheaf_objects(cache)
    per_node: dict[int, int] = {}
    for cpu, c in _cpu_slabs(cache):
        yield SlubCpu(cpu, int(c.value()) if hasattr(c, "value") else c.address)
        slab = getattr(c, L.cpu_slab_member)
        if slab and slab.slab_cache.address == cache.address:
            row = _slab(cache, slab, "cpu", cpu, int(c.freelist.value()), True, sheaves)
            per_node[row.nid] = per_node.get(row.nid, 0) + 1
            yield row
        try:
            partial = c.partial
        except AttributeError:  # CONFIG_SLUB_CPU_PARTIAL=n
            continue
        seen = 0
        while partial and seen < 1 << 16:
            yield _slab(cache, partial, "cpu partial", cpu, None, True, sheaves)
            partial = partial.next
            seen += 1
    tracked = bool(int(cache.flags) & _SLAB_STORE_USER)
    for node, _barn in _cache_nodes(cache):
        nid = _node_index(cache, node)
        yield SlubNode(nid, node.address, int(node.nr_slabs.counter), int(node.nr_partial),
                       per_node.get(nid, 0), tracked)
        for slab in list_for_each_entry(L.slab_type, node.partial, L.slab_list):
            yield _slab(cache, slab, "node partial", nid, None, False, sheaves)
        if tracked:
            try:
                full = node.full
            except AttributeError:
                continue
            for slab in list_for_each_entry(L.slab_type, full, L.slab_list):
                yield _slab(cache, slab, "node full", nid, None, False, sheaves)


def slub_slab_of(k: Kernel, addr: int) -> SlubSlab | None:
    """The slab holding ``addr`` (a direct-map address inside a slab's
    pages), with each of its objects, as crash's ``kmem -S ADDR`` shows it
    (memory.c's vaddr_to_slab() then do_slab_slub()): a CPU's active slab
    (list ``"cpu"``, its owner the CPU) counts the objects on that CPU's
    lockless freelist free too; any other slab (list ``"slab"``, owner -1)
    its own freelist.  None when ``addr`` is not in a slab.

    :raises SlabFreelistError: a corrupt freelist
    :raises drgn.FaultError: unreadable slab memory
    """
    found = _slab_of(k, addr)
    if found is None:
        return None
    L = _layout(k)
    pfn, cache_addr = found[0], found[1]
    cache = k.view("struct kmem_cache", cache_addr)
    slab = k.view(L.slab_type, L.vmemmap + pfn * L.page_size)
    sheaves = sheaf_objects(cache)
    for cpu, c, active in _cpu_active_slabs(cache):
        if active.address == slab.address:
            return _slab(cache, slab, "cpu", cpu, int(c.freelist.value()), True, sheaves)
    return _slab(cache, slab, "slab", -1, None, True, sheaves)


def _node_index(cache: View, node: View) -> int:
    """The node id of ``struct kmem_cache_node *`` in ``cache``'s node array."""
    for i, (n, _b) in enumerate(_cache_nodes(cache)):
        if n.address == node.address:
            return i
    return -1
