"""crash's text forms and kmemx's ``--json`` data (issue 15) against crash
8.0.6 on the test bed's ELF dump (``KMEMX_KERNEL`` picks the kernel: 6.1
and 6.12 checked).

Text that is crash's, line for line: ``sys`` (right-aligned ``KEY: value``,
``PANIC`` quoted), ``kmem -i`` (header, right-aligned keys, blank lines
between the groups), ``struct T.m1,m2 ADDR`` member lines (gdb's pretty
print as crash sets it up), and ``union``'s refusal of a structure's name.
``task -R``'s member lines are crash's too.  ``--json`` that is data:
``p`` values, ``task -R`` members, ``whatis``
members and sizes, ``bt`` frames with the exception frame's registers, each
compared with what crash prints for the same command.

Written exceptions (each asserted where it applies):

* ``sys``: kmemx adds a last line, ``READER: <reader>`` (kmemx's own reader,
  which crash does not have); every other line is crash's.
* ``kmem -i``: COMMITTED is /proc/meminfo's Committed_AS (the per-CPU
  counters summed), crash's the central count only (docs/crash-users.md);
  that line is compared by its layout and key only.
* ``struct T.a.b ADDR`` for a path inside ``thread`` (and other members
  crash 8.0.6 refuses as "invalid data structure member reference"): kmemx
  prints the line; not compared.
* ``bt --json``: frames are kmemx's (drgn's unwinder, inline frames;
  docs/crash-users.md), so they are checked against kmemx's own text frame
  by frame; the registers saved at the system call entry against crash's.
"""

from __future__ import annotations

import re
import time
from functools import cached_property
from typing import Any

import pytest

import kmemx
from kmemx.commands import CommandError, execute
from tests.oracles import crash as C
from tests.vmcore.crash_session import CrashSession, crash_session_fixture

pytestmark = pytest.mark.vmcore

#: member lists of task_struct compared with crash: scalars, strings, nested
#: structures, anonymous unions, pointers into the kernel image (<symbol>),
#: char * strings, bit fields, arrays, the struct's last member (no comma)
MEMBER_SETS = (
    "pid,comm,tasks,se.vruntime,sched_info,pi_lock,stack_refcount,real_parent,flags",
    "active_mm,mm,stack,fs,files,sched_class,thread_info,restart_block,stack_canary",
    "se.load,cpus_ptr,policy,prio,on_rq,signal,cred,nsproxy,group_leader,thread_pid",
    "pid_links,children,sibling,ptraced,vfork_done,set_child_tid,utime,start_time",
    "sched_task_group,rt,dl,sched_reset_on_fork,in_execve,atomic_flags,personality",
    "exit_state,exit_code,exit_signal,pdeath_signal,jobctl,nvcsw,min_flt,comm",
    "thread",
)


class Session(CrashSession):
    crash_timeout = 900

    @cached_property
    def addr(self) -> dict[str, Any]:
        from drgn.helpers.linux.pid import find_task

        prog = self.k.prog
        worker = self.worker
        return {"worker": int(worker.value_()), "pid": int(worker.pid),
                "kthread": int(find_task(prog, 2).value_())}

    @cached_property
    def ti_member(self) -> str:
        """A member of thread_info's that task_struct lacks: x86-64's status,
        else its syscall_work (5.11, 6cf3f1bd8f0b); arm64's preempt_count."""
        prog = self.k.prog
        for name in ("status", "syscall_work", "preempt_count"):
            try:
                prog.type("struct thread_info").member(name)
            except LookupError:
                continue
            try:
                prog.type("struct task_struct").member(name)
            except LookupError:
                return name
        pytest.skip("no member of thread_info's that task_struct lacks")

    @cached_property
    def commands(self) -> dict[str, str]:
        a = self.addr
        out = {"sys": "sys", "kmem -i": "kmem -i", "p jiffies": "p jiffies",
               "p comm": "p init_task.comm", "whatis list_head": "whatis list_head",
               "whatis jiffies": "whatis jiffies",
               "task -R": f"task -R pid,comm,se.vruntime,tasks {a['pid']}",
               "task -R 1 2": "task -R pid,comm,sched_class,active_mm 1 2",
               "task -R ti": f"task -R comm,flags,cpu,{self.ti_member},rcu_users,pid {a['pid']}",
               "task -x -R ti": f"task -x -R flags,{self.ti_member},se.on_rq {a['pid']}",
               "task -R nosuch": f"task -R nosuch,pid {a['pid']}",
               "bt W": f"bt {a['pid']}",
               "per-cpu": "struct rq.cpu,nr_running runqueues:a",
               "count": f"struct task_struct.pid,comm {a['worker']:x} 3",
               "union member": f"union sigval.sival_int {a['worker']:x}",
               "union mismatch": f"union list_head {a['worker']:x}",
               "struct mismatch": f"struct sigval {a['worker']:x}",
               "union bad member": f"union sigval.nosuch {a['worker']:x}",
               # a user-space address: crash's "CMD: invalid kernel virtual address: ARG"
               "struct low": "struct task_struct 0x10", "struct member low":
               "struct task_struct.pid 10", "union low": "union sigval 0x10",
               "list low": "list -H 0x10", "tree low": "tree -t rbtree 0x10"}
        for who in ("worker", "kthread"):
            for n, members in enumerate(MEMBER_SETS):
                out[f"{who} {n}"] = f"struct task_struct.{members} {a[who]:x}"
            out[f"{who} -x"] = f"struct -x task_struct.{MEMBER_SETS[1]} {a[who]:x}"
        return out

    def ours(self, key: str) -> str:
        try:
            return self.text(self.commands[key])
        except CommandError as e:
            return str(e)


s = crash_session_fixture(Session)


def _lines(text: str) -> list[str]:
    return text.strip("\n").splitlines()


def test_sys_text_is_crash(s: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")  # crash runs with TZ=UTC; DATE is local time
    time.tzset()
    try:
        ours = _lines(s.ours("sys"))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert ours[-1] == f"      READER: {s.k.reader.name}"
    assert ours[:-1] == _lines(s.crash["sys"])
    assert [r["key"] for r in s.json("sys")][-1] == "READER"


def test_kmem_i_text_is_crash(s: Session) -> None:
    ours = _lines(s.ours("kmem -i"))
    theirs = _lines(C.kmem_i_text(lambda line: s.crash_outputs([line])[line]))
    assert len(ours) == len(theirs) == 18
    assert ours[:-1] == theirs[:-1]
    layout = re.compile(r"^    COMMITTED  [ \d]{7}  [ \d.KMGB]{11}  [ \d]{3}% of TOTAL LIMIT$")
    assert layout.match(ours[-1]) and layout.match(theirs[-1]), (ours[-1], theirs[-1])
    rows = s.json("kmem -i")
    for row, line in zip(rows, [ln for ln in ours[1:] if ln]):
        if row["percentage"] is None:
            assert row["of"] is None and line.endswith("         ----")
        else:
            assert line.endswith(f"{row['percentage']:3d}% of {row['of']}")
        assert line.startswith(f"{row['key']:>13}  {row['pages']:7d}  ")


@pytest.mark.parametrize("key", [f"{who} {n}" for who in ("worker", "kthread")
                                 for n in range(len(MEMBER_SETS))]
                         + ["worker -x", "kthread -x", "per-cpu", "count", "union member"])
def test_struct_member_lines_are_crash(s: Session, key: str) -> None:
    assert _lines(s.ours(key)) == _lines(s.crash[key])


@pytest.mark.parametrize("key", ["union mismatch", "struct mismatch", "union bad member",
                                 "struct low", "struct member low", "union low", "list low",
                                 "tree low"])
def test_struct_union_errors_are_crash(s: Session, key: str) -> None:
    assert s.ours(key) == s.crash[key].strip()


@pytest.mark.parametrize("key", ["task -R", "task -R 1 2", "task -R ti", "task -x -R ti"])
def test_task_r_text_is_crash(s: Session, key: str) -> None:
    """``task -R``: crash's header and member lines, a blank line after each
    task; a plain name from the task_struct and from its thread_info both
    (``flags`` twice, ``cpu`` and ``status`` thread_info's on x86-64: task.c
    parse_task_thread() greps both structures), as ``--drgn`` prints too."""
    assert _lines(s.ours(key)) == _lines(s.crash[key])
    if key.endswith("ti"):
        assert _lines(s.drgn_output(s.commands[key])) == _lines(s.crash[key])


def test_task_r_unknown_member_is_crashs_message(s: Session) -> None:
    """A name neither structure has: crash's ``task: nosuch: not a task_struct
    or thread_info member`` (kmemx's warning), the other members' lines."""
    theirs = _lines(s.crash["task -R nosuch"])
    info = [ln for ln in theirs if ln.startswith("task: nosuch")]
    ours = s.ours("task -R nosuch").split("\n")
    warned = [ln for ln in ours if ln.startswith("kmemx: warning: ")]
    assert info and warned == [f"kmemx: warning: {info[0]}"]
    assert _lines("\n".join(ln for ln in ours if ln not in warned)) == [
        ln for ln in theirs if ln not in info]


def test_struct_member_json_stays_a_table(s: Session) -> None:
    row, = s.json(s.commands["worker 0"])
    assert int(row["address"], 16) == s.addr["worker"] and row["pid"] == s.addr["pid"]
    assert row["comm"] == "kmx-w000"


def test_p_json_values(s: Session) -> None:
    row, = s.json("p jiffies")
    assert row == {"name": "jiffies", "value": int(s.crash["p jiffies"].split(" = ")[-1])}
    row, = s.json("p init_task.comm")
    theirs = s.crash["p comm"].split(" = ", 1)[1].strip().strip('"').split("\\000")[0]
    assert row["value"] == theirs == "swapper/0"
    row, = s.json("p init_task.tasks")
    assert set(row["value"]) == {"next", "prev"} and all(
        isinstance(v, int) for v in row["value"].values())
    rows = s.json("p runqueues:a")
    assert [r["value"]["cpu"] for r in rows] == list(range(len(rows)))


def test_task_json_members(s: Session) -> None:
    from tests.oracles.crash import parse_struct_members

    theirs = parse_struct_members(s.crash["task -R"])
    rec, = s.json(s.commands["task -R"])
    assert rec["pid"] == s.addr["pid"] and int(rec["task"], 16) == s.addr["worker"]
    m = rec["members"]
    assert m["pid"] == int(theirs["pid"])
    assert m["comm"] == theirs["comm"].strip('"').split("\\000")[0]
    assert m["se.vruntime"] == int(theirs["se.vruntime"])
    assert isinstance(m["tasks"]["next"], int)
    rec, = s.json(s.commands["task -R ti"])  # thread_info's members under thread_info.NAME
    theirs_ti = [ln.strip().rstrip(",") for ln in _lines(s.crash["task -R ti"])]
    assert [f"flags = {rec['members']['flags']}",
            f"flags = {rec['members']['thread_info.flags']}"] == [
        ln for ln in theirs_ti if ln.startswith("flags = ")]
    # cpu: thread_info's where it has one (x86-64 since 5.16, bcf9033e5449),
    # else task_struct's (crash greps both structures)
    cpu = rec["members"].get("thread_info.cpu", rec["members"].get("cpu"))
    assert f"cpu = {cpu}" in theirs_ti
    whole, = s.json(f"task {s.addr['pid']}")
    assert whole["members"]["pid"] == s.addr["pid"] and whole["members"]["comm"] == "kmx-w000"


def test_whatis_json(s: Session) -> None:
    t, = s.json("whatis list_head")
    theirs = _lines(s.crash["whatis list_head"])
    assert t["size"] == int(theirs[-1].split()[-1]) == 16
    assert [(m["name"], m["type"], m["offset"]) for m in t["members"]] == [
        ("next", "struct list_head *", 0), ("prev", "struct list_head *", 8)]
    assert [ln.strip().rstrip(";").split("*")[-1] for ln in theirs[1:-2]] == ["next", "prev"]
    sym, = s.json("whatis jiffies")
    assert s.crash["whatis jiffies"].strip() == f"{sym['type']} jiffies;"
    assert sym["kind"] == "symbol" and int(sym["address"], 16) == s.k.prog["jiffies"].address_


def test_bt_json_frames_and_registers(s: Session) -> None:
    """``bt --json`` frames carry what the text prints: crash's
    ``"%s#%d [%8lx] %s at %lx"`` is ``[sp] function at pc`` on x86-64 and
    ``[frame_pointer] function at at`` on arm64 (arm64.c
    arm64_print_stackframe_entry(): the frame record's x29, and a return
    address less 4, the branch that made the call), drgn's ``pc`` kept
    beside it; the user-mode registers are crash's (RIP... / PC, LR, SP,
    X29..X0, ORIG_X0, SYSCALLNO, PSTATE)."""
    from kmemx.arch import is_aarch64

    arm64 = is_aarch64(s.k.prog)
    line = s.commands["bt W"]
    text = _lines(s.text(line))
    frames = s.json(line)
    assert all(f["pid"] == s.addr["pid"] and f["comm"] == "kmx-w000" for f in frames)
    shown = [ln for ln in text if re.match(r"^( #\d|#\d\d+) \[", ln)]
    named = [f for f in frames if f.get("function")]
    assert len(shown) == len(named)
    for ln, f in zip(shown, named):  # crash's "%s#%d [%8lx] %s at %lx", level < 10 ? " " : ""
        if arm64:  # a blocked task: every frame's pc is a return address
            assert int(f["at"], 16) == int(f["pc"], 16) - 4 and f["frame_pointer"] is not None
            stack = int(f["frame_pointer"], 16)
        else:
            assert f["at"] == f["pc"] and f["frame_pointer"] is None  # x86-64: pc, sp as they are
            stack = int(f["sp"], 16)
        assert ln.startswith(f"{' ' if f['frame'] < 10 else ''}#{f['frame']} "
                             f"[{stack:x}] {f['function']} at {int(f['at'], 16):x}")
        assert (" (inlined)" in ln) == f["inlined"]
        if f["file"] is not None:
            assert f"  {f['file']}:{f['line']}" in ln
    user = [f for f in frames if f.get("exception", {}).get("mode") == "user"]
    assert len(user) == 1
    regs = user[0]["exception"]["registers"]
    crash = s.crash["bt W"]
    # the registers saved at system call entry (arm64: SYSCALLNO in hex, 104 for wait4's 260)
    block = crash[crash.rindex("     PC:" if arm64 else "    RIP:"):]
    theirs = {k: int(v, 16) for k, v in re.findall(r"\b([A-Z0-9_]+): ([0-9a-f]{1,16})\b",
                                                     block)}
    assert len(theirs) == (36 if arm64 else 21) and {k: regs[k] for k in theirs} == theirs


def test_bt_pipe_passes_tasks(s: Session) -> None:
    """``bt -a | filter comm~X``: bt passes one item per task (its text, its
    frames as data, the task object), as ps does."""
    import json

    k: kmemx.Kernel = s.k
    n = int(list(execute(k, "bt -a | count"))[1])
    assert n == len({r["task"] for r in s.json("bt -a")}) >= 1
    assert int(list(execute(k, "bt -a | filter pid>=0 | count"))[1]) == n
    recs = json.loads("\n".join(execute(k, "bt -a | filter comm~^swapper | task -R pid",
                                         as_json=True)))
    assert all(r["members"] == {"pid": 0} and r["comm"].startswith("swapper") for r in recs)
    text = list(execute(k, "bt -a | filter pid!=0"))
    assert all(not ln.startswith("PID: 0 ") for ln in text)
