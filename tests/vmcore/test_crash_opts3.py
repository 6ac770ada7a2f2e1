"""crash's remaining options and the new-user leftovers against crash 8.0.6 on
the test bed's ELF dump, row by row and column by column: ``files`` and ``vm``
of several tasks (``--json`` rows name their task: PID TASK COMM), ``files``'
``ROOT: ... CWD: ...`` and ``No open files`` lines, ``files -R``, ``mod``'s
order, ``bt -l``'s assembler (``.S``) source lines.  The tasks come from the
dump (drgn): init, kthreadd, the first worker ``kmx-w000`` and its file
``/kmx/worker-000``.

Written exceptions (each asserted where it applies):

* ``bt -l``: kmemx prints a C file's path as the DWARF line table names it
  relative to the build directory (``kernel/exit.c``), crash as gdb does,
  with the compilation directory's relative part before it
  (``debian/build/build_amd64_none_amd64/kernel/exit.c``); an assembler
  file's path is absolute in both and compared as text.  crash's line of a
  frame may be another row of the line table at the same address, so only
  the ``.S`` frames, matched by return address, are compared.
* ``files -R``: crash prints its ROOT/CWD line with a blank at the end in
  this mode only; kmemx does too.  Compared line by line.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from typing import Any

import pytest

import kmemx
from kmemx.commands import execute
from tests.fixtures.fixture import Fixture
from tests.oracles import crash as C

pytestmark = pytest.mark.vmcore


class Session:
    """kmemx on the ELF dump and crash's output of the same command lines,
    from one crash session."""

    def __init__(self, fixture: Fixture) -> None:
        self.fixture = fixture
        self.core = fixture.core("elf")

    @cached_property
    def k(self) -> kmemx.Kernel:
        return kmemx.open(self.core, self.fixture.vmlinux)

    @cached_property
    def addr(self) -> dict[str, Any]:
        from drgn.helpers.linux.fs import path_lookup
        from drgn.helpers.linux.pid import for_each_task

        prog = self.k.prog
        worker = next(t for t in for_each_task(prog)
                      if t.comm.string_() == b"kmx-w000" and t.pid == t.tgid)
        wfile = path_lookup(prog, "/kmx/worker-000")
        return {"pid": int(worker.pid), "task": int(worker.value_()),
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
        }

    @cached_property
    def crash(self) -> dict[str, str]:
        try:
            out = C.crash_outputs(self.fixture.vmlinux, self.core,
                                  list(self.commands.values()), timeout=900)
        except C.CrashError as e:
            pytest.skip(f"crash: {e}")
        return {key: out[cmd] for key, cmd in self.commands.items()}

    def json(self, line: str) -> list[Any]:
        rows: list[Any] = json.loads("\n".join(
            x for x in execute(self.k, line, as_json=True)
            if not x.startswith("kmemx: warning: ")))
        return rows

    def text(self, line: str) -> list[str]:
        return [x for x in execute(self.k, line) if not x.startswith("kmemx: warning: ")]


@pytest.fixture(scope="module")
def s(fixture: Fixture) -> Session:
    if C.find_crash() is None:
        pytest.skip("no crash >= 8.0.4 (scripts/build-crash)")
    return Session(fixture)


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
    """``bt -l``: an assembler frame's file (``entry_64.S``) is the absolute
    path crash prints, and the same line; C files: the exception above."""
    theirs = _crash_bt_lines(s.crash[key])
    ours = {int(m[1], 16): (m[2], int(m[3]))
            for m in map(_KMEMX_BT_LINE.match, s.text(s.commands[key])) if m}
    asm = {pc: v for pc, v in theirs.items() if v[0].endswith(".S")}
    assert asm, f"{key}: crash shows no assembler frame"
    for pc, (path, line) in asm.items():
        assert path.startswith("/")
        assert ours[pc] == (path, line), f"{key}: {pc:x}"


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
