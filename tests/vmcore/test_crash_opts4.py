"""crash's remaining options against crash 8.0.6 on the test bed's ELF dump,
row by row and column by column: ``vm -R REF`` (every kind of reference
crash's memory.c checks), ``kmem -S ADDR`` / ``kmem -s ADDR`` (the slab
holding an address), ``tree -t maple -v`` and ``sbitmapq``.  The addresses
come from the dump (drgn): the first worker ``kmx-w000``, its mm, VMAs,
pages and file ``/kmx/worker-000``.

Written exceptions (each asserted where it applies):

* Headers: crash centres its column names (``       MM     PGD ...``), kmemx
  prints them as a table; lines are compared word by word.
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
    """kmemx on the ELF dump and crash's output of the same command lines."""

    crash_timeout = 900

    @cached_property
    def addr(self) -> dict[str, Any]:
        from drgn.helpers.linux.fs import path_lookup
        from drgn.helpers.linux.mm import follow_phys, for_each_vma
        from drgn.helpers.linux.pid import for_each_task

        prog = self.k.prog
        worker = next(t for t in for_each_task(prog)
                      if t.comm.string_() == b"kmx-w000" and t.pid == t.tgid)
        vmas = list(for_each_vma(worker.mm))
        text = vmas[1]
        page = int(text.vm_start.value_()) + 0x1000
        wfile = path_lookup(prog, "/kmx/worker-000")
        dentry = int(wfile.dentry.value_())
        # a file page of the worker's that is not mapped: its file offset
        offsets = [int(r["physical"].split("OFFSET: ")[1], 16)
                   for r in self.json(f"vm -p {int(worker.pid)}")
                   if str(r.get("physical", "")).startswith("FILE:")]
        # a CPU's active slab of task_struct and its first free object there
        detail = self.json("kmem -S task_struct")
        cpu_slab = next(r for r in detail if str(r.get("list", "")).endswith(" SLAB"))
        free = next((int(r["object"], 16) for r in detail
                     if r.get("slab") == cpu_slab["slab"] and "object" in r
                     and not r["allocated"]), int(cpu_slab["memory"], 16))
        return {"cpu slab": int(cpu_slab["memory"], 16) + 0x10, "cpu free": free + 8,
                "cpu slab cpu": int(cpu_slab["list"].split()[1]),
                "pid": int(worker.pid), "task": int(worker.value_()),
                "mm": int(worker.mm.value_()), "pgd": int(worker.mm.pgd.value_()),
                "vma": int(text.value_()), "flags": int(text.vm_flags.value_()),
                "page": page, "phys": int(follow_phys(worker.mm, page)),
                "offset": max(offsets), "dentry": dentry,
                "mt": int(worker.mm.mm_mt.address_of_().value_())}

    @cached_property
    def commands(self) -> dict[str, str]:
        a = self.addr
        w = a["pid"]
        return {
            "vm -R name": f"vm -R workload {w}",
            "vm -R vma": f"vm -R {a['vma']:x} {w}",
            "vm -R flags": f"vm -R {a['flags']:x} {w}",
            "vm -R page": f"vm -R {a['page']:x} {w}",
            "vm -R phys": f"vm -R {a['phys']:x} {w}",
            "vm -R offset": f"vm -R {a['offset']:x} {w}",
            "vm -R mm": f"vm -R {a['mm']:x} 1 {w}",
            "vm -R pgd": f"vm -R {a['pgd']:x} {w}",
            "vm -R foreach": "foreach vm -R workload",
            "vm -R none": f"vm -R nosuchfile 1 {w}",
            "kmem -S dentry": f"kmem -S {a['dentry'] + 8:x}",
            "kmem -s dentry": f"kmem -s {a['dentry'] + 8:x}",
            "kmem -S task": f"kmem -S {a['task'] + 16:x}",
            "kmem -S cpu slab": f"kmem -S {a['cpu slab']:x}",
            "kmem -s cpu slab": f"kmem -s {a['cpu free']:x}",
        }

    def json(self, line: str, k: kmemx.Kernel | None = None) -> list[Any]:
        rows: list[Any] = json.loads("\n".join(
            x for x in execute(k or self.k, line, as_json=True)
            if not x.startswith("kmemx: warning: ")))
        return rows

    def lines(self, line: str) -> list[str]:
        """kmemx's text lines of ``line``, its warnings left out."""
        return [x for x in execute(self.k, line) if not x.startswith("kmemx: warning: ")]


s = crash_session_fixture(Session)


def _words(text: list[str]) -> list[list[str]]:
    """Lines as words, blank lines kept (crash's blank line after a task)."""
    return [ln.split() for ln in text]


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


@pytest.mark.parametrize("key", ["vm -R name", "vm -R vma", "vm -R flags", "vm -R page",
                                 "vm -R phys", "vm -R offset", "vm -R mm", "vm -R pgd",
                                 "vm -R foreach", "vm -R none"])
def test_vm_R(s: Session, key: str) -> None:
    """``vm -R REF``: line by line (word by word) crash's output: the task
    header, MM row, the VMAs REF names and the pages REF names under their
    VMA, a blank line after each task shown; --json: the same VMA and page
    rows, each with its task."""
    theirs = _trim(s.crash[key].splitlines())
    ours = _trim(s.lines(s.commands[key]))
    assert _words(ours) == _words(theirs)
    if key == "vm -R none":
        assert not theirs
        return
    assert any(ln.startswith("PID: ") for ln in theirs)
    rows = s.json(s.commands[key])
    want = [w for w in _words(theirs) if w and re.fullmatch(r"[0-9a-f]+", w[0])
            and not w[0] == "VIRTUAL"]
    got = []
    for r in rows:
        if "mm" in r:
            got.append([f"{int(r['mm'], 16):x}", f"{int(r['pgd'], 16):x}",
                        f"{r['rss'] // 1024}k", f"{r['total_vm'] // 1024}k"])
        elif "vma" in r:
            got.append([f"{int(r[c], 16):x}" for c in ("vma", "start", "end", "flags")]
                       + ([r["file"]] if r["file"] else []))
        else:
            phys = r["physical"]
            got.append([f"{int(r['virtual'], 16):x}",
                        *([f"{int(phys, 16):x}"] if phys.startswith("0x") else phys.split())])
    assert got == want
    assert {r["pid"] for r in rows} <= {int(w[1]) for w in _words(theirs)
                                        if w and w[0] == "PID:"}


# ------------------------------------------------------------ kmem -S ADDR


def _crash_slab_of(text: str) -> dict[str, Any]:
    """crash's ``kmem -S/-s ADDR``: the cache row, the slab row and the
    objects (address, allocated, the CPU of ``(cpu N cache)``)."""
    cache, = C.parse_kmem_s(text)
    slab = None
    objects = []
    for line in text.splitlines():
        w = line.split()
        if len(w) == 6 and all(re.fullmatch(r"[0-9a-f]+", x) for x in w):
            slab = {"slab": int(w[0], 16), "memory": int(w[1], 16),
                    "node": int(w[2]), "total": int(w[3]), "allocated": int(w[4]),
                    "free": int(w[5])}
        m = re.match(r"^  \[([0-9a-f]{16})\]\s*$|^   ([0-9a-f]{16})\s*(\(cpu (\d+) cache\))?\s*$",
                     line)
        if m:
            objects.append((int(m[1] or m[2], 16), m[1] is not None,
                            int(m[4]) if m[4] else None))
    return {"cache": cache, "slab": slab, "objects": objects}


@pytest.mark.parametrize("key", ["kmem -S dentry", "kmem -s dentry", "kmem -S task",
                                 "kmem -S cpu slab", "kmem -s cpu slab"])
def test_kmem_S_address(s: Session, key: str) -> None:
    """``kmem -S ADDR``: the cache's row, the slab holding ADDR (SLAB MEMORY
    NODE TOTAL ALLOCATED FREE; a CPU's active slab counts its CPU freelist)
    and each of its objects allocated or free (``(cpu N cache)``);
    ``kmem -s ADDR``: the object holding ADDR only; column by column."""
    theirs = _crash_slab_of(s.crash[key])
    assert theirs["slab"] and theirs["objects"]
    rows = s.json(s.commands[key])
    cache = rows[0]
    for col in ("cache", "objsize", "allocated", "total", "slabs", "ssize", "name"):
        want = theirs["cache"][col]
        got = int(cache[col], 16) if col == "cache" else cache[col]
        assert got == want, col
    slab = rows[1]
    assert {"slab": int(slab["slab"], 16), "memory": int(slab["memory"], 16),
            "node": slab["node"], "total": slab["total"], "allocated": slab["allocated"],
            "free": slab["free"]} == theirs["slab"]
    assert slab["list"] == ("SLAB" if not key.endswith("cpu slab") else
                            f"CPU {s.addr['cpu slab cpu']} SLAB")
    assert [(int(r["object"], 16), r["allocated"], r["cpu_cache"]) for r in rows[2:]] == \
        theirs["objects"]
    assert all(int(r["slab"], 16) == theirs["slab"]["slab"] for r in rows[2:])
    if key.startswith("kmem -s"):
        assert len(theirs["objects"]) == 1
