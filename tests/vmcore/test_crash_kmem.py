"""crash's ``kmem`` options ``-v -V -z -p -n -h -f -F`` against crash 8.0.6 on
the test bed's ELF dump, row by row and column by column (kmemx's ``--json``
rows against crash's parsed text, :mod:`tests.oracles.crash_kmem`), and
against drgn's helpers and the guest's /proc/meminfo where they say the same.

Written exceptions (each asserted where it applies):

* ``kmem -z``: crash prints PRESENT only where it differs from SIZE; kmemx's
  row always has it.  MIN/LOW/HIGH is three columns.
* ``kmem -n``: crash's node line lists the address of each of the node's
  zones under NODE_ZONES; kmemx's node row has the array's address (the first
  zone's) and its zone rows carry the rest (compared to crash's list).
  BOOTMEM_DATA (gone since 4.20) is ``----`` in crash, null in kmemx.
  The memory block STATE on 6.12: crash 8.0.6 knows the states as the old
  ``#define MEM_ONLINE (1<<0)`` bits; 6.12 declares ``enum
  memory_block_state`` with ``MEM_ONLINE = 0``, so crash prints UNKNOWN
  where the block is online (drgn's ``decode_memory_block_state`` is the
  oracle there).
* ``kmem -m``: one column per scalar (``lru`` is ``lru.next`` and
  ``lru.prev``, crash's ``next,prev`` in one column; ``_mapcount`` is
  ``_mapcount.counter``); integers in decimal.  crash prints ``_refcount``
  (an ``atomic_t`` whose name is not ``_count``) in hex with no space before
  the next column, so the test leaves it out.  A page named twice is listed
  once.
* ``kmem -p``: FLAGS in ``--json`` is the value; the names are in the text
  (crash's ``pageflag_names`` rule, compared in the text).
* ``kmem -S``: the object lines are rows (SLAB, OBJECT, ALLOCATED, CPU_CACHE:
  crash's ``[addr]`` is ALLOCATED, its ``(cpu N cache)`` tag CPU_CACHE).
  Node partial slabs are listed without objects, as crash does.  From 7.0
  (no per-CPU slabs) crash refuses ``-S``; there the values are drgn's
  (:func:`tests.oracles.drgn_slub.crash_kmem_S`).
* ``kmem -f``: kmemx's zone rows add NODE; crash's ``nr_free_pages: N
  (verified)`` trailer is checked as the sum of PAGES against
  ``NR_FREE_PAGES`` instead of printed.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

import pytest

import kmemx
from kmemx.commands import execute
from tests.oracles import crash_kmem as P
from tests.oracles.drgn_slub import crash_kmem_S
from tests.vmcore.crash_session import CrashSession, crash_session_fixture

pytestmark = pytest.mark.vmcore


class Session(CrashSession):
    """kmemx opened on the ELF dump and crash's output of every kmem option
    (one crash session for the module)."""

    @cached_property
    def probe(self) -> dict[str, int]:
        """Addresses for ``kmem -p ADDR`` and ``kmem -v ADDR`` on this dump:
        a struct page, a direct-map address, a physical address and a
        module-area (vmalloc) address."""
        from drgn.helpers.linux.mm import follow_phys, pfn_to_page, pfn_to_virt

        prog = self.k.prog
        mod = int(self.fixture.manifest["modules"][0]["address"])
        # the second page of a free block of order >= 1 (kmem -f ADDR)
        free_page = next(p for z in P.parse_kmem_f(self.crash_F)["zones"]
                         for a in z["areas"] if a[1] > 4096 for p in a[5])
        free_page += self.k.sizeof("struct page")
        # RAM's first MiB: physical 0 on x86-64 (its first memblock region
        # starts at 0x1000), 1 GiB on QEMU's arm64 virt machine, where nothing
        # below is RAM (crash prints no row for a page or address outside it)
        ram = int(prog["memblock"].memory.regions[0].base) & ~0xfffff
        pfn = ram >> int(prog["PAGE_SHIFT"])
        return {"page": int(pfn_to_page(prog, pfn + 0x1000).value_()),
                "direct": int(pfn_to_virt(prog, pfn + 0x1ba0).value_()) + 0x400,
                "phys": ram + 0x2345678, "module": mod + 0x100,
                "module_phys": int(follow_phys(prog["init_mm"].address_of_(), mod + 0x100)),
                "free_page": free_page}

    @cached_property
    def crash_F(self) -> str:
        return self.crash_outputs(["kmem -F"])["kmem -F"]

    @cached_property
    def commands(self) -> dict[str, str]:
        a = self.probe
        return {"-v": "kmem -v", "-V": "kmem -V", "-z": "kmem -z", "-n": "kmem -n",
                "-h": "kmem -h", "-f": "kmem -f", "-F": "kmem -F", "-p": "kmem -p",
                "-S": "kmem -S", "-o": "kmem -o", "-g": "kmem -g",
                "-g FLAGS": "kmem -g fffffc0010200",
                "-m": "kmem -m flags,lru,mapping,_mapcount",
                "-p -P": f"kmem -p -P {a['phys']:x}",
                "-v -P": f"kmem -v -P {a['module_phys']:x}",
                "-f ADDR": f"kmem -f {a['free_page']:x}", "-f busy": f"kmem -f {a['page']:x}",
                "-m ADDR": f"kmem -m flags,lru {a['page']:x} {a['direct']:x}",
                "-p ADDR": f"kmem -p {a['page']:x} {a['direct']:x} {a['phys']:x}",
                "-v ADDR": f"kmem -v {a['module']:x}"}


s = crash_session_fixture(Session)


def _h(v: str | None) -> int:
    assert v is not None
    return int(v, 16)


# ---------------------------------------------------------------------------- -v

def test_kmem_v_equals_crash_and_drgn(s: Session) -> None:
    from drgn.helpers.linux.mm import for_each_vmap_area

    theirs = P.parse_kmem_v(s.crash["-v"])
    ours = [(_h(r["vmap_area"]), _h(r["vm_struct"]), _h(r["address range"][0]),
             _h(r["address range"][1]), r["size"]) for r in s.json("kmem -v")]
    assert len(theirs) > 100
    assert ours == theirs
    drgn_rows = sorted((int(va.va_start), int(va.value_())) for va in
                       for_each_vmap_area(s.k.prog) if va.vm)
    assert [(r[2], r[0]) for r in ours] == drgn_rows
    # an address inside a module's area
    one = P.parse_kmem_v(s.crash["-v ADDR"])
    assert len(one) == 1
    assert [(_h(r["vmap_area"]), r["size"]) for r in s.json(s.commands["-v ADDR"])] == [
        (one[0][0], one[0][4])]


# ---------------------------------------------------------------------------- -V

def test_kmem_V_equals_crash_and_drgn(s: Session) -> None:
    from drgn.helpers.linux.vmstat import global_vm_event_state, global_zone_page_state

    theirs = P.parse_kmem_V(s.crash["-V"])
    rows = s.json("kmem -V")
    assert len(theirs) > 100
    assert [(r["table"], r["item"], r["value"]) for r in rows] == theirs
    prog = s.k.prog
    for r in rows:
        if r["table"] == "VM_ZONE_STAT":
            assert r["value"] == global_zone_page_state(prog, prog.constant(r["item"]))
        elif r["table"] == "VM_EVENT_STATES" and r["item"] in ("PGFAULT", "PGFREE",
                                                               "PGALLOC_DMA32"):
            assert r["value"] == global_vm_event_state(prog, prog.constant(r["item"]))


# ---------------------------------------------------------------------------- -z

def test_kmem_z_equals_crash_and_drgn(s: Session) -> None:
    from drgn import Object
    from drgn.helpers.linux.mmzone import (
        high_wmark_pages,
        low_wmark_pages,
        min_wmark_pages,
    )

    theirs = P.parse_kmem_z(s.crash["-z"])
    rows = s.json("kmem -z")
    zones = [r for r in rows if "addr" in r]
    stats = [r for r in rows if "item" in r]
    assert len(theirs) == len(zones) >= 3
    for t, z in zip(theirs, zones):
        assert (z["node"], z["zone"], _h(z["addr"]), z["name"]) == (
            t["node"], t["zone"], t["addr"], t["name"])
        assert z["size"] == t["size"]
        if not t["size"]:
            assert not [r for r in stats if (r["node"], r["zone"]) == (t["node"], t["zone"])]
            continue
        # the written exception: crash leaves PRESENT out when it equals SIZE
        assert z["present"] == (t["present"] if t["present"] is not None else t["size"])
        assert (z["min"], z["low"], z["high"]) == (t["min"], t["low"], t["high"])
        assert [(r["item"], r["value"]) for r in stats
                if (r["node"], r["zone"]) == (t["node"], t["zone"])] == t["stats"]
        zone = Object(s.k.prog, "struct zone", address=t["addr"])
        assert (z["min"], z["low"], z["high"]) == (
            min_wmark_pages(zone), low_wmark_pages(zone), high_wmark_pages(zone))


# ---------------------------------------------------------------------------- -n

def test_kmem_n_equals_crash_and_drgn(s: Session) -> None:
    from drgn.helpers.linux.mm import (
        decode_memory_block_state,
        for_each_memory_block,
        memory_block_size_bytes,
    )
    from drgn.helpers.linux.mmzone import for_each_present_section, section_mem_map_addr

    theirs = P.parse_kmem_n(s.crash["-n"])
    rows = s.json("kmem -n")
    nodes = [r for r in rows if "pglist_data" in r]
    zones = [r for r in rows if "zone" in r]
    sections = [r for r in rows if "coded_mem_map" in r]
    blocks = [r for r in rows if "mem_block" in r]
    assert theirs["nodes"] and theirs["sections"] and theirs["blocks"]
    assert [(r["node"], r["size"], _h(r["pglist_data"]), _h(r["node_zones"]), _h(r["mem_map"]),
             _h(r["start_paddr"]), r["start_mapnr"]) for r in nodes] == [
        (n[0], n[1], n[2], n[3][0], n[4], n[5], n[6]) for n in theirs["nodes"]]
    assert all(r["bootmem_data"] is None for r in nodes)
    # NODE_ZONES: crash lists every zone's address; they are the node's zone rows'
    zsize = s.k.sizeof("struct zone")
    for n in theirs["nodes"]:
        assert n[3] == [n[3][0] + i * zsize for i in range(len(n[3]))]
    assert [(r["zone"], r["name"], r["size"], _h(r["mem_map"]), _h(r["start_paddr"]),
             r["start_mapnr"]) for r in zones] == theirs["zones"]
    assert [(r["nr"], _h(r["section"]), _h(r["coded_mem_map"]), _h(r["mem_map"]), r["state"],
             r["pfn"]) for r in sections] == theirs["sections"]
    prog = s.k.prog
    assert [(r["nr"], _h(r["section"]), _h(r["coded_mem_map"])) for r in sections] == [
        (nr, int(sec.value_()), section_mem_map_addr(sec).value_())
        for nr, sec in for_each_present_section(prog)]
    ours_b = [(_h(r["mem_block"]), r["name"], _h(r["physical range"][0]),
               _h(r["physical range"][1]), r["node"], r["state"], r["start_section_no"])
              for r in blocks]
    drgn_states = [decode_memory_block_state(mb).removeprefix("MEM_")
                   for mb in for_each_memory_block(prog)]
    assert [b[5] for b in ours_b] == drgn_states
    block_size = memory_block_size_bytes(prog).value_()
    for ours, t in zip(ours_b, theirs["blocks"], strict=True):
        assert ours[3] == ours[2] + block_size - 1
        if t[3] is None:
            # written exception: crash prints PHYSICAL START alone where the kernel has
            # no memory_block_size_probed (x86-64's symbol; memory.c print_memory_block()):
            # arm64; kmemx's PHYSICAL RANGE always ends where the block's size says
            t = (*t[:3], ours[3], *t[4:])
        if t[5] == "UNKNOWN":  # the written exception: crash reads state as a long
            assert ours[:5] + ours[6:] == t[:5] + t[6:]
        else:
            assert ours == t


# ---------------------------------------------------------------------------- -h

def test_kmem_h_equals_crash_drgn_and_meminfo(s: Session) -> None:
    from drgn.helpers.linux.hugetlb import for_each_hstate, huge_page_size

    theirs = P.parse_kmem_h(s.crash["-h"])
    rows = s.json("kmem -h")
    assert theirs
    assert [(_h(r["hstate"]), r["size"], r["free"], r["total"], r["name"]) for r in rows] == theirs
    assert [r["size"] for r in rows] == [huge_page_size(h) for h in for_each_hstate(s.k.prog)]
    meminfo = s.fixture.manifest["meminfo"]
    default = [r for r in rows if r["size"] == meminfo["Hugepagesize"] * 1024]
    assert len(default) == 1
    assert (default[0]["total"], default[0]["free"]) == (meminfo["HugePages_Total"],
                                                         meminfo["HugePages_Free"])


# ---------------------------------------------------------------------------- -f / -F

def _ours_f(rows: list[dict[str, Any]], pages: bool) -> list[dict[str, Any]]:
    zones: list[dict[str, Any]] = []
    for r in rows:
        if "free" in r and "zone" in r:
            zones.append({"zone": r["zone"], "name": r["name"], "size": r["size"],
                          "free": r["free"], "mem_map": _h(r["mem_map"]),
                          "start_paddr": _h(r["start_paddr"]),
                          "start_mapnr": r["start_mapnr"], "areas": []})
        elif pages:
            key = (r["area"], r["size"], _h(r["free_area_struct"]))
            areas = zones[-1]["areas"]
            if not areas or areas[-1][:3] != key:
                areas.append((*key, None, None, []))
            areas[-1][5].append(_h(r["page"]))
        else:
            zones[-1]["areas"].append((r["area"], r["size"], _h(r["free_area_struct"]),
                                       r["blocks"], r["pages"], []))
    return zones


def test_kmem_f_equals_crash_and_drgn(s: Session) -> None:
    from drgn.helpers.linux.vmstat import nr_free_pages

    theirs = P.parse_kmem_f(s.crash["-f"])
    ours = _ours_f(s.json("kmem -f"), False)
    assert theirs["zones"] and ours == theirs["zones"]
    total = sum(a[4] for z in ours for a in z["areas"])
    assert theirs["nr_free_pages"] == (total, "verified")
    assert total == nr_free_pages(s.k.prog)


def test_kmem_F_equals_crash(s: Session) -> None:
    theirs = P.parse_kmem_f(s.crash["-F"])
    ours = _ours_f(s.json("kmem -F"), True)
    # crash prints every list, kmemx a row per block: compare the non-empty lists
    want = [{**z, "areas": [a for a in z["areas"] if a[5]]} for z in theirs["zones"]]
    assert sum(len(a[5]) for z in want for a in z["areas"]) > 50
    assert ours == want
    counts = {(z["zone"], a[2]): a[3] for z in _ours_f(s.json("kmem -f"), False)
              for a in z["areas"]}
    assert all(counts[(z["zone"], a[2])] == len(a[5]) for z in ours for a in z["areas"])



def test_kmem_f_address_equals_crash(s: Session) -> None:
    theirs = P.parse_kmem_f_address(s.crash["-f ADDR"])
    assert len(theirs) == 1 and theirs[0][5] == 2
    rows = s.json(s.commands["-f ADDR"])
    assert [(rows[0]["zone"], r["area"], _h(r["free_area_struct"]), _h(r["page"]),
             _h(r["address"]), r["nth"], r["pages"]) for r in rows[1:]] == theirs
    # a page in no free block: nothing, in both
    assert P.parse_kmem_f_address(s.crash["-f busy"]) == [] == s.json(s.commands["-f busy"])


def test_kmem_P_equals_crash(s: Session) -> None:
    assert P.parse_kmem_p(s.text(s.commands["-p -P"])) == P.parse_kmem_p(s.crash["-p -P"])
    assert len(P.parse_kmem_p(s.crash["-p -P"])) == 1
    theirs = P.parse_kmem_v(s.crash["-v -P"])
    assert len(theirs) == 1
    assert P.parse_kmem_v(s.text(s.commands["-v -P"])) == theirs


# ---------------------------------------------------------------------------- -p

def test_kmem_p_equals_crash(s: Session) -> None:
    theirs = P.parse_kmem_p(s.crash["-p"])
    text = s.text("kmem -p")
    ours = P.parse_kmem_p(text)
    assert len(theirs) >= 131072
    assert ours == theirs
    assert len(s.json("kmem -p")) == len(theirs)


def test_kmem_p_addresses_equal_crash_and_drgn(s: Session) -> None:
    from drgn import Object
    from drgn.helpers.linux.mm import decode_page_flags, page_to_phys

    theirs = P.parse_kmem_p(s.crash["-p ADDR"])
    ours = P.parse_kmem_p(s.text(s.commands["-p ADDR"]))
    assert len(theirs) == 3 and ours == theirs
    rows = s.json(s.commands["-p ADDR"])
    prog = s.k.prog
    for r, t in zip(rows, theirs):
        page = Object(prog, "struct page *", _h(r["page"]))
        assert page_to_phys(page).value_() == _h(r["physical"])
        assert r["cnt"] == page._refcount.counter.value_()
        try:  # 7.x: memdesc_flags_t { unsigned long f; }
            flags = page.flags.f.value_()
        except AttributeError:
            flags = page.flags.value_()
        assert _h(r["flags"]) == flags
        drgn_names = {n.removeprefix("PG_").lower() for n in
                      decode_page_flags(page).split("|") if n.startswith("PG_")}
        assert set(filter(None, t[6].split(","))) <= drgn_names | {"young", "idle"}


# ---------------------------------------------------------------------------- -S

def _ours_S(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    caches: list[dict[str, Any]] = []
    for r in rows:
        if "objsize" in r:
            caches.append({"cache": _h(r["cache"]), "name": r["name"],
                           "allocated": r["allocated"], "total": r["total"],
                           "nr_slabs": r["slabs"], "cpus": [], "nodes": [], "slabs": []})
        elif "kmem_cache_cpu" in r:
            caches[-1]["cpus"].append((r["cpu"], _h(r["kmem_cache_cpu"])))
        elif "kmem_cache_node" in r:
            caches[-1]["nodes"].append((_h(r["kmem_cache_node"]), r["node"], r["slabs"],
                                        r["partial"], r["per-cpu"]))
        elif "list" in r:
            caches[-1]["slabs"].append({"kind": r["list"], "slab": _h(r["slab"]),
                                        "memory": _h(r["memory"]), "node": r["node"],
                                        "total": r["total"], "allocated": r["allocated"],
                                        "free": r["free"], "objects": []})
        else:
            assert _h(r["slab"]) == caches[-1]["slabs"][-1]["slab"]
            caches[-1]["slabs"][-1]["objects"].append((_h(r["object"]), r["allocated"],
                                                       r["cpu_cache"]))
    return caches


def test_kmem_S_equals_crash(s: Session) -> None:
    theirs = crash_kmem_S(s.k.prog, s.crash["-S"])
    ours = _ours_S(s.json("kmem -S"))
    assert len(theirs) > 100
    if any(c["cpus"] for c in theirs):  # objects listed for the CPUs' slabs (not from 7.0)
        assert sum(len(sl["objects"]) for c in theirs for sl in c["slabs"]) > 1000
    else:
        assert sum(len(c["slabs"]) for c in theirs) > 20
    assert [c["name"] for c in ours] == [c["name"] for c in theirs]
    for o, t in zip(ours, theirs):
        assert o == t, o["name"]
    # each cache's CPU and node slabs account for what kmem -s counts, with
    # (6.18 on) the free objects in sheaves of slabs not listed (full ones)
    from drgn import Object

    from tests.oracles.drgn_slub import sheaf_objects

    for c in ours:
        if c["slabs"]:
            cache = Object(s.k.prog, "struct kmem_cache *", c["cache"])
            size = int(cache.size)
            elsewhere = sum(1 for o in sheaf_objects(s.k.prog, cache)
                            if not any(sl["memory"] <= o < sl["memory"] + sl["total"] * size
                                       for sl in c["slabs"]))
            assert sum(sl["free"] for sl in c["slabs"]) + elsewhere == \
                c["total"] - c["allocated"], c["name"]


def _crash_m_lines(rows: list[dict[str, Any]]) -> list[list[str]]:
    """kmemx's ``kmem -m`` rows spelled as crash prints them: pointers and
    flags as 16 hex digits, a struct member's fields joined by commas
    (``lru``: next,prev), ``_mapcount`` in decimal."""
    out = []
    for r in rows:
        cells = [r["page"][2:]]
        vals = dict(r)
        vals.pop("page")
        groups: dict[str, list[str]] = {}
        for col, v in vals.items():
            text = f"{int(v, 16):016x}" if isinstance(v, str) else str(v)
            groups.setdefault(col.split(".")[0], []).append(text)
        cells += [",".join(g) for g in groups.values()]
        out.append(cells)
    return out


def test_kmem_m_equals_crash(s: Session) -> None:
    theirs = [ln.split() for ln in s.crash["-m"].splitlines()[1:] if ln.strip()]
    ours = _crash_m_lines(s.json(s.commands["-m"]))
    assert len(theirs) >= 131072
    assert ours == theirs
    theirs = [ln.split() for ln in s.crash["-m ADDR"].splitlines()[1:] if ln.strip()]
    assert len(theirs) == 2
    assert _crash_m_lines(s.json(s.commands["-m ADDR"])) == theirs


# ---------------------------------------------------------------------------- -o, -g

def test_kmem_o_g_equal_crash_and_drgn(s: Session) -> None:
    from drgn.helpers.linux.cpumask import for_each_possible_cpu

    theirs = P.parse_kmem_o(s.crash["-o"])
    rows = [(r["cpu"], _h(r["offset"])) for r in s.json("kmem -o")]
    assert theirs and rows == theirs
    prog = s.k.prog
    assert rows == [(c, int(prog["__per_cpu_offset"][c])) for c in for_each_possible_cpu(prog)]
    for key in ("-g", "-g FLAGS"):
        theirs_g = P.parse_kmem_g(s.crash[key])
        assert [(r["page-flag"], r["bit"], r["value"]) for r in
                s.json(s.commands[key])] == theirs_g
        assert theirs_g
    flags = 0xfffffc0010200
    assert [r[0] for r in P.parse_kmem_g(s.crash["-g FLAGS"])] == [
        e.name for e in prog.type("enum pageflags").enumerators
        if "PG_" in e.name and flags >> e.value & 1]


# ---------------------------------------------------------------------------- --drgn

_DRGN_LINES = ["kmem -v", "kmem -V", "kmem -z", "kmem -h", "kmem -n", "kmem -f", "kmem -F",
               "kmem -o", "kmem -g", "kmem -g fffffc0010200"]

_RUNNER = '''\
import contextlib, io, json, sys
cases = json.load(open(sys.argv[1]))
out = {}
for name, code in cases.items():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, name, "exec"), {"prog": prog, "__name__": "__main__"})
    out[name] = buf.getvalue()
json.dump(out, open(sys.argv[2], "w"))
'''


def _cell(v: Any) -> str:
    """A ``--json`` cell as kmemx's table scripts print it (drgncode.py)."""
    if v is None:
        return "-"
    if isinstance(v, list):
        return " ".join(_cell(x) for x in v)
    return str(v)


def test_kmem_drgn_code_computes_the_rows(s: Session, tmp_path: Any) -> None:
    """Each option's ``--drgn`` script, run by plain drgn (no kmemx import) on
    the same dump, prints the rows of the option's ``--json``, header where
    the columns change, cell by cell."""
    import os
    import subprocess

    codes = {line: "\n".join(execute(s.k, f"{line} --drgn")) + "\n" for line in _DRGN_LINES}
    for code in codes.values():
        assert "kmemx" not in code
    (tmp_path / "in.json").write_text(json.dumps(codes))
    (tmp_path / "run.py").write_text(_RUNNER)
    proc = subprocess.run(["drgn", "-q", "-c", str(s.core), "-s", str(s.fixture.vmlinux),
                           str(tmp_path / "run.py"), str(tmp_path / "in.json"),
                           str(tmp_path / "out.json")], capture_output=True, text=True,
                          env=dict(os.environ, DRGN_DISABLE_PLUGINS="*"), timeout=600)
    assert proc.returncode == 0, proc.stderr
    outs = json.loads((tmp_path / "out.json").read_text())
    for line in _DRGN_LINES:
        expected: list[list[str]] = []
        header: list[str] | None = None
        for r in s.json(line):
            if list(r) != header:
                header = list(r)
                expected.append([h.upper() for h in header])
            expected.append([_cell(v) for v in r.values()])
        got = [ln.split("\t") for ln in outs[line].splitlines()]
        assert len(expected) >= 3
        assert got == expected, line


# ---------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("line, message", [
    ("kmem -z 123", "kmem -z takes no argument (not '123')"),
    ("kmem -v -p", "kmem: give one of -i -s -S -v -V -z -p -m -n -h -f -F -o -g"),
    ("kmem -g xyz", "kmem -g: one hexadecimal flags value, not 'xyz'"),
    ("kmem -S no_such_cache", "unknown slab cache 'no_such_cache'"),
    ("kmem -p nosuchsymbol", "unknown symbol 'nosuchsymbol'"),
    ("kmem -p --drgn", "kmem: --drgn gives "),
])
def test_kmem_bad_input_is_one_error_line(s: Session, line: str, message: str) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "kmemx", "-q", "-c", str(s.core), "-s",
                           str(s.fixture.vmlinux), *line.split()], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0
    assert proc.stderr.splitlines() == [f"kmemx: error: {message}"] or (
        len(proc.stderr.splitlines()) == 1
        and proc.stderr.startswith(f"kmemx: error: {message}")), proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------- dump formats

@pytest.mark.parametrize("variant", ["kdump", "kdump-d31"])
def test_kmem_options_equal_on_kdump_variants(s: Session, variant: str) -> None:
    """The same dump in kdump-compressed form (and filtered with ``-d 31``,
    which keeps the struct pages and the slab and kernel data these options
    read) gives the ELF dump's rows."""
    if not s.fixture.has(variant):
        pytest.skip(s.fixture.skip_reason(variant))
    other = kmemx.open(s.fixture.core(variant), s.fixture.vmlinux)
    for line in ("kmem -p", "kmem -S", "kmem -F", "kmem -n", "kmem -V", "kmem -z", "kmem -v",
                 "kmem -h"):
        theirs = json.loads("\n".join(execute(other, line, as_json=True)))
        assert theirs == s.json(line), (variant, line)
