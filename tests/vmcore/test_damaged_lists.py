"""A damaged task list hides no task: copies of the ELF dump with one bad
link in ``init_task.tasks`` (or in a thread list) written into the physical
bytes of the copy, then ``ps``, ``sys`` and ``pstree`` run by the CLI.

Every case must list every task of the guest's ``/proc`` (the manifest),
name the bad link (the task, where the pointer was read, the value found),
exit with status 3 (output with warnings), and count the same ``sys``
TASKS as the undamaged dump.  The links are patched where the file holds
them: the task's virtual address translated by the dump's page tables,
then the ELF ``PT_LOAD`` segment holding that physical address.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import kmemx
from kmemx.helpers.sched import TaskWalkDamage, for_each_task
from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore

#: include/linux/poison.h with CONFIG_ILLEGAL_POINTER_VALUE=0xdead000000000000
#: (x86-64, arm64): what list_del() leaves in next and prev
LIST_POISON1 = 0xDEAD000000000100
LIST_POISON2 = 0xDEAD000000000122


def _pt_loads(path: Path) -> list[tuple[int, int, int]]:
    """(p_paddr, p_offset, p_filesz) of each PT_LOAD of an ELF64 file."""
    with path.open("rb") as f:
        ehdr = f.read(64)
        phoff, = struct.unpack_from("<Q", ehdr, 32)
        phentsize, phnum = struct.unpack_from("<HH", ehdr, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    out = []
    for i in range(phnum):
        p_type, _, p_offset, _, p_paddr, p_filesz = struct.unpack_from(
            "<IIQQQQ", table, i * phentsize)
        if p_type == 1:
            out.append((p_paddr, p_offset, p_filesz))
    return out


class Dump:
    """The undamaged ELF dump: its tasks in list order and the file offsets
    of their links."""

    def __init__(self, fixture: Fixture) -> None:
        self.path = fixture.core("elf")
        self.vmlinux = fixture.vmlinux
        self.k = kmemx.open(self.path, fixture.vmlinux)
        self.loads = _pt_loads(self.path)
        damage = TaskWalkDamage()
        self.tasks = [t.address for t in for_each_task(self.k, damage)]
        assert not damage, damage.summary()
        k = self.k
        self.off = k.offsetof("struct task_struct", "tasks")
        # the processes, in init_task.tasks order
        self.procs = []
        node = k.read_u64(k.object("init_task").address + self.off)
        while node != k.object("init_task").address + self.off:
            self.procs.append(node - self.off)
            node = k.read_u64(node)

    def file_offset(self, vaddr: int) -> int:
        assert self.k.space is not None
        phys = self.k.space.translator.translate(vaddr)
        assert phys is not None, hex(vaddr)
        for paddr, off, size in self.loads:
            if paddr <= phys < paddr + size:
                return off + phys - paddr
        raise AssertionError(f"{vaddr:#x} (phys {phys:#x}) is in no PT_LOAD")

    def pid(self, task: int) -> int:
        return int(self.k.view("struct task_struct", task).pid)

    def unmapped(self) -> int:
        """A kernel address that this dump does not map."""
        for a in (0xFFFFFFFFFF000000, 0xFFFFFFFFFEE00000, 0xFFFF900000000000):
            try:
                self.k.read_u64(a)
            except Exception:
                return a
        raise AssertionError("no unmapped address found")


@pytest.fixture(scope="module")
def dump(fixture: Fixture) -> Dump:
    if not fixture.has("elf"):
        pytest.skip(fixture.skip_reason("elf"))
    return Dump(fixture)


def _cli(dump: Dump, core: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmemx", "-q", "-c", str(core),
                           "-s", str(dump.vmlinux), command],
                          capture_output=True, text=True, timeout=300)


def _ps(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(proc.stdout)
    return rows


def _sys_tasks(proc: subprocess.CompletedProcess[str]) -> int:
    row = next(r for r in json.loads(proc.stdout) if r["key"] == "TASKS")
    return int(row["value"])


@pytest.fixture(scope="module")
def undamaged(dump: Dump) -> dict[str, Any]:
    ps = _cli(dump, dump.path, "ps --json")
    sy = _cli(dump, dump.path, "sys --json")
    tree = _cli(dump, dump.path, "pstree")
    assert ps.returncode == 0 and sy.returncode == 0 and tree.returncode == 0, \
        (ps.stderr, sy.stderr, tree.stderr)
    return {"ps": _ps(ps), "tasks": _sys_tasks(sy), "pstree": tree.stdout}


def _victim(dump: Dump) -> int:
    """The index (in ``dump.procs``) of a process halfway down the list, with
    at least three processes after it."""
    i = len(dump.procs) // 2
    assert i + 3 < len(dump.procs)
    return i


def _patches(dump: Dump, case: str) -> tuple[list[tuple[int, int]], int, int, str]:
    """(file patches as (virtual address, value), the task whose link is
    named, the value named, the member named)."""
    i = _victim(dump)
    x = dump.procs[i]
    nxt = x + dump.off
    if case == "poison":
        return [(nxt, LIST_POISON1)], x, LIST_POISON1, "tasks.next"
    if case == "unmapped":
        bad = dump.unmapped()
        return [(nxt, bad)], x, bad, "tasks.next"
    if case == "cycle":  # back to the first process after init_task
        back = dump.procs[0] + dump.off
        return [(nxt, back)], x, back, "tasks.next"
    if case == "both-ways":
        # next of x and prev of the process two after it: the one between
        # is reached by neither walk, only through the PID IDR
        z = dump.procs[i + 2]
        return [(nxt, LIST_POISON1), (z + dump.off + 8, LIST_POISON2)], x, LIST_POISON1, \
            "tasks.next"
    assert case == "thread"
    # the first thread-list link of a process with threads
    k = dump.k
    for p in dump.procs:
        t = k.view("struct task_struct", p)
        try:
            head = t.signal.thread_head.address
            off = k.offsetof("struct task_struct", "thread_node")
            member = "thread_node.next"
        except AttributeError:  # before 3.14: task->thread_group (see helpers.sched)
            head = p + k.offsetof("struct task_struct", "thread_group")
            off = k.offsetof("struct task_struct", "thread_group")
            member = "thread_group.next"
        first = k.read_u64(head)
        if k.read_u64(first) == head:
            continue  # one thread
        if member == "thread_node.next":
            return [(first, LIST_POISON1)], first - off, LIST_POISON1, member
        return [(head, LIST_POISON1)], p, LIST_POISON1, member
    pytest.skip("no process with threads in this dump")


CASES = ["poison", "unmapped", "cycle", "both-ways", "thread"]


@pytest.mark.parametrize("case", CASES)
def test_damaged_task_list_hides_no_task(dump: Dump, undamaged: dict[str, Any],
                                         fixture: Fixture, tmp_path: Path,
                                         case: str) -> None:
    patches, task, value, member = _patches(dump, case)
    core = tmp_path / "damaged.elf"
    shutil.copyfile(dump.path, core)
    try:
        with core.open("r+b") as f:
            for vaddr, v in patches:
                f.seek(dump.file_offset(vaddr))
                f.write(v.to_bytes(8, "little"))
        ps = _cli(dump, core, "ps --json")
        sy = _cli(dump, core, "sys --json")
        tree = _cli(dump, core, "pstree")
    finally:
        core.unlink()
    # output with a warning: exit status 3, and the warning names the link
    assert ps.returncode == 3, ps.stderr
    link = (f"task {task:x} (PID {dump.pid(task)}) {member} at "
            f"{patches[0][0]:x} is {value:#x}")
    warnings = [ln for ln in ps.stderr.splitlines() if ln.startswith("kmemx: warning:")]
    assert len(warnings) == 1 and link in warnings[0], (link, ps.stderr)
    if case == "cycle":
        assert "(a cycle)" in warnings[0]
    walked = int(warnings[0].split(" tasks walked")[0].rsplit(" ", 1)[1])
    assert 0 < walked < len(dump.tasks)
    recovered = int(warnings[0].split(" recovered")[0].rsplit(" ", 1)[1])
    assert walked + recovered == len(dump.tasks)
    if case in ("both-ways", "thread"):
        assert "0 from the PID IDR" not in warnings[0]  # the IDR found some
    # every task of the guest's /proc, each once
    rows = _ps(ps)
    pids = [r["pid"] for r in rows if r["pid"] != 0]
    assert len(pids) == len(set(pids))
    assert sorted(pids) == sorted(t["pid"] for t in fixture.manifest["tasks"])
    # and the undamaged dump's rows, in its order: the prev links give the
    # list's own order, and the tasks found only by PID come by fork time
    # (a leader's start_time; a thread after its leader), which is the
    # list's order on these dumps
    assert rows == undamaged["ps"]
    # sys counts what ps lists; pstree draws the same tree
    assert sy.returncode == 3, sy.stderr
    assert _sys_tasks(sy) == undamaged["tasks"] == len(rows)
    assert tree.returncode == 3 and tree.stdout == undamaged["pstree"], tree.stderr


def test_damaged_list_is_walked_and_reported_every_time(dump: Dump, tmp_path: Path) -> None:
    """A dump's task table is kept only from a walk without a bad link
    (helpers.sched.for_each_task, plugins.tasks._ps_table): on a damaged
    list every ``ps`` walks again and names the link again."""
    from kmemx.commands import REGISTRY, Context, load_plugins, run_pipeline

    patches, _task, _value, member = _patches(dump, "poison")
    core = tmp_path / "damaged.elf"
    shutil.copyfile(dump.path, core)
    with core.open("r+b") as f:
        for vaddr, v in patches:
            f.seek(dump.file_offset(vaddr))
            f.write(v.to_bytes(8, "little"))
    load_plugins()
    k = kmemx.open(core, dump.vmlinux)
    seen = []
    for _ in range(2):
        ctx = Context(k, REGISTRY)
        rows = list(run_pipeline(ctx, "ps").items)
        seen.append(([e for e in ctx.errors if f"{member} at {patches[0][0]:x}" in e], len(rows)))
    assert seen[0][0] and seen[0] == seen[1], seen
    assert "kmemx.helpers.sched.task_table" not in k.prog.cache
    assert "kmemx.plugins.tasks.ps_table" not in k.prog.cache


def test_bt_a_on_a_cut_dump_shows_each_cpu_or_says_why(dump: Dump, tmp_path: Path) -> None:
    """A dump cut at three quarters of its size (the run queues, or the page
    tables that map them, may lie past the cut): ``bt -a`` gives each CPU's
    trace or one warning naming the CPU, exits 3, and prints no error (it
    printed one error and nothing else: the s8 new user's P3); the
    truncation warning gives the MiB missing."""
    import os

    from kmemx.helpers.cpumask import for_each_possible_cpu

    cpus = set(for_each_possible_cpu(dump.k))
    dst = tmp_path / "cut.elf"
    with open(dump.path, "rb") as fi, open(dst, "wb") as fo:
        n = os.fstat(fi.fileno()).st_size * 3 // 4
        while n:
            n -= os.copy_file_range(fi.fileno(), fo.fileno(), n)
    proc = subprocess.run([sys.executable, "-m", "kmemx", "-c", str(dst), "-s",
                           str(dump.vmlinux), "bt", "-a"],
                          capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert any("is truncated" in ln and "MiB missing" in ln for ln in lines), lines
    errors = [ln for ln in lines if ln.startswith("kmemx: error: ")]
    if proc.returncode == 1:  # what every CPU needs (nr_cpu_ids, its page tables) is cut
        [error] = errors
        assert re.match(r"kmemx: error: [a-z_]+: past the end of the truncated dump file",
                        error), error  # the global it was reading, then why
        return
    assert proc.returncode == 3 and not errors, proc.stderr
    said = {int(ln.split("CPU ")[1].split(":")[0]) for ln in lines
            if "its run queue cannot be read" in ln}
    shown = {int(ln.split("CPU: ")[1].split()[0]) for ln in proc.stdout.splitlines()
             if ln.startswith("PID:") and "CPU: " in ln}
    assert not said & shown and said | shown == cpus, (said, shown, lines)
