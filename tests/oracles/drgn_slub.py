"""SLUB facts computed with drgn alone, for the kernels crash does not read
that far: crash (8.0.6 to 9.0.2, and upstream's master) knows nothing of
6.18's sheaves and refuses ``kmem -S`` from 7.0 on ("-S not supported for
this kernel": no ``kmem_cache.cpu_slab``).  These give the same values as
crash's parsers in :mod:`tests.oracles.crash` and
:mod:`tests.oracles.crash_kmem`, from drgn's objects and slab helpers, so
that kmemx's slab rows are still checked column by column there."""

from __future__ import annotations

from typing import Any

__all__ = ["crash_kmem_S", "kmem_S", "sheaf_objects", "slab_of"]


def sheaf_objects(prog: Any, cache: Any) -> dict[int, int | None]:
    """The objects in ``cache``'s sheaves (``struct kmem_cache *``), 6.18 on
    (2d517aa09bbc, "slab: add opt-in caching layer of percpu sheaves"), each
    with the CPU whose ``main`` or ``spare`` sheaf holds it, or None for a
    node barn's full sheaf (``objects[0 .. size)`` of each); empty before 6.18."""
    from drgn.helpers.linux.cpumask import for_each_possible_cpu
    from drgn.helpers.linux.list import list_for_each_entry
    from drgn.helpers.linux.nodemask import for_each_node
    from drgn.helpers.linux.percpu import per_cpu_ptr

    try:
        pcs_ptr = cache.cpu_sheaves
    except AttributeError:
        return {}
    sheaves: list[tuple[int | None, Any]] = []
    if pcs_ptr:
        for cpu in for_each_possible_cpu(prog):
            pcs = per_cpu_ptr(pcs_ptr, cpu)
            sheaves += [(cpu, sh) for sh in (pcs.main.read_(), pcs.spare.read_()) if sh]
    for node in for_each_node(prog):
        try:  # 7.1 (5ba6bc27b1f9 "slab: decouple pointer to barn from kmem_cache_node")
            barn = cache.per_node[node].barn
        except AttributeError:
            barn = cache.node[node].barn
        if barn:
            sheaves += [(None, sh) for sh in list_for_each_entry(
                "struct slab_sheaf", barn.sheaves_full.address_of_(), "barn_list")]
    return {int(sheaf.objects[i].value_()): cpu
            for cpu, sheaf in sheaves for i in range(int(sheaf.size))}


def _node_of_pfn(prog: Any) -> Any:
    from drgn.helpers.linux.mmzone import for_each_online_pgdat

    spans = [(int(p.node_start_pfn), int(p.node_start_pfn) + int(p.node_spanned_pages),
              int(p.node_id)) for p in for_each_online_pgdat(prog)]
    return lambda pfn: next((n for lo, hi, n in spans if lo <= pfn < hi), -1)


def kmem_S(prog: Any, names: list[str] | None = None) -> list[dict[str, Any]]:
    """What crash's ``kmem -S [NAME...]`` shows of each cache (all, or those
    ``names``), as :func:`tests.oracles.crash_kmem.parse_kmem_S` parses it, by
    drgn, for kernels without per-CPU slabs (7.0 on, 32c894c7274b "slab:
    remove struct kmem_cache_cpu"), where crash refuses ``-S``: the cache
    (``slab_cache_usage()``), no CPUs, each node's ``kmem_cache_node``
    (``nr_slabs``, ``nr_partial``, no CPU's active slab) and the slabs of its
    ``partial`` list (and ``full`` of a ``SLAB_STORE_USER`` cache), each with
    its objects counted allocated or free by ``slab_object_info()`` (which
    counts the sheaves' objects free)."""
    from drgn import cast
    from drgn.helpers.linux.list import list_for_each_entry
    from drgn.helpers.linux.mm import page_to_pfn, page_to_virt
    from drgn.helpers.linux.slab import for_each_slab_cache, slab_cache_usage, slab_object_info

    nid_of = _node_of_pfn(prog)
    slab_type = "struct slab" if _has_type(prog, "struct slab") else "struct page"
    out = []
    for cache in for_each_slab_cache(prog):
        name = cache.name.string_().decode()
        if names is not None and name not in names:
            continue
        usage = slab_cache_usage(cache)
        c: dict[str, Any] = {"cache": int(cache.value_()), "name": name,
                             "allocated": usage.num_objs - usage.free_objs,
                             "total": usage.num_objs, "nr_slabs": usage.num_slabs,
                             "cpus": [], "nodes": [], "slabs": []}
        size = int(cache.size)
        pad = int(cache.red_left_pad) if int(cache.flags) & 0x400 else 0  # SLAB_RED_ZONE
        for nid in range(prog["nr_node_ids"].value_()):
            try:  # 7.1 (5ba6bc27b1f9): cache->per_node[]
                node = cache.per_node[nid].node
            except AttributeError:
                node = cache.node[nid]
            if not node:
                continue
            c["nodes"].append((int(node.value_()), nid, int(node.nr_slabs.counter),
                               int(node.nr_partial), 0))
            lists = [(f"NODE {nid} PARTIAL", node.partial)]
            if int(cache.flags) & 0x10000:  # SLAB_STORE_USER: a full list
                lists.append((f"NODE {nid} FULL", node.full))
            for kind, head in lists:
                for slab in list_for_each_entry(slab_type, head.address_of_(), "slab_list"):
                    page = cast("struct page *", slab)
                    memory = page_to_virt(page).value_()
                    total = int(slab.objects)
                    n = sum(1 for p in range(memory + pad, memory + pad + total * size, size)
                            if slab_object_info(prog, p).allocated)
                    c["slabs"].append({"kind": kind, "slab": int(slab.value_()),
                                       "memory": memory,
                                       "node": nid_of(page_to_pfn(page).value_()),
                                       "total": total, "allocated": n, "free": total - n,
                                       "objects": []})
        out.append(c)
    return out


def crash_kmem_S(prog: Any, text: str, names: list[str] | None = None
                 ) -> list[dict[str, Any]]:
    """crash's ``kmem -S [NAME...]`` output ``text`` parsed
    (:func:`tests.oracles.crash_kmem.parse_kmem_S`); where crash refuses it
    (7.0 on: "-S not supported for this kernel", crash 9.0.2 and upstream's
    master, no ``kmem_cache.cpu_slab``), the same values by drgn
    (:func:`kmem_S`): a written exception."""
    if "-S not supported for this kernel" in text:
        return kmem_S(prog, names)
    from tests.oracles.crash_kmem import parse_kmem_S

    return parse_kmem_S(text)


def _has_type(prog: Any, name: str) -> bool:
    try:
        prog.type(name)
    except LookupError:
        return False
    return True


def slab_of(prog: Any, addr: int) -> dict[str, Any]:
    """What crash's ``kmem -S ADDR`` shows, as
    ``tests.vmcore.test_crash_opts4._crash_slab_of()`` parses it, by drgn:
    the cache (``slab_cache_usage()``: ALLOCATED is its objects less its free
    ones, which drgn's helper counts in the sheaves too), the slab holding
    ``addr`` (``slab_object_info()``; NODE by the node spans) and each of its
    objects, allocated or free by ``slab_object_info()``, with the CPU of the
    sheaf holding a free one (``(cpu N cache)``).  For kernels without
    per-CPU slabs (7.0 on, 32c894c7274b), where no CPU owns a slab."""
    from drgn import cast
    from drgn.helpers.linux.mm import page_to_pfn, page_to_virt
    from drgn.helpers.linux.slab import slab_cache_usage, slab_object_info

    info = slab_object_info(prog, addr)
    cache, slab = info.slab_cache, info.slab
    usage = slab_cache_usage(cache)
    page = cast("struct page *", slab)
    memory = page_to_virt(page).value_()
    nid = _node_of_pfn(prog)(page_to_pfn(page).value_())
    sheaves = sheaf_objects(prog, cache)
    size, total = int(cache.size), int(slab.objects)
    pad = int(cache.red_left_pad) if int(cache.flags) & 0x400 else 0  # SLAB_RED_ZONE
    objects = []
    for p in range(memory + pad, memory + pad + total * size, size):
        allocated = bool(slab_object_info(prog, p).allocated)
        objects.append((p, allocated, None if allocated else sheaves.get(p)))
    n_alloc = sum(1 for o in objects if o[1])
    return {"cache": {"cache": int(cache.value_()), "objsize": int(cache.object_size),
                      "allocated": usage.num_objs - usage.free_objs, "total": usage.num_objs,
                      "slabs": usage.num_slabs, "name": cache.name.string_().decode(),
                      "ssize": prog["PAGE_SIZE"].value_() << (int(cache.oo.x) >> 16)},
            "slab": {"slab": int(slab.value_()), "memory": memory, "node": nid,
                     "total": total, "allocated": n_alloc, "free": total - n_alloc},
            "objects": objects}
