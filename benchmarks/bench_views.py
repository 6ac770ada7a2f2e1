"""Typed-view benchmarks (issue: typed views), kmemx vs plain drgn on one dump.

* per task: pid, tgid, real_parent->pid, comm, __state, mm->total_vm: target 20x;
* every superblock's s_inodes walk reading i_ino: target 10x drgn's
  list_for_each_entry;
* create a view and read one field: target 10x Object + member_ + value_.

Run: ``python -m benchmarks.bench_views [--core VMCORE --vmlinux VMLINUX]``
"""

from __future__ import annotations

import sys

from benchmarks.common import Result, fixture_paths, report, timeit_pair


def main(argv: list[str] | None = None) -> int:
    core, vmlinux, args = fixture_paths(argv)
    import drgn
    from drgn.helpers.linux.list import list_for_each_entry as d_list
    from drgn.helpers.linux.pid import for_each_task

    import kmemx
    from kmemx.helpers import list_for_each_entry
    from kmemx.helpers.sched import for_each_task as k_for_each_task

    plain = drgn.Program()
    plain.set_core_dump(str(core))
    plain.load_debug_info([str(vmlinux)], main=True)
    k = kmemx.open(core, vmlinux)
    # task_struct.state was renamed __state in 5.14 (commit 2f064a59a11f,
    # "sched: Change task_struct::state"): the newest name, else the old one
    try:
        plain.type("struct task_struct").member("__state")
        state = "__state"
    except LookupError:
        state = "state"

    def drgn_tasks() -> list[tuple[object, ...]]:
        rows = []
        for t in for_each_task(plain):
            mm = t.mm
            rows.append((t.pid.value_(), t.tgid.value_(), t.real_parent.pid.value_(),
                         t.comm.string_(), t.member_(state).value_(),
                         mm.total_vm.value_() if mm else 0))
        return rows

    def kmemx_tasks() -> list[tuple[object, ...]]:
        rows = []
        for th in k_for_each_task(k):
            mm = th.mm
            rows.append((th.pid, th.tgid, th.real_parent.pid, th.comm.string(),
                         getattr(th, state), mm.total_vm if mm else 0))
        return rows

    got = sorted(kmemx_tasks())
    want = sorted(drgn_tasks())
    assert got == want, "kmemx and drgn disagree on the task rows"

    def drgn_inodes() -> int:
        n = 0
        for sb in d_list("struct super_block", plain["super_blocks"].address_of_(), "s_list"):
            for i in d_list("struct inode", sb.s_inodes.address_of_(), "i_sb_list"):
                n += i.i_ino.value_()
        return n

    def kmemx_inodes() -> int:
        n = 0
        for sb in list_for_each_entry("struct super_block", k.object("super_blocks"), "s_list"):
            for i in list_for_each_entry("struct inode", sb.s_inodes, "i_sb_list"):
                n += i.i_ino
        return n

    assert drgn_inodes() == kmemx_inodes()
    addrs = [t.value_() for t in for_each_task(plain)]
    task_t = plain.type("struct task_struct")

    def drgn_one() -> None:
        for a in addrs:
            drgn.Object(plain, task_t, address=a).member_("pid").value_()

    def kmemx_one() -> None:
        for a in addrs:
            k.view("struct task_struct", a).pid  # noqa: B018 - the read is the work

    def kmemx_tasks_bulk() -> list[tuple[object, ...]]:
        rows = []
        for th in k_for_each_task(k):
            pid, tgid, comm, st, mm, parent = th.fields("pid", "tgid", "comm", state, "mm",
                                                        "real_parent")
            rows.append((pid, tgid, k.view("struct task_struct", parent).pid, comm, st,
                         k.view("struct mm_struct", mm).total_vm if mm else 0))
        return rows

    assert sorted(kmemx_tasks_bulk()) == want
    results = [
        Result(f"tasks: 6 fields x {len(want)} tasks", *timeit_pair(kmemx_tasks, drgn_tasks),
               20.0),
        Result("  the same with view.fields() (one unpack per task)",
               *timeit_pair(kmemx_tasks_bulk, drgn_tasks), None),
        Result("s_inodes walk reading i_ino", *timeit_pair(kmemx_inodes, drgn_inodes, repeat=3),
               10.0),
        Result(f"create view + read one field x {len(addrs)}", *timeit_pair(kmemx_one, drgn_one),
               10.0),
    ]
    return report(results, args.json)


if __name__ == "__main__":
    sys.exit(main())
