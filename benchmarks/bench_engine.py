"""Engine benchmarks (issue: core engine).

* ``k.read_u64`` random reads vs plain drgn ``prog.read_u64``: target 3x.
* drgn helpers on the kmemx reader (for_each_task reading pid/comm; the
  sb->s_inodes walks) vs plain drgn: target 1.3x.
* open + debug info vs drgn: at most drgn + 0.3 s (reported as a ratio
  target of drgn_time / (kmemx_time) >= drgn/(drgn+0.3)).

Run: ``python -m benchmarks.bench_engine [--core VMCORE --vmlinux VMLINUX]``
"""

from __future__ import annotations

import random
import sys
import time

from benchmarks.common import Result, fixture_paths, report, timeit_pair


def main(argv: list[str] | None = None) -> int:
    core, vmlinux, args = fixture_paths(argv)
    import drgn
    from drgn.helpers.linux.list import list_for_each_entry
    from drgn.helpers.linux.pid import for_each_task

    import kmemx

    def open_drgn() -> drgn.Program:
        p = drgn.Program()
        p.set_core_dump(str(core))
        p.load_debug_info([str(vmlinux)], main=True)
        return p

    t_drgn_open = min(_timed(open_drgn) for _ in range(3))
    t_k_open = min(_timed(lambda: kmemx.open(core, vmlinux)) for _ in range(3))

    plain = open_drgn()
    k = kmemx.open(core, vmlinux)
    rnd = random.Random(0)
    tasks = [int(t.value_()) for t in for_each_task(plain)]
    addrs = [rnd.choice(tasks) + rnd.randrange(0, 4096, 8) for _ in range(50000)]
    from drgn.helpers.linux.mm import phys_to_virt

    # __va(0): page_offset_base on x86-64, the linear map's offset on arm64
    pob = int(phys_to_virt(plain, 0)) & 0xFFFFFFFFFFFFFFFF
    bottom = int(plain["min_low_pfn"]) << 12  # arm64 RAM starts above 0
    top = int(plain["max_pfn"]) << 12
    direct: list[int] = []
    while len(direct) < 50000:  # a filtered dump (-d 31) lacks most pages: keep those it has
        a = pob + (rnd.randrange(bottom, top) & ~7)
        try:
            plain.read_u64(a)
        except drgn.FaultError:
            continue
        direct.append(a)
    addrs += direct
    rnd.shuffle(addrs)

    def reads(fn: object) -> None:
        f = fn
        for a in addrs:
            f(a)  # type: ignore[operator]

    results = [
        Result("read_u64 x100k (task_structs + direct map)",
               *timeit_pair(lambda: reads(k.read_u64), lambda: reads(plain.read_u64),
                            repeat=3), 3.0),
    ]

    def tasks_pid_comm(prog: drgn.Program) -> None:
        for t in for_each_task(prog):
            t.pid.value_()
            t.comm.string_()

    def s_inodes(prog: drgn.Program) -> None:
        for sb in list_for_each_entry("struct super_block", prog["super_blocks"].address_of_(),
                                      "s_list"):
            for i in list_for_each_entry("struct inode", sb.s_inodes.address_of_(),
                                         "i_sb_list"):
                i.i_ino.value_()

    results.append(Result("drgn for_each_task pid+comm on kmemx reader",
                          *timeit_pair(lambda: tasks_pid_comm(k.prog),
                                       lambda: tasks_pid_comm(plain)), 1.3))
    results.append(Result("drgn s_inodes walk (i_ino) on kmemx reader",
                          *timeit_pair(lambda: s_inodes(k.prog), lambda: s_inodes(plain),
                                       repeat=3), 1.3))
    results.append(Result("open + load debug info (target: <= drgn + 0.3s)", t_k_open,
                          t_drgn_open, t_drgn_open / (t_drgn_open + 0.3)))
    return report(results, args.json)


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
