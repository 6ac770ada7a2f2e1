"""crash's remaining options and the new-user leftovers against crash 8.0.6 on
the test bed's ELF dump, row by row and column by column: ``files`` and ``vm``
of several tasks (``--json`` rows name their task: PID TASK COMM), ``files``'
``ROOT: ... CWD: ...`` and ``No open files`` lines, ``files -R``, ``mod``'s
order, ``bt -l``'s assembler (``.S``) source lines.  The tasks come from the
dump (drgn): init, kthreadd, the first worker ``kmx-w000`` and its file
``/kmx/worker-000``.

Written exceptions (each asserted where it applies):

* ``bt -l``: kmemx prints a file's path as the DWARF line table names it,
  relative to the build directory (``kernel/exit.c``), crash as gdb does,
  with the compilation directory's relative part before it
  (``debian/build/build_amd64_none_amd64/kernel/exit.c``); an assembler
  file the line table names by an absolute path (Debian's 6.1 build:
  ``/build/reproducible-path/linux-6.1.192/arch/x86/entry/entry_64.S``) is
  that path in both.  The line: crash looks up the return address itself,
  kmemx the call instruction before it (the line the frame is executing),
  so they differ where the instruction after the call starts another line
  (6.12's entry_64.S: crash 130, kmemx 121); each is checked against
  drgn's ``prog.source_location()`` of its address.  crash's line of a
  frame may be another row of the line table at the same address, so only
  the ``.S`` frames, matched by return address, are compared.
* ``files -R``: crash prints its ROOT/CWD line with a blank at the end in
  this mode only; kmemx does too.  Compared line by line.
* ``vm -f``: crash names the bits from a table in its own source
  (memory.c do_vm_flags(), 2.6-era names: 0x8000000 is ``CAN_NONLINEAR``,
  which kernels since 3.11 use for VM_SOFTDIRTY), kmemx from the kernel's
  own ``vmaflag_names`` (mm/debug.c), upper-cased.  The value and the names
  of the bits both tables name alike (READ ... GROWSDOWN, LOCKED, IO,
  DONTCOPY, DONTEXPAND, ACCOUNT, HUGETLB, MIXEDMAP, MERGEABLE) are compared
  with crash; every kmemx name is checked against vmaflag_names read by
  drgn.
* ``struct -l`` members: a ``char[]``
  member: gdb prints every byte (``\\000``), kmemx's ``--json`` the string up
  to its NUL; compared up to the first NUL.
* ``struct -r``: kmemx's ``--json`` rows are ``rd``'s (ADDRESS VALUES ASCII),
  crash's lines ``ADDR:  WORDS   ASCII``; compared as parsed by parse_rd (the
  text is crash's, tests/vmcore/test_crash_struct_text.py).
* ``union``: crash refuses a struct type (``data type mismatch``), and so
  does kmemx's ``union`` (tests/vmcore/test_crash_text.py).  ``union -r`` is
  compared on a union (``union sigval``).
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from typing import Any

import pytest

import kmemx
from kmemx.commands import execute
from tests.oracles import crash as C
from tests.vmcore.crash_session import CrashSession, crash_session_fixture

pytestmark = pytest.mark.vmcore


class Session(CrashSession):
    """kmemx on the ELF dump and crash's output of the same command lines,
    from one crash session."""

    crash_timeout = 900

    @cached_property
    def kmalloc(self) -> str:
        """A small kmalloc cache the kernel has: kmalloc-64, else kmalloc-128
        (arm64 kernels before 9382bc44b5f5, v6.5, have no kmalloc cache
        below ARCH_DMA_MINALIGN, 128 bytes)."""
        from drgn.helpers.linux.slab import find_slab_cache

        return "kmalloc-64" if find_slab_cache(self.k.prog, "kmalloc-64") else "kmalloc-128"

    @cached_property
    def addr(self) -> dict[str, Any]:
        from drgn.helpers.linux.fs import path_lookup
        from drgn.helpers.linux.mm import for_each_vma

        prog = self.k.prog
        worker = self.worker
        wfile = path_lookup(prog, "/kmx/worker-000")
        vmas = list(for_each_vma(worker.mm))
        return {"pid": int(worker.pid), "task": int(worker.value_()),
                "tasks": int(worker.tasks.address_of_().value_()),
                "mm": int(worker.mm.value_()),
                "text": int(vmas[1].vm_start.value_()),
                "flags": sorted({int(v.vm_flags.value_()) for v in vmas}),
                "wfile_inode": int(wfile.dentry.d_inode.value_()),
                "wfile_dentry": int(wfile.dentry.value_())}

    @cached_property
    def commands(self) -> dict[str, str]:
        a = self.addr
        return {
            "files 1 2 W": f"files 1 2 {a['pid']}",
            "foreach files": "foreach files",
            "vm 1 2 W": f"vm 1 2 {a['pid']}",
            "mod": "mod",
            "bt -l 1": "bt -l 1",
            "bt -l W": f"bt -l {a['pid']}",
            "files -R name": "foreach files -R worker-000",
            "files -R type": f"files -R REG 1 {a['pid']}",
            "files -R fd": f"files -R 1 1 {a['pid']}",
            "files -R inode": f"files -R {a['wfile_inode']:x} {a['pid']}",
            "files -R dentry": f"files -R {a['wfile_dentry']:x} 1 {a['pid']}",
            "files -R root": "files -R / 1 2",
            "kmem -s -I": f"kmem -s -I {self.kmalloc},dentry",
            "kmem -S -I": f"kmem -S -I dentry {self.kmalloc}",
            "kmem -S=0": "kmem -S=0 kmem_cache_node",
            **{f"vm -f {f:x}": f"vm -f {f:x}" for f in a["flags"]},
            "vm -M": f"vm -M {a['mm']:x} 2",
            "struct -l member": f"struct -l task_struct.tasks task_struct.pid,comm,mm "
                                f"{a['tasks']:x}",
            "struct -l bytes": f"struct -l {a['tasks'] - a['task']} task_struct.pid "
                               f"{a['tasks']:x}",
            "struct -r": f"struct -r list_head {a['tasks']:x}",
            "struct -r member": f"struct -r task_struct.comm {a['task']:x}",
            "struct -r int": f"struct -r task_struct.pid {a['task']:x}",
            "union -r": f"union -r sigval {a['task']:x}",
            "tree -S": "tree -t rbtree -o vmap_area.rb_node -S vmap_area.va_start,va_end "
                       "free_vmap_area_root",
            "tree -s": "tree -t rbtree -o vmap_area.rb_node -s vmap_area.va_start,va_end "
                       "free_vmap_area_root",
            # crash's struct -u reads the current context's memory: set it
            # first (last: it stays for the session)
            "set W": f"set {a['pid']}",
            "struct -u": f"struct -u list_head {a['text']:x}",
            "struct -u member": f"struct -u list_head.next {a['text'] + 16:x}",
        }

    def text(self, line: str, k: kmemx.Kernel | None = None) -> list[str]:  # lines, not one str
        """kmemx's lines of ``line``, its warnings left out."""
        return [x for x in execute(k or self.k, line) if not x.startswith("kmemx: warning: ")]


s = crash_session_fixture(Session)


_HEADER = re.compile(r'^PID: (\d+)\s+TASK: ([0-9a-f]+)\s+CPU: \d+\s+COMMAND: "(.*)"$')


def _blocks(text: str) -> list[tuple[tuple[int, int, str], list[str]]]:
    """A multi-task output cut at crash's task header lines: ((pid, task,
    comm), the lines after it)."""
    out: list[tuple[tuple[int, int, str], list[str]]] = []
    for line in text.splitlines():
        m = _HEADER.match(line.strip())
        if m:
            out.append(((int(m[1]), int(m[2], 16), m[3]), []))
        elif out:
            out[-1][1].append(line.rstrip())
    return out


def _files_blocks(text: str) -> dict[int, dict[str, Any]]:
    """Per task address: ROOT, CWD, whether crash said ``No open files``, and
    the FD rows (parse_files)."""
    out: dict[int, dict[str, Any]] = {}
    for (pid, task, comm), lines in _blocks(text):
        rc = next((re.match(r"^ROOT: (.*?)    CWD: (.*?)\s*$", ln) for ln in lines
                   if ln.startswith("ROOT: ")), None)
        out[task] = {"pid": pid, "comm": comm,
                     "root": rc[1] if rc else None, "cwd": rc[2] if rc else None,
                     "none": "No open files" in lines,
                     "fds": C.parse_files("\n".join(lines))}
    return out


def _same_files(ours: dict[int, dict[str, Any]], theirs: dict[int, dict[str, Any]]) -> None:
    assert ours.keys() == theirs.keys()
    for task, want in theirs.items():
        got = ours[task]
        label = f"task {task:x} (PID {want['pid']})"
        assert (got["pid"], got["comm"], got["root"], got["cwd"], got["none"]) == \
            (want["pid"], want["comm"], want["root"], want["cwd"], want["none"]), label
        assert [(r["fd"], r["file"], r["dentry"], r["inode"]) for r in got["fds"]] == \
            [(r["fd"], r["file"], r["dentry"], r["inode"]) for r in want["fds"]], label


def _json_files(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """--json rows of files, grouped by their TASK cell (every row says it)."""
    out: dict[int, dict[str, Any]] = {}
    for r in rows:
        t = out.setdefault(int(r["task"], 16), {"pid": r["pid"], "comm": r["comm"],
                                                "root": r["root"], "cwd": r["cwd"],
                                                "none": False, "fds": []})
        assert (r["pid"], r["comm"], r["root"], r["cwd"]) == \
            (t["pid"], t["comm"], t["root"], t["cwd"])
        t["fds"].append({"fd": r["fd"], "file": int(r["file"], 16),
                         "dentry": int(r["dentry"], 16), "inode": int(r["inode"], 16)})
    return out


@pytest.mark.parametrize("key", ["files 1 2 W", "foreach files"])
def test_files_of_several_tasks(s: Session, key: str) -> None:
    """Text: each task's header, ``ROOT: / CWD: /``, its FD rows or ``No
    open files``, as crash, task by task.  JSON: every row carries PID TASK
    COMM ROOT CWD, and grouped by TASK they are crash's FD tables (a task
    without open files has no JSON rows)."""
    theirs = _files_blocks(s.crash[key])
    assert len(theirs) >= 3 and any(b["none"] for b in theirs.values())
    assert all(b["root"] == "/" for b in theirs.values())
    _same_files(_files_blocks("\n".join(s.text(s.commands[key]))), theirs)
    with_files = {t: b for t, b in theirs.items() if b["fds"]}
    _same_files(_json_files(s.json(s.commands[key])), with_files)


def test_vm_of_several_tasks(s: Session) -> None:
    """``vm 1 2 PID --json``: every row names its task (PID TASK COMM); grouped
    by TASK, the MM row and the VMA rows are crash's, column by column."""
    rows = s.json(s.commands["vm 1 2 W"])
    theirs = {task: C.parse_vm("\n".join(lines))
              for (pid, task, comm), lines in _blocks(s.crash["vm 1 2 W"])}
    assert len(theirs) == 3
    ours: dict[int, tuple[dict[str, Any] | None, list[dict[str, Any]]]] = {}
    for r in rows:
        task = int(r["task"], 16)
        mm, vmas = ours.setdefault(task, (None, []))
        if "mm" in r:
            assert mm is None
            ours[task] = ({"mm": int(r["mm"], 16), "pgd": int(r["pgd"], 16),
                           "rss": r["rss"] // 1024, "total_vm": r["total_vm"] // 1024}, vmas)
        else:
            vmas.append({"vma": int(r["vma"], 16), "start": int(r["start"], 16),
                         "end": int(r["end"], 16), "flags": int(r["flags"], 16),
                         "file": r["file"]})
    pids = {int(r["task"], 16): (r["pid"], r["comm"]) for r in rows}
    for (pid, task, comm), _ in _blocks(s.crash["vm 1 2 W"]):
        assert pids[task] == (pid, comm)
    assert ours.keys() == theirs.keys()
    for task, (mm, vmas) in theirs.items():
        assert ours[task][0] == mm, f"task {task:x}"
        assert ours[task][1] == vmas, f"task {task:x}"


def test_mod_in_crash_order(s: Session) -> None:
    """``mod``: crash's rows in crash's order (by base address: symbols.c
    sorts its modules with compare_mods()), not the modules list's."""
    theirs = C.parse_mod(s.crash["mod"])
    assert len(theirs) >= 2
    ours = s.json("mod")
    assert [r["name"] for r in ours] == [r["name"] for r in theirs]
    assert [int(r["base"], 16) for r in ours] == sorted(int(r["base"], 16) for r in ours)


_KMEMX_BT_LINE = re.compile(r"^\s*#\d+\s+\[[0-9a-f?]+\]\s+\S+\s+at\s+([0-9a-f]+)\s+(\S+):(\d+)")


def _crash_bt_lines(text: str) -> dict[int, tuple[str, int]]:
    """crash's ``bt -l``: per return address, the ``FILE: LINE`` line under it."""
    out: dict[int, tuple[str, int]] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^\s*#\d+\s+\[[0-9a-f]+\]\s+\S+\s+at\s+([0-9a-f]+)", line)
        if m and i + 1 < len(lines):
            f = re.match(r"^\s+(\S+): (\d+)$", lines[i + 1])
            if f:
                out[int(m[1], 16)] = (f[1], int(f[2]))
    return out


@pytest.mark.parametrize("key", ["bt -l 1", "bt -l W"])
def test_bt_l_assembler_paths(s: Session, key: str) -> None:
    """``bt -l``: an assembler frame's (``entry_64.S``) file and line as
    crash prints them: where the line table names the file by an absolute
    path (Debian's 6.1 build), the same path; where it names it relative to
    the build directory (6.12, as every C file), crash's path is that one
    with the compilation directory's relative part before it, the exception
    above."""
    theirs = _crash_bt_lines(s.crash[key])
    ours = {int(m[1], 16): (m[2], int(m[3]))
            for m in map(_KMEMX_BT_LINE.match, s.text(s.commands[key])) if m}
    asm = {pc: v for pc, v in theirs.items() if v[0].endswith(".S")}
    assert asm, f"{key}: crash shows no assembler frame"
    prog = s.k.prog
    for pc, (path, line) in asm.items():
        # crash looks up the return address, kmemx the call before it
        assert line == int(str(prog.source_location(pc)).rpartition(":")[2])
        assert ours[pc][1] == int(str(prog.source_location(pc - 1)).rpartition(":")[2]), \
            f"{key}: {pc:x}"
        if path.startswith("/"):
            assert ours[pc][0] == path, f"{key}: {pc:x}"
        else:
            assert not ours[pc][0].startswith("/") and path.endswith("/" + ours[pc][0]), \
                f"{key}: {pc:x}: crash {path}, kmemx {ours[pc][0]}"


@pytest.mark.parametrize("key", ["files -R name", "files -R type", "files -R fd",
                                 "files -R inode", "files -R dentry", "files -R root"])
def test_files_R(s: Session, key: str) -> None:
    """``files -R REF``: the tasks whose ROOT/CWD or open files REF names, and
    only those files (a path part, a TYPE, a decimal FD, an inode or dentry
    address), line by line as crash prints them; --json: the same FDs per
    task."""
    theirs = [ln.rstrip() for ln in s.crash[key].splitlines()]
    ours = [ln.rstrip() for ln in s.text(s.commands[key])]

    def norm(lines: list[str]) -> list[list[str]]:
        return [ln.split() for ln in lines if ln.strip()]

    assert norm(ours) == norm(theirs)
    assert any(_HEADER.match(ln) for ln in theirs), f"{key}: crash found nothing"
    want = {(task, r["fd"]) for task, b in _files_blocks(s.crash[key]).items()
            for r in b["fds"]}
    got = {(int(r["task"], 16), r["fd"]) for r in s.json(s.commands[key])}
    assert got == want


# ------------------------------------------------------------------ options


#: the bits crash's do_vm_flags() table and the kernel's vmaflag_names name
#: alike (crash name: mask)
_SAME_VM_FLAG = {"READ": 0x1, "WRITE": 0x2, "EXEC": 0x4, "SHARED": 0x8, "MAYREAD": 0x10,
                 "MAYWRITE": 0x20, "MAYEXEC": 0x40, "MAYSHARE": 0x80, "GROWSDOWN": 0x100,
                 "LOCKED": 0x2000, "IO": 0x4000, "DONTCOPY": 0x20000,
                 "DONTEXPAND": 0x40000, "ACCOUNT": 0x100000, "HUGETLB": 0x400000,
                 "MIXEDMAP": 0x10000000, "MERGEABLE": 0x80000000}


def test_vm_f(s: Session) -> None:
    """``vm -f FLAGS`` of every vm_flags value of the worker's VMAs."""
    prog = s.k.prog
    table = prog["vmaflag_names"]
    kernel = []
    for i in range(len(table)):
        if not table[i].name:
            break
        kernel.append((int(table[i].mask), table[i].name.string_().decode().upper()))
    for flags in s.addr["flags"]:
        key = f"vm -f {flags:x}"
        m = re.fullmatch(r"([0-9a-f]+): \((.*)\)", s.crash[key].strip())
        assert m, s.crash[key]
        ours = s.text(key)
        assert len(ours) == 1
        o = re.fullmatch(r"([0-9a-f]+): \((.*)\)", ours[0])
        assert o and int(o[1], 16) == int(m[1], 16) == flags
        names = o[2].split("|") if o[2] else []
        assert names == [n for mask, n in kernel if flags & mask == mask]
        theirs = set(m[2].split("|")) if m[2] else set()
        for name, mask in _SAME_VM_FLAG.items():
            assert (name in theirs) == bool(flags & mask) == (name in names), (key, name)
        row, = s.json(key)
        assert row == {"flags": flags, "names": o[2]}


def test_vm_M(s: Session) -> None:
    """``vm -M MM PID`` of a kernel thread (no mm of its own): the task's
    header and its own zero MM row, then the VMAs of the mm given, column by
    column as crash (memory.c vm_area_dump(): MM_STRUCT_FORCE is used only
    when the task has no mm)."""
    (pid, task, _comm), lines = _blocks(s.crash["vm -M"])[0]
    mm, vmas = C.parse_vm("\n".join(lines))
    assert mm == {"mm": 0, "pgd": 0, "rss": 0, "total_vm": 0} and vmas
    rows = s.json(s.commands["vm -M"])
    assert {(r["pid"], int(r["task"], 16)) for r in rows} == {(pid, task)}
    r0 = rows[0]
    assert {"mm": int(r0["mm"], 16), "pgd": int(r0["pgd"], 16), "rss": r0["rss"] // 1024,
            "total_vm": r0["total_vm"] // 1024} == mm
    assert [{"vma": int(r["vma"], 16), "start": int(r["start"], 16), "end": int(r["end"], 16),
             "flags": int(r["flags"], 16), "file": r["file"]} for r in rows[1:]] == vmas


def _c_string(v: str) -> str:
    """gdb's or kmemx's printed char array up to its first NUL."""
    return v.strip('"').split("\\000")[0]


@pytest.mark.parametrize("key", ["struct -l member", "struct -l bytes"])
def test_struct_l(s: Session, key: str) -> None:
    """``struct -l task_struct.tasks`` (and -l BYTES) of the address of a
    task's ``tasks`` list_head: the task's members, as crash (kmemx's
    members are a table, as plain ``struct T.m1,m2 ADDR``)."""
    theirs = C.parse_struct_members(s.crash[key])
    row, = s.json(s.commands[key])
    assert int(row["address"], 16) == s.addr["task"]
    assert set(theirs) == set(row) - {"address"}
    assert int(theirs["pid"]) == row["pid"] == s.addr["pid"]
    if "comm" in theirs:
        assert _c_string(theirs["comm"]) == row["comm"] == "kmx-w000"
        assert int(re.sub(r" <.*", "", theirs["mm"]), 16) == int(row["mm"], 16) == s.addr["mm"]


@pytest.mark.parametrize("key", ["struct -r", "struct -r member", "struct -r int",
                                 "union -r"])
def test_struct_r(s: Session, key: str) -> None:
    """``struct -r``: the structure's (or one member's) bytes word by word,
    in the member's width for 1/2/4 bytes, with crash's ASCII column."""
    theirs = C.parse_rd(s.crash[key])
    assert theirs
    ours = [{"address": int(r["address"], 16),
             "words": [int(w, 16) for w in r["values"].split()], "ascii": r["ascii"]}
            for r in s.json(s.commands[key])]
    assert [(r["address"], r["words"]) for r in ours] == \
        [(r["address"], r["words"]) for r in theirs]
    # crash pads a short line's ASCII column to where a full line's starts
    assert [r["ascii"].strip() for r in ours] == [(r["ascii"] or "").strip() for r in theirs]


def test_struct_r_more_members_is_an_error(s: Session) -> None:
    from kmemx.commands import CommandError

    with pytest.raises(CommandError, match="only one structure member allowed with -r"):
        s.text(f"struct -r task_struct.pid,comm {s.addr['task']:x}")


def test_struct_u(s: Session) -> None:
    """``struct -u`` of a user address of the current context (set PID):
    the worker's text read through its page tables, as crash."""
    from kmemx.commands import execute as run

    k = kmemx.open(s.core, s.fixture.vmlinux)  # its own context
    list(run(k, f"set {s.addr['pid']}"))
    text = "\n".join(run(k, s.commands["struct -u"]))
    assert text.split("\n") == s.crash["struct -u"].rstrip("\n").split("\n")  # crash's text
    assert set(C.parse_struct_members(text)) == {"next", "prev"}
    row, = json.loads("\n".join(run(k, s.commands["struct -u member"], as_json=True)))
    want = C.parse_struct_members(s.crash["struct -u member"])
    assert int(row["next"], 16) == int(re.sub(r" <.*", "", want["next"]), 16)


def test_tree_S(s: Session) -> None:
    """``tree -S``: the same nodes and members as crash's -S (and as -s)."""
    def nodes(text: str) -> list[tuple[int, int, int]]:
        out: list[tuple[int, int, int]] = []
        cur: dict[str, int] = {}
        for line in text.splitlines():
            if re.fullmatch(r"[0-9a-f]{16}", line.strip()):
                cur = {"node": int(line.strip(), 16)}
            m = re.match(r"^\s+(va_start|va_end) = (\d+)", line)
            if m:
                cur[m[1]] = int(m[2])
                if m[1] == "va_end":
                    out.append((cur["node"], cur["va_start"], cur["va_end"]))
        return out

    theirs = nodes(s.crash["tree -S"])
    assert theirs and theirs == nodes(s.crash["tree -s"])
    ours = [(int(r["address"], 16), int(r["va_start"]), int(r["va_end"]))
            for r in s.json(s.commands["tree -S"])]
    assert ours == theirs


def _ignored(text: str) -> list[tuple[int, str]]:
    return [(int(m[1], 16), m[2]) for m in (re.match(r"^([0-9a-f]{16})\s+\[IGNORED\]\s+(\S+)\s*$",
                                                     ln) for ln in text.splitlines()) if m]


def test_kmem_s_I(s: Session) -> None:
    """``kmem -s -I A,B``: every cache in crash's order, the ignored ones as
    crash's ``[IGNORED]`` rows (CACHE and NAME), the others the rows plain
    ``kmem -s`` gives (whose counts test_oracle_columns checks against
    crash); CACHE OBJSIZE SSIZE NAME equal to crash's."""
    text = s.crash["kmem -s -I"]
    ignored = _ignored(text)
    assert sorted(n for _, n in ignored) == ["dentry", s.kmalloc]
    theirs = {r["cache"]: r for r in C.parse_kmem_s(text)}
    ours = s.json(s.commands["kmem -s -I"])
    order = [int(r["cache"], 16) for r in ours]
    crash_order = [int(m[1], 16) for m in (re.match(r"^([0-9a-f]{16})\s", ln)
                                           for ln in text.splitlines()) if m]
    assert order == crash_order
    assert [(int(r["cache"], 16), r["name"]) for r in ours if r["objsize"] == "[IGNORED]"] \
        == ignored
    plain = {r["cache"]: r for r in s.json("kmem -s")}
    for r in ours:
        if r["objsize"] == "[IGNORED]":
            assert r["allocated"] is None and r["total"] is None
            continue
        assert r == plain[r["cache"]]
        t = theirs[int(r["cache"], 16)]
        assert (r["objsize"], r["ssize"], r["name"]) == (t["objsize"], t["ssize"], t["name"])


def test_kmem_S_I(s: Session) -> None:
    """``kmem -S -I dentry kmalloc-64``: crash applies -I to its walk of
    every cache, not to a cache named: kmalloc-64 in full, no [IGNORED] row;
    kmemx's rows are plain ``kmem -S kmalloc-64``'s (test_crash_kmem checks
    those against crash), its cache row and per-CPU kmem_cache_cpu
    addresses crash's."""
    text = s.crash["kmem -S -I"]
    rows = s.json(s.commands["kmem -S -I"])
    assert rows == s.json(f"kmem -S {s.kmalloc}")
    if "-S not supported for this kernel" in text:  # 7.0 on: drgn's values (crash_kmem_S)
        from tests.oracles.drgn_slub import crash_kmem_S

        theirs, = crash_kmem_S(s.k.prog, text, [s.kmalloc])
        assert int(rows[0]["cache"], 16) == theirs["cache"] and rows[0]["name"] == s.kmalloc
        assert (rows[0]["allocated"], rows[0]["total"]) == (theirs["allocated"], theirs["total"])
        assert not any("kmem_cache_cpu" in r for r in rows)
        return
    assert not _ignored(text)
    cache, = C.parse_kmem_s(text)
    assert int(rows[0]["cache"], 16) == cache["cache"] and rows[0]["name"] == s.kmalloc
    lines = text.splitlines()
    theirs = [int(lines[i + 1].strip(), 16) for i, ln in enumerate(lines)
              if re.fullmatch(r"CPU \d+ KMEM_CACHE_CPU:", ln.strip())]
    ours = [int(v, 16) for r in rows for k, v in r.items() if k == "kmem_cache_cpu"]
    assert theirs and ours == theirs


def test_kmem_S_cpus(s: Session) -> None:
    """``kmem -S=0 CACHE``: the per-CPU part of CPU 0 only, then the nodes,
    as crash: the same CPUs, lists and objects (each object's address and
    allocated or free) as crash prints; the rows are plain -S's without the
    other CPUs'."""
    text = s.crash["kmem -S=0"]
    if "-S not supported for this kernel" in text:  # 7.0 on: no per-CPU part at all
        from tests.oracles.drgn_slub import crash_kmem_S

        rows = s.json(s.commands["kmem -S=0"])
        assert rows == s.json("kmem -S kmem_cache_node")
        theirs, = crash_kmem_S(s.k.prog, text, ["kmem_cache_node"])
        assert not any("kmem_cache_cpu" in r or "object" in r for r in rows)
        assert [(int(r["kmem_cache_node"], 16), r["node"], r["slabs"], r["partial"])
                for r in rows if "kmem_cache_node" in r] == [n[:4] for n in theirs["nodes"]]
        assert [(int(r["slab"], 16), r["allocated"]) for r in rows if "list" in r] == \
            [(sl["slab"], sl["allocated"]) for sl in theirs["slabs"]]
        return
    cpus = [int(m[1]) for m in (re.match(r"^CPU (\d+) KMEM_CACHE_CPU:", ln)
                                for ln in text.splitlines()) if m]
    assert cpus == [0]
    theirs = set()
    for ln in text.splitlines():  # "  [ADDR]" allocated, "   ADDR  (cpu 0 cache)" free
        m = re.match(r"^  \[([0-9a-f]{16})\]\s*$|^   ([0-9a-f]{16})(\s+\(cpu \d+ cache\))?\s*$",
                     ln)
        if m:
            theirs.add((int(m[1] or m[2], 16), m[1] is not None))
    rows = s.json(s.commands["kmem -S=0"])
    ours = {(int(r["object"], 16), r["allocated"]) for r in rows if "object" in r}
    assert theirs and ours == theirs
    assert {r["cpu"] for r in rows if "kmem_cache_cpu" in r} == {0}
    full = s.json("kmem -S kmem_cache_node")
    assert rows == [r for r in full if not (
        ("kmem_cache_cpu" in r and r["cpu"] != 0)
        or str(r.get("list", "")).startswith("CPU 1")
        or ("object" in r and r["slab"] in {x["slab"] for x in full
                                             if str(x.get("list", "")).startswith("CPU 1")}))]




def test_drgn_code_of_the_new_options(s: Session) -> None:
    """``--drgn`` of vm -f (text, line for line) and struct -l (the rows);
    an option without a translation (files -c) says so in one error line."""
    from kmemx.commands import CommandError

    for flags in s.addr["flags"]:
        line = f"vm -f {flags:x}"
        assert s.drgn_output(line).splitlines() == s.text(line)
    for key in ("struct -l member", "struct -l bytes"):
        line = s.commands[key]
        theirs = [ln.split("\t") for ln in s.drgn_output(line).splitlines()]
        ours = [[str(v) for v in r.values()] for r in s.json(line)]
        assert theirs[1:] == ours and [h.lower() for h in theirs[0]] == list(s.json(line)[0])
    # files -R/-c, vm -M and kmem -s -I have --drgn code now (test_crash_opts4 and
    # test_drgn_code run it), struct -r/-u too; an option without code (rd's
    # symbol form) still fails in one line
    with pytest.raises(CommandError, match="--drgn"):
        list(execute(s.k, "rd -s jiffies --drgn"))
