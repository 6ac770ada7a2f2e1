"""drgn on kmemx's reader: the segments registered with libdrgn as C callbacks
(``kmemx.readers.base.add_memory_segment``) against the same readers called
through Python, and plain drgn, alternated in one process.

* drgn ``for_each_task`` reading pid and comm (target 1.3x plain drgn);
* the ``s_inodes`` walk reading ``i_ino`` (target 1.3x).

Run: ``python -m benchmarks.bench_segread [--core VMCORE --vmlinux VMLINUX]``
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

from benchmarks.common import Result, _per_call, fixture_paths, report


def _alternated(fns: list[Callable[[], Any]], repeat: int = 5,
                min_time: float = 0.3) -> list[float]:
    """Best time of each of ``fns``, timed in turn (a, b, c, a, b, c, ...)."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], _per_call(fn, min_time))
    return best


def main(argv: list[str] | None = None) -> int:
    core, vmlinux, args = fixture_paths(argv)
    import drgn
    from drgn.helpers.linux.list import list_for_each_entry
    from drgn.helpers.linux.pid import for_each_task

    import kmemx
    import kmemx.readers.base as base

    native = kmemx.open(core, vmlinux)
    segread, base.segread = base.segread, None  # the Python registration only
    try:
        called = kmemx.open(core, vmlinux)
    finally:
        base.segread = segread
    plain = drgn.Program()
    plain.set_core_dump(str(core))
    plain.load_debug_info([str(vmlinux)], main=True)

    def tasks(prog: drgn.Program) -> None:
        for t in for_each_task(prog):
            t.pid.value_()
            t.comm.string_()

    def inodes(prog: drgn.Program) -> None:
        for sb in list_for_each_entry("struct super_block", prog["super_blocks"].address_of_(),
                                      "s_list"):
            for i in list_for_each_entry("struct inode", sb.s_inodes.address_of_(),
                                         "i_sb_list"):
                i.i_ino.value_()

    results = []
    for name, fn in (("drgn for_each_task pid+comm", tasks), ("drgn s_inodes walk", inodes)):
        t_native, t_called, t_plain = _alternated(
            [functools.partial(fn, native.prog), functools.partial(fn, called.prog),
             functools.partial(fn, plain)])
        results.append(Result(f"{name}, C callbacks", t_native, t_plain, 1.3))
        results.append(Result(f"  {name}, through Python calls", t_called, t_plain, None))
    return report(results, args.json)


if __name__ == "__main__":
    sys.exit(main())
