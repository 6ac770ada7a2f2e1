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

import re
from collections.abc import Iterator
from functools import cached_property
from typing import Any

import pytest

from kmemx.commands import CommandError, execute
from tests.oracles import crash as C
from tests.vmcore.crash_session import CrashSession, crash_session_fixture

pytestmark = pytest.mark.vmcore


class Session(CrashSession):
    """kmemx on the ELF dump and crash's output of the same command lines."""

    crash_timeout = 900

    @cached_property
    def addr(self) -> dict[str, Any]:
        from drgn.helpers.linux.fs import path_lookup
        from drgn.helpers.linux.mm import follow_phys, for_each_vma, virt_to_phys

        prog = self.k.prog
        worker = self.worker
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
        # (none from 7.0 on: 32c894c7274b, "slab: remove struct kmem_cache_cpu")
        detail = self.json("kmem -S task_struct")
        cpu_slab = next((r for r in detail if str(r.get("list", "")).endswith(" SLAB")), None)
        out: dict[str, Any] = {
            "pid": int(worker.pid), "task": int(worker.value_()),
            "mm": int(worker.mm.value_()), "pgd": int(worker.mm.pgd.value_()),
            "vma": int(text.value_()), "flags": int(text.vm_flags.value_()),
            "page": page, "phys": int(follow_phys(worker.mm, page)),
            "offset": max(offsets), "dentry": dentry,
            "dentry phys": int(virt_to_phys(wfile.dentry).value_())}
        if cpu_slab is not None:
            free = next((int(r["object"], 16) for r in detail
                         if r.get("slab") == cpu_slab["slab"] and "object" in r
                         and not r["allocated"]), int(cpu_slab["memory"], 16))
            out.update({"cpu slab": int(cpu_slab["memory"], 16) + 0x10, "cpu free": free + 8,
                        "cpu slab cpu": int(cpu_slab["list"].split()[1])})
        try:  # the VMAs' maple tree, from 6.1 (d4af56c5c7c6, "mm: start tracking VMAs
            # with maple tree"); an rbtree before
            out["mt"] = int(worker.mm.mm_mt.address_of_().value_())
        except AttributeError:
            pass
        return out

    @cached_property
    def commands(self) -> dict[str, str]:
        """The command lines, those whose object this kernel has not left out
        (:meth:`command`)."""
        a = self.addr
        w = a["pid"]
        needs = {"tree -v": "mt", "kmem -S cpu slab": "cpu slab", "kmem -s cpu slab": "cpu free"}
        lines = self._lines(a, w)
        return {key: line for key, line in lines.items() if needs.get(key, "pid") in a}

    def command(self, key: str) -> str:
        """The command line ``key``; skipped where the kernel has no such object
        (no maple tree before 6.1, no CPU slab from 7.0)."""
        if key not in self.commands:
            pytest.skip(f"{key}: this kernel has no such object")
        return self.commands[key]

    @staticmethod
    def _lines(a: dict[str, Any], w: int) -> dict[str, str]:
        def x(name: str) -> str:
            return f"{a[name]:x}" if name in a else ""

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
            "tree -v": f"tree -t maple -v {x('mt')}",
            "kmem -S dentry": f"kmem -S {a['dentry'] + 8:x}",
            "kmem -s dentry": f"kmem -s {a['dentry'] + 8:x}",
            # crash: an address below the kernel half is physical (its PTOV)
            "kmem -s physical": f"kmem -s {a['dentry phys'] + 8:#x}",
            "kmem -S task": f"kmem -S {a['task'] + 16:x}",
            "kmem -S cpu slab": f"kmem -S {x('cpu slab')}",
            "kmem -s cpu slab": f"kmem -s {x('cpu free')}",
        }

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
    line = s.command(key)
    theirs = _trim(s.crash[key].splitlines())
    ours = _trim(s.lines(line))
    assert _words(ours) == _words(theirs)
    if key == "vm -R none":
        assert not theirs
        return
    assert any(ln.startswith("PID: ") for ln in theirs)
    rows = s.json(line)
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


def _slab_of_or_drgns(s: Session, key: str) -> dict[str, Any]:
    """crash's ``kmem -S/-s ADDR`` as :func:`_crash_slab_of` parses it, with
    the written exceptions of the kernels with sheaves (6.18 on):

    * crash (9.0.2 and upstream's master) refuses ``kmem -S`` from 7.0 on
      ("-S not supported for this kernel": no ``kmem_cache.cpu_slab``):
      there the values are drgn's (:func:`tests.oracles.drgn_slub.slab_of`);
    * crash does not read sheaves, so the free objects in them are
      allocated to crash (``[ADDR]``), and its ALLOCATED counts them; kmemx,
      as drgn, counts them free, as an object on a CPU's freelist (``(cpu N
      cache)``, the CPU of the sheaf holding it): crash's rows with exactly
      those objects turned free are what kmemx must print.
    """
    from drgn.helpers.linux.slab import slab_object_info

    from tests.oracles.drgn_slub import sheaf_objects, slab_of

    text = s.crash[key]
    if "-S not supported for this kernel" in text:
        return slab_of(s.k.prog, int(s.command(key).split()[-1], 16))
    theirs = _crash_slab_of(text)
    if not theirs["objects"]:
        return theirs
    prog = s.k.prog
    cache = slab_object_info(prog, theirs["objects"][0][0]).slab_cache
    sheaves = sheaf_objects(prog, cache)
    if not sheaves:
        return theirs
    theirs["cache"]["allocated"] -= len(sheaves)
    memory = theirs["slab"]["memory"]
    end = memory + theirs["slab"]["total"] * int(cache.size)
    in_slab = [o for o in sheaves if memory <= o < end]
    theirs["slab"]["allocated"] -= len(in_slab)
    theirs["slab"]["free"] += len(in_slab)
    theirs["objects"] = [(o, False, sheaves[o]) if o in sheaves else (o, a, c)
                         for o, a, c in theirs["objects"]]
    return theirs


@pytest.mark.parametrize("key", ["kmem -S dentry", "kmem -s dentry", "kmem -s physical",
                                 "kmem -S task",
                                 "kmem -S cpu slab", "kmem -s cpu slab"])
def test_kmem_S_address(s: Session, key: str) -> None:
    """``kmem -S ADDR``: the cache's row, the slab holding ADDR (SLAB MEMORY
    NODE TOTAL ALLOCATED FREE; a CPU's active slab counts its CPU freelist)
    and each of its objects allocated or free (``(cpu N cache)``);
    ``kmem -s ADDR``: the object holding ADDR only; column by column."""
    line = s.command(key)
    theirs = _slab_of_or_drgns(s, key)
    assert theirs["slab"] and theirs["objects"]
    rows = s.json(line)
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


# ------------------------------------------------------------------ sbitmapq


def _sbitmap_candidate(s: Session) -> int | None:
    """The test bed's guests have no block device, so no struct
    sbitmap_queue exists in their dumps: the first 8-aligned place of the
    ELF dump's memory that reads as a consistent one (depth 1-1024, shift
    0-6, map_nr words for depth, round_robin 0/1, map and ws kernel
    pointers, alloc_hint a per-CPU offset), or None."""
    return next(_sbitmap_candidates(s), None)


def _sbitmap_candidates(s: Session, sb_only: bool = False) -> Iterator[int]:
    """Each place :func:`_sbitmap_candidate` would take, in order;
    ``sb_only``: the places whose first bytes read as a struct sbitmap
    alone (what ``-s -a`` reads: depth, shift, map_nr, round_robin, map)."""
    import struct

    import numpy as np

    path = str(s.core)
    with open(path, "rb") as f:
        h = f.read(64)
        phoff, = struct.unpack_from("<Q", h, 32)
        phentsize, phnum = struct.unpack_from("<HH", h, 54)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    mem = np.memmap(path, dtype=np.uint8, mode="r")
    from drgn.helpers.linux.mm import phys_to_virt
    for i in range(phnum):
        kind, _, off, _, paddr, size, _, _ = struct.unpack_from("<IIQQQQQQ", ph, i * phentsize)
        if kind != 1 or size < 64:
            continue
        b = mem[off:off + size - size % 8]
        u32, u64 = b.view(np.uint32), b.view(np.uint64)
        n = len(u64) - 6
        depth, shift, map_nr = u32[0:2 * n:2], u32[1:2 * n:2], u32[2:2 * n + 1:2]
        ok = ((depth >= 1) & (depth <= 1024) & (shift <= 6) & (map_nr >= 1) & (map_nr <= 16)
              & (b[12:8 * n + 12:8] <= 1) & ((u64[2:n + 2] >> np.uint64(48)) == 0xFFFF))
        if not sb_only:
            ok &= ((u64[3:n + 3] > 0) & (u64[3:n + 3] < 0x100000)
                   & ((u64[5:n + 5] >> np.uint64(48)) == 0xFFFF))
        base = None
        for j in np.nonzero(ok)[0]:
            d, sh, m = int(depth[j]), int(shift[j]), int(map_nr[j])
            if (d + (1 << sh) - 1) >> sh == m:
                if base is None:  # the segment's linear-map address (x86-64, arm64)
                    base = int(phys_to_virt(s.k.prog, paddr).value_())
                yield base + 8 * int(j)


def _crash_weight(word: int, bits: int) -> int:
    """crash 8.0.6's sbitmap.c bitmap_weight(): every bit of the word, then
    the word's first ``bits`` bits again when ``bits`` is not 64."""
    w = bin(word).count("1")
    if bits % 64:
        w += bin(word & ((1 << bits) - 1)).count("1")
    return w


@pytest.mark.parametrize("where", ["zero page", "candidate"])
def test_sbitmapq(s: Session, where: str) -> None:
    """``sbitmapq ADDR``: no dump of the test bed holds a struct
    sbitmap_queue (no block device), so the command reads one where the
    bytes make one: the zero page, and a place of memory that reads as a
    consistent one.  crash 8.0.6 stops after ``ws_active`` on these
    kernels (it reads sbq_wait_state.wait_cnt, gone since 6.2's
    4f8126bb2308 and in 6.1.y: ``invalid structure member offset``); the
    lines it prints are compared, busy and cleared by their rules: crash's
    bitmap_weight() counts a short word's bits twice (written exception),
    kmemx counts as the kernel's __sbitmap_weight(); both computed here
    from the words drgn reads.  The rest (wait queues, the bitmap) is
    checked against drgn's reads."""
    import drgn

    prog = s.k.prog
    addr = (prog.symbol("empty_zero_page").address if where == "zero page"
            else _sbitmap_candidate(s))
    if addr is None:
        pytest.skip("no place of this dump reads as a struct sbitmap_queue")
    line = f"sbitmapq {addr:x}"
    init = prog["init_task"].address_
    entries = [f"sbitmapq -s task_struct -a {init:x} {addr:x}",
               f"sbitmapq -s task_struct -a {init:x} -p {addr:x}"]
    outputs = s.crash_outputs([line, *entries])
    crash = outputs[line]
    for e in entries:  # the set bits' elements: crash reads no wait queue for these
        assert [ln.strip() for ln in outputs[e].splitlines() if ln.strip()] == s.lines(e)
    # alloc_hint is per_cpu_ptr() of the bytes read as it, which may not be
    # mapped (the zero page's NULL is __per_cpu_offset[cpu] itself; arm64's,
    # and x86-64's since 7.x, offsets are relative to the image's
    # __per_cpu_start, where 6.x x86-64's per-CPU areas were zero-based; a
    # candidate's small number likewise): crash stops there with a seek
    # error, or a read error where the address is direct-mapped past the
    # dump's RAM (7.2.13), kmemx (and its --drgn script) with the fault at
    # the same address
    hint = re.search(r'(?:seek|read) error: kernel virtual address: ([0-9a-f]+)\s+'
                     r'type: "alloc_hint"', crash)
    if where == "candidate":
        assert s.drgn_output(entries[1]).splitlines() == s.lines(entries[1])
        if hint:  # the script stops with drgn's FaultError (drgn_output asserts rc 0)
            with pytest.raises(AssertionError,
                               match=f"FaultError: address is not mapped: 0x{hint[1]}"):
                s.drgn_output(line)
        else:
            assert s.drgn_output(line).splitlines() == s.lines(line)
    assert "invalid structure member offset: sbq_wait_state_wait_cnt" in crash or \
        "ws = {" in crash or hint
    theirs = dict(ln.split(" = ", 1) for ln in crash.splitlines() if " = " in ln
                  and not ln.startswith("\t"))
    ours_lines = []
    try:  # the zero page's ws is NULL: kmemx stops there with the fault
        for x in execute(s.k, line):
            ours_lines.append(x)
    except CommandError as e:
        ours = dict(ln.split(" = ", 1) for ln in ours_lines if " = " in ln)
        if hint:
            assert f"cannot read {int(hint[1], 16):#x}" in str(e)
            # kmemx prints nothing before the fault (the summary is read first)
            assert all(ours[key] == theirs[key] for key in ours), (ours, theirs)
            return
        assert where == "zero page" and "cannot read 0x0" in str(e)
        assert ours_lines[-1] == "ws_active = 0"
        for key in ours:
            assert ours[key] == theirs[key], key
        return
    ours = dict(ln.split(" = ", 1) for ln in ours_lines if " = " in ln and not ln.startswith("\t"))
    sbq = drgn.Object(prog, "struct sbitmap_queue", address=addr)
    sb = sbq.sb
    depth, shift, map_nr = int(sb.depth), int(sb.shift), int(sb.map_nr)
    words = [(int(sb.map[i].word), int(sb.map[i].cleared),
              depth - (i << shift) if i == map_nr - 1 else 1 << shift) for i in range(map_nr)]
    crash_w = sum(_crash_weight(w, b) for w, _, b in words)
    crash_c = sum(_crash_weight(c, b) for _, c, b in words)
    assert (int(theirs["busy"]), int(theirs["cleared"])) == \
        ((crash_w - crash_c) & 0xFFFFFFFF, crash_c)
    kernel_w = sum(bin(w & ((1 << b) - 1)).count("1") for w, _, b in words)
    kernel_c = sum(bin(c & ((1 << b) - 1)).count("1") for _, c, b in words)
    assert (int(ours["busy"]), int(ours["cleared"])) == \
        ((kernel_w - kernel_c) & 0xFFFFFFFF, kernel_c)
    for key in ("depth", "bits_per_word", "map_nr", "alloc_hint", "wake_batch",
                "wake_index", "ws_active"):
        assert ours[key] == theirs[key], key
    ws = [ln for ln in ours_lines if ln.startswith("\t{")]
    assert len(ws) == 8
    for i, ln in enumerate(ws):
        head = sbq.ws[i].wait.head
        active = head.next.value_() != head.prev.value_()
        try:  # sbq_wait_state.wait_cnt, gone since 6.2 (4f8126bb2308)
            cnt = f".wait_cnt = {sbq.ws[i].wait_cnt.counter.value_() & (1 << 64) - 1}, "
        except AttributeError:
            cnt = ""
        assert ln == f"\t{{ {cnt}.wait = {'active' if active else 'inactive'} }},"
    if "ws = {" in crash:  # a kernel whose wait queues crash reads: its lines
        assert ws == [ln for ln in crash.splitlines() if ln.startswith("\t{")]
    assert ours["min_shallow_depth"] == str(int(sbq.min_shallow_depth))
    try:  # in struct sbitmap since 5.13 (efe1f3a1d583), the queue's before
        round_robin = sb.round_robin
    except AttributeError:
        round_robin = sbq.round_robin
    assert ours["round_robin"] == str(int(round_robin.value_()))
    bits = "".join(format(w & ~c & ((1 << b) - 1), f"0{b}b")[::-1] for w, c, b in words)
    dump = [ln for ln in ours_lines if re.match(r"^[0-9a-f]{8}: ", ln)]
    got = "".join(format(int(x, 16), "08b")[::-1] for ln in dump
                  for pair in ln.split(": ", 1)[1].split() for x in re.findall("..", pair))
    assert got[:len(bits)] == bits and set(got[len(bits):]) <= {"0"}
    row, = s.json(line)
    assert (row["depth"], row["busy"], row["cleared"]) == \
        (depth, int(ours["busy"]), int(ours["cleared"]))


def test_sbitmapq_verbose_drgn(s: Session) -> None:
    """``sbitmapq -s STRUCT[.members] -a ARRAY -v [-p] ADDR --drgn``: the
    script, run by plain drgn, prints the command's lines: each set bit's
    ``N (0xADDR):`` line and the element (whole, or member by member) as
    drgn formats it.  On the first place of the dump that reads as a struct
    sbitmap_queue with a bit in use (no dump of the test bed holds a real
    one); the command's entries are checked against the bits drgn reads."""
    import drgn

    prog = s.k.prog
    init = prog["init_task"].address_
    for n, addr in enumerate(_sbitmap_candidates(s, sb_only=True)):
        if n == 500:
            break
        try:
            found = [x for x in execute(s.k, f"sbitmapq -s list_head -a {init:x} {addr:x}")]
        except CommandError:
            continue
        if found:
            break
    else:
        pytest.skip("no place of this dump reads as a struct sbitmap_queue with a bit set")
    sb = drgn.Object(prog, "struct sbitmap_queue", address=addr).sb
    depth, shift = int(sb.depth), int(sb.shift)
    bits = [i for i in range(depth)
            if (int(sb.map[i >> shift].word) & ~int(sb.map[i >> shift].cleared))
            >> (i & ((1 << shift) - 1)) & 1]
    assert [int(x.split(":")[0]) for x in found] == bits
    for line in (f"sbitmapq -s list_head -a {init:x} -v {addr:x}",
                 f"sbitmapq -s task_struct.pid,comm -a {init:x} -v -x {addr:x}",
                 f"sbitmapq -s task_struct.pid -a {init:x} -p -v {addr:x}"):
        try:
            ours = s.lines(line)
        except CommandError as e:  # -p: an element that points nowhere readable
            assert "-p" in line and "cannot read" in str(e), (line, e)
            continue
        assert len([x for x in ours if re.match(r"^\d+ \(0x", x)]) == len(bits), line
        assert s.drgn_output(line).splitlines() == ours, line


def test_tree_maple_v(s: Session) -> None:
    """``tree -t maple -v`` of the worker's mm_mt (its VMAs): crash's lines,
    character for character (trailing blanks aside): the tree's flags,
    height and root, each node's range, address, depth, type, parent and
    contents (gaps, metadata, slots and pivots), each entry's range and
    value; --json: a NODE row per node line and an ENTRY row per entry
    line, the same ranges and addresses."""
    line = s.command("tree -v")
    theirs = _trim([ln.rstrip() for ln in s.crash["tree -v"].splitlines()])
    ours = _trim([ln.rstrip() for ln in s.lines(line)])
    assert ours == theirs
    assert any(" node 0x" in ln for ln in theirs)
    rows = s.json(line)
    lines = [ln for ln in theirs[2:] if ln.strip()]
    assert len(rows) == len(lines)
    for r, ln in zip(rows, lines):
        span = f"{r['first']}-{r['last']}" if r["first"] != r["last"] else f"{r['first']}"
        assert ln.startswith(" " * (2 * r["depth"]) + span + ": "), ln
        if "node" in r:
            assert f"node {r['node']} depth {r['depth']} type {r['type']} " in ln
        else:
            assert ln.endswith(r["entry"]) or ln.endswith(f"[{r['entry']}]")


# ------------------------------------------------------------------ --drgn


def _small_kmalloc(s: Session) -> str:
    """kmalloc-64, else kmalloc-128: arm64 kernels before 9382bc44b5f5 (v6.5)
    have no kmalloc cache below ARCH_DMA_MINALIGN, 128 bytes."""
    from drgn.helpers.linux.slab import find_slab_cache

    return "kmalloc-64" if find_slab_cache(s.k.prog, "kmalloc-64") else "kmalloc-128"


def _drgn_table(s: Session, line: str) -> None:
    """``line --drgn`` run by plain drgn prints the command's ``--json`` rows:
    a header where the columns change, then the cells."""
    out = s.drgn_output(line).splitlines()
    want: list[str] = []
    columns: list[str] | None = None
    for r in s.json(line):
        if list(r) != columns:
            columns = list(r)
            want.append("\t".join(c.upper() for c in columns))
        want.append("\t".join("-" if v is None else str(v) for v in r.values()))
    assert want, f"{line}: no rows"
    assert [ln.lower() for ln in out] == [ln.lower() for ln in want], line


@pytest.mark.parametrize("key", ["vm -R name", "vm -R page", "vm -R phys", "vm -R offset",
                                 "vm -R mm", "vm -R foreach", "vm -M", "vm -P",
                                 "files -R", "files -R type", "kmem -S dentry",
                                 "kmem -s dentry", "kmem -S cpu slab", "kmem -s -I",
                                 "kmem -S -I", "kmem -S=0", "kmem -S cache"])
def test_drgn_code(s: Session, key: str) -> None:
    """``--drgn`` of the options: the scripts (plain drgn, kmemx's plugin
    off) print the command's rows, cell for cell."""
    a = s.addr
    lines = {"vm -M": f"vm -M {a['mm']:x} 2", "vm -P": f"vm -P {a['vma']:x} {a['pid']}",
             "files -R": "foreach files -R worker-000",
             "files -R type": f"files -R REG 1 {a['pid']}",
             "kmem -s -I": f"kmem -s -I {_small_kmalloc(s)},dentry",
             "kmem -S -I": f"kmem -S -I dentry {_small_kmalloc(s)}",
             "kmem -S=0": "kmem -S=0 kmem_cache_node", "kmem -S cache": "kmem -S task_struct"}
    _drgn_table(s, lines.get(key) or s.command(key))


def test_drgn_code_tree_v(s: Session) -> None:
    """``tree -t maple -v --drgn``: the script prints the command's lines."""
    line = s.command("tree -v")
    assert s.drgn_output(line).splitlines() == s.lines(line)
