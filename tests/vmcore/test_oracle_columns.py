"""Every row and every column that kmemx and crash 8.0.6 both print, on every dump.

For each command, kmemx's ``--json`` rows (run in-process, one open per dump)
are paired with crash's parsed text (one crash session per dump, all commands)
and compared cell by cell (:mod:`tests.oracles.compare`); drgn's helpers and the
guest's /proc (the manifest) are the third opinion where crash has nothing to
say. A cell may differ only through a written allowance below, whose predicate
must hold for that cell; the allowances are tested on their own in
``test_allowances_*`` (they excuse what their reason says, and nothing else).

Env: ``KMEMX_KERNEL`` picks the fixture (``./scripts/test`` runs the vmcore
tier per kernel), ``KMEMX_CRASH`` a crash binary.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import drgn
import pytest

import kmemx
from kmemx.commands import execute
from tests.fixtures.fixture import Fixture
from tests.oracles import crash as C
from tests.oracles.compare import (
    Allowance,
    Column,
    Comparison,
    Diff,
    RowAllowance,
    compare_tables,
)
from tests.vmcore.regions import kmalloc_cache

pytestmark = pytest.mark.vmcore

PAGE_SIZE = 4096


# ------------------------------------------------------------------ the written exceptions

def _same_rss(d: Diff) -> bool:
    return int(d.our_row["rss"]) // 1024 == int(d.their_row["rss"])


def _mem_denominator(d: Diff) -> bool:
    """kmemx's %MEM is RSS / totalram_pages (as drgn's crash ps and /proc's
    MemTotal); crash divides by the pages below high_memory (memory.c,
    get_task_mem_usage(): vt->total_pages, num_physpages being gone), which
    also counts reserved pages. Only with the same RSS, and only where each
    value is its own formula's (crash's ``%.1f`` of RSS*100/total_pages)."""
    rss = int(d.their_row["rss"]) * 1024 // PAGE_SIZE
    crash_pct = float(f"{rss * 100 / int(d.their_row['total_pages']):.1f}")
    ours_pct = rss * 100 / int(d.their_row["totalram_pages"])
    return (_same_rss(d) and float(d.theirs) == crash_pct
            and abs(float(d.ours) - ours_pct) <= 0.05 + 0.005)


def _elf_symbol_name(d: Diff) -> bool:
    """kmemx names a frame by the DWARF function that holds its PC (drgn's
    StackFrame.name), crash by the nearest ELF symbol at or below the PC
    (kallsyms). They differ where that symbol is an alias of the function
    (``__x64_sys_pause`` for ``__do_sys_pause``) or a label inside it
    (``entry_SYSCALL_64_after_hwframe`` in ``entry_SYSCALL_64``). Only for the
    same PC, with crash's name an ELF symbol between the start of the symbol
    that contains the PC and the PC."""
    pc = int(d.their_row["pc"])
    at = d.their_row.get("name_address")
    start = d.their_row.get("containing_address")
    return (d.our_row["pc"] == pc and at is not None and start is not None
            and start <= at <= pc)


def _pseudo_fs_path(d: Diff) -> bool:
    """A pipe or socket has no path under a mount: crash prints none, kmemx
    prints drgn's d_path() of the internal mount, ``[pipefs]`` / ``[sockfs]``."""
    return (d.theirs == "" and d.their_row["type"] in ("FIFO", "SOCK")
            and re.fullmatch(r"\[(pipefs|sockfs)\]", str(d.ours)) is not None)


def _drgn_online_cpus_only(d: Diff) -> bool:
    """drgn's percpu_counter_sum() adds the deltas of the online CPUs only; panic()
    takes the other CPUs offline (stop_this_cpu() clears them from
    cpu_online_mask), so on a panic dump drgn misses their deltas of the 6.2+
    per-CPU RSS counters; crash and kmemx sum over every possible CPU. Only when
    a possible CPU is offline, and only where kmemx's RSS is crash's; where no
    crash reads the dump (arm64), where it is drgn's own sum run over every
    possible CPU (``rss_all_cpus``)."""
    if int(d.their_row["offline_cpus"]) <= 0:
        return False
    if d.their_row["crash_rss"] is None:
        return bool(d.their_row.get("rss_all_cpus") == d.ours)
    return bool(d.their_row["crash_rss"] == d.ours)


def _partial_dump_tag(d: Diff) -> bool:
    """crash appends ``[PARTIAL DUMP]`` to DUMPFILE for a filtered kdump
    (makedumpfile -d 31); kmemx's DUMPFILE is the path alone."""
    return (str(d.theirs).split()[0] == d.ours and "[PARTIAL DUMP]" in str(d.theirs)
            and str(d.ours).endswith("d31.kdump"))


def _proc_active_bound(d: Diff) -> bool:
    """/proc/slabinfo's active_objs is num_objs minus the free objects of the
    node partial slabs only (mm/slub.c get_slabinfo()): free objects in per-CPU
    slabs (and, 6.18 on, in sheaves) count as active there, while kmemx (and
    crash) count them free. So kmemx's value may be lower, by at most the
    objects of the per-CPU slabs and sheaves,
    plus the drift of the ~1 s between /proc and the dump (4 slabs' worth; for
    filp, also one file per task of the manifest)."""
    drift = 4 * int(d.their_row["objperslab"])
    if d.their_row["name"] == "filp":
        # The manifest writer opened and closed /proc files of every task just
        # before reading slabinfo; fput() frees a file after an RCU grace period
        # (file_free_rcu), so up to one file per task was still counted there.
        drift += int(d.our_row["manifest_tasks"])
    return -drift <= int(d.theirs) - int(d.ours) <= int(d.our_row["cpu_objects"]) + drift


def _proc_drift(d: Diff) -> bool:
    """Slabs allocated or freed in the ~1 s between the guest reading
    /proc/slabinfo and the dump: at most 4 slabs' worth of objects. For filp,
    also the slabs of the files the manifest writer had just opened and closed
    (one per task, freed after an RCU grace period: see the ACTIVE_OBJS bound),
    which /proc still counted and which may be gone at the dump: kmemx lower by
    at most that many objects rounded up to whole slabs (5.10: 912 vs 784)."""
    per = int(d.their_row["objperslab"])
    drift = 4 * per
    extra = 0
    if d.their_row["name"] == "filp":
        extra = -(-int(d.our_row["manifest_tasks"]) // per) * per
    return -drift <= int(d.theirs) - int(d.ours) <= drift + extra


def _drgn_misses_remote_frees(d: Diff) -> bool:
    """drgn's slab_cache_usage() does not count objects that other CPUs freed
    onto a CPU's active slab (slab->freelist, ``objects - inuse``) as free; crash's
    kmem -s and kmemx do. Only where kmemx has fewer active objects than drgn and
    crash's ALLOCATED for the cache is kmemx's value; where no crash reads the
    dump, only where the difference is those objects, counted here with drgn
    (``remote_frees``), plus the objects in the per-CPU state of offline CPUs
    (6.18+ sheaves, before 7.0 per-CPU freelists and partial slabs): drgn reads
    the online CPUs' only, and panic() takes the other CPUs offline (7.2 panic
    dump: RAWv6 8 vs 13, 5 in CPU 1's sheaves; 6.1 arm64 panic dump: RAWv6 6 vs
    18, CPU 0 offline). crash's count is taken as kmemx's when it is kmemx's
    plus the objects in sheaves, which crash does not read (the exception of
    ``kmem -s`` ALLOCATED)."""
    if not int(d.ours) < int(d.theirs):
        return False
    crash = d.their_row.get("crash_allocated")
    if crash is not None:
        # crash counts the objects in sheaves allocated (the kmem -s exception)
        return bool(crash == int(d.ours) + int(d.our_row.get("sheaf_objects", 0)))
    return int(d.theirs) - int(d.ours) == (int(d.their_row.get("remote_frees", -1))
                                           + int(d.their_row.get("offline_sheaves", 0)))


def _crash_counts_sheaves_allocated(d: Diff) -> bool:
    """crash (8.0.6, 9.0.2, and upstream's to date) does not read SLUB's
    sheaves (6.18 on: 2d517aa09bbc "slab: add opt-in caching layer of percpu
    sheaves"): the objects in each CPU's main and spare sheaf and in the node
    barns' full sheaves are free objects cached for the next allocations, which
    crash counts allocated (as /proc/slabinfo does), while kmemx counts them
    free, as crash itself counts a CPU's lockless freelist before 6.18.  Only
    where crash's count is kmemx's plus exactly those objects, counted here
    with drgn (``sheaf_objects``)."""
    n = int(d.our_row["sheaf_objects"])
    return n > 0 and int(d.theirs) - int(d.ours) == n


def _crash_sheaf_object_allocated(d: Diff) -> bool:
    """``kmem ADDR`` of an object in a sheaf (see the ALLOCATED exception of
    ``kmem -s``): crash calls it allocated, kmemx free.  Only for an address
    that drgn finds in one of its cache's sheaves (``in_sheaf``)."""
    return d.ours is False and d.theirs is True and d.our_row["in_sheaf"] is True


def _gdb16_declaration(d: Diff) -> bool:
    """crash 9.x's gdb 16 prints a variable that a header declares with an
    incomplete array type by that declaration (``const char linux_banner[];``,
    include/linux/printk.h), where crash 8.0.6's gdb 10 and kmemx give the
    definition's (``const char linux_banner[221];``, init/version-timestamp.c).
    Only where the array's length is the whole difference."""
    return re.sub(r"\[\d+\];$", "[];", str(d.ours)) == str(d.theirs) != str(d.ours)


def _above_panic(row: Mapping[str, Any]) -> bool:
    """crash starts the panic task's backtrace at panic() (x86_64.c finds the
    panic frame on the stack of the panic task), kmemx at the registers the dump
    saved for its CPU: with panic=0 the task spins in panic()'s mdelay() loop, so
    kmemx also shows the frames above panic() (delay_tsc). Only those frames,
    only for the panic task, whose kmemx frames then continue at panic()."""
    return bool(row.get("above_panic"))


def _below_arm64_last_frame(row: Mapping[str, Any]) -> bool:
    """arm64 crash stops a backtrace after a frame named start_kernel,
    secondary_start_kernel, kthread or kthreadd (arm64.c
    arm64_print_stackframe_entry() returns BACKTRACE_COMPLETE_KERNEL), where
    x86-64 crash and drgn's unwinder go on to the real bottom frame
    (ret_from_fork, whose frame record ends the chain).  Only the frames
    below such a frame, only on arm64."""
    return bool(row.get("below_arm64_last_frame"))


#: Rows that only one side has.
ROW_ALLOWANCES: list[RowAllowance] = [
    RowAllowance("bt", "extra", _above_panic.__doc__ or "", _above_panic),
    RowAllowance("bt", "extra", _below_arm64_last_frame.__doc__ or "", _below_arm64_last_frame),
]

ALLOWANCES: list[Allowance] = [
    Allowance("ps", "%MEM", _mem_denominator.__doc__ or "", _mem_denominator),
    Allowance("bt", "FUNCTION", _elf_symbol_name.__doc__ or "", _elf_symbol_name),
    Allowance("files", "PATH", _pseudo_fs_path.__doc__ or "", _pseudo_fs_path),
    Allowance("sys", "DUMPFILE", _partial_dump_tag.__doc__ or "", _partial_dump_tag),
    Allowance("ps", "RSS", _drgn_online_cpus_only.__doc__ or "", _drgn_online_cpus_only,
              oracle="drgn"),
    Allowance("slabinfo", "ACTIVE_OBJS", _drgn_misses_remote_frees.__doc__ or "",
              _drgn_misses_remote_frees, oracle="drgn"),
    Allowance("kmem -s", "ALLOCATED", _crash_counts_sheaves_allocated.__doc__ or "",
              _crash_counts_sheaves_allocated),
    Allowance("slabinfo", "ACTIVE_OBJS", _crash_counts_sheaves_allocated.__doc__ or "",
              _crash_counts_sheaves_allocated),
    Allowance("kmem ADDR", "ALLOCATED", _crash_sheaf_object_allocated.__doc__ or "",
              _crash_sheaf_object_allocated),
    Allowance("whatis", "DECLARATION", _gdb16_declaration.__doc__ or "", _gdb16_declaration),
]
#: Allowances against the guest's own /proc (the manifest), read ~1 s before the dump.
MANIFEST_ALLOWANCES: list[Allowance] = [
    Allowance("slabinfo", "ACTIVE_OBJS", _proc_active_bound.__doc__ or "", _proc_active_bound,
              oracle="/proc"),
    Allowance("slabinfo", "NUM_OBJS", _proc_drift.__doc__ or "", _proc_drift, oracle="/proc"),
]


# ------------------------------------------------------------------ one dump: kmemx, crash, drgn

@dataclass
class Dump:
    """kmemx opened once on a dump variant, its crash outputs, and the commands
    (with this dump's addresses and PIDs) that both run."""

    fixture: Fixture
    variant: str
    crash_bin: Path | None
    _crash: dict[str, str] = field(default_factory=dict)
    #: why crash's columns are skipped on this dump (no crash here reads it), one line
    crash_skip: str | None = None

    @cached_property
    def k(self) -> kmemx.Kernel:
        return kmemx.open(self.fixture.core(self.variant), self.fixture.vmlinux)

    @cached_property
    def manifest(self) -> dict[str, Any]:
        return self.fixture.manifest_for(self.variant)

    def kmemx(self, line: str) -> list[Any]:
        """kmemx's --json output for ``line`` (its warnings are dropped)."""
        out = [x for x in execute(self.k, line + " --json")
               if not x.startswith("kmemx: warning: ")]
        data: list[Any] = json.loads("\n".join(out))
        return data

    def crash_output(self, line: str) -> str | None:
        """crash's output of ``line``, or None when no crash here opens this
        dump (``crash_skip`` says why).  crash 8.0.6 first; when its session
        fails, the first newer build whose session starts on the dump
        (:func:`tests.oracles.crash.crash_for`); a crash that starts but fails
        a command is an error, not a skip."""
        if self.crash_skip is not None:
            return None
        if line not in self._crash:
            core = self.fixture.core(self.variant)
            try:
                if self.crash_bin is None:
                    self.crash_bin = C.crash_for(self.fixture.vmlinux, core)
                self._crash.update(C.crash_outputs(self.fixture.vmlinux, core,
                                                   [line, *self.plan], crash=self.crash_bin))
            except C.CrashTimeout:
                raise
            except C.CrashError as e:
                try:
                    other = C.crash_for(self.fixture.vmlinux, core)
                except C.CrashCannotRead as why:
                    self.crash_skip = f"crash columns skipped on {self.fixture.release}: {why}"
                    return None
                if other == self.crash_bin:
                    raise e
                self.crash_bin = other
                return self.crash_output(line)
        return self._crash[line]

    def crash(self, line: str) -> str:
        """crash's output of ``line``; the test is skipped (with the one-line
        reason) when no crash here opens this dump."""
        out = self.crash_output(line)
        if out is None:
            pytest.skip(self.crash_skip or "")
        return out

    def note_crash_skipped(self) -> None:
        """For a test that also compared drgn or /proc: say (as a warning) that
        its crash columns were not compared."""
        if self.crash_skip is not None:
            warnings.warn(self.crash_skip, CrashColumnsSkipped, stacklevel=2)

    # -- what this dump's commands are about
    def pid_of(self, comm: str) -> int:
        return next(t["pid"] for t in self.manifest["tasks"] if t["comm"] == comm)

    @cached_property
    def bt_pids(self) -> list[int]:
        pids = [1, 2, self.pid_of("kmx-w001")]
        threads = [t["pid"] for t in self.manifest["tasks"] if t["pid"] != t["tgid"]]
        pids += threads[:1]
        if self.panic_pid is not None:
            pids.append(self.panic_pid)
        return pids

    @cached_property
    def panic_pid(self) -> int | None:
        return self.pid_of("kmx-crasher") if self.variant == "panic" else None

    @cached_property
    def files_pids(self) -> list[int]:
        return [1, self.pid_of("kmx-w001")]

    @cached_property
    def vm_pids(self) -> list[int]:
        """init, the workload's main process, a worker, and a kernel thread (no mm)."""
        return [1, self.pid_of("kmx-main"), self.pid_of("kmx-w001"), 2]

    @cached_property
    def symbols(self) -> list[str]:
        return ["schedule", "jiffies", "init_task", "linux_banner", "_text"]

    @cached_property
    def sym_addresses(self) -> list[int]:
        prog = self.k.prog
        addrs = [prog.symbol("schedule").address + 5, prog.symbol("jiffies").address,
                 prog.symbol("init_task").address + 0x100]
        mods = self.kmemx("lsmod")
        if mods:  # an address in a module's text
            addrs.append(int(mods[0]["base"], 16) + 0x10)
        return addrs

    @cached_property
    def task_addr(self) -> int:
        from drgn.helpers.linux.pid import find_task

        return int(find_task(self.k.prog, 1).value_())

    @cached_property
    def slab_addresses(self) -> list[tuple[str, int]]:
        """(what, address): task_structs (the start, and inside), a dentry, and a
        free object, for ``kmem ADDR``."""
        out = [("task_struct", self.task_addr), ("task_struct+0x18", self.task_addr + 0x18)]
        dentries = self.kmemx("slab dentry | head 3")
        out += [("dentry", int(r["address"], 16)) for r in dentries[1:2]]
        small = kmalloc_cache(self.k.prog, 64)  # kmalloc-64, kmalloc-128 on arm64 6.1
        free = self.kmemx(f"slab {small} --free | head 2")
        out += [(f"free {small}", int(r["address"], 16)) for r in free[:1]]
        return out

    @cached_property
    def list_tasks(self) -> str:
        head = int(self.k.prog["init_task"].tasks.address_)
        # no -s: crash's gdb takes ~0.25 s per entry to print members
        return f"list -H {head:x} -o task_struct.tasks"

    @cached_property
    def list_resources(self) -> str:
        """crash's default list: START is a struct, the pointer at START+OFFSET
        points at the next struct (here the siblings under iomem_resource)."""
        child = int(self.k.prog["iomem_resource"].child.value_())
        return f"list -o resource.sibling {child:x}"

    @cached_property
    def page_totals(self) -> tuple[int, int]:
        """(crash's vt->total_pages, ``BTOP(VTOP(high_memory))``: the physical
        page number of high_memory, which on arm64 counts the RAM's start
        (PHYS_OFFSET, 1 GiB on QEMU's virt machine) too; totalram_pages)."""
        from drgn.helpers.linux.mm import totalram_pages, virt_to_phys

        prog = self.k.prog
        high = int(virt_to_phys(prog["high_memory"]).value_())
        return high // PAGE_SIZE, int(totalram_pages(prog))

    @cached_property
    def xarray_root(self) -> int:
        return int(self.k.prog["init_pid_ns"].idr.idr_rt.address_)

    @cached_property
    def plan(self) -> list[str]:
        """Every crash command for this dump: one crash session runs them all."""
        lines = ["sys", "ps", "mod", "mount", "kmem -s", "kmem -i", "log"]
        lines += [f"files {p}" for p in self.files_pids]
        lines += [f"vm {p}" for p in self.vm_pids]
        lines += [f"bt {p}" for p in self.bt_pids]
        lines += [f"sym {s}" for s in self.symbols]
        lines += [f"sym {a:x}" for a in self.sym_addresses]
        lines += [*RD_LINES, f"rd {self.task_addr:x} 8"]
        lines += [f"struct task_struct.{','.join(STRUCT_MEMBERS)} {self.task_addr:x}"]
        lines += [f"struct -o {s}" for s in STRUCT_LAYOUTS] + [f"whatis {w}" for w in WHATIS]
        lines += [LIST_MODULES, self.list_tasks, self.list_resources]
        lines += [CRASH_TREE_RBTREE, f"tree -t xarray {self.xarray_root:x}"]
        lines += [f"kmem {a:x}" for _, a in self.slab_addresses]
        return lines


RD_LINES = ["rd linux_banner 16", "rd -32 jiffies 4"]
STRUCT_MEMBERS = ["pid", "tgid", "flags", "prio", "comm"]
STRUCT_LAYOUTS = ["list_head", "hlist_node", "rb_node", "kref"]
WHATIS = ["jiffies", "init_task", "linux_banner"]
LIST_MODULES = "list -H modules -o module.list -s module.name"
#: crash walks an rbtree in pre-order unless -l (in-order, kmemx's order)
TREE_RBTREE = "tree -t rbtree -l -o vmap_area.rb_node free_vmap_area_root"
CRASH_TREE_RBTREE = "tree -t rbtree -l -o vmap_area.rb_node free_vmap_area_root"

_dumps: dict[tuple[str, str], Dump] = {}


class CrashColumnsSkipped(UserWarning):
    """A test compared its drgn and /proc columns; no crash here reads the dump."""


@pytest.fixture(scope="session")
def crash_bin() -> Path | None:
    """crash 8.0.6 (or $KMEMX_CRASH); None: each dump looks for a crash that
    opens it, and skips crash's columns with the reason when none does."""
    return C.find_crash()


@pytest.fixture
def dump(fixture: Fixture, variant: str, crash_bin: Path | None) -> Dump:
    key = (str(fixture.root), variant)
    if key not in _dumps:
        _dumps[key] = Dump(fixture, variant, crash_bin)
    return _dumps[key]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """kmemx renders DATE in local time, as crash does; both run with TZ=UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _hex(v: Any) -> int:
    return int(v, 16) if isinstance(v, str) else int(v)


def _check(*cmps: Comparison) -> None:
    bad = [c.render() for c in cmps if not c.ok]
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------ ps

PS_COLUMNS = [
    Column("PID", "pid"), Column("PPID", "ppid"), Column("CPU", "cpu"),
    Column("TASK", lambda r: _hex(r["task"]), "task"), Column("ST", "st", "state"),
    Column("%MEM", "%mem", "mem"),
    Column("VSZ", lambda r: r["vsz"] // 1024, "vsz"),
    Column("RSS", lambda r: r["rss"] // 1024, "rss"),
    Column("COMM", "comm"),
]


def _ps_pair(dump: Dump) -> Comparison:
    ours = dump.kmemx("ps")
    for r in ours:
        r["%mem"] = round(float(r["%mem"]), 1)
    theirs = C.parse_ps(dump.crash("ps"))
    total, totalram = dump.page_totals
    for r in theirs:
        r["total_pages"], r["totalram_pages"] = total, totalram
    return compare_tables("ps", "crash", ours, theirs, key=lambda r: _hex(r["task"]),
                          columns=PS_COLUMNS, allowances=ALLOWANCES, label=dump.variant)


def test_ps_every_column(dump: Dump) -> None:
    """``ps``: PID PPID CPU TASK ST %MEM VSZ RSS COMM of every task, and the
    active-task mark, against crash; RSS also against drgn's task_rss()."""
    _check(_ps_pair(dump))


def test_ps_active_mark_and_rss_against_drgn(dump: Dump) -> None:
    from drgn import Object
    from drgn.helpers.linux.mm import task_rss

    ours = dump.kmemx("ps")
    crash_text = dump.crash_output("ps")
    theirs = C.parse_ps(crash_text) if crash_text is not None else []
    if crash_text is not None:
        # JSON has no active flag: compare the text table's '>' marks
        text = "\n".join(x.strip() for x in execute(dump.k, "ps"))
        mine_text = {r["task"] for r in C.parse_ps(text) if r["active"]}
        assert mine_text == {r["task"] for r in theirs if r["active"]}
    from unittest import mock

    from drgn.helpers.linux.cpumask import (
        for_each_possible_cpu,
        num_online_cpus,
        num_possible_cpus,
    )

    prog = dump.k.prog
    offline = num_possible_cpus(prog) - num_online_cpus(prog)
    crash_rss = {r["task"]: r["rss"] for r in theirs}
    drgn_rows = []
    for r in ours:
        t = Object(prog, "struct task_struct *", _hex(r["task"]))
        rss = task_rss(t).total * PAGE_SIZE // 1024 if t.mm else 0
        rss_all = None
        if offline and not theirs and t.mm:
            with mock.patch("drgn.helpers.linux.percpu.for_each_online_cpu",
                            for_each_possible_cpu):
                rss_all = task_rss(t).total * PAGE_SIZE // 1024
        drgn_rows.append({"task": _hex(r["task"]), "rss": rss, "offline_cpus": offline,
                          "crash_rss": crash_rss.get(_hex(r["task"])),
                          "rss_all_cpus": rss_all})
    _check(compare_tables("ps", "drgn", ours, drgn_rows, key=lambda r: _hex(r["task"]),
                          columns=[Column("RSS", lambda r: r["rss"] // 1024, "rss")],
                          allowances=ALLOWANCES, label=dump.variant))
    dump.note_crash_skipped()


# ------------------------------------------------------------------ sys

SYS_KEYS = ["KERNEL", "DUMPFILE", "CPUS", "DATE", "UPTIME", "LOAD AVERAGE", "TASKS",
            "NODENAME", "RELEASE", "VERSION", "MACHINE", "MEMORY", "PANIC"]


def _crash_sys_value(key: str, value: str) -> Any:
    if key == "PANIC":
        return value[1:-1] if value.startswith('"') and value.endswith('"') else value
    if key == "TASKS":
        return int(value)
    return value


def test_sys_every_key(dump: Dump) -> None:
    """``sys``: every key crash prints, each a column of one row."""
    ours = {r["key"]: r["value"] for r in dump.kmemx("sys")}
    theirs = C.parse_sys(dump.crash("sys"))
    missing = [k for k in SYS_KEYS if k not in theirs]
    assert not missing, f"crash's sys lacks {missing}: the parser or crash changed"
    _check(compare_tables(
        "sys", "crash", [{"dump": dump.variant, **{k: ours.get(k) for k in SYS_KEYS}}],
        [{"dump": dump.variant, **{k: _crash_sys_value(k, theirs[k]) for k in SYS_KEYS}}],
        key="dump", columns=[Column(k, k) for k in SYS_KEYS], allowances=ALLOWANCES,
        label=dump.variant))


# ------------------------------------------------------------------ mod, mount

def test_mod_every_column(dump: Dump) -> None:
    ours = dump.kmemx("mod")
    cols = [Column("MODULE", lambda r: _hex(r["module"]), "module"),
            Column("BASE", lambda r: _hex(r["base"]), "base"),
            Column("SIZE", "size"), Column("OBJECT FILE", "object_file")]
    want = [{"name": m["name"], "size": m["size"], "refcount": m["refcount"],
             "base": m["address"]} for m in dump.manifest["modules"]]
    cmps = [compare_tables("mod", "/proc", ours, want, key="name",
                           columns=[Column("SIZE", "size"), Column("REFCOUNT", "refcount"),
                                    Column("BASE", lambda r: _hex(r["base"]), "base")],
                           label=dump.variant)]
    text = dump.crash_output("mod")
    if text is not None:
        cmps.append(compare_tables("mod", "crash", ours, C.parse_mod(text), key="name",
                                   columns=cols, label=dump.variant))
    _check(*cmps)
    dump.note_crash_skipped()


def test_mount_every_column(dump: Dump) -> None:
    ours = dump.kmemx("mount")
    theirs = C.parse_mount(dump.crash("mount"))
    cols = [Column("SUPERBLK", lambda r: _hex(r["superblk"]), "superblk"),
            Column("TYPE", "type"), Column("DEVNAME", "devname"),
            Column("DIRNAME", "dirname")]
    _check(compare_tables("mount", "crash", ours, theirs, key=lambda r: _hex(r["mount"]),
                          columns=cols, label=dump.variant))


# ------------------------------------------------------------------ slabs

KMEM_S_COLUMNS = [Column("OBJSIZE", "objsize"), Column("ALLOCATED", "allocated"),
                  Column("TOTAL", "total"), Column("SLABS", "slabs"),
                  Column("SSIZE", "ssize"), Column("NAME", "name")]


def test_kmem_s_every_column(dump: Dump) -> None:
    """kmemx's crash-column ``kmem -s`` against crash's."""
    from drgn import Object

    theirs = C.parse_kmem_s(dump.crash("kmem -s"))
    ours = dump.kmemx("kmem -s")
    prog = dump.k.prog
    for r in ours:
        cache = Object(prog, "struct kmem_cache *", int(str(r["cache"]), 16))
        r["sheaf_objects"] = len(_sheaf_object_addresses(prog, cache))
    _check(compare_tables("kmem -s", "crash", ours, theirs, key=lambda r: _hex(r["cache"]),
                          columns=KMEM_S_COLUMNS, allowances=ALLOWANCES, label=dump.variant))


def _committed_is_procs(d: Diff) -> bool:
    """COMMITTED: kmemx prints vm_memory_committed(), the per-CPU deltas of
    vm_committed_as summed, which is what the guest's /proc/meminfo shows as
    Committed_AS (checked against it in the test); crash 8.0.6 reads only the
    central count (vm_committed_as.count, memory.c dump_kmeminfo()). Only that
    row, and only where kmemx's value is that sum taken on its own here; its
    TOTAL and PERCENTAGE then follow."""
    return d.key == "COMMITTED" and bool(d.our_row.get("proc_committed_matches"))


def test_kmem_info_every_row(dump: Dump) -> None:
    """``kmem -i``: every row's PAGES, TOTAL and PERCENTAGE against crash's, and
    TOTAL MEM, BUFFERS, CACHED, SLAB, COMMIT LIMIT and COMMITTED against the
    guest's /proc/meminfo (read just before the dump, or just before the panic
    for the panic dump)."""
    from kmemx.commands.cells import crash_size_text

    ours = dump.kmemx("kmem -i")
    meminfo = dump.fixture.manifest_for(dump.variant).get("meminfo", {})
    proc = {"TOTAL MEM": "MemTotal", "BUFFERS": "Buffers", "CACHED": "Cached",
            "SLAB": "Slab", "COMMIT LIMIT": "CommitLimit", "COMMITTED": "Committed_AS"}
    by_key = {r["key"]: r for r in ours}
    if meminfo:
        for key, field in proc.items():
            got, want = by_key[key]["pages"], meminfo[field] // 4
            # SLAB, CACHED and COMMITTED move with the guest's own /proc walk,
            # read ~2 s before the dump: within 1% (at least 64 pages); the rest exact
            slack = max(64, want // 100) if key in ("SLAB", "CACHED", "COMMITTED") else 0
            assert abs(got - want) <= slack, (key, got, field, want)
    # the sum the kernel's vm_memory_committed() takes, written here on its own:
    # percpu_counter_sum_positive(&vm_committed_as) (lib/percpu_counter.c), over
    # every possible CPU: the panic stopped the other CPUs (offline, their deltas
    # not folded), and /proc's count before the panic included those deltas
    from drgn.helpers.linux.cpumask import for_each_possible_cpu
    from drgn.helpers.linux.percpu import per_cpu_ptr

    prog = dump.k.prog
    pc = prog["vm_committed_as"]
    summed = int(pc.count) + sum(int(per_cpu_ptr(pc.counters, cpu)[0])
                                 for cpu in for_each_possible_cpu(prog))
    for r in ours:
        r["total_text"] = crash_size_text(int(r["total"]))
        r["percentage_text"] = ("----" if r["percentage"] is None
                                else f"{r['percentage']}% of {r['of']}")
        r["proc_committed_matches"] = r["key"] == "COMMITTED" and r["pages"] == max(0, summed)
    text = dump.crash_output("kmem -i")
    if text is None:
        dump.note_crash_skipped()
        return
    theirs = C.parse_kmem_i(C.kmem_i_text(dump.crash))
    assert len(theirs) == len(ours) == 14, theirs
    allow = [Allowance("kmem -i", c, _committed_is_procs.__doc__ or "", _committed_is_procs,
                       oracle="crash") for c in ("PAGES", "TOTAL", "PERCENTAGE")]
    _check(compare_tables("kmem -i", "crash", ours, theirs, key="key",
                          columns=[Column("PAGES", "pages"),
                                   Column("TOTAL", "total_text", "total"),
                                   Column("PERCENTAGE", "percentage_text", "percentage")],
                          allowances=allow, label=dump.variant))


def _cpu_slab_objects(prog: Any, cache: Any) -> int:
    """Objects held per CPU by ``cache``, which /proc/slabinfo counts as active
    (mm/slub.c get_slabinfo() subtracts the node partial slabs' free objects
    only): every object of each CPU's active slab and per-CPU partial slabs
    (before 7.0), and the objects in sheaves (6.18 on: each CPU's main and
    spare sheaf, each node barn's full sheaves)."""
    from drgn.helpers.linux.cpumask import for_each_possible_cpu
    from drgn.helpers.linux.percpu import per_cpu_ptr

    n = 0
    try:  # 7.0 removed kmem_cache_cpu (32c894c7274b "slab: remove struct kmem_cache_cpu")
        cpu_slab = cache.cpu_slab
    except AttributeError:
        cpu_slab = None
    for cpu in for_each_possible_cpu(prog) if cpu_slab is not None else ():
        c = per_cpu_ptr(cpu_slab, cpu)
        try:  # 5.17 (bb192ed9aa71 "mm/slub: Convert most struct page to struct slab")
            slab = c.slab.read_()
        except AttributeError:
            slab = c.page.read_()
        if slab:
            n += int(slab.objects)
        try:
            p = c.partial.read_()
        except AttributeError:  # CONFIG_SLUB_CPU_PARTIAL=n
            continue
        for _ in range(10000):
            if not p:
                break
            n += int(p.objects)
            p = p.next.read_()
    return n + len(_sheaf_object_addresses(prog, cache))


def _sheaf_object_addresses(prog: Any, cache: Any) -> list[int]:
    """The objects in ``cache``'s sheaves (``struct kmem_cache *``), 6.18 on:
    :func:`tests.oracles.drgn_slub.sheaf_objects`; none before 6.18."""
    from tests.oracles.drgn_slub import sheaf_objects

    return list(sheaf_objects(prog, cache))


def _remote_frees(prog: Any, cache: Any) -> int:
    """``objects - inuse`` of each CPU's active slab of ``cache`` (objects other
    CPUs freed onto it); 0 from 7.0 on, which has no per-CPU slabs."""
    from drgn.helpers.linux.cpumask import for_each_possible_cpu
    from drgn.helpers.linux.percpu import per_cpu_ptr

    try:  # 7.0 (32c894c7274b "slab: remove struct kmem_cache_cpu")
        cpu_slab = cache.cpu_slab
    except AttributeError:
        return 0
    n = 0
    for cpu in for_each_possible_cpu(prog):
        c = per_cpu_ptr(cpu_slab, cpu)
        try:  # 5.17 (bb192ed9aa71 "mm/slub: Convert most struct page to struct slab")
            slab = c.slab.read_()
        except AttributeError:
            slab = c.page.read_()
        if slab and slab.slab_cache == cache:
            n += int(slab.objects) - int(slab.inuse)
    return n


def _offline_sheaf_objects(prog: Any, cache: Any) -> int:
    """Free objects in the per-CPU state of the offline CPUs, counted by drgn's
    own slab_cache_usage() run once over every possible CPU instead of the
    online ones: the main and spare sheaves (6.18: 2d517aa09bbc "slab: add
    opt-in caching layer of percpu sheaves"), before 7.0 (32c894c7274b) also the
    per-CPU freelist and partial slabs (an arm64 panic dump: panic() stopped
    CPU 0 and marked it offline)."""
    from unittest import mock

    from drgn.helpers.linux.cpumask import for_each_online_cpu, for_each_possible_cpu
    from drgn.helpers.linux.slab import slab_cache_usage

    if set(for_each_online_cpu(prog)) == set(for_each_possible_cpu(prog)):
        return 0
    online = slab_cache_usage(cache).active_objs
    with mock.patch("drgn.helpers.linux.slab.for_each_online_cpu", for_each_possible_cpu):
        every = slab_cache_usage(cache).active_objs
    return int(online - every)


def test_slabinfo_against_crash_proc_and_drgn(dump: Dump) -> None:
    """``slabinfo`` (/proc/slabinfo's columns): ACTIVE_OBJS and NUM_OBJS against
    crash's ALLOCATED and TOTAL, against the guest's /proc/slabinfo and against
    drgn's slab_cache_usage() on the same dump; the geometry against /proc."""
    from drgn.helpers.linux.slab import find_slab_cache, slab_cache_usage

    ours = dump.kmemx("slabinfo")
    prog = dump.k.prog
    text = dump.crash_output("kmem -s")
    crash = {r["name"]: r for r in C.parse_kmem_s(text)} if text is not None else {}
    drgn_rows = []
    for r in ours:
        cache = find_slab_cache(prog, r["name"])
        r["cpu_objects"] = _cpu_slab_objects(prog, cache)
        r["sheaf_objects"] = len(_sheaf_object_addresses(prog, cache))
        r["manifest_tasks"] = len(dump.manifest["tasks"])
        u = slab_cache_usage(cache)
        drgn_rows.append({"name": r["name"], "active_objs": u.active_objs,
                          "num_objs": u.num_objs,
                          "crash_allocated": crash.get(r["name"], {}).get("allocated"),
                          "remote_frees": _remote_frees(prog, cache),
                          "offline_sheaves": _offline_sheaf_objects(prog, cache)})
    counts = [Column("ACTIVE_OBJS", "active_objs"), Column("NUM_OBJS", "num_objs")]
    geometry = [Column("OBJSIZE", "objsize"), Column("OBJPERSLAB", "objperslab"),
                Column("PAGESPERSLAB", "pagesperslab")]
    cmps = [compare_tables("slabinfo", "/proc", ours, dump.manifest["slabinfo"], key="name",
                           columns=counts + geometry, allowances=MANIFEST_ALLOWANCES,
                           label=dump.variant),
            compare_tables("slabinfo", "drgn", ours, drgn_rows, key="name", columns=counts,
                           allowances=ALLOWANCES, label=dump.variant)]
    if text is not None:
        cmps.insert(0, compare_tables("slabinfo", "crash", ours, list(crash.values()),
                                      key="name",
                                      columns=[Column("ACTIVE_OBJS", "active_objs", "allocated"),
                                               Column("NUM_OBJS", "num_objs", "total")],
                                      allowances=ALLOWANCES, label=dump.variant))
    _check(*cmps)
    dump.note_crash_skipped()


def test_kmem_address(dump: Dump) -> None:
    """``kmem ADDR`` on slab objects: the cache, the object's start and whether
    it is allocated, against crash's ``kmem ADDR``."""
    from drgn.helpers.linux.slab import find_slab_cache

    ours, theirs = [], []
    for what, addr in dump.slab_addresses:
        rows = dump.kmemx(f"kmem {addr:x}")
        assert len(rows) == 1, (what, rows)
        r = rows[0]
        cache = find_slab_cache(dump.k.prog, r["cache"])
        ours.append({"what": what, "name": r["cache"], "start": _hex(r["start"] or 0),
                     "allocated": r["state"] == "allocated",
                     "in_sheaf": cache is not None and int(str(r["start"] or 0), 0)
                     in _sheaf_object_addresses(dump.k.prog, cache)})
        c = C.parse_kmem_address(dump.crash(f"kmem {addr:x}"))
        assert c is not None, (what, dump.crash(f"kmem {addr:x}"))
        theirs.append({"what": what, **c})
    _check(compare_tables("kmem ADDR", "crash", ours, theirs, key="what",
                          columns=[Column("CACHE", "name"), Column("START", "start"),
                                   Column("ALLOCATED", "allocated")], allowances=ALLOWANCES,
                          label=dump.variant))


# ------------------------------------------------------------------ files, log, bt

def test_files_every_column(dump: Dump) -> None:
    cols = [Column("FILE", lambda r: _hex(r["file"]), "file"),
            Column("DENTRY", lambda r: _hex(r["dentry"]), "dentry"),
            Column("INODE", lambda r: _hex(r["inode"]), "inode"),
            Column("TYPE", "type"), Column("PATH", "path")]
    cmps = [compare_tables("files", "crash", dump.kmemx(f"files {pid}"),
                           C.parse_files(dump.crash(f"files {pid}")), key="fd", columns=cols,
                           allowances=ALLOWANCES, label=f"{dump.variant}, files {pid}")
            for pid in dump.files_pids]
    _check(*cmps)


def test_vm_every_column(dump: Dump) -> None:
    """``vm PID``: MM PGD RSS TOTAL_VM, then every VMA's VMA START END FLAGS FILE,
    against crash's ``vm`` (a user process, the workload, a worker, a kernel
    thread with no mm)."""
    cmps = []
    for pid in dump.vm_pids:
        rows = dump.kmemx(f"vm {pid}")
        mm_rows = [r for r in rows if "mm" in r]
        vmas = [r for r in rows if "vma" in r]
        c_mm, c_vmas = C.parse_vm(dump.crash(f"vm {pid}"))
        assert c_mm is not None and len(mm_rows) == 1, (pid, dump.crash(f"vm {pid}"))
        ours_mm = {"pid": pid, "mm": int(mm_rows[0]["mm"], 16),
                   "pgd": int(mm_rows[0]["pgd"], 16), "rss": mm_rows[0]["rss"] // 1024,
                   "total_vm": mm_rows[0]["total_vm"] // 1024}
        cmps.append(compare_tables("vm", "crash", [ours_mm], [{"pid": pid, **c_mm}], key="pid",
                                   columns=[Column(c, c) for c in ("mm", "pgd", "rss",
                                                                    "total_vm")],
                                   label=f"{dump.variant}, vm {pid}"))
        ours = [{"vma": int(r["vma"], 16), "start": int(r["start"], 16),
                 "end": int(r["end"], 16), "flags": int(r["flags"], 16), "file": r["file"]}
                for r in vmas]
        cmps.append(compare_tables("vm VMAs", "crash", ours, c_vmas, key="vma",
                                   columns=[Column(c, c) for c in ("start", "end", "flags",
                                                                    "file")],
                                   label=f"{dump.variant}, vm {pid}"))
        assert bool(ours) == (pid != 2)
    _check(*cmps)


def test_log_every_record(dump: Dump) -> None:
    """``log``: the same records in the same order, with the same timestamps (to
    the microsecond crash prints) and texts."""
    # crash prints nanoseconds // 1000; kmemx's JSON has seconds as a float
    ours = [{"n": i, "us": round(float(r["time"]) * 1e9) // 1000, "text": r["text"]}
            for i, r in enumerate(dump.kmemx("log"))]
    theirs = [{"n": i, "us": round(t * 1e6), "text": text}
              for i, (t, text) in enumerate(C.parse_log(dump.crash("log")))]
    assert theirs, "crash printed no log records"
    _check(compare_tables("log", "crash", ours, theirs, key="n",
                          columns=[Column("TIME", "us"), Column("TEXT", "text")],
                          label=dump.variant))


_KMEMX_FRAME = re.compile(r"^\s*#(?P<n>\d+)\s+\[(?P<sp>[0-9a-f?]+)\]\s+(?P<func>\S+)\s+at\s+"
                          r"(?P<pc>[0-9a-f]+)(?P<rest>.*)$")


def _kmemx_frames(lines: list[str]) -> list[dict[str, Any]]:
    out = []
    for ln in lines:
        m = _KMEMX_FRAME.match(ln)
        if m:
            out.append({"func": m.group("func"), "pc": int(m.group("pc"), 16),
                        "inline": "(inlined)" in m.group("rest")})
    return out


def _symbol_address(prog: Any, what: Any) -> int | None:
    try:
        return int(prog.symbol(what).address)
    except LookupError:
        return None


def _crash_lacks_cpu_registers(dump: Dump, pid: int, ours: list[str]) -> bool:
    """Written exception: crash 8.0.6 (``--target ARM64``) takes an active
    task's registers from the kernel's ``crash_notes``, and for a dump whose
    ``crash_notes`` are empty (QEMU's dump-guest-memory of a panicked guest:
    no kexec saved them) from the dump's own NT_PRSTATUS notes by CPU
    number (arm64.c arm64_get_crash_notes()); on our arm64 panic dump it
    warns "cpu 0: cannot find NT_PRSTATUS note" and "cpu 1: invalid
    NT_PRSTATUS note", and its ``bt`` of the panic task prints the header
    alone.  Excused only for the panic task, when crash printed nothing but
    the header and kmemx's first frame is the CPU's saved registers (drgn
    reads them from the same notes); reported as a warning."""
    if pid != dump.panic_pid or not dump.k.prog.platform or \
            dump.k.prog.platform.arch != drgn.Architecture.AARCH64:
        return False
    header_only = all(ln.startswith("PID:") for ln in dump.crash(f"bt {pid}").splitlines()
                      if ln.strip())
    task = dump.k.prog.stack_trace(pid)
    first = next((f for f in task if not f.is_inline), None)
    if header_only and first is not None and first.interrupted and _kmemx_frames(ours):
        warnings.warn(f"bt {pid}: crash printed no frames (no CPU registers; "
                      f"{_crash_lacks_cpu_registers.__name__})", CrashColumnsSkipped,
                      stacklevel=2)
        return True
    return False


def test_bt_frames(dump: Dump) -> None:
    """``bt PID``: the function names of the frames, in order. drgn also shows
    inlined calls as frames (marked ``(inlined)``); crash cannot, so they are
    left out of kmemx's side, and only they."""
    cmps = []
    for pid in dump.bt_pids:
        text = [x for x in execute(dump.k, f"bt {pid}") if not x.startswith("kmemx: ")]
        ours = [f for f in _kmemx_frames(text) if not f["inline"]]
        theirs = C.parse_bt(dump.crash(f"bt {pid}"))
        if not theirs and _crash_lacks_cpu_registers(dump, pid, text):
            continue
        assert theirs, f"crash's bt {pid} printed no frames: {dump.crash(f'bt {pid}')!r}"
        for f in theirs:
            f["name_address"] = _symbol_address(dump.k.prog, f["func"])
            f["containing_address"] = _symbol_address(dump.k.prog, f["pc"])
        # crash's panic task starts at panic(): align kmemx's frames there
        skip = 0
        if pid == dump.panic_pid and theirs[0]["func"] == "panic":
            skip = next((i for i, f in enumerate(ours) if f["func"] == "panic"), 0)
        last = len(ours)
        if dump.k.prog.platform and dump.k.prog.platform.arch == drgn.Architecture.AARCH64:
            last = next((i for i, f in enumerate(ours) if f["func"] in C.ARM64_LAST_FRAMES),
                        last)
        our_rows = [{"i": i - skip, "above_panic": i < skip, "below_arm64_last_frame": i > last,
                     **f} for i, f in enumerate(ours)]
        cmps.append(compare_tables(
            "bt", "crash", our_rows, [{"i": i, **f} for i, f in enumerate(theirs)], key="i",
            columns=[Column("FUNCTION", "func"), Column("PC", "pc")], allowances=ALLOWANCES,
            row_allowances=ROW_ALLOWANCES, label=f"{dump.variant}, bt {pid}"))
    _check(*cmps)


# ------------------------------------------------------------------ sym, rd, struct, whatis

def _sym_cols() -> list[Column]:
    return [Column("ADDRESS", lambda r: _hex(r["address"]), "address"),
            Column("TYPE", "type"), Column("NAME", "name"), Column("OFFSET", "offset"),
            Column("MODULE", "module")]


def _kmemx_sym(dump: Dump, arg: str) -> list[dict[str, Any]]:
    out = []
    for r in dump.kmemx(f"sym {arg}"):
        name, _, off = str(r["symbol"]).partition("+")
        out.append({"arg": arg, "address": r["address"], "type": r["type"], "name": name,
                    "offset": int(off, 0) if off else 0, "module": r.get("module")})
    return out


def test_sym_names_and_addresses(dump: Dump) -> None:
    """``sym NAME`` and ``sym ADDR`` (in the kernel and in a module): address,
    type letter, name and offset, one command per argument."""
    ours, theirs = [], []
    for arg in [*dump.symbols, *(f"{a:x}" for a in dump.sym_addresses)]:
        ours += _kmemx_sym(dump, arg)
        theirs += [{"arg": arg, **r} for r in C.parse_sym(dump.crash(f"sym {arg}"))[:1]]
    _check(compare_tables("sym", "crash", ours, theirs, key="arg", columns=_sym_cols(),
                          label=dump.variant))


def test_sym_several_arguments(dump: Dump) -> None:
    """``sym A B C`` gives one row per argument, as three ``sym`` calls do."""
    args = dump.symbols[:3]
    ours = dump.kmemx("sym " + " ".join(args))
    one_by_one = [r for a in args for r in dump.kmemx(f"sym {a}")]
    assert ours == one_by_one


def _kmemx_rd(dump: Dump, line: str) -> list[dict[str, Any]]:
    return [{"address": _hex(r["address"]), "words": [int(w, 16) for w in r["values"].split()],
             "ascii": r["ascii"]} for r in dump.kmemx(line)]


def test_rd_words(dump: Dump) -> None:
    """``rd ADDR COUNT`` (and ``-32``): every line's address and words."""
    cmps = []
    for line in [*RD_LINES, f"rd {dump.task_addr:x} 8"]:
        ours = _kmemx_rd(dump, line)
        theirs = C.parse_rd(dump.crash(line))
        assert theirs, (line, dump.crash(line))
        cmps.append(compare_tables(line, "crash", ours, theirs, key="address",
                                   columns=[Column("WORDS", "words"), Column("ASCII", "ascii")],
                                   label=dump.variant))
    _check(*cmps)


def _crash_member_value(v: str) -> Any:
    """A scalar as crash prints it (decimal, hex, or a char array's string)."""
    if v.startswith('"'):
        return v[1:v.rindex('"')].split("\\000")[0]
    try:
        return int(v, 0)
    except ValueError:
        return v


def test_struct_members(dump: Dump) -> None:
    """``struct task_struct.m1,m2 ADDR``: each member's value."""
    line = f"struct task_struct.{','.join(STRUCT_MEMBERS)} {dump.task_addr:x}"
    ours = dump.kmemx(line)
    assert len(ours) == 1
    theirs = C.parse_struct_members(dump.crash(line))
    our_row = {"m": "task", **{m: ours[0][m] for m in STRUCT_MEMBERS}}
    their_row = {"m": "task", **{m: _crash_member_value(theirs[m]) for m in STRUCT_MEMBERS}}
    _check(compare_tables("struct", "crash", [our_row], [their_row], key="m",
                          columns=[Column(m.upper(), m) for m in STRUCT_MEMBERS],
                          label=dump.variant))


def _kmemx_offsets(dump: Dump, name: str) -> list[tuple[int, str]]:
    out = []
    for ln in execute(dump.k, f"struct {name} -o"):
        m = re.match(r"^\s+\[(0x[0-9a-f]+|\d+)\]\s+(.*?);?$", ln)
        if m:
            out.append((int(m.group(1), 0), re.findall(r"[A-Za-z_]\w*", m.group(2))[-1]))
    return out


def test_struct_offsets(dump: Dump) -> None:
    """``struct -o NAME``: every member's offset and name, in order."""
    cmps = []
    for name in STRUCT_LAYOUTS:
        ours = _kmemx_offsets(dump, name)
        theirs = C.parse_struct_offsets(dump.crash(f"struct -o {name}"))
        assert theirs, dump.crash(f"struct -o {name}")
        cmps.append(compare_tables(
            f"struct -o {name}", "crash", [{"i": i, "off": o, "name": n}
                                           for i, (o, n) in enumerate(ours)],
            [{"i": i, "off": o, "name": n} for i, (o, n) in enumerate(theirs)], key="i",
            columns=[Column("OFFSET", "off"), Column("MEMBER", "name")], label=dump.variant))
    _check(*cmps)


def test_whatis_symbols(dump: Dump) -> None:
    """``whatis SYMBOL``: the declaration (type and name), whitespace aside."""
    ours, theirs = [], []
    for name in WHATIS:
        mine = [x for x in execute(dump.k, f"whatis {name}") if x.strip()]
        other = [x for x in dump.crash(f"whatis {name}").splitlines() if x.strip()]
        ours.append({"name": name, "decl": " ".join(" ".join(mine).split())})
        theirs.append({"name": name, "decl": " ".join(" ".join(other).split())})
    _check(compare_tables("whatis", "crash", ours, theirs, key="name",
                          columns=[Column("DECLARATION", "decl")], allowances=ALLOWANCES,
                          label=dump.variant))


# ------------------------------------------------------------------ list, tree

def _seq(addrs: list[int]) -> list[dict[str, Any]]:
    return [{"i": i, "address": a} for i, a in enumerate(addrs)]


def test_list_entries(dump: Dump) -> None:
    """``list -H modules -o module.list -s module.name``, ``list -H HEAD -o
    task_struct.tasks`` (every task) and crash's default walk (``list -o
    resource.sibling START``): the same entries in the same order (and names)."""
    cmps = []
    for line in (dump.list_tasks, dump.list_resources):
        ours = [_hex(r["address"]) for r in dump.kmemx(line)]
        theirs = C.parse_addresses(dump.crash(line))
        assert theirs, (line, dump.crash(line))
        cmps.append(compare_tables("list", "crash", _seq(ours), _seq(theirs), key="i",
                                   columns=[Column("ADDRESS", "address")],
                                   label=f"{dump.variant}, {line}"))
    mods = [{"i": i, "address": _hex(r["address"]), "name": r["name"]}
            for i, r in enumerate(dump.kmemx(LIST_MODULES))]
    crash_mods = [{"i": i, "address": a, "name": _crash_member_value(m["name"])}
                  for i, (a, m) in enumerate(C.parse_list_members(dump.crash(LIST_MODULES)))]
    cmps.append(compare_tables("list", "crash", mods, crash_mods, key="i",
                               columns=[Column("ADDRESS", "address"), Column("NAME", "name")],
                               label=f"{dump.variant}, {LIST_MODULES}"))
    _check(*cmps)


def test_tree_entries(dump: Dump) -> None:
    """``tree -t rbtree -o vmap_area.rb_node free_vmap_area_root`` and ``tree -t
    xarray`` of init_pid_ns's IDR: the same entries in the same order."""
    rb = [_hex(r["address"]) for r in dump.kmemx(TREE_RBTREE)]
    xa_line = f"tree -t xarray {dump.xarray_root:x}"
    xa = [_hex(r["entry"]) for r in dump.kmemx(xa_line)]
    _check(compare_tables(TREE_RBTREE, "crash", _seq(rb),
                          _seq(C.parse_addresses(dump.crash(CRASH_TREE_RBTREE))), key="i",
                          columns=[Column("ADDRESS", "address")], label=dump.variant),
           compare_tables(xa_line, "crash", _seq(xa),
                          _seq(C.parse_addresses(dump.crash(xa_line))), key="i",
                          columns=[Column("ENTRY", "address")], label=dump.variant))


# ------------------------------------------------------------------ the allowances themselves

def _diff(command: str, column: str, ours: Any, theirs: Any, our_row: Mapping[str, Any],
          their_row: Mapping[str, Any], oracle: str = "crash") -> Diff:
    return Diff(command, oracle, 1, column, ours, theirs, our_row, their_row)


def _excused(d: Diff, table: list[Allowance] = ALLOWANCES) -> bool:
    return any(a.excuses(d) for a in table)


def test_allowance_mem_only_with_equal_rss_and_each_sides_formula() -> None:
    # 401 pages: crash 401*100/131040 = 0.306 -> "0.3"; kmemx 401*100/116537 = 0.344
    crash_row = {"rss": 1604, "total_pages": 131040, "totalram_pages": 116537}
    row = {"rss": 1604 * 1024}
    assert _excused(_diff("ps", "%MEM", 0.34, 0.3, row, crash_row))
    assert not _excused(_diff("ps", "%MEM", 0.34, 0.4, row, crash_row))  # not crash's formula
    assert not _excused(_diff("ps", "%MEM", 0.5, 0.3, row, crash_row))  # not kmemx's formula
    assert not _excused(_diff("ps", "%MEM", 0.34, 0.3, row, {**crash_row, "rss": 1660}))
    assert not _excused(_diff("ps", "RSS", 1604, 1660, row, crash_row))  # not RSS itself


def test_allowance_bt_names_only_for_the_same_pc_and_crash_the_elf_symbol() -> None:
    ours = {"pc": 0xFFFFFFFF81000126, "func": "entry_SYSCALL_64"}
    theirs = {"pc": 0xFFFFFFFF81000126, "func": "entry_SYSCALL_64_after_hwframe",
              "name_address": 0xFFFFFFFF81000106, "containing_address": 0xFFFFFFFF81000000}
    d = _diff("bt", "FUNCTION", ours["func"], theirs["func"], ours, theirs)
    assert _excused(d)
    assert not _excused(_diff("bt", "FUNCTION", "schedule", theirs["func"],
                              {**ours, "pc": ours["pc"] + 8}, theirs))  # another pc
    assert not _excused(_diff("bt", "FUNCTION", ours["func"], "do_wait", ours,
                              {**theirs, "name_address": 0xFFFFFFFF81200000}))  # elsewhere
    assert not _excused(_diff("bt", "FUNCTION", ours["func"], "x", ours,
                              {**theirs, "name_address": None}))  # not a symbol
    assert not _excused(_diff("bt", "PC", 1, 2, ours, theirs))


def test_row_allowance_bt_only_above_panic() -> None:
    def excused(row: dict[str, Any], side: str = "extra") -> bool:
        return any(a.excuses("bt", "crash", side, row) for a in ROW_ALLOWANCES)

    assert excused({"func": "delay_tsc", "above_panic": True})
    assert not excused({"func": "delay_tsc", "above_panic": False})
    assert not excused({"func": "delay_tsc", "above_panic": True}, "missing")
    assert excused({"func": "ret_from_fork", "below_arm64_last_frame": True})
    assert not excused({"func": "ret_from_fork", "below_arm64_last_frame": False})
    assert not excused({"func": "ret_from_fork", "below_arm64_last_frame": True}, "missing")


def test_allowance_files_path_only_for_pipes_and_sockets() -> None:
    assert _excused(_diff("files", "PATH", "[pipefs]", "", {}, {"type": "FIFO"}))
    assert _excused(_diff("files", "PATH", "[sockfs]", "", {}, {"type": "SOCK"}))
    assert not _excused(_diff("files", "PATH", "[pipefs]", "", {}, {"type": "REG"}))
    assert not _excused(_diff("files", "PATH", "/kmx/x", "", {}, {"type": "FIFO"}))
    assert not _excused(_diff("files", "PATH", "[pipefs]", "/dev/x", {}, {"type": "FIFO"}))


def test_allowance_rss_against_drgn_only_with_offline_cpus_and_crash_agreeing() -> None:
    row = {"offline_cpus": 1, "crash_rss": 920}
    assert _excused(_diff("ps", "RSS", 920, 836, {}, row, "drgn"))
    assert not _excused(_diff("ps", "RSS", 920, 836, {}, {**row, "offline_cpus": 0}, "drgn"))
    assert not _excused(_diff("ps", "RSS", 920, 836, {}, {**row, "crash_rss": 836}, "drgn"))
    assert not _excused(_diff("ps", "RSS", 920, 836, {}, row, "crash"))


def test_allowance_partial_dump_only_on_the_filtered_kdump() -> None:
    path = "/x/vmcore-d31.kdump"
    assert _excused(_diff("sys", "DUMPFILE", path, f"{path}  [PARTIAL DUMP]", {}, {}))
    assert not _excused(_diff("sys", "DUMPFILE", "/x/vmcore.kdump",
                              "/x/vmcore.kdump  [PARTIAL DUMP]", {}, {}))
    assert not _excused(_diff("sys", "DUMPFILE", path, "/y/other.kdump  [PARTIAL DUMP]", {}, {}))
    assert not _excused(_diff("sys", "DUMPFILE", path, path + "  [INCOMPLETE]", {}, {}))


def test_allowance_slab_counts_against_drgn_only_where_crash_agrees_with_kmemx() -> None:
    assert _excused(_diff("slabinfo", "ACTIVE_OBJS", 262, 294, {}, {"crash_allocated": 262},
                          "drgn"))
    assert not _excused(_diff("slabinfo", "ACTIVE_OBJS", 262, 294, {},
                              {"crash_allocated": 294}, "drgn"))  # crash sides with drgn
    # crash counting the objects in sheaves allocated still sides with kmemx
    assert _excused(_diff("slabinfo", "ACTIVE_OBJS", 8, 17, {"sheaf_objects": 4},
                          {"crash_allocated": 12}, "drgn"))
    assert not _excused(_diff("slabinfo", "ACTIVE_OBJS", 8, 17, {"sheaf_objects": 3},
                              {"crash_allocated": 12}, "drgn"))
    assert not _excused(_diff("slabinfo", "ACTIVE_OBJS", 300, 294, {},
                              {"crash_allocated": 300}, "drgn"))  # more than drgn
    assert not _excused(_diff("slabinfo", "NUM_OBJS", 262, 294, {}, {"crash_allocated": 262},
                              "drgn"))
    # no crash reads the dump: the difference must be the remote frees drgn counts
    assert _excused(_diff("slabinfo", "ACTIVE_OBJS", 262, 294, {},
                          {"crash_allocated": None, "remote_frees": 32}, "drgn"))
    assert not _excused(_diff("slabinfo", "ACTIVE_OBJS", 262, 294, {},
                              {"crash_allocated": None, "remote_frees": 31}, "drgn"))
    assert not _excused(_diff("slabinfo", "ACTIVE_OBJS", 262, 294, {},
                              {"crash_allocated": 294, "remote_frees": 32}, "drgn"))
    # and the objects in offline CPUs' sheaves, which drgn does not read
    assert _excused(_diff("slabinfo", "ACTIVE_OBJS", 8, 13, {},
                          {"crash_allocated": None, "remote_frees": 0, "offline_sheaves": 5},
                          "drgn"))
    assert not _excused(_diff("slabinfo", "ACTIVE_OBJS", 8, 13, {},
                              {"crash_allocated": None, "remote_frees": 0,
                               "offline_sheaves": 4}, "drgn"))


def test_allowance_slab_counts_against_crash_only_for_sheaf_objects() -> None:
    row = {"sheaf_objects": 4}
    for command, column in (("kmem -s", "ALLOCATED"), ("slabinfo", "ACTIVE_OBJS")):
        assert _excused(_diff(command, column, 8, 12, row, {}))
        assert not _excused(_diff(command, column, 8, 13, row, {}))  # more than the sheaves
        assert not _excused(_diff(command, column, 12, 8, row, {}))  # kmemx above crash
        assert not _excused(_diff(command, column, 8, 8 + 4, {"sheaf_objects": 0}, {}))
        assert not _excused(_diff(command, column, 8, 12, row, {}, "drgn"))
    assert not _excused(_diff("kmem -s", "TOTAL", 8, 12, row, {}))
    assert _excused(_diff("kmem ADDR", "ALLOCATED", False, True, {"in_sheaf": True}, {}))
    assert not _excused(_diff("kmem ADDR", "ALLOCATED", False, True, {"in_sheaf": False}, {}))
    assert not _excused(_diff("kmem ADDR", "ALLOCATED", True, False, {"in_sheaf": True}, {}))


def test_allowance_whatis_only_an_array_length_gdb_16_leaves_out() -> None:
    ours, theirs = "const char linux_banner[221];", "const char linux_banner[];"
    assert _excused(_diff("whatis", "DECLARATION", ours, theirs, {}, {}))
    assert not _excused(_diff("whatis", "DECLARATION", ours, "char linux_banner[];", {}, {}))
    assert not _excused(_diff("whatis", "DECLARATION", "const char x[2][3];", "const char x[];",
                              {}, {}))
    assert not _excused(_diff("whatis", "DECLARATION", "int jiffies;", "long jiffies;", {}, {}))


def test_allowance_slab_counts_against_proc_are_bounded() -> None:
    ours, proc = {"cpu_objects": 64, "manifest_tasks": 294}, {"objperslab": 16, "name": "x"}
    table = MANIFEST_ALLOWANCES
    assert _excused(_diff("slabinfo", "ACTIVE_OBJS", 607, 607 + 64 + 64, ours, proc, "/proc"),
                    table)
    assert not _excused(_diff("slabinfo", "ACTIVE_OBJS", 607, 607 + 64 + 65, ours, proc,
                              "/proc"), table)
    assert not _excused(_diff("slabinfo", "ACTIVE_OBJS", 607 + 65, 607, ours, proc, "/proc"),
                        table)  # kmemx above /proc by more than the drift
    filp = {**proc, "name": "filp"}
    assert _excused(_diff("slabinfo", "ACTIVE_OBJS", 607, 752, ours, filp, "/proc"), table)
    assert not _excused(_diff("slabinfo", "ACTIVE_OBJS", 607, 607 + 64 + 64 + 295, ours, filp,
                              "/proc"), table)
    assert _excused(_diff("slabinfo", "NUM_OBJS", 100, 164, ours, proc, "/proc"), table)
    assert not _excused(_diff("slabinfo", "NUM_OBJS", 100, 165, ours, proc, "/proc"), table)
    assert _excused(_diff("slabinfo", "NUM_OBJS", 165, 100, ours, proc, "/proc"), table) is False
    # filp: 294 tasks' files in 16-object slabs: 304 more objects, and only kmemx lower
    assert _excused(_diff("slabinfo", "NUM_OBJS", 100, 164 + 304, ours, filp, "/proc"), table)
    assert not _excused(_diff("slabinfo", "NUM_OBJS", 100, 165 + 304, ours, filp, "/proc"),
                        table)
    assert not _excused(_diff("slabinfo", "NUM_OBJS", 165 + 304, 100, ours, filp, "/proc"),
                        table)
    assert not _excused(_diff("slabinfo", "NUM_OBJS", 100, 101, ours, proc, "crash"), table)
    assert not _excused(_diff("slabinfo", "OBJSIZE", 100, 101, ours, proc, "/proc"), table)


def test_every_allowance_has_a_test() -> None:
    """Each written exception is exercised by a test_allowance_* above."""
    names = {(a.command, a.column, a.oracle) for a in ALLOWANCES + MANIFEST_ALLOWANCES}
    assert {(a.command, a.side, a.oracle) for a in ROW_ALLOWANCES} == {("bt", "extra", "crash")}
    assert names == {("ps", "%MEM", "crash"), ("ps", "RSS", "drgn"), ("bt", "FUNCTION", "crash"),
                     ("files", "PATH", "crash"), ("sys", "DUMPFILE", "crash"),
                     ("slabinfo", "ACTIVE_OBJS", "drgn"), ("slabinfo", "ACTIVE_OBJS", "/proc"),
                     ("slabinfo", "NUM_OBJS", "/proc"), ("kmem -s", "ALLOCATED", "crash"),
                     ("slabinfo", "ACTIVE_OBJS", "crash"), ("kmem ADDR", "ALLOCATED", "crash"),
                     ("whatis", "DECLARATION", "crash")}


def test_multi_argument_commands_equal_one_call_per_argument(dump: Dump) -> None:
    """``ps P1 P2 P3``, ``files P1 P2`` and ``kmem A B ...`` give
    the rows of one call per argument (crash's commands take several arguments too)."""
    pids = dump.bt_pids[:3]
    ps_all = {r["pid"]: r for r in dump.kmemx("ps")}
    assert dump.kmemx("ps " + " ".join(map(str, pids))) == [ps_all[p] for p in pids]
    files = dump.files_pids
    assert dump.kmemx("files " + " ".join(map(str, files))) == [
        r for p in files for r in dump.kmemx(f"files {p}")]
    addrs = [a for _, a in dump.slab_addresses]
    assert dump.kmemx("kmem " + " ".join(f"{a:x}" for a in addrs)) == [
        r for a in addrs for r in dump.kmemx(f"kmem {a:x}")]
