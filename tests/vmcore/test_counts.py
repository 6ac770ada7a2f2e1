"""Counts that must equal the oracles exactly: ps RSS with the per-task RSS
caches, slab ACTIVE counts in every slab state, and what a corrupt freelist
or list does to a listing (left out, reported, exit status 3).

Corruption is made on a real dump by overlaying a patched copy of one page in
kmemx's page cache (``k._pages``), so kmemx's readers see it and nothing is
written to the fixture.
"""

from __future__ import annotations

import contextlib
import json
import struct
from collections.abc import Iterator
from typing import Any

import drgn
import pytest
from drgn.helpers.linux.list import list_for_each_entry as drgn_list_for_each_entry
from drgn.helpers.linux.mm import task_rss
from drgn.helpers.linux.pid import for_each_task as drgn_for_each_task
from drgn.helpers.linux.slab import find_slab_cache as drgn_find_slab_cache
from drgn.helpers.linux.slab import for_each_slab_cache as drgn_for_each_slab_cache
from drgn.helpers.linux.slab import slab_cache_for_each_allocated_object, slab_object_info

import kmemx
from kmemx.commands import execute
from tests.fixtures.fixture import Fixture
from tests.vmcore.regions import direct_map_base

pytestmark = pytest.mark.vmcore


@pytest.fixture(scope="module")
def k(fixture: Fixture) -> kmemx.Kernel:
    return kmemx.open(fixture.core("elf"), fixture.vmlinux)


def run(k: kmemx.Kernel, line: str) -> tuple[list[dict[str, Any]], list[str]]:
    """A command's JSON rows and its warnings."""
    out = list(execute(k, line + " --json"))
    warnings = [x for x in out if x.startswith("kmemx: warning: ")]
    body = "\n".join(x for x in out if not x.startswith("kmemx: warning: "))
    return json.loads(body), warnings


@contextlib.contextmanager
def patched_u64(k: kmemx.Kernel, addr: int, value: int) -> Iterator[None]:
    """kmemx reads ``value`` at ``addr`` while the block runs."""
    assert k.space is not None
    vpn = addr >> 12
    buf, off = k.space.page(addr)
    copy = bytearray(buf[off:off + 4096])
    struct.pack_into("<Q", copy, addr & 0xFFF, value)
    k.space.pages[vpn] = (copy, 0)
    k.prog.cache.pop("kmemx.helpers.slab.pages", None)
    try:
        yield
    finally:
        del k.space.pages[vpn]
        k.prog.cache.pop("kmemx.helpers.slab.pages", None)


# -- ps RSS ---------------------------------------------------------------------------

def _expected_rss_kib(prog: drgn.Program) -> dict[int, int]:
    """Per task address: get_mm_rss() after every task's cached RSS events
    (task->rss_stat before 6.2) are added to its mm, written independently of
    kmemx with drgn objects."""
    tasks = list(drgn_for_each_task(prog))
    try:
        pending: dict[int, list[int]] = {}
        for t in tasks:
            mm = t.mm.value_()
            if mm:
                acc = pending.setdefault(mm, [0, 0, 0])
                for j, i in enumerate((0, 1, 3)):
                    acc[j] += t.rss_stat.count[i].value_()
    except AttributeError:  # 6.2+: no per-task caches
        pending = {}
    out = {}
    for t in tasks:
        mm = t.mm.read_()
        if not mm:
            out[t.value_()] = 0
            continue
        if mm.rss_stat.type_.kind == drgn.TypeKind.ARRAY:
            from drgn.helpers.linux.percpu import percpu_counter_sum

            vals = [percpu_counter_sum(mm.rss_stat[i].address_of_()) for i in (0, 1, 3)]
        else:
            vals = [mm.rss_stat.count[i].counter.value_() for i in (0, 1, 3)]
        extra = pending.get(mm.value_(), [0, 0, 0])
        out[t.value_()] = sum(max(0, v + e) for v, e in zip(vals, extra)) * 4
    return out


def test_ps_rss_counts_unsynced_task_events(fixture: Fixture, k: kmemx.Kernel) -> None:
    """Every task's RSS equals its mm's counters plus its threads' unsynced
    events; and drgn's task_rss() (which sums the thread group) agrees for
    every task of a single-threaded or thread-group-only mm."""
    prog = fixture.prog
    rows, warnings = run(k, "ps")
    assert not warnings
    want = _expected_rss_kib(prog)
    got = {int(r["task"], 16): r["rss"] // 1024 for r in rows if r["pid"]}
    assert got == want
    agree = 0
    for t in drgn_for_each_task(prog):
        if t.mm:
            assert got[t.value_()] == task_rss(t).total * 4, t.comm
            agree += 1
    assert agree > 50
    main = next(r for r in rows if r["comm"] == "kmx-main")
    assert main["rss"] > 64 * 1024  # not only the synced counters (a few pages)


# -- slab counts ------------------------------------------------------------------------

def test_slab_active_equals_allocated_walk(fixture: Fixture, k: kmemx.Kernel) -> None:
    """For every cache, slabinfo's and kmem -s's allocated counts equal the
    number of allocated objects kmemx lists, and, for every cache with a CPU
    slab holding remotely freed objects (plus a few others), the number drgn's
    allocated-object walk finds: objects on per-CPU freelists, freed remotely
    onto a CPU slab, on per-CPU partial and node partial slabs are free.
    kmem -s's TOTAL and SLABS equal the node counters."""
    from drgn.helpers.linux.percpu import per_cpu_ptr

    from kmemx.helpers.slab import find_slab_cache, slab_cache_allocated_objects

    prog = fixture.prog
    info = {r["name"]: r for r in run(k, "slabinfo")[0]}
    kmem_s = {r["name"]: r for r in run(k, "kmem -s")[0]}
    assert info.keys() == kmem_s.keys()
    walked = remote_caches = 0
    for c in drgn_for_each_slab_cache(prog):
        name = c.name.string_().decode()
        listed = len(slab_cache_allocated_objects(find_slab_cache(k, name)))
        assert info[name]["active_objs"] == kmem_s[name]["allocated"] == listed, name
        nodes = _drgn_cache_nodes(prog, c)
        assert kmem_s[name]["total"] == info[name]["num_objs"] == sum(
            nd.total_objects.counter.value_() for nd in nodes), name
        assert kmem_s[name]["slabs"] == sum(nd.nr_slabs.counter.value_() for nd in nodes)
        assert kmem_s[name]["objsize"] == c.object_size.value_()
        assert kmem_s[name]["ssize"] == 4096 << (c.oo.x.value_() >> 16)
        remote = False
        # 7.0 removed the per-CPU slabs (32c894c7274b "slab: remove struct kmem_cache_cpu")
        cpu_slabs = c.type_.type.has_member("cpu_slab")
        for cpu in range(prog["nr_cpu_ids"].value_()) if cpu_slabs else ():
            cs = per_cpu_ptr(c.cpu_slab, cpu)
            slab = cs.slab if hasattr(cs, "slab") else cs.page
            remote = remote or bool(slab and slab.freelist)
        remote_caches += remote
        if remote or name in ("dentry", "task_struct", "kmalloc-64"):
            n = sum(1 for _ in slab_cache_for_each_allocated_object(c, "void"))
            assert listed == n, name
            walked += 1
    assert len(info) > 100 and walked >= 3
    if prog.type("struct kmem_cache").has_member("cpu_slab"):
        assert remote_caches > 0, "no CPU slab holds remotely freed objects: the case is untested"


def _drgn_cache_nodes(prog: drgn.Program, c: Any) -> list[Any]:
    """The ``struct kmem_cache_node *`` of each node of ``c``: ``c->node[]``, or
    ``c->per_node[].node`` from 7.1 (5ba6bc27b1f9 "slab: decouple pointer to barn
    from kmem_cache_node")."""
    n = prog["nr_node_ids"].value_()
    try:
        per_node = c.per_node
    except AttributeError:
        return [c.node[i] for i in range(n) if c.node[i]]
    return [per_node[i].node for i in range(n) if per_node[i].node]


#: small caches tried first; then any cache (5.10's dump has node-partial slabs
#: in filp only)
_PARTIAL_CANDIDATES = ("kmalloc-32", "kmalloc-64", "kmalloc-16", "kmalloc-96", "kmalloc-128")


def _partial_slabs(prog: drgn.Program, c: Any, slab_t: drgn.Type) -> Iterator[Any]:
    """``c``'s partial slabs: each node's ``partial`` list, then each CPU's
    partial chain (``cpu_slab->partial``, CONFIG_SLUB_CPU_PARTIAL, linked by
    ``next``), where a freshly booted 5.10 guest may keep all of them."""
    from drgn.helpers.linux.cpumask import for_each_possible_cpu
    from drgn.helpers.linux.percpu import per_cpu_ptr

    for node in _drgn_cache_nodes(prog, c):
        yield from drgn_list_for_each_entry(slab_t, node.partial.address_of_(), "slab_list")
    try:
        for cpu in for_each_possible_cpu(prog):
            s = per_cpu_ptr(c.cpu_slab, cpu).partial.read_()
            while s:
                yield s
                s = s.next.read_()
    except AttributeError:  # no cpu_slab (7.x sheaves) or no CPU partial lists
        return


def _partial_slab(prog: drgn.Program) -> tuple[str, Any, Any]:
    """(cache name, struct kmem_cache *, slab) of the first cache (the small
    kmalloc ones first) with a partial slab (a node's, else a CPU's) whose
    freelist is not empty."""
    try:  # 5.17 (d122019bf061 "mm: Split slab into its own type")
        slab_t = prog.type("struct slab")
    except LookupError:
        slab_t = prog.type("struct page")
    names = [c.name.string_().decode() for c in drgn_for_each_slab_cache(prog)]
    for name in [*_PARTIAL_CANDIDATES, *names]:
        c = drgn_find_slab_cache(prog, name)
        if not c:
            continue
        for s in _partial_slabs(prog, c, slab_t):
            if s.freelist:
                return name, c, s
    raise AssertionError("no cache has a partial slab with a freelist")


def _encoded_self_pointer(c: Any, obj: int) -> tuple[int, int]:
    """Address of ``obj``'s free pointer and the value that makes it point
    to ``obj`` itself (CONFIG_SLAB_FREELIST_HARDENED's encoding)."""
    ptr_addr = obj + c.offset.value_()
    swab = int.from_bytes(ptr_addr.to_bytes(8, "little"), "big")
    return ptr_addr, obj ^ c.random.value_() ^ swab


def test_corrupt_freelist_leaves_the_slab_out(fixture: Fixture, k: kmemx.Kernel) -> None:
    """A partial slab whose first free object points to itself: its
    objects are neither listed as allocated nor free, the slab is reported,
    and every other slab of the cache is listed as drgn lists it."""
    prog = fixture.prog
    name, c, s = _partial_slab(prog)
    obj = s.freelist.value_()
    assert slab_object_info(prog, obj).allocated is False
    slab_objs = {o.value_() for o in slab_cache_for_each_allocated_object(c, "void")}
    first = obj - (obj - direct_map_base(prog)) % 4096
    span = range(first, first + s.objects.value_() * c.size.value_())
    want = sorted(a for a in slab_objs if a not in span)
    ptr_addr, value = _encoded_self_pointer(c, obj)
    with patched_u64(k, ptr_addr, value):
        rows, warnings = run(k, f"slab {name}")
        free_rows, free_warnings = run(k, f"slab {name} --free")
    got = [int(r["address"], 16) for r in rows]
    assert obj not in got and got == want
    assert len(warnings) == 1 and "freelist cycle" in warnings[0] and \
        "left out" in warnings[0], warnings
    assert not any(int(r["address"], 16) in span for r in free_rows)
    assert len(free_warnings) == 1


# -- lists ------------------------------------------------------------------------------

def test_list_cycle_is_reported(fixture: Fixture, k: kmemx.Kernel) -> None:
    """super_blocks entry #3 pointing back to #1: the walk stops after the
    entries it could trust and says why."""
    prog = fixture.prog
    sbs = list(drgn_list_for_each_entry("struct super_block",
                                        prog["super_blocks"].address_of_(), "s_list"))
    link = sbs[3].s_list.next.address_of_().value_()
    with patched_u64(k, link, sbs[1].s_list.address_of_().value_()):
        rows, warnings = run(k, "list -H super_blocks -o super_block.s_list")
    assert [int(r["address"], 16) for r in rows] == [sb.value_() for sb in sbs[:4]]
    assert len(warnings) == 1 and "cycle" in warnings[0]


def test_quiet_keeps_integrity_warnings(fixture: Fixture, k: kmemx.Kernel,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """``-q`` silences drgn's notices, never kmemx's integrity warnings; an
    incomplete result exits with EXIT_INCOMPLETE (3)."""
    from kmemx.cli import EXIT_INCOMPLETE, main

    prog = fixture.prog
    sbs = list(drgn_list_for_each_entry("struct super_block",
                                        prog["super_blocks"].address_of_(), "s_list"))
    link = sbs[3].s_list.next.address_of_().value_()
    monkeypatch.setattr(kmemx, "open", lambda *a, **kw: k)
    argv = ["-q", "-c", str(fixture.core("elf")), "-s", str(fixture.vmlinux),
            "list", "-H", "super_blocks", "-o", "super_block.s_list"]
    with patched_u64(k, link, sbs[1].s_list.address_of_().value_()):
        rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == EXIT_INCOMPLETE == 3
    assert "kmemx: warning: " in err and "cycle" in err
    assert len(out.splitlines()) == 4  # the 4 entries before the cycle (no header, as crash)
    assert main(argv) == 0
