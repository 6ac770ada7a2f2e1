"""Parsers of crash 8.0.6's output for the commands of kmemx's crash-command
plugins (dis, net, runq, timer, sig, ...), next to :mod:`tests.oracles.crash`
(which runs the crash sessions).  Each returns plain dicts with ints for
numbers and addresses, so the tests compare values, not spellings."""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "parse_colon_pairs",
    "parse_dev",
    "parse_dev_io",
    "parse_dev_pci",
    "parse_dis",
    "parse_dis_lines",
    "parse_eval",
    "parse_files_counts",
    "parse_files_dentry",
    "parse_files_inode",
    "parse_fuser",
    "parse_hrtimers",
    "parse_idt",
    "parse_ipcs",
    "parse_irq",
    "parse_irq_affinity",
    "parse_irq_bh",
    "parse_irq_stats",
    "parse_keyed",
    "parse_net",
    "parse_ptov",
    "parse_runq",
    "parse_runq_m",
    "parse_runq_t",
    "parse_sig",
    "parse_sym_location",
    "parse_timers",
    "parse_tree_positions",
    "parse_vm_pages",
    "parse_vtop",
    "parse_waitq",
]

_DIS = re.compile(r"^\s*0x([0-9a-f]+)(?: <([^>]*)>)?:\t(.*)$")
_LOC = re.compile(r"^(.*?)(?:\+(-?(?:0x[0-9a-f]+|\d+)))?$")
_TARGET = re.compile(r"^(\S+(?: \S+)?)\s+(0x[0-9a-f]+) <([^>]*)>(.*)$")
_COMMENT = re.compile(r"^(.*# 0x[0-9a-f]+) <([^>]*)>(.*)$")
_SRC = re.compile(r"^(\S+): (\d+)$")


def parse_sym_location(text: str | None) -> tuple[str, int] | None:
    """``schedule+23`` / ``schedule+0x17`` / ``schedule`` -> (name, offset)."""
    if not text:
        return None
    m = _LOC.match(text)
    assert m is not None
    off = m.group(2)
    return m.group(1), (int(off, 0) if off else 0)


def parse_dis(text: str) -> list[dict[str, Any]]:
    """crash's ``dis`` lines: ``address`` (int), ``location`` (name, offset) or
    None, ``text`` (the instruction as printed, with the ``<sym>`` after a
    branch target and after gdb's ``# 0x...`` comment removed), ``target``
    (int) and ``target_location`` when the operand is a named address,
    ``rip_location`` the name in the comment, ``source`` ((file, line) from the ``FILE:
    LINE`` line above it, with ``-l``)."""
    rows: list[dict[str, Any]] = []
    source: tuple[str, int] | None = None
    for line in text.splitlines():
        m = _DIS.match(line)
        if m is None:
            s = _SRC.match(line.strip())
            if s:
                source = (s.group(1), int(s.group(2)))
            continue
        insn = m.group(3).rstrip()
        row: dict[str, Any] = {"address": int(m.group(1), 16),
                               "location": parse_sym_location(m.group(2)),
                               "text": insn, "target": None, "target_location": None,
                               "rip_location": None, "source": source}
        c = _COMMENT.match(insn)
        if c:
            insn = row["text"] = c.group(1) + c.group(3)
            row["rip_location"] = parse_sym_location(c.group(2))
        t = _TARGET.match(insn)
        if t and "#" not in t.group(1):
            row["text"] = f"{t.group(1)} {t.group(2)}{t.group(4)}".rstrip()
            row["target"] = int(t.group(2), 16)
            row["target_location"] = parse_sym_location(t.group(3))
        rows.append(row)
    return rows


def parse_dis_lines(text: str) -> list[tuple[str, int]]:
    """The ``FILE: LINE`` lines of ``dis -l``, in order."""
    out = []
    for line in text.splitlines():
        s = _SRC.match(line.strip())
        if s:
            out.append((s.group(1), int(s.group(2))))
    return out


_HEX = r"[0-9a-f]+"
_TASK = re.compile(r'PID: (\d+)\s+TASK: (' + _HEX + r')\s+(?:CPU: (\d+)\s+)?COMMAND: "(.*)"')


def _task(text: str) -> dict[str, Any] | None:
    m = _TASK.search(text)
    if m is None:
        return None
    return {"pid": int(m.group(1)), "task": int(m.group(2), 16),
            "command": m.group(4)}


def parse_net(text: str) -> list[dict[str, Any]]:
    """``net``: ``net_device`` (int), ``name``, ``ips`` (list of text)."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"^(" + _HEX + r")\s+(\S+)\s*(.*)$", line.strip())
        if m and len(m.group(1)) >= 8:
            ips = [x.strip() for x in m.group(3).split(",") if x.strip()]
            rows.append({"net_device": int(m.group(1), 16), "name": m.group(2), "ips": ips})
    return rows


def parse_runq(text: str) -> list[dict[str, Any]]:
    """``runq``: per CPU ``cpu``, ``rq``, ``current`` (task dict), ``rt`` and
    ``cfs`` (the array/root addresses) and ``queued``: (queue, prio, task dict)."""
    cpus: list[dict[str, Any]] = []
    queue = ""
    for line in text.splitlines():
        m = re.match(r"^CPU (\d+) RUNQUEUE: (" + _HEX + ")", line)
        if m:
            cpus.append({"cpu": int(m.group(1)), "rq": int(m.group(2), 16), "queued": []})
            continue
        if not cpus:
            continue
        cur = cpus[-1]
        if line.strip().startswith("CURRENT:"):
            cur["current"] = _task(line)
        elif m := re.match(r"^\s+(RT PRIO_ARRAY|CFS RB_ROOT): (" + _HEX + ")", line):
            queue = m.group(1).split()[0]
            cur[queue.lower()] = int(m.group(2), 16)
        elif m := re.match(r"^\s+\[\s*(\d+)\] (PID:.*)$", line):
            t = _task(m.group(2))
            if t is not None:
                cur["queued"].append((queue, int(m.group(1)), t))
    return cpus


def parse_runq_t(text: str) -> list[dict[str, Any]]:
    """``runq -t``: ``cpu``, ``clock`` and the current task with ``timestamp``."""
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        m = re.match(r"^\s*CPU (\d+): (\d+)\s*$", line)
        if m:
            out.append({"cpu": int(m.group(1)), "clock": int(m.group(2))})
        elif out and (m := re.match(r"^\s+(\d+)\s+(PID:.*)$", line)):
            out[-1]["timestamp"] = int(m.group(1))
            out[-1]["task"] = _task(m.group(2))
    return out


def parse_runq_m(text: str) -> list[dict[str, Any]]:
    """``runq -m``: ``cpu``, ``elapsed`` text (``[0 00:00:09.676]``), the task."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^\s*CPU (\d+): (\[.*?\])\s+(PID:.*)$", line)
        if m:
            out.append({"cpu": int(m.group(1)), "elapsed": m.group(2), "task": _task(m.group(3))})
    return out


def parse_timers(text: str) -> tuple[int | None, list[dict[str, Any]]]:
    """``timer``: JIFFIES, and rows ``cpu``, ``base`` (name), ``base_address``,
    ``expires``, ``tte``, ``timer``, ``function``, ``name``."""
    jiffies = None
    rows: list[dict[str, Any]] = []
    lines = text.splitlines()
    base: tuple[int, str, int] | None = None
    for i, line in enumerate(lines):
        if line.strip() == "JIFFIES" and i + 1 < len(lines):
            jiffies = int(lines[i + 1].strip())
        m = re.match(r"^TIMER_BASES\[(\d+)\]\[(\w+)\]: (" + _HEX + ")", line)
        if m:
            base = (int(m.group(1)), m.group(2), int(m.group(3), 16))
            continue
        m = re.match(r"^\s*(\d+)\s+(-?\d+)\s+(" + _HEX + r")\s+(" + _HEX + r")\s+<(.*)>",
                     line)
        if m and base is not None:
            rows.append({"cpu": base[0], "base": base[1], "base_address": base[2],
                         "expires": int(m.group(1)), "tte": int(m.group(2)),
                         "timer": int(m.group(3), 16), "function": int(m.group(4), 16),
                         "name": m.group(5)})
    return jiffies, rows


def parse_hrtimers(text: str) -> tuple[dict[tuple[int, int], int], list[dict[str, Any]]]:
    """``timer -r``: CURRENT per (cpu, clock), and rows ``cpu``, ``clock``,
    ``softexpires``, ``expires``, ``tte``, ``hrtimer``, ``function``, ``name``."""
    current: dict[tuple[int, int], int] = {}
    rows: list[dict[str, Any]] = []
    cpu = clock = -1
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if m := re.match(r"^CPU: (\d+)\s+HRTIMER_CPU_BASE", line):
            cpu = int(m.group(1))
        elif m := re.match(r"^\s+CLOCK: (\d+)\s+HRTIMER_CLOCK_BASE", line):
            clock = int(m.group(1))
        elif line.strip() == "CURRENT" and i + 1 < len(lines):
            current[(cpu, clock)] = int(lines[i + 1].strip())
        elif m := re.match(r"^\s*(\d+)\s+(-?\d+)\s+(-?\d+)\s+(" + _HEX + r")\s+(" + _HEX
                           + r")\s+<(.*)>", line):
            rows.append({"cpu": cpu, "clock": clock, "softexpires": int(m.group(1)),
                         "expires": int(m.group(2)), "tte": int(m.group(3)),
                         "hrtimer": int(m.group(4), 16), "function": int(m.group(5), 16),
                         "name": m.group(6)})
    return current, rows


def parse_irq_stats(text: str) -> list[dict[str, Any]]:
    """``irq -s``: ``irq``, ``counts`` (per CPU, in order), ``chip``, ``actions``."""
    rows = []
    ncpu = 0
    for line in text.splitlines():
        if re.match(r"^\s+CPU0", line):
            ncpu = len(line.split())
            continue
        m = re.match(r"^\s*(\d+):\s+(.*)$", line)
        if m and ncpu:
            f = m.group(2).split()
            rows.append({"irq": int(m.group(1)), "counts": [int(x) for x in f[:ncpu]],
                         "chip": f[ncpu] if len(f) > ncpu else "",
                         "actions": " ".join(f[ncpu + 1:])})
    return rows


def parse_sig(text: str) -> dict[str, Any]:
    """``sig PID``: the task, ``signal_struct``, ``nr_threads``, ``actions``
    (``sig``, ``sigaction``, ``handler`` text, ``mask``, ``flags``),
    ``sigpending``, ``blocked``, ``private`` and ``shared`` signal sets."""
    out: dict[str, Any] = {"task": _task(text), "actions": []}
    pending = None
    for line in text.splitlines():
        if m := re.match(r"^SIGNAL_STRUCT: (" + _HEX + r")\s+NR_THREADS: (\d+)", line):
            out["signal_struct"] = int(m.group(1), 16)
            out["nr_threads"] = int(m.group(2))
        elif m := re.match(r"^\s*\[\s*(\d+)\]\s+(" + _HEX + r")\s+(\S+)\s+(" + _HEX
                           + r")\s+(" + _HEX + r")", line):
            out["actions"].append({"sig": int(m.group(1)), "sigaction": int(m.group(2), 16),
                                   "handler": m.group(3), "mask": int(m.group(4), 16),
                                   "flags": int(m.group(5), 16)})
        elif m := re.match(r"^SIGPENDING: (\w+)", line):
            out["sigpending"] = m.group(1)
        elif m := re.match(r"^\s+BLOCKED: (" + _HEX + ")", line):
            out["blocked"] = int(m.group(1), 16)
        elif line.strip() in ("PRIVATE_PENDING", "SHARED_PENDING"):
            pending = "private" if line.strip().startswith("PRIVATE") else "shared"
        elif pending and (m := re.match(r"^\s+SIGNAL: (" + _HEX + ")", line)):
            out[pending] = int(m.group(1), 16)
    return out


def parse_colon_pairs(text: str) -> list[tuple[int, int]]:
    """``ptob``/``btop``/``search`` lines ``a: a000`` as (int, int), hex."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^\s*(" + _HEX + r"): (" + _HEX + r")\s*$", line)
        if m:
            out.append((int(m.group(1), 16), int(m.group(2), 16)))
    return out


def parse_ptov(text: str) -> list[tuple[int, int]]:
    """``ptov``: (virtual, physical) rows, or (cpu, virtual) for OFFSET:CPUS."""
    out = []
    for line in text.splitlines():
        if m := re.match(r"^\s*\[(\d+)\]\s+(" + _HEX + r")\s*$", line):
            out.append((int(m.group(1)), int(m.group(2), 16)))
        elif m := re.match(r"^(" + _HEX + r")\s+(" + _HEX + r")\s*$", line):
            out.append((int(m.group(1), 16), int(m.group(2), 16)))
    return out


def parse_vtop(text: str) -> dict[str, Any]:
    """``vtop ADDR``: ``virtual``, ``physical``, ``pgd_directory`` and
    ``entries`` [(level, address, value)] (x86-64: the kernel's first level
    as ("PGD", None, value); arm64: PAGE DIRECTORY is ``pgd_directory``), ``page`` and ``page_size`` text, ``pte``, ``flags``,
    ``vma`` (vma, start, end, flags, file), ``struct_page`` (page, physical,
    mapping, index, count, flags, names)."""
    out: dict[str, Any] = {"entries": []}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        f = line.split()
        if f[:2] == ["VIRTUAL", "PHYSICAL"] and i + 1 < len(lines):
            v = lines[i + 1].split()
            out["virtual"], out["physical"] = int(v[0], 16), int(v[1], 16)
        elif m := re.match(r"^PGD DIRECTORY: (" + _HEX + ")", line):
            out["pgd_directory"] = int(m.group(1), 16)
        elif m := re.match(r"^PAGE DIRECTORY: (" + _HEX + ")", line):
            out["entries"].append(("PGD", None, int(m.group(1), 16)))
        elif m := re.match(r"^\s+(PGD|P4D|PUD|PMD|PTE): (" + _HEX + ") => (" + _HEX + ")", line):
            out["entries"].append((m.group(1), int(m.group(2), 16), int(m.group(3), 16)))
        elif m := re.match(r"^\s+PAGE: (" + _HEX + r")\s*(\(\w+\))?", line):
            out["page"] = int(m.group(1), 16)
            out["page_size"] = m.group(2) or ""
        elif f[:3] == ["PTE", "PHYSICAL", "FLAGS"] and i + 1 < len(lines):
            v = lines[i + 1].split(None, 2)
            out["pte"], out["flags"] = int(v[0], 16), v[2].strip()
        elif f[:2] == ["VMA", "START"] and i + 1 < len(lines):
            v = lines[i + 1].split(None, 4)
            out["vma"] = (int(v[0], 16), int(v[1], 16), int(v[2], 16), int(v[3], 16),
                          v[4].strip() if len(v) > 4 else "")
        elif f[:2] == ["PAGE", "PHYSICAL"] and i + 1 < len(lines):
            v = lines[i + 1].split()
            out["struct_page"] = (int(v[0], 16), int(v[1], 16), int(v[2], 16), int(v[3], 16),
                                  int(v[4]), int(v[5], 16), v[6] if len(v) > 6 else "")
    e = out["entries"]
    if len(e) > 1 and e[0][1] is None and e[1][0] == "PGD":
        # arm64 (crash's arm64_vtop_*()): PAGE DIRECTORY is the table's
        # address (mm->pgd), then each level with its descriptor's address
        out["pgd_directory"] = e.pop(0)[2]
    return out


def parse_eval(text: str) -> dict[str, str]:
    """``eval``: hexadecimal, decimal, octal, binary, bits set -> their text."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s*(hexadecimal|decimal|octal|binary|bits set): (.*?)\s*$", line)
        if m:
            out[m.group(1)] = re.sub(r"\s+", " ", m.group(2))
    return out


def parse_keyed(text: str) -> dict[str, str]:
    """``KEY: VALUE`` lines (``mach``, ``sys``), keys as printed, values
    stripped; a key that repeats (``CPU 0:`` under each stack list) keeps its
    first value."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^\s*([A-Z][A-Z0-9 ]*[A-Z0-9]): (.*)$", line)
        if m:
            out.setdefault(m.group(1), m.group(2).strip())
    return out


def parse_dev(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``dev``: the char rows (``major``, ``name``, ``cdev`` int or None,
    ``operations`` or None), then the block rows (``gendisk``)."""
    chr_rows: list[dict[str, Any]] = []
    blk_rows: list[dict[str, Any]] = []
    cur = chr_rows
    for line in text.splitlines():
        if line.startswith("BLKDEV"):
            cur = blk_rows
            continue
        m = re.match(r"^\s*(\d+)\s+(\S+)\s+(\(none\)|" + _HEX + r")\s*(\S*)\s*$", line)
        if m:
            none = m.group(3) == "(none)"
            cur.append({"major": int(m.group(1)), "name": m.group(2),
                        "address": None if none else int(m.group(3), 16),
                        "operations": m.group(4) or None})
    return chr_rows, blk_rows


def parse_dev_io(text: str) -> list[list[dict[str, Any]]]:
    """``dev -i``: the I/O port table's rows, then the I/O memory table's, each
    ``resource``, ``start``, ``end`` (ints) and ``name`` (a name crash wrapped
    at 80 columns joined again with one space)."""
    tables: list[list[dict[str, Any]]] = []
    for line in text.splitlines():
        if line.split()[:1] == ["RESOURCE"]:
            tables.append([])
            continue
        m = re.match(r"^\s*(" + _HEX + r")  (" + _HEX + r")-(" + _HEX + r")  (.*)$", line)
        if m and tables:
            tables[-1].append({"resource": int(m.group(1), 16), "start": int(m.group(2), 16),
                               "end": int(m.group(3), 16), "name": m.group(4)})
        elif tables and tables[-1] and line.startswith(" " * 20) and line.strip():
            tables[-1][-1]["name"] += " " + line.strip()
    return tables


def parse_dev_pci(text: str) -> list[dict[str, Any]]:
    """``dev -p``: each device line (``pci_dev``, ``name``, ``class``, ``vendor``,
    ``device``, ``type``: the words after PCI_ID), the bus's own line under
    ``ROOT BUS``/``PCI BUS`` headers giving each row's ``bus``."""
    rows: list[dict[str, Any]] = []
    bus = None
    expect_bus = False
    for line in text.splitlines():
        words = line.split()
        if line.strip().startswith(("ROOT BUS", "PCI BUS")):
            expect_bus = True
            continue
        if expect_bus and words:
            bus, expect_bus = int(words[0], 16), False
            continue
        m = re.match(r"^  (" + _HEX + r") +(\S+) +([0-9a-f]{4}) +([0-9a-f]+):([0-9a-f]+)\s*(.*?)\s*$",
                     line)
        if m:
            rows.append({"pci_dev": int(m.group(1), 16), "name": m.group(2),
                         "class": int(m.group(3), 16), "vendor": int(m.group(4), 16),
                         "device": int(m.group(5), 16), "type": m.group(6), "bus": bus})
    return rows


def parse_irq_bh(text: str) -> list[dict[str, Any]]:
    """``irq -b``: ``    [0]     ffffffff8c8a95d0  <tasklet_hi_action>`` lines as
    ``vec``, ``action`` and ``symbol`` (without the brackets)."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\s*\[(\d+)\]\s+(" + _HEX + r")\s+<(.*)>", line)
        if m:
            rows.append({"vec": int(m.group(1)), "action": int(m.group(2), 16),
                         "symbol": m.group(3)})
    return rows


def parse_ipcs(text: str) -> dict[str, int]:
    """``ipcs``: the number of rows of each table (SHMID_KERNEL, SEM_ARRAY,
    MSG_QUEUE); '(none allocated)' is 0."""
    counts: dict[str, int] = {}
    table = None
    for line in text.splitlines():
        f = line.split()
        if f and f[0] in ("SHMID_KERNEL", "SEM_ARRAY", "MSG_QUEUE"):
            table = f[0]
            counts[table] = 0
        elif table and f and re.fullmatch(_HEX, f[0]) and len(f[0]) >= 8:
            counts[table] += 1
    return counts


def parse_fuser(text: str) -> list[dict[str, Any]]:
    """``fuser``: ``pid``, ``task``, ``comm``, ``usage`` (words)."""
    rows = []
    for line in text.splitlines():
        # crash cuts a 16-character comm's closing quote off
        m = re.match(r'^\s*(\d+)\s+(' + _HEX + r')\s+"([^"\s]*)"?\s+(.*)$', line)
        if m:
            rows.append({"pid": int(m.group(1)), "task": int(m.group(2), 16),
                         "comm": m.group(3), "usage": m.group(4).split()})
    return rows


def parse_waitq(text: str) -> list[dict[str, Any]]:
    """``waitq``: one task dict (``pid``, ``task``, ``command``) per waiter."""
    return [t for t in (_task(line) for line in text.splitlines()) if t is not None]


def parse_irq(text: str) -> list[dict[str, Any]]:
    """``irq`` / ``irq -u``: ``irq``, ``desc`` and ``action`` (int or None for
    '(unused)'), ``name`` (the quoted action name or None)."""
    rows = []
    for line in text.splitlines():
        m = re.match(r'^\s*(\d+)\s+(' + _HEX + r'|\(unused\))\s+(' + _HEX
                     + r'|\(unused\))\s*(?:"(.*)")?\s*$', line)
        if m:
            rows.append({"irq": int(m.group(1)),
                         "desc": None if m.group(2) == "(unused)" else int(m.group(2), 16),
                         "action": None if m.group(3) == "(unused)" else int(m.group(3), 16),
                         "name": m.group(4)})
    return rows


def parse_irq_affinity(text: str) -> list[tuple[int, str, str]]:
    """``irq -a``: (irq, name, affinity cpulist)."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^\s*(\d+) (\S*)\s+(\S+)\s*$", line)  # a chained IRQ: no name
        if m:
            out.append((int(m.group(1)), m.group(2), m.group(3)))
    return out


def parse_idt(text: str) -> list[tuple[int, str]]:
    """``irq -d``: (vector, handler symbol+offset)."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^\s*\[\s*(\d+)\]\s+(\S+)\s*$", line)
        if m:
            out.append((int(m.group(1)), m.group(2)))
    return out


_VM_VMA = re.compile(r"^([0-9a-f]{8,16})\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s*(.*?)\s*$")
_VM_PAGE = re.compile(r"^([0-9a-f]+)\s{2,}(.*?)\s*$")


def parse_vm_pages(text: str) -> list[dict[str, Any]]:
    """crash's ``vm -p``: one dict per page, ``{vma, virtual, physical}``;
    ``physical`` is an int for a mapped page, else crash's text (``FILE:
    /path  OFFSET: hex``, ``SWAP: dev  OFFSET: n``, ``(not mapped)``)."""
    rows: list[dict[str, Any]] = []
    vma: int | None = None
    in_pages = False
    for line in text.splitlines():
        words = line.split()
        if words[:2] == ["VMA", "START"]:
            in_pages = False
            continue
        if words == ["VIRTUAL", "PHYSICAL"]:
            in_pages = True
            continue
        m = _VM_VMA.match(line)
        if not in_pages and m:
            vma = int(m.group(1), 16)
            continue
        m = _VM_PAGE.match(line)
        if in_pages and m and vma is not None:
            where = m.group(2)
            phys: Any = int(where, 16) if re.fullmatch(r"[0-9a-f]+", where) else where
            rows.append({"vma": vma, "virtual": int(m.group(1), 16), "physical": phys})
    return rows


def parse_files_dentry(text: str) -> list[dict[str, Any]]:
    """crash's ``files -d DENTRY``: ``{dentry, inode, superblk, type, path}``
    per row (``inode`` 0 and ``type`` N/A for a negative dentry)."""
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        m = re.match(r"^\s*([0-9a-f]{8,16})\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([A-Z/]+)\s*(.*?)\s*$",
                     line)
        if m:
            rows.append({"dentry": int(m.group(1), 16), "inode": int(m.group(2), 16),
                         "superblk": int(m.group(3), 16), "type": m.group(4),
                         "path": m.group(5)})
    return rows


def parse_files_inode(text: str) -> tuple[dict[str, int] | None, list[dict[str, Any]]]:
    """crash's ``files -p INODE``: ``{inode, nrpages}`` and the page rows
    ``{page, physical, mapping, index, cnt, flags, names}`` (ints; ``names``
    the comma-separated flag names as printed)."""
    head: dict[str, int] | None = None
    pages: list[dict[str, Any]] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.split() == ["INODE", "NRPAGES"] and i + 1 < len(lines):
            f = lines[i + 1].split()
            head = {"inode": int(f[0], 16), "nrpages": int(f[1])}
            continue
        m = re.match(r"^\s*([0-9a-f]{8,16})\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+(\d+)"
                     r"\s+([0-9a-f]+)\s*(\S*)\s*$", line)
        if m and head is not None:
            pages.append({"page": int(m.group(1), 16), "physical": int(m.group(2), 16),
                          "mapping": int(m.group(3), 16), "index": int(m.group(4), 16),
                          "cnt": int(m.group(5)), "flags": int(m.group(6), 16),
                          "names": m.group(7)})
    return head, pages


def parse_tree_positions(text: str) -> list[tuple[int, str]]:
    """crash's ``tree -p``: ``(entry address, position)`` per entry (the
    ``  position: root/l/r`` line after each address)."""
    out: list[tuple[int, str]] = []
    addr: int | None = None
    for line in text.splitlines():
        m = re.match(r"^([0-9a-f]{8,16})\s*$", line)
        if m:
            addr = int(m.group(1), 16)
            continue
        m = re.match(r"^\s+(?:index: \d+\s+)?position: (\S+)\s*$", line)
        if m and addr is not None:
            out.append((addr, m.group(1)))
            addr = None
    return out


def parse_files_counts(text: str) -> list[dict[str, Any]]:
    """crash's ``files -c``: ``{fd, inode, i_mapping, nrpages, type, path}``
    per open file (the PID/ROOT/CWD lines skipped)."""
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        m = re.match(r"^\s*(\d+)\s+([0-9a-f]{8,16})\s+([0-9a-f]+)\s+(\d+)\s+([A-Z]+)\s*(.*?)\s*$",
                     line)
        if m:
            rows.append({"fd": int(m.group(1)), "inode": int(m.group(2), 16),
                         "i_mapping": int(m.group(3), 16), "nrpages": int(m.group(4)),
                         "type": m.group(5), "path": m.group(6)})
    return rows
