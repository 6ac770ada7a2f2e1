"""Memory accounting of tasks and the machine (over views)."""

from __future__ import annotations

from ..kernel import Kernel
from ..types.view import View

__all__ = ["PAGE_SIZE", "get_mm_rss", "task_cpu", "totalram_pages"]

PAGE_SIZE = 4096
# enum { MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES }
_RSS_MEMBERS = (0, 1, 3)


def totalram_pages(k: Kernel) -> int:
    """``totalram_pages()``."""
    try:
        return int(k.object("_totalram_pages").counter)  # 5.0 made it atomic
    except LookupError:
        return int(k.object("totalram_pages"))


def get_mm_rss(mm: View) -> int:
    """``get_mm_rss()`` in pages for ``struct mm_struct *``: file + anon + shmem."""
    stat = mm.rss_stat
    try:
        counts = stat.count  # before 6.2: struct mm_rss_stat { atomic_long_t count[] }
    except AttributeError:
        # 6.2 made rss_stat an array of percpu_counter: count + per-CPU deltas.
        k: Kernel = mm._k
        ncpus = int(k.prog["nr_cpu_ids"])
        total = 0
        for i in _RSS_MEMBERS:
            fbc = stat[i]
            v = fbc.count
            pcp = fbc.counters
            for cpu in range(ncpus):
                v += _s32(k.read_u32(int(pcp.value()) + _percpu_off(k, cpu)))
            total += max(0, v)
        return total
    return sum(max(0, counts[i].counter) for i in _RSS_MEMBERS)


def _s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


def _percpu_off(k: Kernel, cpu: int) -> int:
    from ..types.view import _percpu_offset

    return _percpu_offset(k, cpu)


def task_cpu(task: View) -> int:
    """``task_cpu()`` of ``struct task_struct *``."""
    try:
        return int(task.cpu)  # CONFIG_THREAD_INFO_IN_TASK, 5.16+
    except AttributeError:
        return int(task.thread_info.cpu)
