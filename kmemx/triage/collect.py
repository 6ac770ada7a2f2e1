"""Build the :class:`~kmemx.triage.record.Record` of one dump from kmemx's
own commands (``sys``, ``log``, ``ps``, ``kmem -s``, run in-process with
``execute(k, line, as_json=True)``) and helpers (``meminfo()``), plus drgn's
``prog.crashed_thread()`` for the crashing task and its stack."""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import asdict
from typing import Any

import drgn

from ..commands import CommandError, execute
from ..errors import KmemxError, KmemxWarning, NoVmcoreinfoError
from ..helpers.timekeeping import kernel_hz
from ..kernel import Kernel
from ..types.layoutcache import attach_unwinder, enabled, ensure_debug_info
from .record import HungTask, Record, SlabUsage, frame_name, message_of, signature
from .vmlinux import VmlinuxIndex

__all__ = ["HUNG_LIMIT", "LOCKUP", "OOM", "OOPS", "TOP_SLABS", "triage_dump", "triage_path"]

#: Log lines that report an oops, a BUG or a WARNING
OOPS = re.compile(r"^(Oops|BUG:|kernel BUG at|general protection fault|WARNING: CPU:|"
                  r"Unable to handle kernel|stack segment:|double fault)")
#: Log lines of the OOM killer
OOM = re.compile(r"invoked oom-killer|^Out of memory|^oom-kill:|^Killed process \d+|"
                 r"^Memory cgroup out of memory")
#: Log lines of the lockup detectors: soft and hard lockups, RCU stalls, hung tasks
LOCKUP = re.compile(r"soft lockup - CPU#|[Hh]ard LOCKUP|self-detected stall|"
                    r"detected stalls on CPUs|blocked for more than \d+ seconds")
#: How many lines of each kind, and D-state tasks, a record keeps
LOG_LIMIT = 20
HUNG_LIMIT = 20
#: How many slab caches a record keeps
TOP_SLABS = 5

_FORMATS = {"mmap-elf": "elf", "kdump": "kdump", "kdump-flat": "flattened"}
_FORMAT_ERRORS = (KmemxError, CommandError, OSError, ValueError, LookupError,
                  drgn.FaultError)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split("\n")).strip()
    return text or type(e).__name__


def _run(k: Kernel, line: str, rec: Record) -> list[Any]:
    """``line``'s JSON rows; its ``kmemx: warning:`` lines go to ``rec.warnings``."""
    out: list[str] = []
    for text in execute(k, line, as_json=True):
        if text.startswith("kmemx: warning: "):
            rec.warnings.append(f"{line}: {text[16:]}")
        else:
            out.append(text)
    rows: list[Any] = json.loads("\n".join(out)) if out else []
    return rows


def _seconds(uptime: str) -> int:
    """``sys``'s UPTIME text (``[N days, ]HH:MM:SS``) in seconds."""
    days = 0
    m = re.match(r"(\d+) days?, (.*)", uptime)
    if m:
        days, uptime = int(m.group(1)), m.group(2)
    h, mi, s = (int(x) for x in uptime.split(":"))
    return days * 86400 + h * 3600 + mi * 60 + s


def _taint_letters(prog: drgn.Program, mask: int) -> str:
    """The letter (``taint_flags[i].c_true``) of each bit set in ``mask``."""
    flags = prog["taint_flags"]
    n = len(flags)
    return "".join(chr(int(flags[i].c_true)) for i in range(n) if mask >> i & 1)


def _crashed(k: Kernel, ps: list[dict[str, Any]], rec: Record) -> None:
    """The crashed task's ps row (pid, comm, cpu), stack and signature."""
    try:
        thread = k.prog.crashed_thread()
    except (LookupError, ValueError):  # no panic: "panic_cpu is not set"
        return
    addr = int(thread.object.value_())
    row = next((r for r in ps if int(r["task"], 16) == addr), None)
    if row is not None:
        rec.pid, rec.comm, rec.cpu = row["pid"], row["comm"], row["cpu"]
    else:
        rec.pid = thread.tid
        rec.comm = thread.object.comm.string_().decode("utf-8", "replace")
    stack: list[str] = []
    # the layout cache holds no unwind tables nor symbols: its unwinding file
    # (symbols and ORC, no DWARF), else the DWARF
    if not attach_unwinder(k.prog):
        ensure_debug_info(k.prog)
    try:
        for frame in thread.stack_trace():
            if frame.pc < 1 << 63:  # user space: bt stops there too
                break
            if frame.is_inline:  # physical frames only, as crash's bt
                continue
            try:
                name = frame.symbol().name
            except LookupError:
                name = frame.name or f"{frame.pc:#x}"
            stack.append(frame_name(name))
    except (ValueError, LookupError, drgn.FaultError) as e:
        rec.warnings.append(f"stack of PID {rec.pid}: {_one_line(e)}")
    rec.stack = stack
    rec.signature = " < ".join(signature(stack))


def _hung(k: Kernel, ps: list[dict[str, Any]], rec: Record) -> None:
    """D-state tasks and how long each has waited."""
    from ..types import per_cpu

    hung = [r for r in ps if r["st"] == "UN"]
    rec.hung_count = len(hung)
    if not hung:
        return
    task_t = k.prog.type("struct task_struct")
    source: str | None = None
    if task_t.has_member("sched_info"):
        source = "sched_info.last_arrival"
    elif task_t.has_member("last_switch_time"):
        source = "last_switch_time"
    rec.wait_source = source
    out: list[HungTask] = []
    rqs = k.object("runqueues")
    for r in hung:
        t = k.view("struct task_struct", int(r["task"], 16))
        waited: float | None = None
        try:
            if source == "sched_info.last_arrival":
                clock = int(per_cpu(rqs, r["cpu"]).clock)
                waited = max(0, clock - int(t.sched_info.last_arrival)) / 1e9
            elif source == "last_switch_time":
                hz = kernel_hz(k.prog)  # as sys computes HZ
                jiffies = int(k.object("jiffies_64"))
                waited = max(0, jiffies - int(t.last_switch_time)) / hz
        except (drgn.FaultError, LookupError, ValueError, ZeroDivisionError) as e:
            rec.warnings.append(f"wait of PID {r['pid']}: {_one_line(e)}")
        out.append(HungTask(r["pid"], r["comm"], waited))
    out.sort(key=lambda h: -(h.waited or 0.0))
    rec.hung = out[:HUNG_LIMIT]


def _log(k: Kernel, rec: Record) -> None:
    for r in _run(k, "log", rec):
        text = str(r["text"]).strip()
        for pattern, lines in ((OOPS, rec.oops), (OOM, rec.oom), (LOCKUP, rec.lockups)):
            if pattern.search(text) and len(lines) < LOG_LIMIT:
                lines.append(text)


def collect(k: Kernel, rec: Record) -> Record:
    """Fill ``rec`` from the opened dump ``k``."""
    from ..helpers.mm import meminfo

    rec.format = _FORMATS.get(k.reader.name, k.reader.name)
    sysinfo = {r["key"]: r["value"] for r in _run(k, "sys", rec)}
    rec.release = sysinfo.get("RELEASE") or k.release
    rec.panic = sysinfo.get("PANIC") or None
    if sysinfo.get("UPTIME"):
        rec.uptime = _seconds(str(sysinfo["UPTIME"]))
    try:
        rec.taint = int(k.prog["tainted_mask"])
        rec.taint_flags = _taint_letters(k.prog, rec.taint)
    except (LookupError, drgn.FaultError) as e:
        rec.warnings.append(f"taint: {_one_line(e)}")
    _log(k, rec)
    rec.message = message_of(rec.panic, rec.oops, rec.lockups, rec.oom)
    ps = _run(k, "ps", rec)
    for r in ps:
        rec.states[r["st"]] = rec.states.get(r["st"], 0) + 1
    rec.states = dict(sorted(rec.states.items()))
    _hung(k, ps, rec)
    try:
        m = meminfo(k)
        rec.memory = {**asdict(m), "used": m.used}
    except (LookupError, drgn.FaultError, ValueError) as e:
        rec.warnings.append(f"meminfo: {_one_line(e)}")
    try:
        caches = _run(k, "kmem -s", rec)
    except CommandError as e:  # kmem is not there without SLUB debug counters
        rec.warnings.append(f"kmem -s: {_one_line(e)}")
        caches = []
    slabs = [SlabUsage(str(c["name"]), int(c["slabs"]) * int(c["ssize"]), int(c["objsize"]),
                       int(c["allocated"]), int(c["total"])) for c in caches]
    slabs.sort(key=lambda s: (-s.bytes, s.name))
    rec.slabs = slabs[:TOP_SLABS]
    _crashed(k, ps, rec)  # last: the unwinder ends what the layout cache can look up
    return rec


def _format_of(path: str) -> str | None:
    from ..target import _sniff

    return {"elf": "elf", "kdump": "kdump", "flat": "flattened"}.get(_sniff(path))


def triage_dump(path: str, index: VmlinuxIndex, layout_cache: bool = True) -> Record:
    """The record of the dump at ``path``, its vmlinux found in ``index``.
    Never raises for a dump that cannot be read: the record's ``error`` says
    why, in one line.

    :param layout_cache: open the dump on the layout cache of its vmlinux's
        build ID (:mod:`kmemx.types.layoutcache`): DWARF is loaded only for a
        crashed task's stack, or a lookup the cache lacks; the record is the
        same."""
    import kmemx

    rec = Record(os.path.abspath(path))
    try:
        st = os.stat(path)
        rec.size, rec.mtime_ns = st.st_size, st.st_mtime_ns
    except OSError as e:
        rec.error = f"{path}: {e.strerror or _one_line(e)}"
        return rec
    k: Kernel | None = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", KmemxWarning)
            rec.format = _format_of(path)
            # headers only: VMCOREINFO's build ID, before any debug info
            try:
                head = kmemx.open(path, debug_info=False)
            except NoVmcoreinfoError:  # opened with each -s file below
                pass
            else:
                try:
                    vmci = head.vmcoreinfo
                    rec.build_id = vmci.build_id if vmci is not None else None
                    rec.release = vmci.osrelease if vmci is not None else None
                finally:
                    head.close()
            if rec.build_id is None:
                k = _open_without_build_id(path, index, layout_cache, rec)
            else:
                rec.vmlinux = index.find(rec.build_id)
                if rec.vmlinux is None:
                    raise KmemxError(f"{path}: no vmlinux with build ID {rec.build_id} "
                                     f"({rec.release or 'unknown release'}) in "
                                     f"{index.describe()}")
                k = kmemx.open(path, rec.vmlinux, layout_cache=layout_cache)
            collect(k, rec)
        # kmemx's own integrity warnings only: a ResourceWarning of something the
        # garbage collector happened to finalize meanwhile is not the dump's
        rec.warnings += [str(w.message) for w in caught if issubclass(w.category, KmemxWarning)]
    except _FORMAT_ERRORS as e:
        msg = _one_line(e)  # every error line names its dump
        rec.error = msg if msg.startswith(path) else f"{path}: {msg}"
    except Exception as e:  # a damaged dump can break a helper anywhere: report, go on
        rec.error = f"{path}: {type(e).__name__}: {_one_line(e)}"
    finally:
        if k is not None:
            k.close()
    return rec


def _open_without_build_id(path: str, index: VmlinuxIndex, layout_cache: bool,
                           rec: Record) -> Kernel:
    """A dump with no VMCOREINFO, or none with a ``BUILD-ID``: opened with
    each ``-s`` file in turn, as ``kmemx -c DUMP -s VMLINUX`` opens it
    (:func:`kmemx.open` recovers VMCOREINFO from the kernel image in memory
    on x86-64 and refuses a vmlinux of another build); the first that opens
    is the dump's.  ``rec`` gets the vmlinux and the recovered release and
    build ID.  Raises KmemxError naming the dump and each file's reason."""
    import kmemx

    reasons: list[str] = []
    for vmlinux in index.symbols:
        try:
            k = kmemx.open(path, vmlinux, layout_cache=layout_cache)
        except _FORMAT_ERRORS as e:
            msg = _one_line(e)
            if msg.startswith(path + ": "):
                msg = msg[len(path) + 2:]
            reasons.append(f"{os.path.basename(vmlinux)}: {msg}")
            continue
        rec.vmlinux = vmlinux
        vmci = k.vmcoreinfo
        if vmci is not None:
            rec.build_id = rec.build_id or vmci.build_id
            rec.release = rec.release or vmci.osrelease
        return k
    if not index.symbols:
        raise KmemxError(f"{path}: no BUILD-ID in VMCOREINFO (or no VMCOREINFO): give its "
                         f"vmlinux with -s and kmemx tries it")
    raise KmemxError(f"{path}: no BUILD-ID in VMCOREINFO (or no VMCOREINFO), and no -s "
                     f"file opens it: " + "; ".join(reasons))


def triage_path(path: str, symbols: list[str], debug_dirs: list[str]) -> dict[str, Any]:
    """:func:`triage_dump` for a worker process: plain arguments, a dict back."""
    return triage_dump(path, _index(symbols, debug_dirs), layout_cache=enabled()).to_dict()


_INDEXES: dict[tuple[tuple[str, ...], tuple[str, ...]], VmlinuxIndex] = {}


def _index(symbols: list[str], debug_dirs: list[str]) -> VmlinuxIndex:
    """One index per worker process and arguments: build IDs are read once."""
    key = (tuple(symbols), tuple(debug_dirs))
    if key not in _INDEXES:
        _INDEXES[key] = VmlinuxIndex(symbols, debug_dirs)
    return _INDEXES[key]
