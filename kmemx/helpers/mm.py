"""Memory accounting of tasks and the machine (over views)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Callable

import drgn

from ..kernel import Kernel
from ..types import spec
from ..types.spec import Item, Spec
from ..types.view import View

__all__ = [
    "COMMITTED_CODE",
    "PAGE_SIZE",
    "MemInfo",
    "get_mm_rss",
    "meminfo",
    "mm_rss_at",
    "mm_rss_vm_reader",
    "mm_rss_vm_spec",
    "page_flags",
    "percpu_counter_sum_spec",
    "rss_pages",
    "shared_pages",
    "split_rss_sums",
    "task_cpu",
    "task_cpu_member",
    "task_mm_usage",
    "task_rss_cache_spec",
    "totalram_pages",
    "vm_memory_committed",
]

PAGE_SIZE = 4096
# enum { MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES }
_RSS_MEMBERS = (0, 1, 3)


def page_flags(page: drgn.Object) -> int:
    """``page->flags`` of a ``struct page *`` as an ``unsigned long``: 6.18
    wrapped it in ``memdesc_flags_t`` (its ``.f``; "mm: introduce
    memdesc_flags_t"), a plain ``unsigned long`` before.

    :raises drgn.FaultError: the page cannot be read
    """
    flags = page.flags
    try:
        return int(flags.f)
    except AttributeError:
        return int(flags)


def totalram_pages(k: Kernel) -> int:
    """``totalram_pages()``."""
    try:
        return int(k.object("_totalram_pages").counter)
    except LookupError:
        # before 5.0 (ca79b0c211af, "mm: convert totalram_pages and
        # totalhigh_pages variables to atomic"): a plain unsigned long
        return int(k.object("totalram_pages"))


def _rss_layout(k: Kernel) -> tuple[str, int, int]:
    """How this kernel keeps RSS counters: ("atomic", offset of count[], 0) or
    ("percpu", offset of rss_stat[], sizeof(struct percpu_counter))."""
    cached: tuple[str, int, int] | None = k.prog.cache.get("kmemx.helpers.mm.rss")
    if cached is None:
        from ..types.layout import layout_for, resolve_type, strip

        lay = layout_for(k.prog, resolve_type(k.prog, "struct mm_struct"))
        if strip(lay.member("rss_stat").type).kind == drgn.TypeKind.ARRAY:
            # since 6.2 (f1a7941243c1, "mm: convert mm's rss stats into
            # percpu_counter"): struct percpu_counter rss_stat[NR_MM_COUNTERS]
            cached = ("percpu", lay.offsetof("rss_stat"), k.sizeof("struct percpu_counter"))
        else:
            # before: struct mm_rss_stat { atomic_long_t count[NR_MM_COUNTERS]; }
            cached = ("atomic", lay.offsetof("rss_stat") + k.offsetof(
                "struct mm_rss_stat", "count"), 0)
        k.prog.cache["kmemx.helpers.mm.rss"] = cached
    return cached


def get_mm_rss(mm: View) -> int:
    """``get_mm_rss()`` in pages for ``struct mm_struct *``: file + anon + shmem."""
    return mm_rss_at(mm._k, mm.address)


def mm_rss_at(k: Kernel, mm: int) -> int:
    """``get_mm_rss()`` of the ``struct mm_struct`` at address ``mm``."""
    return mm_rss_vm_reader(k)(mm)[0]


def mm_rss_vm_spec(k: Kernel) -> Spec:
    """A :func:`~kmemx.types.fields.raw_reader` spec of ``struct mm_struct``
    reading ``(total_vm, file, anon, shmem)`` in pages: the RSS counters'
    values, atomics before f1a7941243c1, ``percpu_counter_sum()`` since."""
    kind, off, size = _rss_layout(k)
    vm = spec.unsigned(k.offsetof("struct mm_struct", "total_vm"), 8)
    if kind == "atomic":
        return (vm, *(spec.signed(off + 8 * i, 8) for i in _RSS_MEMBERS))
    return (vm, *(percpu_counter_sum_spec(k, off + size * i) for i in _RSS_MEMBERS))


def percpu_counter_sum_spec(k: Kernel, off: int) -> Item:
    """The spec item reading ``percpu_counter_sum()`` (lib/percpu_counter.c:
    ``fbc->count`` plus ``*per_cpu_ptr(fbc->counters, cpu)`` for each CPU)
    of the ``struct percpu_counter`` at ``off``: its ``s64 count`` plus the
    ``s32`` at ``counters`` + each CPU's ``__per_cpu_offset``.  The kernel
    sums the online (and dying) CPUs; a CPU that never came up keeps 0 in
    its slot, so every possible CPU (``nr_cpu_ids``) is summed here."""
    key = "kmemx.helpers.mm.percpu_counter"
    cached: tuple[int, int, tuple[int, ...]] | None = k.prog.cache.get(key)
    if cached is None:
        from ..types.view import _percpu_offset

        cached = (k.offsetof("struct percpu_counter", "count"),
                  k.offsetof("struct percpu_counter", "counters"),
                  tuple(_percpu_offset(k, cpu) for cpu in range(int(k.prog["nr_cpu_ids"]))))
        k.prog.cache[key] = cached
    count_off, counters_off, cpu_offsets = cached
    return spec.s64_plus_s32s(off + count_off, off + counters_off, cpu_offsets)


def task_rss_cache_spec(k: Kernel) -> Spec:
    """A :func:`~kmemx.types.fields.raw_reader` spec of ``struct task_struct``
    reading the task's unsynced RSS events ``task->rss_stat.count[]`` for
    (file, anon, shmem), in pages; ``()`` when the kernel keeps none.

    With SPLIT_RSS_COUNTING each thread counts up to 64 page events
    (``TASK_RSS_EVENTS_THRESH``) in its own ``rss_stat`` before
    ``sync_mm_rss()`` adds them to ``mm->rss_stat``: a dump taken in between
    has them only there.  Linux 6.2 (f1a7941243c1, "mm: convert mm's rss
    stats into percpu_counter") removed the per-task cache."""
    key = "kmemx.helpers.mm.task_rss_cache_spec"
    cached: Spec | None = k.prog.cache.get(key)
    if cached is None:
        try:
            off = k.offsetof("struct task_struct", "rss_stat") + k.offsetof(
                "struct task_rss_stat", "count")
        except LookupError:
            cached = ()
        else:
            cached = tuple(spec.signed(off + 4 * i, 4) for i in _RSS_MEMBERS)
        k.prog.cache[key] = cached
    return cached


def split_rss_sums(caches: Iterable[tuple[int, tuple[int, ...]]]) -> dict[int, list[int]]:
    """Per ``struct mm_struct`` address, the sums of the (file, anon, shmem)
    RSS events cached in the tasks that use it (``(mm, counts)`` pairs from
    :func:`task_rss_cache_spec`; mm 0 is ignored): what ``sync_mm_rss()``
    would add to each mm's counters.  A task's cache belongs to the mm it
    points to (``add_mm_counter_fast()`` checks ``current->mm == mm``)."""
    sums: dict[int, list[int]] = {}
    for mm, counts in caches:
        if mm:
            acc = sums.setdefault(mm, [0, 0, 0])
            for i, v in enumerate(counts):
                acc[i] += v
    return sums


def rss_pages(file: int, anon: int, shmem: int) -> int:
    """``get_mm_rss()`` from the three counters' values: a counter that reads
    negative (per-cpu deltas not yet folded in) counts as 0, as in the kernel."""
    return (file if file > 0 else 0) + (anon if anon > 0 else 0) + (shmem if shmem > 0 else 0)


def mm_rss_vm_reader(k: Kernel) -> Callable[[int], tuple[int, int]]:
    """A function (cached per program): address of a ``struct mm_struct`` ->
    ``(get_mm_rss(), total_vm)`` in pages, in one bulk read."""
    fn: Callable[[int], tuple[int, int]] | None = k.prog.cache.get(
        "kmemx.helpers.mm.rss_vm_reader")
    if fn is None:
        from ..types.fields import raw_reader

        read = raw_reader(k, mm_rss_vm_spec(k))

        def fn(mm: int) -> tuple[int, int]:
            vm, f, a, s = read(mm)
            return rss_pages(f, a, s), vm
        k.prog.cache["kmemx.helpers.mm.rss_vm_reader"] = fn
    return fn


def task_cpu_member(k: Kernel) -> str:
    """The member path of ``task_cpu()`` in ``struct task_struct``.

    5.16 (bcf9033e5449, "sched: move CPU field back into thread_info if
    THREAD_INFO_IN_TASK") moved it to ``thread_info.cpu``; before, x86-64
    kept it in ``task_struct.cpu``."""
    path: str | None = k.prog.cache.get("kmemx.helpers.mm.task_cpu_member")
    if path is None:
        try:
            k.offsetof("struct task_struct", "thread_info.cpu")
            path = "thread_info.cpu"
        except LookupError:
            path = "cpu"
        k.prog.cache["kmemx.helpers.mm.task_cpu_member"] = path
    return path


def task_cpu(task: View) -> int:
    """``task_cpu()`` of ``struct task_struct *``."""
    k: Kernel = task._k
    off: int | None = k.prog.cache.get("kmemx.helpers.mm.task_cpu")
    if off is None:
        off = k.prog.cache["kmemx.helpers.mm.task_cpu"] = k.offsetof(
            "struct task_struct", task_cpu_member(k))
    return k.read_u32(task.address + off)


@dataclass(frozen=True)
class MemInfo:
    """Memory use, in pages, as crash's ``kmem -i`` and /proc/meminfo count it.

    ``shared`` is crash's: pages neither reserved nor free whose reference
    count is over 1 (a walk of every ``struct page``)."""

    total: int
    free: int
    shared: int
    buffers: int
    cached: int
    slab: int
    huge_total: int
    huge_free: int
    swap_total: int
    swap_used: int
    swap_free: int
    commit_limit: int
    committed: int

    @property
    def used(self) -> int:
        return self.total - self.free


def shared_pages(k: Kernel) -> int:
    """Pages that are not ``PG_reserved`` and have ``page_count() > 1``, as
    crash's ``kmem -i`` SHARED counts them (one pass over the vmemmap)."""
    import numpy as np

    from .pages import page_chunks

    try:  # 4.6 renamed page->_count to _refcount (0139aa7b7fa1)
        ref = k.offsetof("struct page", "_refcount")
    except LookupError:
        ref = k.offsetof("struct page", "_count")
    reserved = np.uint64(1 << int(k.prog.constant("PG_reserved").value_()))
    n = 0
    for _start, arr in page_chunks(k, {"flags": (0, "<u8"), "count": (ref, "<i4")}):
        n += int(np.count_nonzero(((arr["flags"] & reserved) == 0) & (arr["count"] > 1)))
    return n


def vm_memory_committed(prog: drgn.Program) -> int:
    """Committed_AS of /proc/meminfo in pages: ``vm_memory_committed()``
    (mm/util.c), ``percpu_counter_sum_positive(&vm_committed_as)``, summed
    over every possible CPU.

    The kernel's ``__percpu_counter_sum()`` (lib/percpu_counter.c) sums the
    online CPUs: a CPU taken offline properly had its delta folded into
    ``count`` and its slot zeroed (``percpu_counter_cpu_dead()``).  A panic
    stops the other CPUs without that (``stop_this_cpu()`` only clears their
    online bit), so in a panic dump their deltas are still in their slots and
    still part of the count /proc showed before the panic; drgn's
    ``vm_memory_committed()`` sums the online CPUs and leaves them out.
    """
    from drgn.helpers.linux.cpumask import for_each_possible_cpu
    from drgn.helpers.linux.percpu import per_cpu_ptr

    counter = prog["vm_committed_as"]
    total = int(counter.count.value_())
    for cpu in for_each_possible_cpu(prog):
        total += int(per_cpu_ptr(counter.counters, cpu)[0].value_())
    return max(0, total)


#: :func:`vm_memory_committed` as drgn code for ``--drgn`` scripts: sets ``committed``
COMMITTED_CODE = """\
# Committed_AS: vm_committed_as summed over every possible CPU (a panic stops the
# other CPUs without folding their per-CPU deltas, which /proc counted)
counter = prog["vm_committed_as"]
committed = max(0, counter.count.value_() + sum(
    per_cpu_ptr(counter.counters, cpu)[0].value_() for cpu in for_each_possible_cpu(prog)))
"""


def meminfo(k: Kernel) -> MemInfo:
    """crash's ``kmem -i`` numbers for ``k``, from the kernel's counters:
    ``totalram_pages()``, ``NR_FREE_PAGES``, ``nr_blockdev_pages()``,
    ``NR_FILE_PAGES`` less the swap cache and buffers, the slab page counts,
    hugetlb and swap totals, ``vm_commit_limit()`` and
    :func:`vm_memory_committed` (what /proc/meminfo's Committed_AS shows: the
    per-CPU deltas summed; crash reads only the central count)."""
    from drgn.helpers.linux.block import nr_blockdev_pages
    from drgn.helpers.linux.hugetlb import hugetlb_total_usage
    from drgn.helpers.linux.mm import vm_commit_limit
    from drgn.helpers.linux.slab import slab_total_usage
    from drgn.helpers.linux.swap import swap_total_usage, total_swapcache_pages
    from drgn.helpers.linux.vmstat import global_node_page_state, nr_free_pages

    prog = k.prog
    buffers = nr_blockdev_pages(prog)
    cached = (global_node_page_state(prog["NR_FILE_PAGES"]) - total_swapcache_pages(prog)
              - buffers)
    huge = hugetlb_total_usage(prog)
    swap = swap_total_usage(prog)
    return MemInfo(
        total=totalram_pages(k), free=nr_free_pages(prog), shared=shared_pages(k),
        buffers=buffers, cached=max(0, cached), slab=slab_total_usage(prog).total_pages,
        huge_total=huge.pages, huge_free=huge.free_pages, swap_total=swap.pages,
        swap_used=swap.used_pages, swap_free=swap.free_pages,
        commit_limit=vm_commit_limit(prog), committed=vm_memory_committed(prog))


def task_mm_usage(k: Kernel, mm: int) -> tuple[int, int]:
    """``(RSS, total_vm)`` in pages of the ``struct mm_struct`` at ``mm``, as
    ``ps`` and crash count them: ``get_mm_rss()`` after the unsynced per-task
    RSS events of every task using ``mm`` are added (see
    :func:`task_rss_cache_spec`; one walk of the task list when the kernel
    keeps such events)."""
    from ..types.fields import raw_reader
    from .sched import for_each_task

    vm, f, a, s = raw_reader(k, mm_rss_vm_spec(k))(mm)
    cache_spec = task_rss_cache_spec(k)
    if cache_spec:
        mm_off = k.offsetof("struct task_struct", "mm")
        caches = raw_reader(k, cache_spec)
        pending = split_rss_sums((mm, caches(t.address)) for t in for_each_task(k)
                                 if k.read_u64(t.address + mm_off) == mm)
        df, da, ds = pending.get(mm, (0, 0, 0))
        f, a, s = f + df, a + da, s + ds
    return rss_pages(f, a, s), vm
