"""Command benchmarks (issue: plugins), kmemx vs drgn on the same dump.

* ``ps``: all rows vs a drgn script building the same rows: target 20x;
  crash's ``ps`` is reported too (timed with crash's ``!date`` inside one
  crash session, output to /dev/null, when crash >= 8.0.4 is available;
  ``KMEMX_BENCH_NO_CRASH=1`` leaves it out).
* ``slab dentry``, all allocated objects, vs drgn's
  ``slab_cache_for_each_allocated_object``: target 20x.  The one-time
  vmemmap scan is included in the first run and reported separately.
* ``kmem`` over 10k addresses vs drgn's ``slab_object_info``: target 10x.

Run: ``python -m benchmarks.bench_plugins [--core VMCORE --vmlinux VMLINUX]``
"""

from __future__ import annotations

import os
import random
import sys
import time
from typing import Any

from benchmarks.common import Result, fixture_paths, report, timeit, timeit_pair


def drgn_ps_rows(prog: Any) -> list[tuple[object, ...]]:
    """crash's ps rows computed with drgn's helpers: what kmemx's ``ps`` is timed against."""
    from drgn.helpers.linux.cpumask import for_each_possible_cpu
    from drgn.helpers.linux.mm import task_rss, totalram_pages
    from drgn.helpers.linux.percpu import per_cpu
    from drgn.helpers.linux.pid import for_each_task
    from drgn.helpers.linux.sched import task_cpu, task_state_to_char

    total = totalram_pages(prog)
    rows = []
    tasks = [per_cpu(prog["runqueues"], c).idle
             for c in for_each_possible_cpu(prog)] + list(for_each_task(prog))
    for t in tasks:
        mm = t.mm
        rss = vsz = 0
        if mm:
            # drgn's task_rss(): mm counters, plus (before 6.2) the thread
            # group's unsynced per-task events, as kmemx's ps counts them
            rss = task_rss(t).total
            vsz = mm.total_vm.value_()
        rows.append((t.pid.value_(), t.real_parent.pid.value_(), task_cpu(t), t.value_(),
                     task_state_to_char(t), 100 * rss / total, vsz * 4, rss * 4,
                     t.comm.string_()))
    return rows


def main(argv: list[str] | None = None) -> int:
    core, vmlinux, args = fixture_paths(argv)
    import drgn
    from drgn.helpers.linux.slab import (
        find_slab_cache,
        slab_cache_for_each_allocated_object,
        slab_object_info,
    )

    import kmemx
    from kmemx.commands import REGISTRY, Context, execute, load_plugins, run_pipeline
    from kmemx.helpers.slab import find_slab_cache as k_find_slab_cache
    from kmemx.helpers.slab import slab_cache_allocated_objects
    from kmemx.helpers.slab import slab_object_info as k_info

    plain = drgn.Program()
    plain.set_core_dump(str(core))
    plain.load_debug_info([str(vmlinux)], main=True)
    k = kmemx.open(core, vmlinux)
    load_plugins()

    def drgn_ps() -> list[tuple[object, ...]]:
        return drgn_ps_rows(plain)

    def kmemx_ps() -> list[object]:
        return list(run_pipeline(Context(k, REGISTRY), "ps").items)

    assert len(kmemx_ps()) == len(drgn_ps())
    results = [Result(f"ps ({len(drgn_ps())} tasks)", *timeit_pair(kmemx_ps, drgn_ps), 20.0)]

    start = time.perf_counter()
    from kmemx.helpers.slab import slab_pages

    slab_pages(k)
    scan = time.perf_counter() - start
    dcache = find_slab_cache(plain, "dentry")
    kcache = k_find_slab_cache(k, "dentry")
    want = sorted(o.value_() for o in slab_cache_for_each_allocated_object(dcache, "void"))
    got = slab_cache_allocated_objects(kcache).tolist()
    assert got == want

    def drgn_slab() -> int:
        return sum(1 for _ in slab_cache_for_each_allocated_object(dcache, "struct dentry"))

    def kmemx_slab() -> int:
        return len(list(run_pipeline(Context(k, REGISTRY), "slab dentry").items))

    results.append(Result(f"slab dentry ({len(want)} objects)",
                          *timeit_pair(kmemx_slab, drgn_slab, repeat=3), 20.0))
    results.append(Result("  (one-time vmemmap scan, in-cache afterwards)", scan + 1e-9,
                          timeit(drgn_slab, repeat=1), 1.0))

    rnd = random.Random(0)
    addrs = [rnd.choice(want) + rnd.randrange(192) for _ in range(10000)]

    def drgn_kmem() -> int:
        return sum(1 for a in addrs if slab_object_info(plain, a))

    def kmemx_kmem() -> int:
        memo: dict[object, object] = {}
        return sum(1 for a in addrs if k_info(k, a, memo))

    assert drgn_kmem() == kmemx_kmem() == len(addrs)
    results.append(Result("kmem: 10k slab addresses (slab_object_info)",
                          timeit(kmemx_kmem, repeat=3), timeit(drgn_kmem, repeat=1,
                                                               min_time=0.0), 10.0))
    rc = report(results, args.json)
    def kmemx_ps_text() -> int:
        return sum(1 for _ in execute(k, "ps"))

    if not os.environ.get("KMEMX_BENCH_NO_CRASH"):  # crash's session takes minutes
        _crash_ps(core, vmlinux, kmemx_ps, kmemx_ps_text)
    return rc


def _crash_ps(core: object, vmlinux: object, kmemx_ps: object, kmemx_ps_text: object) -> None:
    """crash's ps time, for reference: inside one crash session, the clock is
    read with crash's ``!date`` before and after ``ps > /dev/null`` x20."""
    try:
        from tests.oracles.crash import CrashError, find_crash, run_crash
    except ImportError:
        return
    if find_crash() is None:
        print("crash: not available (scripts/build-crash builds it)")
        return
    runs = 20
    clock = "!date +%s.%N"
    t0 = time.perf_counter()
    try:
        out = run_crash(vmlinux, core, ["ps > /dev/null", clock]  # type: ignore[arg-type]
                        + ["ps > /dev/null"] * runs + [clock], timeout=600)
    except CrashError as e:  # an x86-64 crash on an arm64 dump, for one
        print(f"crash ps: crash cannot read this dump ({str(e)[:120]})")
        return
    session = time.perf_counter() - t0
    stamps = [float(line) for line in out.split() if line.count(".") == 1
              and line.replace(".", "").isdigit() and len(line) > 15]
    if len(stamps) != 2:
        print(f"crash ps: could not read crash's clock (got {stamps!r})")
        return
    crash_ps = (stamps[1] - stamps[0]) / runs
    k_ps = timeit(kmemx_ps)  # type: ignore[arg-type]
    k_text = timeit(kmemx_ps_text)  # type: ignore[arg-type]
    print(f"crash ps: {crash_ps * 1e3:.1f}ms per run inside a session (whole session "
          f"{session:.1f}s); kmemx ps: {k_ps * 1e3:.1f}ms rows ({crash_ps / k_ps:.0f}x), "
          f"{k_text * 1e3:.1f}ms rendered as text ({crash_ps / k_text:.0f}x)")


if __name__ == "__main__":
    sys.exit(main())
