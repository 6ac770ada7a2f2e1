"""Memory accounting of tasks and the machine (over views)."""

from __future__ import annotations

from typing import Any, Callable

import drgn

from ..kernel import Kernel
from ..types.view import View

__all__ = ["PAGE_SIZE", "get_mm_rss", "mm_rss_at", "mm_rss_vm_reader", "mm_rss_vm_spec",
           "rss_pages", "task_cpu", "totalram_pages"]

PAGE_SIZE = 4096
# enum { MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES }
_RSS_MEMBERS = (0, 1, 3)


def totalram_pages(k: Kernel) -> int:
    """``totalram_pages()``."""
    try:
        return int(k.object("_totalram_pages").counter)  # 5.0 made it atomic
    except LookupError:
        return int(k.object("totalram_pages"))


def _rss_layout(k: Kernel) -> tuple[str, int, int]:
    """How this kernel keeps RSS counters: ("atomic", offset of count[], 0) or
    ("percpu", offset of rss_stat[], sizeof(struct percpu_counter))."""
    cached: tuple[str, int, int] | None = k.prog.cache.get("kmemx.helpers.mm.rss")
    if cached is None:
        from ..types.layout import layout_for, resolve_type, strip

        lay = layout_for(k.prog, resolve_type(k.prog, "struct mm_struct"))
        if strip(lay.member("rss_stat").type).kind == drgn.TypeKind.ARRAY:
            # 6.2 made rss_stat an array of struct percpu_counter
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


def mm_rss_vm_spec(k: Kernel) -> tuple[tuple[Any, ...], ...]:
    """A :func:`~kmemx.types.fields.raw_reader` spec of ``struct mm_struct``
    reading ``(total_vm, file, anon, shmem)`` in pages: the RSS counters'
    values, atomics before 6.2, ``percpu_counter_sum()`` since."""
    kind, off, size = _rss_layout(k)
    vm_off = k.offsetof("struct mm_struct", "total_vm")
    if kind == "atomic":
        return ((vm_off, 8, 0), *((off + 8 * i, 8, 1) for i in _RSS_MEMBERS))
    from ..types.view import _percpu_offset

    ncpus = int(k.prog["nr_cpu_ids"])
    pcpu = (k.offsetof("struct percpu_counter", "count"),
            k.offsetof("struct percpu_counter", "counters"),
            tuple(_percpu_offset(k, cpu) for cpu in range(ncpus)))
    return ((vm_off, 8, 0), *((off + size * i, 8, 5, pcpu) for i in _RSS_MEMBERS))


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


def task_cpu(task: View) -> int:
    """``task_cpu()`` of ``struct task_struct *``."""
    k: Kernel = task._k
    off: int | None = k.prog.cache.get("kmemx.helpers.mm.task_cpu")
    if off is None:
        try:
            # 5.16 moved cpu into task_struct with CONFIG_THREAD_INFO_IN_TASK
            off = k.offsetof("struct task_struct", "cpu")
        except LookupError:
            off = k.offsetof("struct task_struct", "thread_info.cpu")
        k.prog.cache["kmemx.helpers.mm.task_cpu"] = off
    return k.read_u32(task.address + off)
