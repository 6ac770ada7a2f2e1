"""The triage record of one dump, its stack signature and the clusters.

Everything here is plain data: a :class:`Record` is what ``kmemx triage``
prints with ``--json`` and appends to ``--jsonl`` files, one per dump.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = [
    "CONSEQUENTIAL_PANIC",
    "PLUMBING_FRAMES",
    "SIGNATURE_DEPTH",
    "Cluster",
    "HungTask",
    "Record",
    "SlabUsage",
    "clusters",
    "frame_name",
    "message_of",
    "signature",
]

#: Frames of the panic/oops machinery itself, not of what went wrong: the
#: signature starts with the caller of the outermost one of these on the
#: crashing thread's stack (the frames above it, e.g. panic()'s delay loop,
#: are dropped too).  Grouped by what they are:
PLUMBING_FRAMES: frozenset[str] = frozenset({
    # panic and kdump (kernel/panic.c, kernel/kexec_core.c)
    "panic", "vpanic", "nmi_panic", "__crash_kexec", "crash_kexec",
    # oops reporting (arch/x86/kernel/dumpstack.c, traps.c)
    "oops_end", "die", "__die", "die_addr", "do_trap", "do_error_trap",
    "handle_bug", "report_bug", "__warn", "warn_slowpath_fmt",
    # exception entry (arch/x86/entry, arch/x86/kernel/traps.c)
    "exc_invalid_op", "asm_exc_invalid_op", "exc_general_protection",
    "asm_exc_general_protection", "exc_int3", "asm_exc_int3", "do_int3",
    "exc_divide_error", "asm_exc_divide_error", "exc_double_fault", "asm_exc_double_fault",
    # kernel page faults (arch/x86/mm/fault.c)
    "page_fault_oops", "kernelmode_fixup_or_oops", "no_context", "__bad_area_nosemaphore",
    "bad_area_nosemaphore", "do_user_addr_fault", "handle_page_fault", "exc_page_fault",
    "asm_exc_page_fault", "do_page_fault",
    # lockup detectors, which panic from an interrupt on top of the stuck code
    "watchdog_timer_fn", "watchdog_overflow_callback", "watchdog_hardlockup_check",
})

#: Panic strings that only say a report came before them (an oops, a lockup
#: detector, the OOM killer with panic_on_oom): the report's line is the message
#: (kernel/panic.c oops_end's "Fatal exception", kernel/watchdog.c "softlockup:
#: hung tasks" and "Hard LOCKUP", kernel/hung_task.c "hung_task: blocked tasks",
#: mm/oom_kill.c "System is deadlocked on memory" and "Out of memory...")
CONSEQUENTIAL_PANIC = re.compile(r"not syncing: (Fatal exception|softlockup|Hard LOCKUP|"
                                 r"hung_task|System is deadlocked on memory|Out of memory)")

#: Frames kept in a signature after the plumbing is removed.
SIGNATURE_DEPTH = 5

#: Suffixes that the compiler gives clones of a function (``__handle_sysrq.cold``).
_CLONE = re.compile(r"(\.(cold|isra|constprop|part|lto_priv|llvm)(\.\d+)*)+$")


def message_of(panic: str | None, oops: list[str], lockups: list[str],
               oom: list[str]) -> str | None:
    """What hit the kernel, in one line: the panic string, unless it only
    says that a report came first (:data:`CONSEQUENTIAL_PANIC`): then that
    report's first line (an oops, BUG or WARNING line, else a lockup line,
    else an OOM-killer line); without a panic, the first oops line; else None."""
    if panic is not None and not CONSEQUENTIAL_PANIC.search(panic):
        return panic
    for lines in (oops, lockups, oom):
        if lines:
            return lines[0]
    return panic


def frame_name(name: str) -> str:
    """A function name without the compiler's clone suffixes."""
    return _CLONE.sub("", name)


def signature(stack: list[str]) -> list[str]:
    """The normalised signature of a stack (function names, innermost
    first): everything up to and including the outermost
    :data:`PLUMBING_FRAMES` frame is dropped, then the first
    :data:`SIGNATURE_DEPTH` frames are kept."""
    names = [frame_name(n) for n in stack]
    last = -1
    for i, n in enumerate(names):
        if n in PLUMBING_FRAMES:
            last = i
    return names[last + 1:last + 1 + SIGNATURE_DEPTH]


@dataclass
class HungTask:
    """A task in uninterruptible sleep (``ps``'s ST ``UN``, the kernel's D state)."""

    #: ``task_struct.pid``
    pid: int
    #: ``task_struct.comm``
    comm: str
    #: seconds since the task last ran: its CPU's ``rq->clock`` less
    #: ``sched_info.last_arrival`` (both nanoseconds of the runqueue clock), or
    #: ``jiffies`` less ``last_switch_time`` when there is no sched_info
    #: (see :attr:`Record.wait_source`); None when neither can be read
    waited: float | None


@dataclass
class SlabUsage:
    """One slab cache, from ``kmem -s``."""

    #: the cache's name
    name: str
    #: memory of its slabs in bytes: SLABS x SSIZE
    bytes: int
    #: object size (``kmem_cache.object_size``)
    objsize: int
    #: objects allocated (ALLOCATED) and in all its slabs (TOTAL)
    allocated: int
    total: int


@dataclass
class Record:
    """What triage found in one dump.  Fields that could not be read are
    None (or empty); ``error`` says why a dump could not be read at all."""

    #: the dump's absolute path
    path: str
    #: its size in bytes and st_mtime_ns: with ``path``, the key under which
    #: ``--jsonl`` remembers it
    size: int = 0
    mtime_ns: int = 0
    #: elf, kdump or flattened, from the reader kmemx opened it with
    #: (``k.reader.name``: mmap-elf, kdump, kdump-flat)
    format: str | None = None
    #: ``init_uts_ns.name.release`` (``sys``'s RELEASE)
    release: str | None = None
    #: VMCOREINFO's ``BUILD-ID=``: the kernel's GNU build ID
    build_id: str | None = None
    #: the vmlinux found for that build ID
    vmlinux: str | None = None
    #: drgn's ``panic_message()`` (``sys``'s PANIC): the panic string; None
    #: when the kernel did not panic (a dump taken from outside)
    panic: str | None = None
    #: what hit the kernel in one line (:func:`message_of`): ``panic``, or
    #: the report a "Fatal exception"-like panic follows, else the first oops
    #: line of the log (see :data:`kmemx.triage.collect.OOPS`), else None
    message: str | None = None
    #: the task that hit it (drgn's ``prog.crashed_thread()``), its PID,
    #: command and CPU as ``ps`` shows them; None without a panic
    pid: int | None = None
    comm: str | None = None
    cpu: int | None = None
    #: that task's kernel stack, function names innermost first, down to
    #: the first user-space frame (as ``bt`` stops)
    stack: list[str] = field(default_factory=list)
    #: :func:`signature` of ``stack``, joined by `` < `` (callee < caller);
    #: "" when there is no crashed task
    signature: str = ""
    #: ``tainted_mask`` (the number /proc/sys/kernel/tainted shows) and its
    #: letters, one per set bit, from the kernel's own ``taint_flags[]``
    #: table (``c_true``): what "Tainted: ..." lines show; "" when untainted
    taint: int | None = None
    taint_flags: str = ""
    #: seconds since boot from ``jiffies_64`` (``sys``'s UPTIME)
    uptime: int | None = None
    #: tasks in D state, the longest-waiting first (at most 20), their number,
    #: and where the waits come from: "sched_info.last_arrival",
    #: "last_switch_time" or None
    hung: list[HungTask] = field(default_factory=list)
    hung_count: int = 0
    wait_source: str | None = None
    #: log lines (``log``) of oopses, BUG and WARNING reports, of the OOM
    #: killer, and of soft/hard lockups, RCU stalls and hung tasks (at most
    #: 20 each; see :mod:`kmemx.triage.collect` for the patterns)
    oops: list[str] = field(default_factory=list)
    oom: list[str] = field(default_factory=list)
    lockups: list[str] = field(default_factory=list)
    #: ``kmem -i``'s numbers (kmemx's ``meminfo()``), in pages: total, free,
    #: used, shared, buffers, cached, slab, huge_total, huge_free,
    #: swap_total, swap_used, swap_free, commit_limit, committed
    memory: dict[str, int] = field(default_factory=dict)
    #: the 5 slab caches using the most memory (``kmem -s``)
    slabs: list[SlabUsage] = field(default_factory=list)
    #: tasks per state, ``ps``'s ST column (RU IN UN ID ZO ...)
    states: dict[str, int] = field(default_factory=dict)
    #: ``kmemx: warning:`` lines of the commands run: what is incomplete
    warnings: list[str] = field(default_factory=list)
    #: why the dump could not be triaged (one line, as ``kmemx: error:``
    #: prints it); None when it was
    error: str | None = None

    @property
    def key(self) -> tuple[str, int, int]:
        """``(path, size, mtime_ns)``: the same dump, unchanged."""
        return (self.path, self.size, self.mtime_ns)

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """A record from :meth:`to_dict`'s data (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in names}
        kw["hung"] = [HungTask(**h) for h in kw.get("hung", [])]
        kw["slabs"] = [SlabUsage(**s) for s in kw.get("slabs", [])]
        return cls(**kw)


@dataclass
class Cluster:
    """Dumps with the same signature."""

    #: the signature ("" for dumps without a crashed task)
    signature: str
    #: how many dumps, which (paths), of which kernels (releases)
    count: int
    dumps: list[str]
    kernels: list[str]
    #: the message of its first dump
    message: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def clusters(records: list[Record]) -> list[Cluster]:
    """Records that were triaged, grouped by signature, largest group first
    (then by signature); records with an error are left out."""
    groups: dict[str, list[Record]] = {}
    for r in records:
        if r.error is None:
            groups.setdefault(r.signature, []).append(r)
    out = [Cluster(sig, len(rs), [r.path for r in rs],
                   sorted({r.release or "?" for r in rs}), rs[0].message)
           for sig, rs in groups.items()]
    out.sort(key=lambda c: (-c.count, c.signature))
    return out
