"""Parsers of crash 8.0.6's ``kmem`` options ``-v -V -z -p -n -h -f -F -S``
(memory.c's dump_vmap_area, dump_vm_stat/dump_vm_event_state,
dump_zone_stats, dump_mem_map_SPARSEMEM, dump_memory_nodes/dump_mem_sections/
dump_memory_blocks, dump_hstates, dump_free_pages_zones_v2 and
dump_kmem_cache_slub).  Each returns plain values with ints for numbers and
addresses, so the tests compare values, not spellings."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["parse_kmem_S", "parse_kmem_V", "parse_kmem_f", "parse_kmem_f_address",
           "parse_kmem_g", "parse_kmem_h",
           "parse_kmem_n", "parse_kmem_o", "parse_kmem_p", "parse_kmem_v", "parse_kmem_z",
           "size_text_bytes"]

_HEX = r"[0-9a-f]+"


def size_text_bytes(text: str) -> int:
    """``4k``, ``4096k``, ``2MB``, ``1GB`` as bytes."""
    m = re.fullmatch(r"(\d+)\s*([kKMG])B?", text.strip())
    if m is None:
        raise ValueError(f"not a crash size: {text!r}")
    return int(m.group(1)) << {"k": 10, "K": 10, "M": 20, "G": 30}[m.group(2)]


def parse_kmem_v(text: str) -> list[tuple[int, int, int, int, int]]:
    """``kmem -v``: (vmap_area, vm_struct, start, end, size) per line."""
    rows = []
    for ln in text.splitlines():
        m = re.fullmatch(rf"\s*({_HEX})\s+({_HEX})\s+({_HEX}) - ({_HEX})\s+(\d+)\s*", ln)
        if m:
            rows.append((int(m[1], 16), int(m[2], 16), int(m[3], 16), int(m[4], 16),
                         int(m[5])))
    return rows


def parse_kmem_V(text: str) -> list[tuple[str, str, int]]:
    """``kmem -V``: (table, item, value), the table the ``  NAME:`` line
    before the items (VM_ZONE_STAT, VM_NODE_STAT, VM_EVENT_STATES...)."""
    rows = []
    table = ""
    for ln in text.splitlines():
        m = re.fullmatch(r"\s*([A-Z_]+):\s*", ln)
        if m:
            table = m[1]
            continue
        m = re.fullmatch(r"\s*([A-Za-z0-9_]+): (-?\d+)\s*", ln)
        if m:
            rows.append((table, m[1], int(m[2])))
    return rows


def parse_kmem_z(text: str) -> list[dict[str, Any]]:
    """``kmem -z``: one dict per zone: node, zone, addr, name, size, present
    (None when crash leaves it out: present == size), min, low, high and
    stats [(item, value)]; an unpopulated zone has size 0 and no stats."""
    zones: list[dict[str, Any]] = []
    for ln in text.splitlines():
        m = re.fullmatch(rf"NODE: (\d+)\s+ZONE: (\d+)\s+ADDR: ({_HEX})\s+NAME: \"(.*)\"\s*", ln)
        if m:
            zones.append({"node": int(m[1]), "zone": int(m[2]), "addr": int(m[3], 16),
                          "name": m[4], "size": 0, "present": None, "min": None,
                          "low": None, "high": None, "stats": []})
            continue
        if not zones:
            continue
        z = zones[-1]
        m = re.fullmatch(r"\s*SIZE: (\d+)(?:\s+PRESENT: (\d+))?\s+MIN/LOW/HIGH: "
                         r"(\d+)/(\d+)/(\d+)\s*", ln)
        if m:
            z.update(size=int(m[1]), present=int(m[2]) if m[2] else None, min=int(m[3]),
                     low=int(m[4]), high=int(m[5]))
            continue
        m = re.fullmatch(r"\s*([A-Z0-9_]+): (-?\d+)\s*", ln)
        if m:
            z["stats"].append((m[1], int(m[2])))
    return zones


_P_RE = re.compile(rf"^({_HEX})\s+({_HEX})\s+({_HEX})\s+({_HEX})\s+(-?\d+)\s+({_HEX})(?: (\S+))?\s*$")


def parse_kmem_p(text: str) -> list[tuple[int, int, int, int, int, int, str]]:
    """``kmem -p``: (page, physical, mapping, index, count, flags, flag
    names) per page line."""
    rows = []
    for ln in text.splitlines():
        m = _P_RE.match(ln)
        if m:
            rows.append((int(m[1], 16), int(m[2], 16), int(m[3], 16), int(m[4], 16),
                         int(m[5]), int(m[6], 16), m[7] or ""))
    return rows


def parse_kmem_n(text: str) -> dict[str, list[Any]]:
    """``kmem -n``: {"nodes": [(node, size, pgdat, node_zones [addrs], mem_map,
    start_paddr, start_mapnr)], "zones": [(zone, name, size, mem_map,
    start_paddr, start_mapnr)], "sections": [(nr, section, coded_mem_map,
    mem_map, state, pfn)], "blocks": [(mem_block, name, start, end, node,
    state, start_section)]}; ``end`` None where crash prints PHYSICAL START
    alone (memory.c print_memory_block(): the range needs the symbol
    ``memory_block_size_probed``, x86-64's, or ``memory_block.end_section_nr``)."""
    out: dict[str, list[Any]] = {"nodes": [], "zones": [], "sections": [], "blocks": []}
    part = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        ln = lines[i]
        i += 1
        if ln.startswith("NODE ") and "PGLIST_DATA" in ln:
            m = re.match(rf"\s*(\d+)\s+(\d+)\s+({_HEX})\s+(\S+)\s+({_HEX})", lines[i])
            assert m, lines[i]
            zones = [int(m[5], 16)]
            i += 1
            while re.fullmatch(rf"\s+({_HEX})\s*", lines[i]):
                zones.append(int(lines[i].strip(), 16))
                i += 1
            assert "START_PADDR" in lines[i], lines[i]
            mm = re.fullmatch(rf"\s*({_HEX})\s+({_HEX})\s+(\d+)\s*", lines[i + 1])
            assert mm, lines[i + 1]
            out["nodes"].append((int(m[1]), int(m[2]), int(m[3], 16), zones, int(mm[1], 16),
                                 int(mm[2], 16), int(mm[3])))
            i += 2
            continue
        if ln.startswith("ZONE  NAME"):
            part = "zones"
            continue
        if ln.startswith("NR ") and "SECTION" in ln:
            part = "sections"
            continue
        if "MEM_BLOCK" in ln:
            part = "blocks"
            continue
        if part == "zones":
            m = re.fullmatch(rf"\s*(\d+)\s+(\S+)\s+(\d+)\s+({_HEX})\s+({_HEX})\s+(\d+)\s*", ln)
            if m:
                out["zones"].append((int(m[1]), m[2], int(m[3]), int(m[4], 16), int(m[5], 16),
                                     int(m[6])))
        elif part == "sections":
            m = re.fullmatch(rf"\s*(\d+)\s+({_HEX})\s+({_HEX})\s+({_HEX})\s+([PMOED]+)\s+"
                             rf"({_HEX})\s*", ln)
            if m:
                # PFN: decimal at crash's default output radix (10)
                out["sections"].append((int(m[1]), int(m[2], 16), int(m[3], 16), int(m[4], 16),
                                        m[5], int(m[6])))
        elif part == "blocks":
            m = re.fullmatch(rf"\s*({_HEX})\s+(\S+)\s+({_HEX})(?: - \s*({_HEX}))?\s+(\d+)\s+"
                             rf"(\S+)\s+(\d+)\s*", ln)
            if m:
                out["blocks"].append((int(m[1], 16), m[2], int(m[3], 16),
                                      None if m[4] is None else int(m[4], 16),
                                      int(m[5]), m[6], int(m[7])))
    return out


def parse_kmem_h(text: str) -> list[tuple[int, int, int, int, str]]:
    """``kmem -h``: (hstate, size in bytes, free, total, name)."""
    rows = []
    for ln in text.splitlines():
        m = re.fullmatch(rf"\s*({_HEX})\s+(\d+[KMG]B)\s+(\d+)\s+(\d+)\s+(\S+)\s*", ln)
        if m:
            rows.append((int(m[1], 16), size_text_bytes(m[2]), int(m[3]), int(m[4]), m[5]))
    return rows


def parse_kmem_f(text: str) -> dict[str, Any]:
    """``kmem -f`` and ``-F``: {"zones": [{"zone", "name", "size", "free",
    "mem_map", "start_paddr", "start_mapnr", "areas": [(order, size bytes,
    free_area_struct, blocks or None, pages or None, [page addrs])]}],
    "nr_free_pages": (count, verified?)}.  ``-F`` lines have no counts; the
    page addresses under each list are gathered instead."""
    zones: list[dict[str, Any]] = []
    nr_free: tuple[int, str] | None = None
    expect_zone = False
    for ln in text.splitlines():
        if ln.startswith("ZONE  NAME"):
            expect_zone = True
            continue
        if expect_zone:
            expect_zone = False
            m = re.fullmatch(rf"\s*(\d+)\s+(\S+)\s+(\d+)\s+(\d+)\s+({_HEX})\s+({_HEX})\s+(\d+)\s*",
                             ln)
            assert m, ln
            zones.append({"zone": int(m[1]), "name": m[2], "size": int(m[3]),
                          "free": int(m[4]), "mem_map": int(m[5], 16),
                          "start_paddr": int(m[6], 16), "start_mapnr": int(m[7]), "areas": []})
            continue
        m = re.fullmatch(rf"\s*(\d+)\s+(\d+k)\s+({_HEX})(?:\s+(\d+)\s+(\d+))?\s*", ln)
        if m and zones:
            zones[-1]["areas"].append([int(m[1]), size_text_bytes(m[2]), int(m[3], 16),
                                       int(m[4]) if m[4] else None,
                                       int(m[5]) if m[5] else None, []])
            continue
        m = re.fullmatch(rf"({_HEX})\s*", ln)
        if m and zones and zones[-1]["areas"]:
            zones[-1]["areas"][-1][5].append(int(m[1], 16))
            continue
        m = re.match(r"nr_free_pages: (\d+)\s+\((\w+)\)", ln)
        if m:
            nr_free = (int(m[1]), m[2])
    for z in zones:
        z["areas"] = [tuple(a) for a in z["areas"]]
    return {"zones": zones, "nr_free_pages": nr_free}


def parse_kmem_S(text: str) -> list[dict[str, Any]]:
    """``kmem -S``: per cache {"cache", "name", "allocated", "total",
    "nr_slabs", "cpus": [(cpu, kmem_cache_cpu)], "nodes": [(kmem_cache_node,
    node, slabs, partial, per-cpu)], "slabs": [{"kind" (``CPU n SLAB``,
    ``CPU n PARTIAL``, ``NODE n PARTIAL``, ``NODE n FULL``), "slab",
    "memory", "node", "total", "allocated", "free", "objects": [(addr,
    allocated?, cpu of ``(cpu N cache)`` or None)]}]}."""
    caches: list[dict[str, Any]] = []
    kind = ""
    objects = False
    for ln in text.splitlines():
        m = re.fullmatch(rf"({_HEX})\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+k)\s+(\S+)\s*", ln)
        if m:
            caches.append({"cache": int(m[1], 16), "name": m[7], "allocated": int(m[3]),
                           "total": int(m[4]), "nr_slabs": int(m[5]), "cpus": [],
                           "nodes": [], "slabs": []})
            continue
        if not caches:
            continue
        c = caches[-1]
        m = re.fullmatch(r"(CPU (\d+) KMEM_CACHE_CPU|CPU \d+ (?:SLAB|PARTIAL)|"
                         r"NODE \d+ (?:PARTIAL|FULL)):\s*", ln)
        if m:
            kind = m[1]
            objects = False
            continue
        if kind.endswith("KMEM_CACHE_CPU"):
            m = re.fullmatch(rf"\s+({_HEX})\s*", ln)
            if m:
                c["cpus"].append((int(kind.split()[1]), int(m[1], 16)))
                kind = ""
            continue
        m = re.fullmatch(rf"({_HEX})\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*", ln)
        if m:
            c["nodes"].append((int(m[1], 16), int(m[2]), int(m[3]), int(m[4]), int(m[5])))
            continue
        m = re.fullmatch(rf"\s+({_HEX})\s+({_HEX})\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*", ln)
        if m:
            c["slabs"].append({"kind": kind, "slab": int(m[1], 16), "memory": int(m[2], 16),
                               "node": int(m[3]), "total": int(m[4]),
                               "allocated": int(m[5]), "free": int(m[6]), "objects": []})
            objects = False
            continue
        if "FREE / [ALLOCATED]" in ln:
            objects = True
            continue
        m = re.fullmatch(rf"\s+(\[)?({_HEX})(\])?\s*(?:\(cpu (\d+) cache\))?\s*", ln)
        if m and objects and c["slabs"]:
            c["slabs"][-1]["objects"].append((int(m[2], 16), bool(m[1]),
                                              int(m[4]) if m[4] else None))
    return caches


def parse_kmem_o(text: str) -> list[tuple[int, int]]:
    """``kmem -o``: (cpu, per-cpu offset)."""
    return [(int(m[1]), int(m[2], 16)) for m in
            re.finditer(rf"^\s*CPU (\d+): ({_HEX})", text, re.M)]


def parse_kmem_g(text: str) -> list[tuple[str, int, int]]:
    """``kmem -g [FLAGS]``: (PG_ name, bit, mask)."""
    return [(m[1], int(m[2]), int(m[3], 16)) for m in
            re.finditer(rf"^\s*(PG_\w+)\s+(\d+)\s+({_HEX})\s*$", text, re.M)]


def parse_kmem_f_address(text: str) -> list[tuple[int, int, int, int, int, int, int]]:
    """``kmem -f ADDR``: (zone, order, free_area_struct, block page, page asked
    about, nth, pages) per ``PAGE  (ADDR is Nth of M pages)`` line, under
    the zone and area lines before it."""
    rows = []
    zone = order = head = -1
    expect_zone = False
    for ln in text.splitlines():
        if ln.startswith("ZONE  NAME"):
            expect_zone = True
            continue
        if expect_zone:
            zone, expect_zone = int(ln.split()[0]), False
            continue
        m = re.fullmatch(rf"\s*(\d+)\s+\d+k\s+({_HEX})\s*", ln)
        if m:
            order, head = int(m[1]), int(m[2], 16)
            continue
        m = re.fullmatch(rf"({_HEX})\s+\(({_HEX}) is (\d+)\w\w of (\d+) pages\)\s*", ln)
        if m:
            rows.append((zone, order, head, int(m[1], 16), int(m[2], 16), int(m[3]),
                         int(m[4])))
    return rows
