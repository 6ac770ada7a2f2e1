"""Whole structures, unions, ``task`` and ``p`` in crash's text (gdb's
``set print pretty on`` as crash 8.0.6 sets it up), and ``struct -r``'s
``rd`` lines, byte for byte against crash on the test bed's ELF dump
(``KMEMX_KERNEL`` picks the kernel: 6.1 and 6.12 checked) (issue 15).

The sample: a worker's and a kernel thread's ``task_struct`` (bit fields,
function pointers, enums, char arrays, a flexible array, nested anonymous
unions, an empty structure), its ``mm_struct`` (the maple tree's anonymous
unions, ``cpu_bitmap[]``), an open ``file``, its ``inode`` and
``super_block``, ``sighand_struct``, ``signal_struct``, the ``page`` of the
task's memory (COUNT 2), a ``list_head``, ``rb_node`` (24 bytes: a short
``-r`` line), a typedef's name (``atomic_t``), ``union sigval`` (COUNT 2: no
blank line between unions), ``-x``/``-d``, ``task`` (the current context, a
PID, ``-x``), and ``p`` of scalars, pointers (their type in front),
structures, arrays (crash's line break before ``{``), char arrays, a
``char []`` symbol (``linux_banner``: its definition's length), a
function (``{void (void)} 0x...``), enums, per-CPU-sized arrays and a
per-CPU variable (crash's ``PER-CPU DATA TYPE`` / ``ADDRESSES`` block);
``--drgn`` of the
structures and tasks prints the same text under plain drgn.

Written exceptions (each asserted where it applies):

* ``p``'s ``$N``: gdb numbers the values of the whole crash session, which
  the oracle shares between test modules; kmemx numbers its own session's.
  Compared with the number replaced by ``$N``.
* Bytes 0x80-0xff in strings: crash runs under ``LC_ALL=C`` (the oracle),
  where gdb prints them as octal escapes, as kmemx always does
  (``plugins/lists.py`` ``_gdb_string`` says why); tests/unit/test_crash_struct_text.py
  checks such bytes without a dump.
* ``p linux_banner``: crash's gdb printed the declaration's form
  (``extern const char linux_banner[]``: its address, ``<linux_banner>`` and
  the string) in one 6.1 session and the definition's (``char [190]``: the
  string) in this module's, depending on which compilation unit gdb had
  read first; kmemx always prints the definition's (the ELF symbol's size).
  crash 9.x's gdb 16 prints the declaration's form always, and the symbol a
  ``void *`` points at (``stack = 0x... <init_thread_union>``), where gdb 10
  and kmemx print the value alone: such an annotation is dropped only where
  it names the value exactly (:meth:`CrashSession.gdb10_text`).
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

import pytest

from kmemx.commands import CommandError
from tests.vmcore.crash_session import CrashSession, crash_session_fixture

pytestmark = pytest.mark.vmcore


#: ``p`` lines compared: symbols (crash's leader), member paths (none),
#: scalars in both radixes, pointers, structures, arrays, strings, enums
P_EXPRESSIONS = (
    "jiffies", "-x jiffies", "-d jiffies", "init_task", "init_task.tasks", "-x init_task.se",
    "init_task.comm", "-x init_task.comm", "init_task.comm[0]", "-x init_task.comm[0]",
    "__cpu_online_mask", "init_task.cpus_mask", "init_uts_ns", "linux_banner", "system_state",
    "-x system_state", "__per_cpu_offset", "init_mm", "init_task.mm", "init_task.sched_class",
    "init_task.stack", "init_task.pid_links", "init_task.thread_info",
    "-x init_task.thread_info", "init_task.prio", "-x init_task.prio", "sys_call_table",
    "nr_cpu_ids", "schedule", "runqueues", "init_task.cpus_ptr", "init_task.thread_pid",
    "init_task.restart_block.fn", "init_task.sched_reset_on_fork",
    "-x init_task.sched_reset_on_fork")


class Session(CrashSession):
    crash_timeout = 1500

    @cached_property
    def addr(self) -> dict[str, Any]:
        from drgn.helpers.linux.fs import path_lookup
        from drgn.helpers.linux.mm import virt_to_page
        from drgn.helpers.linux.pid import find_task, for_each_task

        prog = self.k.prog
        worker = next(t for t in for_each_task(prog)
                      if t.comm.string_() == b"kmx-w000" and t.pid == t.tgid)
        wfile = path_lookup(prog, "/kmx/worker-000")
        inode = wfile.dentry.d_inode
        return {"worker": int(worker.value_()), "pid": int(worker.pid),
                "kthread": int(find_task(prog, 2).value_()),
                "mm": int(worker.mm.value_()),
                "file": int(worker.files.fdt.fd[0].value_()),
                "inode": int(inode.value_()), "sb": int(inode.i_sb.value_()),
                "sighand": int(worker.sighand.value_()),
                "signal": int(worker.signal.value_()),
                "page": int(virt_to_page(prog, worker.value_()).value_()),
                "rb_node": int(worker.se.run_node.address_of_().value_())}

    @cached_property
    def commands(self) -> dict[str, str]:
        a = {k: f"{v:x}" for k, v in self.addr.items()}
        w = a["worker"]
        return {
            "struct task_struct W": f"struct task_struct {w}",
            "struct task_struct K": f"struct task_struct {a['kthread']}",
            "struct -x task_struct W": f"struct -x task_struct {w}",
            "struct mm_struct": f"struct mm_struct {a['mm']}",
            "struct -x mm_struct": f"struct -x mm_struct {a['mm']}",
            "struct file": f"struct file {a['file']}",
            "struct inode": f"struct inode {a['inode']}",
            "struct super_block": f"struct super_block {a['sb']}",
            "struct sighand_struct": f"struct sighand_struct {a['sighand']}",
            "struct signal_struct": f"struct signal_struct {a['signal']}",
            "struct page 2": f"struct page {a['page']} 2",
            "struct list_head 2": f"struct list_head {w} 2",
            "struct -d list_head": f"struct -d list_head {w}",
            "struct rb_node": f"struct rb_node {a['rb_node']}",
            "struct atomic_t": f"struct atomic_t {w}",
            "union sigval": f"union sigval {w}",
            "union sigval 2": f"union sigval {w} 2",
            "struct -r list_head": f"struct -r list_head {w}",
            "struct -r list_head 2": f"struct -r list_head {w} 2",
            "struct -r task_struct": f"struct -r task_struct {w}",
            "struct -r task_struct.comm": f"struct -r task_struct.comm {w}",
            "struct -r task_struct.prio": f"struct -r task_struct.prio {w}",
            "struct -r task_struct.on_cpu": f"struct -r task_struct.on_cpu {w}",
            "struct -r rb_node": f"struct -r rb_node {a['rb_node']}",
            "union -r sigval": f"union -r sigval {w}",
            "task W": f"task {self.addr['pid']}",
            "task -x W": f"task -x {self.addr['pid']}",
            "task K": "task 2",
            "task": "task",
            **{f"p {e}": f"p {e}" for e in P_EXPRESSIONS},
        }

    def ours(self, key: str) -> str:
        try:
            return self.text(self.commands[key])
        except CommandError as e:
            return str(e)


s = crash_session_fixture(Session)


def _lines(text: str) -> list[str]:
    """The lines of a command's output, the history number of gdb's ``$N =``
    replaced (the written exception) and the last blank line dropped."""
    return [re.sub(r"^((?:\S+ = )?)\$\d+ = ", r"\1$N = ", ln)
            for ln in text.rstrip("\n").split("\n")]


STRUCTS = ["struct task_struct W", "struct task_struct K", "struct -x task_struct W",
           "struct mm_struct", "struct -x mm_struct", "struct file", "struct inode",
           "struct super_block", "struct sighand_struct", "struct signal_struct",
           "struct page 2", "struct list_head 2", "struct -d list_head", "struct rb_node",
           "struct atomic_t", "union sigval", "union sigval 2"]
RAW = ["struct -r list_head", "struct -r list_head 2", "struct -r task_struct",
       "struct -r task_struct.comm", "struct -r task_struct.prio",
       "struct -r task_struct.on_cpu", "struct -r rb_node", "union -r sigval"]
TASKS = ["task W", "task -x W", "task K", "task"]


@pytest.mark.parametrize("key", STRUCTS + RAW + TASKS)
def test_text_is_crash(s: Session, key: str) -> None:
    ours, theirs = _lines(s.ours(key)), _lines(s.crash[key])
    assert len(ours) == len(theirs) >= 1 and ours == s.gdb10_text(theirs, ours)


@pytest.mark.parametrize("key", [f"p {e}" for e in P_EXPRESSIONS])
def test_p_text_is_crash(s: Session, key: str) -> None:
    ours = _lines(s.ours(key))
    assert ours == s.gdb10_text(_lines(s.crash[key]), ours)


@pytest.mark.parametrize("key", ["struct task_struct K", "struct -x mm_struct", "union sigval 2",
                                 "struct list_head 2", "task W", "task -x W", "p runqueues"])
def test_drgn_prints_the_same_text(s: Session, key: str) -> None:
    """``--drgn``'s script, run by plain drgn, prints the command's text."""
    assert s.drgn_output(s.commands[key]).rstrip("\n") == s.ours(key).rstrip("\n")


def test_json_keeps_data(s: Session) -> None:
    """``--json`` of a whole structure, ``task`` and ``p`` stays data."""
    row, = s.json(s.commands["struct task_struct W"])
    assert int(row["address"], 16) == s.addr["worker"] and row["type"] == "struct task_struct"
    rec, = s.json(s.commands["task W"])
    assert rec["members"]["pid"] == s.addr["pid"] and rec["members"]["comm"] == "kmx-w000"
    row, = s.json("p init_task.tasks")
    assert set(row["value"]) == {"next", "prev"}
    rec, = s.json("p runqueues")
    assert rec["type"] == "struct rq" and len(rec["addresses"]) == len(
        [ln for ln in s.ours("p runqueues").split("\n") if ln.startswith("  [")])
    rows = s.json(s.commands["struct -r list_head"])
    assert [int(r["address"], 16) for r in rows] == [s.addr["worker"]]
