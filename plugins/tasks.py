"""Task commands: ps, pstree, task, bt, files.

Names, columns and main flags follow crash.
"""

from __future__ import annotations

import argparse
import functools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import drgn

from kmemx._accel import speedups
from kmemx.commands import (
    Absent,
    Address,
    CommandError,
    Context,
    Name,
    Percent,
    Row,
    TextLine,
    TextRecord,
    arg,
    command,
)
from kmemx.commands.cells import Size, crash_centre, kernel_str
from kmemx.commands.rows import NO_HEADER, HeaderOnly
from kmemx.errors import fault_where
from kmemx.helpers.cpumask import for_each_possible_cpu
from kmemx.helpers.mm import (
    PAGE_SIZE,
    page_flags,
    rss_pages,
    split_rss_sums,
    task_cpu,
    totalram_pages,
)
from kmemx.helpers.sched import (
    TaskWalkDamage,
    end_of_stack,
    for_each_task,
    state_to_char,
    task_stack_end_corrupted,
    task_state_member,
)
from kmemx.helpers.timekeeping import JIFFIES_CODE
from kmemx.types import View, per_cpu

__all__ = ["PS_COLUMNS", "SCHED_POLICIES", "active_tasks", "context_rows", "find_task",
           "idle_tasks", "resolve_tasks", "sched_policies", "task_header", "task_member_lines",
           "task_state_names", "task_thread_info", "translate_nanoseconds"]

PS_COLUMNS = ("PID", "PPID", "CPU", "TASK", "ST", "%MEM", "VSZ", "RSS", "COMM")
#: /proc's one-letter states as crash's two-letter ones
CRASH_STATE = {"R": "RU", "S": "IN", "D": "UN", "T": "ST", "t": "TR", "X": "DE", "Z": "ZO",
               "P": "PA", "I": "ID", "N": "NE", "W": "WA"}
PF_KTHREAD = 0x00200000
EXIT_ZOMBIE, EXIT_DEAD = 0x20, 0x10


class Pid(int):
    """A PID cell."""

    __slots__ = ()
    active = False


class ActivePid(Pid):
    """The PID of a task running on a CPU: ``>`` marks it, as in crash."""

    __slots__ = ()
    active = True

    def __str__(self) -> str:
        return f">{int(self)}"


class Comm(Name):
    """A command name."""

    __slots__ = ()
    kthread = False


class KthreadComm(Comm):
    """A kernel thread's name: shown in brackets, as in crash."""

    __slots__ = ()
    kthread = True

    def __str__(self) -> str:
        return f"[{str.__str__(self)}]"


def _enabled(prog: Any) -> bool:
    try:
        prog.type("struct task_struct")
        prog["init_task"]
        return True
    except LookupError:
        return False


def _rq_tasks(ctx: Context, member: str) -> list[View]:
    """``rq->member`` (``idle`` or ``curr``) of each CPU's run queue; a CPU whose
    run queue is not in the dump (a truncated or filtered one) is reported once
    (``ctx.warn``) and left out, so the other rows still come.  On a dump
    they are read once (the dump's memory never changes), unless a run queue
    could not be read."""
    live = getattr(ctx.k, "is_live", False)
    kept: dict[str, list[View]] = ctx.prog.cache.setdefault(_RQ_TASKS, {})
    if member in kept and not live:
        return list(kept[member])
    rqs = ctx.k.object("runqueues")
    out = []
    whole = True
    for cpu in _cpus(ctx):
        try:
            out.append(getattr(per_cpu(rqs, cpu), member))
        except drgn.FaultError as e:
            whole = False
            said = f"CPU {cpu}: its run queue cannot be read"
            if not any(m.startswith(said) for m in ctx.errors):
                ctx.warn(f"{said} ({e}): its idle and current tasks are not known")
    if whole and not live:
        kept[member] = list(out)
    return out


#: prog.cache key of a dump's rq->idle and rq->curr views (:func:`_rq_tasks`)
_RQ_TASKS = "kmemx.plugins.tasks.rq_tasks"


def idle_tasks(ctx: Context) -> list[View]:
    """Each CPU's idle task (``rq->idle``), which crash lists as PID 0."""
    return _rq_tasks(ctx, "idle")


def active_tasks(ctx: Context) -> set[int]:
    """Addresses of the tasks current on each CPU (``rq->curr``)."""
    return {t.address for t in _rq_tasks(ctx, "curr")}


def _cpus(ctx: Context) -> list[int]:
    return list(for_each_possible_cpu(ctx.k))


def _task_batches(ctx: Context, size: int = 256, strict: bool = False
                  ) -> Iterator[list[View]]:
    """Every task, idle tasks first, in lists of up to ``size`` (8 on a live
    kernel, whose tasks may exit while a batch waits to be read).  A damaged
    task list is walked around (:func:`for_each_task`) and its bad links
    reported in one warning; a walk that stops on bad memory all the same
    ends with a warning after the tasks it found (``strict``: raises then,
    for a count that must not be short).  Every command that lists all
    tasks takes them here."""
    if getattr(ctx.k, "is_live", False):
        size = min(size, 8)
    yield idle_tasks(ctx)
    n = 0
    batch: list[View] = []
    damage = TaskWalkDamage()
    try:
        for t in for_each_task(ctx.k, damage):
            batch.append(t)
            if len(batch) == size:
                n += size
                if n % 1000 < size:
                    ctx.progress("tasks", n)
                yield batch
                batch = []
    except (drgn.FaultError, Exception) as e:
        if isinstance(e, KeyboardInterrupt) or strict:
            raise
        if batch:
            yield batch
        ctx.warn(f"task list walk stopped after {n + len(batch)} tasks: {e}")
        return
    if batch:
        yield batch
    if damage and damage.summary() not in ctx.errors:  # once per command
        ctx.warn(damage.summary())


def _all_tasks(ctx: Context) -> Iterator[View]:
    for batch in _task_batches(ctx):
        yield from batch


class _PsReader:
    """What a ps row reads, compiled once per program: the task's members, its
    parent's pid and its mm's size and RSS counters, in one bulk read."""

    def __init__(self, ctx: Context) -> None:
        from kmemx.helpers.mm import mm_rss_vm_spec, task_cpu_member, task_rss_cache_spec
        from kmemx.types.fields import member_spec, raw_reader, raw_reader_many
        from kmemx.types.spec import follow_inline

        k = ctx.k
        task = "struct task_struct"
        cpu = member_spec(k, task, task_cpu_member(k))
        names = ("tgid", "comm", "flags", task_state_member(k), "exit_state")
        pid = member_spec(k, task, "pid")
        # parent->pid and mm->{total_vm, rss counters} in place (None: NULL mm).
        # PPID is crash's: task_struct.parent (task.c task_struct_parent), the
        # tracer while a task is ptraced, where /proc's PPid is real_parent's tgid
        parent = follow_inline(k.offsetof(task, "parent"), (pid,))
        mm_ptr = member_spec(k, task, "mm")
        mm = follow_inline(mm_ptr[0], mm_rss_vm_spec(k))
        #: the task's unsynced RSS events (before f1a7941243c1, "mm: convert
        #: mm's rss stats into percpu_counter"): summed per mm first
        self.split = task_rss_cache_spec(k)
        extra = (mm_ptr, *self.split) if self.split else ()
        spec = (pid, *(member_spec(k, task, n) for n in names), cpu, parent, mm, *extra)
        self.task = raw_reader(k, spec)
        self.tasks = raw_reader_many(k, spec)
        #: (state << 8 | exit_state) -> crash's state name
        self.states: dict[int, str] = {}
        #: (comm, kthread) -> its cell: names repeat (kworker/..., threads)
        self.comms: dict[tuple[bytes, int], Comm] = {}
        #: pages -> VSZ/RSS cell, and RSS pages -> %MEM cell (of ``total``
        #: pages of RAM): the values repeat, within a ps and between them
        self.sizes: dict[int, Size] = {}
        self.percents: dict[int, Percent] = {}
        self.total = totalram_pages(k)
        #: what the C twin of ps_rows() takes (kmemx/_speedups.c: ps_rows)
        self.env = (Row, PS_COLUMNS, Pid, ActivePid, Address, self.sizes, self.percents,
                    self.states, self.comms, PF_KTHREAD)

    @staticmethod
    def of(ctx: Context) -> _PsReader:
        r: _PsReader | None = ctx.prog.cache.get("kmemx.plugins.tasks.ps_reader")
        if r is None:
            r = ctx.prog.cache["kmemx.plugins.tasks.ps_reader"] = _PsReader(ctx)
        return r

    def state(self, state: int, exit_state: int) -> str:
        key = state << 8 | exit_state
        st = self.states.get(key)
        if st is None:
            st = self.states[key] = CRASH_STATE.get(state_to_char(state, exit_state), "??")
        return st

    def comm(self, comm: bytes, kthread: int) -> Comm:
        c = self.comms.get((comm, kthread))
        if c is None:
            if len(self.comms) > 65536:
                self.comms.clear()
            c = (KthreadComm if kthread else Comm)(kernel_str(comm))
            self.comms[(comm, kthread)] = c
        return c


def ps_rows(ctx: Context, tasks: list[View], raws: list[tuple[Any, ...] | None],
            active: set[int], total_pages: int, reader: _PsReader | None = None,
            split: dict[int, list[int]] | None = None,
            keys: list[int] | None = None) -> list[Row | Exception]:
    """The ``ps`` rows of ``struct task_struct *`` ``tasks``, in order (``raws``:
    what the reader read for each already, None where it did not; ``split``:
    per mm, the RSS events its tasks have not synced yet, from
    :func:`split_rss_sums`).  A task that cannot be read has its error in
    place of its row (``drgn.FaultError``, ``ValueError``, ``OverflowError``).
    ``keys``: each row's place in crash's order (:func:`_ps_order` as one
    int, ``PID << 32 | CPU``) is appended to it, nothing for an error."""
    r = reader or _PsReader.of(ctx)
    task, states, comms, comm_cell = r.task, r.states, r.comms, r.comm
    # VSZ, RSS and %MEM repeat (kernel threads: 0): one cell per value
    sizes: dict[int, Size] = r.sizes
    if len(sizes) > 65536:  # a live kernel's values keep changing
        sizes.clear()
        r.percents.clear()
    percents: dict[int, Percent] = r.percents if r.total == total_pages else {}
    # the rows whose cells are all in the caches, in C (the same rows)
    crows = ckeys = None
    if speedups is not None and percents is r.percents:
        crows, ckeys = speedups.ps_rows(r.env, tasks, raws, active, split or {})
        if None not in crows:
            if keys is not None:
                keys += ckeys
            return crows  # type: ignore[no-any-return]
    out: list[Row | Exception] = []
    append = out.append
    key = (lambda _: None) if keys is None else keys.append
    for i, (t, vals) in enumerate(zip(tasks, raws)):
        if crows is not None and crows[i] is not None:
            append(crows[i])
            key(ckeys[i])  # type: ignore[index]
            continue
        try:
            addr = t._a
            if vals is None:
                vals = task(addr)
            pid_v, _tgid, comm_b, flags, state, exit_state, cpu, ppid, vsz, f, a, s = vals[:12]
            if vsz is None:  # the task has no mm
                rss = vsz = 0
            elif split is not None and vals[12] in split:
                df, da, ds = split[vals[12]]
                rss = rss_pages(f + df, a + da, s + ds)
            else:
                rss = rss_pages(f, a, s)
            vcell = sizes.get(vsz)
            if vcell is None:
                vcell = sizes[vsz] = Size(vsz * PAGE_SIZE)
            rcell = sizes.get(rss)
            if rcell is None:
                rcell = sizes[rss] = Size(rss * PAGE_SIZE)
            pcell = percents.get(rss)
            if pcell is None:
                pcell = percents[rss] = Percent(100.0 * rss / total_pages if total_pages
                                                else 0.0)
            kthread = flags & PF_KTHREAD
            append(Row(PS_COLUMNS, (
                (ActivePid if addr in active else Pid)(pid_v), (ppid or 0) if pid_v else 0,
                cpu, Address(addr),
                states.get(state << 8 | exit_state) or r.state(state, exit_state),
                pcell, vcell, rcell,
                comms.get((comm_b, kthread)) or comm_cell(comm_b, kthread)), t))
            key(pid_v << 32 | (cpu or 0))
        except (drgn.FaultError, ValueError, OverflowError) as e:
            append(e)
    return out


def _with_raw(batches: Iterator[list[View]], reader: _PsReader
              ) -> Iterator[tuple[list[View], list[tuple[Any, ...] | None]]]:
    """Each batch of tasks with what ps reads of them (one call per batch)."""
    for batch in batches:
        yield batch, reader.tasks([t._a for t in batch])


def _read_all(batches: Iterable[tuple[list[View], list[tuple[Any, ...] | None]]],
              reader: _PsReader) -> list[tuple[list[View], list[tuple[Any, ...] | None]]]:
    """The batches with every task read: what the bulk read left (a value it
    does not gather, such as per-CPU RSS counters) read one task at a time
    (None still for a task that cannot be read)."""
    return [(b, raws if None not in raws else
             [raw or _read_or_none(reader, t._a) for t, raw in zip(b, raws)])
            for b, raws in batches]


def _with_split(batches: Iterable[tuple[list[View], list[tuple[Any, ...] | None]]],
                reader: _PsReader
                ) -> tuple[list[tuple[list[View], list[tuple[Any, ...] | None]]],
                           dict[int, list[int]]]:
    """The batches read whole (every task's unsynced RSS events count
    towards its mm, so all are read first) and, per mm, the sums of those
    events (:func:`split_rss_sums`; a task with no events adds nothing)."""
    read = _read_all(batches, reader)
    split = None if speedups is None else speedups.rss_event_sums(
        [raws for _b, raws in read], 12)
    if split is None:
        split = split_rss_sums((raw[12], raw[13:16]) for _b, raws in read
                               for raw in raws if raw is not None
                               and (raw[13] or raw[14] or raw[15]))
    return read, split


#: prog.cache key of a dump's ps table (:func:`_ps_table`)
_PS_TABLE = "kmemx.plugins.tasks.ps_table"


def _ps_table(ctx: Context, reader: _PsReader
              ) -> tuple[list[tuple[list[View], list[tuple[Any, ...] | None]]],
                         dict[int, list[int]] | None] | None:
    """On a dump, every task's batch with what ``ps`` reads of it and the
    unsynced RSS sums, read on the first ``ps`` and kept: a dump's memory
    never changes (crash builds its task table once for a dump file, task.c
    ``refresh_xarray_task_table()``).  Kept only when the task walk warned of
    nothing, so a damaged list is reported by every ``ps``.  The rows are
    made from it every time.  None on a live kernel: read it afresh."""
    if getattr(ctx.k, "is_live", False):
        return None
    table: tuple[Any, Any] | None = ctx.prog.cache.get(_PS_TABLE)
    if table is None:
        warned = len(ctx.errors)
        batches = list(_with_raw(_task_batches(ctx), reader))
        split = None
        if reader.split:
            batches, split = _with_split(batches, reader)
        else:  # what the bulk read left (per-CPU RSS counters), read once here
            batches = _read_all(batches, reader)
        table = (batches, split)
        if len(ctx.errors) == warned:
            ctx.prog.cache[_PS_TABLE] = table
    return table


def _read_or_none(reader: _PsReader, addr: int) -> tuple[Any, ...] | None:
    """What ps reads of the task at ``addr``, or None when it is unreadable
    (then its row reads it again and reports why)."""
    try:
        vals: tuple[Any, ...] = reader.task(addr)
        return vals
    except (drgn.FaultError, ValueError, OverflowError):
        return None


def find_task(ctx: Context, pid: int) -> View:
    """The ``struct task_struct`` view of the task with ``pid``
    (``find_task()``; PID 0: CPU 0's idle task).  Raises CommandError."""
    from drgn.helpers.linux.pid import find_task as drgn_find_task

    if pid == 0:
        return idle_tasks(ctx)[0].deref()
    t = drgn_find_task(ctx.prog, pid)
    if not t:
        raise CommandError(f"no task with PID {pid}")
    return ctx.k.view("struct task_struct", int(t.value_()))


def resolve_tasks(ctx: Context, specs: Iterable[str]) -> list[View]:
    """``struct task_struct`` views from crash-style arguments: PIDs (decimal;
    0 is every CPU's idle task, as in crash) and task addresses (hex, ``0x``
    optional).  A bad argument is reported (``ctx.warn``) and left out;
    CommandError when every one is bad (see
    :func:`kmemx.commands.resolve_each`)."""
    from drgn.helpers.linux.pid import find_task as drgn_find_task

    from kmemx.commands import parse_task_spec, resolve_each

    def tasks_of(spec: str) -> list[View]:
        kind, n = parse_task_spec(spec)
        if kind == "pid":
            return [t.deref() for t in idle_tasks(ctx)] if n == 0 else [find_task(ctx, n)]
        # a task address is one of the tasks: its PID finds it (crash: its task table)
        t = ctx.k.view("struct task_struct", n)
        try:
            pid = t.pid
            if pid == 0:
                ok = any(i.address == n for i in idle_tasks(ctx))
            else:
                ok = drgn_find_task(ctx.prog, pid).value_() == n
        except (drgn.FaultError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise CommandError(f"invalid task address {n:#x}")
        return [t]

    return [t for ts in resolve_each(ctx, specs, tasks_of) for t in ts]


@command("ps", "display process status information",
         description="""
         Lists every task (threads included) with crash's columns:
         PID PPID CPU TASK ST %MEM VSZ RSS COMM.  '>' marks tasks running on
         a CPU; kernel threads show as [name]; each CPU's idle task is PID 0.
         VSZ and RSS are in KiB.

         ps 1 2 3          these PIDs
         ps kmx-w001       by command name ('regex' in quotes: ps 'kmx-w0.*')
         ps -k / -u        kernel threads / user tasks only
         ps -G             thread group leaders only
         ps -S             count of tasks in each state
         ps --state IN     tasks in a state (RU IN UN ZO ST TR DE ID or R S D Z...)
         ps -s             KSTACKP (the saved kernel stack pointer) instead of TASK
         ps -p 97          the parents of each task (task_struct.parent), up to swapper/0
         ps -c 95          the children of each task (the tasks it is the parent of)
         ps -g 95          the threads of each task's thread group (no task: each
                           group once, under its leader; the idle tasks are one)
         ps -t 1           run time, start time (ns), user and system time (ns)
         ps -l             the last time each task ran (sched_info.last_arrival, ns),
                           most recent first (-C CPU: one CPU's tasks, by CPU)
         ps -m             as -l, the time since then by its CPU's rq->clock, in
                           days hh:mm:ss.ms (-C CPU as with -l)
         ps -y FIFO,RR     tasks of these scheduling policies (NORMAL FIFO RR BATCH
                           ISO IDLE DEADLINE, or their numbers)
         ps -A             the active task of each CPU only
         ps -H             no header line
         ps -a 1           the command line and environment, from user memory
         ps -r 1           the resource limits (signal->rlim)
         The output of -p -c -g -t -l -m -a -r is crash's text; --json gives rows.
         """,
         arguments=[arg("filters", nargs="*", help="PID, task address or command name"),
                    arg("-k", action="store_true", help="kernel threads only"),
                    arg("-u", action="store_true", help="user tasks only"),
                    arg("-G", action="store_true", help="thread group leaders only"),
                    arg("-S", action="store_true", help="summary of task states"),
                    arg("--state", help="only tasks in this state"),
                    arg("-s", dest="kstackp", action="store_true",
                        help="KSTACKP column instead of TASK"),
                    arg("-p", dest="parents", action="store_true", help="parental hierarchy"),
                    arg("-c", dest="children", action="store_true", help="children"),
                    arg("-g", dest="group", action="store_true", help="thread group"),
                    arg("-t", dest="times", action="store_true", help="run and start times"),
                    arg("-l", dest="last_run", action="store_true",
                        help="last run timestamps, most recent first"),
                    arg("-m", dest="msecs", action="store_true",
                        help="time since each task last ran, most recent first"),
                    arg("-C", dest="by_cpu", help="with -l or -m: the tasks of these CPUs "
                                                  "(cpuspec), by CPU"),
                    arg("-y", dest="policy", metavar="POLICY[,POLICY...]",
                        help="tasks of these scheduling policies (names or numbers)"),
                    arg("-A", dest="active_only", action="store_true",
                        help="the active task of each CPU only"),
                    arg("-H", dest="no_header", action="store_true", help="no header line"),
                    arg("-a", dest="argv", action="store_true",
                        help="command line and environment"),
                    arg("-r", dest="rlimits", action="store_true", help="resource limits")],
         columns=PS_COLUMNS, enabled=_enabled, drgn_code=lambda ctx, args: _ps_drgn(ctx, args))
def _ps(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    modes = _ps_modes(args)
    keep = _ps_keep(ctx, args)
    if not any(modes) and args.no_header and not ctx.as_json:
        yield NO_HEADER
    if not any(modes):
        listing: Iterable[Row]
        if not args.filters:
            # crash's order (its task table, sort_context_array()): by PID, the
            # idle tasks first by CPU; the task list has threads after their leader
            keys: list[int] = []
            rows: list[Row] = []
            for row in _ps_rows(ctx, args, keys, rows):
                rows.append(row)
            if len(keys) == len(rows):  # _ps_order as ints, sorted in C
                listing = map(rows.__getitem__, sorted(range(len(rows)), key=keys.__getitem__))
            else:
                listing = sorted(rows, key=_ps_order)
        else:  # crash's order too: show_ps() walks its task table, not the arguments
            listing = sorted(_ps_rows(ctx, args), key=_ps_order)
        if keep is not None:
            listing = [r for r in listing if keep(r)]
            if not listing:  # crash's header alone
                yield HeaderOnly(PS_COLUMNS)
                return
        if not args.kstackp:
            yield from listing
            return
        for row in listing:
            yield _kstackp_row(ctx, row) if row.columns == PS_COLUMNS else row
        return
    # crash's task table order (sort_context_array(): by PID, the idle tasks by
    # CPU), which show_ps() walks for every form; -t of every task then sorts
    # by start time (show_task_times(), a stable qsort: ties keep PID order)
    rows = sorted((r for r in _ps_rows(ctx, args) if r.columns == PS_COLUMNS), key=_ps_order)
    if keep is not None:
        rows = [r for r in rows if keep(r)]
    if args.times and not args.filters:
        rows.sort(key=lambda r: int(_as_task(r.obj).start_time))
    if args.last_run or args.msecs:
        yield from _ps_last_run(ctx, rows, args.by_cpu, args.msecs)
        return
    if args.group:
        names = any(not re.fullmatch(r"\d+|0x[0-9a-fA-F]+|[0-9a-fA-F]{16}", f)
                    for f in args.filters)
        yield from _ps_groups(ctx, [_as_task(r.obj) for r in rows], _task_table(ctx),
                              bool(args.filters), names)
        return
    fn: Callable[[Context, View], Iterator[Any]]
    if args.children:
        fn = functools.partial(_ps_children, kids=_children_of(_task_table(ctx)))
    else:
        fn = (_ps_parents if args.parents else _ps_times if args.times else
              _ps_argv if args.argv else _ps_rlimits)
    for row in rows:
        try:
            yield from fn(ctx, _as_task(row.obj))
        except drgn.FaultError as e:
            ctx.warn(f"task {row.obj.address:#x}: cannot read {fault_where(e)}")
        if not ctx.as_json:
            yield TextLine("")


def _ps_modes(args: argparse.Namespace) -> tuple[Any, ...]:
    """ps's forms that exclude each other (task.c check_ps_exclusive()):
    -p -c -g -t -l -m -a -r; CommandError for two of them, or for -C
    without -l or -m, or -A with any."""
    modes = (args.parents, args.children, args.group, args.times, args.last_run, args.msecs,
             args.argv, args.rlimits)
    if args.by_cpu is not None and not (args.last_run or args.msecs):
        raise CommandError("ps: -C applies to -l and -m only (as in crash)")
    if sum(bool(m) for m in modes) + bool(args.active_only) > 1:
        raise CommandError("ps: -p -c -g -t -l -m -a -r -A exclude each other")
    return modes


#: crash's scheduling policy names (task.c sched_policy_info[]), by number
SCHED_POLICIES = ("NORMAL", "FIFO", "RR", "BATCH", "ISO", "IDLE", "DEADLINE")


def sched_policies(spec: str) -> set[int]:
    """The ``SCHED_*`` numbers of ``ps -y``'s comma-separated policies: a
    name (any case; crash compares the name's length, so ``NORMALX`` is
    NORMAL), a number or ``0xN`` (task.c make_sched_policy()).  Raises
    CommandError for anything else, as crash's ``invalid scheduling policy``."""
    out = set()
    for word in spec.split(","):
        up = word.upper()
        for n, name in enumerate(SCHED_POLICIES):
            if up.startswith(name) or up in (str(n), f"0X{n:X}"):
                out.add(n)
                break
        else:
            raise CommandError(f"ps: {word}: invalid scheduling policy")
    return out


def _ps_keep(ctx: Context, args: argparse.Namespace) -> Callable[[Row], bool] | None:
    """The filter of ``ps -y`` (task_struct.policy in the policies) and of
    ``-A`` without tasks named (the rows ``>`` marks: show_ps_data()'s
    PS_ACTIVE with PS_SHOW_ALL); None when neither applies."""
    policies = sched_policies(args.policy) if args.policy else None
    active = args.active_only and not args.filters
    if policies is None and not active:
        return None

    def keep(r: Row) -> bool:
        if r.columns != PS_COLUMNS:
            return True
        if active and not getattr(r.cells[0], "active", False):
            return False
        return policies is None or int(_as_task(r.obj).policy) in policies

    return keep


def _ps_order(r: Row) -> tuple[int, int]:
    """A ps row's place in crash's order: PID, then CPU; other rows last."""
    c = r.cells
    return (c[0], c[2] or 0) if r.columns is PS_COLUMNS or r.columns == PS_COLUMNS else (
        1 << 62, 0)


#: --drgn of ps and vm: a mm's RSS in pages as ps counts it
_RSS_CODE = """\
# MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES (include/linux/mm_types_task.h)
RSS = [prog["MM_FILEPAGES"].value_(), prog["MM_ANONPAGES"].value_(),
       prog["MM_SHMEMPAGES"].value_()]


def counter_sum(c):
    # percpu_counter_sum() over every possible CPU: drgn's sums the online
    # ones, but the CPUs a panic stopped are offline with their counts unfolded
    return c.count.value_() + sum(per_cpu_ptr(c.counters, cpu)[0].value_()
                                  for cpu in for_each_possible_cpu(prog))


def rss_pages(mm):
    try:  # percpu_counter rss_stat[] since 6.2 (f1a7941243c1)
        return sum(counter_sum(mm.rss_stat[i]) for i in RSS)
    except TypeError:  # before: atomics, plus each task's unsynced events
        n = sum(mm.rss_stat.count[i].counter.value_() for i in RSS)
        for t in for_each_task(prog):
            if t.mm == mm:
                n += sum(t.rss_stat.count[i].value_() for i in RSS)
        return n


"""
_RSS_IMPORTS = ["drgn.helpers.linux.percpu:per_cpu_ptr",
                "drgn.helpers.linux.cpumask:for_each_possible_cpu",
                "drgn.helpers.linux.pid:for_each_task"]


def _ps_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``ps --drgn``: the rows of ``ps --json`` (each CPU's idle task, then
    for_each_task()), with ps's PID, task and name filters, -k, -u, -G,
    --state, -s (KSTACKP), -S (counts by state), and per chosen task in
    crash's task table order -p (ancestors by ``parent``), -c (children),
    -g (thread group; only leaders and each group once, as
    :func:`_ps_groups`), -t (times), -l (last run,
    most recent first), -a (drgn's cmdline()/environ()), -r (rlimits)."""
    from kmemx.commands.drgncode import table_script

    _ps_modes(args)
    policies = sorted(sched_policies(args.policy)) if args.policy else []
    pids = [int(f) for f in args.filters if re.fullmatch(r"\d+", f)]
    addrs = [hex(int(f, 16)) for f in args.filters
             if re.fullmatch(r"0x[0-9a-fA-F]+|[0-9a-fA-F]{16}", f)]
    names = [f if any(c in f for c in ".*[]^$+?") else re.escape(f) for f in args.filters
             if not re.fullmatch(r"\d+|0x[0-9a-fA-F]+|[0-9a-fA-F]{16}", f)]
    state = None
    if args.state:
        state = args.state.upper() if len(args.state) == 2 else CRASH_STATE.get(args.state)
    select = _RSS_CODE + f"""\
STATES = {CRASH_STATE!r}  # task_state_to_char() -> crash's ST
STATE = {state!r}
PAGE = {PAGE_SIZE}
total = totalram_pages(prog)


def kstackp(t):  # the stack pointer saved at the last switch
    try:
        return t.thread.sp.value_()  # x86-64
    except AttributeError:  # arm64: cpu_context, saved by cpu_switch_to
        return t.thread.cpu_context.sp.value_()


every = [idle_task(prog, cpu) for cpu in for_each_possible_cpu(prog)]
every += list(for_each_task(prog))
# -A: the task each CPU's run queue has current
current = {{per_cpu(prog["runqueues"], cpu).curr.value_() for cpu in for_each_possible_cpu(prog)}}
chosen = []  # (task, ST, its ps row)
for t in every:
    pid = t.pid.value_()
    kthread = bool(t.flags & 0x00200000)  # PF_KTHREAD
    st = STATES.get(task_state_to_char(t), "??")
    comm = t.comm.string_().decode("utf-8", "surrogateescape")
    # PIDs, addresses and names each name tasks: a task any one of them names
    if ({pids} or {addrs} or {names!r}) and not (
            pid in {pids} or hex(t.value_()) in {addrs}
            or any(re.fullmatch(n, comm) for n in {names!r})):
        continue
    if {policies} and t.policy.value_() not in {policies}:  # -y: SCHED_* numbers
        continue
    if {args.active_only and not args.filters} and t.value_() not in current:
        continue
    if {args.k} and not kthread or {args.u} and kthread or {args.G} and pid != t.tgid.value_():
        continue
    if STATE is not None and st != STATE:  # --state
        continue
    ppid = t.parent.pid.value_() if pid else 0
    rss = vsz = 0
    if t.mm and not kthread:
        rss, vsz = rss_pages(t.mm), t.mm.total_vm.value_()
    task = hex(t.value_())
    if {args.kstackp}:  # -s: KSTACKP, none saved by a task running on a CPU (crash's --)
        task = None if t.value_() in current else hex(kstackp(t))
    chosen.append((t, st, (pid, ppid, task_cpu(t), task, st,
                           round(100 * rss / total, 2) if total else 0.0,  # %MEM as --json
                           vsz * PAGE, rss * PAGE, comm)))


def line(t, depth):  # a -p/-c/-g row
    row(t.pid.value_(), hex(t.value_()), task_cpu(t), t.comm.string_().decode(), depth)


"""
    imports = ["re", "drgn.helpers.linux.cpumask:for_each_possible_cpu",
               "drgn.helpers.linux.mm:totalram_pages", "drgn.helpers.linux.percpu:per_cpu",
               "drgn.helpers.linux.sched:idle_task,task_cpu,task_state_to_char", *_RSS_IMPORTS]
    tree = ("PID", "TASK", "CPU", "COMM", "DEPTH")
    if args.S:
        return table_script(ctx, ("ST", "COUNT"), select + """\
counts = {}
for t, st, r in chosen:
    counts[st] = counts.get(st, 0) + 1
for st, n in sorted(counts.items()):
    row(st, n)
""", imports)
    # crash's task table (sort_context_array()): by PID, the idle tasks by CPU
    table = """\
table = sorted(every, key=lambda c: c.pid.value_())
chosen.sort(key=lambda e: e[0].pid.value_())
"""
    if args.parents:
        return table_script(ctx, tree, select + table + """\
for t, st, r in chosen:  # parent_list(): up task_struct.parent to a task its own parent
    chain = [t]
    while chain[-1].parent.value_() not in [a.value_() for a in chain]:
        chain.append(chain[-1].parent.read_())
    for depth, a in enumerate(reversed(chain)):
        line(a, depth)
""", imports)
    if args.children:
        return table_script(ctx, tree, select + table + """\
for t, st, r in chosen:  # child_list(): swapper/0 is its own parent, so its own child
    line(t, 0)
    for c in table:
        if c.parent.value_() == t.value_():
            line(c, 2)
""", imports)
    if args.group:
        return table_script(ctx, tree, select + table + f"""\
SPECIFIED, BY_NAME = {bool(args.filters)}, {bool(names)}
""" + """\
idle_shown = False  # the idle tasks are one group (TGID 0), shown once
for t, st, r in chosen:  # show_tgid_list()
    tgid = t.tgid.value_()
    head = t
    if t.pid.value_() != tgid:  # a thread: nothing, or its leader when named by PID
        if not SPECIFIED or BY_NAME:
            continue
        head = next((c for c in table if c.pid.value_() == c.tgid.value_() == tgid), None)
    if head is None or head.pid.value_() == 0 and idle_shown:
        continue
    line(head, 0)
    for c in table:
        if c.tgid.value_() == tgid and c.value_() != head.value_():
            line(c, 2)
            idle_shown = idle_shown or c.pid.value_() == 0
""", imports)
    if args.times:
        return table_script(ctx, ("PID", "TASK", "RUN_TIME", "START_TIME", "UTIME", "STIME"),
                            select + JIFFIES_CODE + """\
for t, st, r in chosen:  # RUN TIME: jiffies since boot less the start in whole seconds
    start = t.start_time.value_()
    row(t.pid.value_(), hex(t.value_()), max(jiffies - start // 10**9 * hz, 0) // hz,
        start, t.utime.value_(), t.stime.value_())
""", imports)
    if args.last_run or args.msecs:
        from kmemx.commands import parse_cpuspec

        cpus = [None] if args.by_cpu is None else parse_cpuspec(ctx.prog, args.by_cpu)
        first = "SINCE_LAST_RUN" if args.msecs else "LAST_RUN"
        return table_script(ctx, (first, "ST", "PID", "TASK", "CPU", "COMM"), select + f"""\
CPUS = {cpus}
SINCE = {args.msecs}  # -m: ns from the last arrival to its CPU's rq->clock, not below 0
""" + """\
def last_run(t):  # sched_info.last_arrival, se.exec_start without CONFIG_SCHED_INFO
    try:
        return t.sched_info.last_arrival.value_()
    except AttributeError:
        return t.se.exec_start.value_()


entries = sorted(((last_run(t), st, t) for t, st, r in chosen), key=lambda e: -e[0])
for cpu in CPUS:  # -C: the tasks of each CPU, in turn
    for last, st, t in entries:
        if cpu is None or task_cpu(t) == cpu:
            clock = per_cpu(prog["runqueues"], task_cpu(t) if cpu is None else cpu).clock
            value = max(clock.value_() - last, 0) if SINCE else last
            row(value, st, t.pid.value_(), hex(t.value_()), task_cpu(t),
                t.comm.string_().decode())
""", imports)
    if args.argv:
        return table_script(ctx, ("PID", "TASK", "ARG", "ENV"), select + """\
for t, st, r in chosen:
    argv = cmdline(t) if t.mm else []
    env = environ(t) if t.mm else []
    row(t.pid.value_(), hex(t.value_()),
        " ".join(a.decode("utf-8", "surrogateescape") for a in argv or []),
        " ".join(e.decode("utf-8", "surrogateescape") for e in env or []))
""", [*imports, "drgn.helpers.linux.mm:cmdline,environ"])
    if args.rlimits:
        return table_script(ctx, ("PID", "RLIMIT", "CURRENT", "MAXIMUM"), select + f"""\
for t, st, r in chosen:
    for i, name in enumerate({_RLIMITS!r}):  # RLIMIT_* order
        rlim = t.signal.rlim[i]
        row(t.pid.value_(), name, rlim.rlim_cur.value_(), rlim.rlim_max.value_())
""", imports)
    cols = tuple("KSTACKP" if c == "TASK" and args.kstackp else c for c in PS_COLUMNS)
    return table_script(ctx, cols, select + """\
for t, st, r in chosen:
    row(*r)
""", imports)


def _ps_rows(ctx: Context, args: argparse.Namespace, keys: list[int] | None = None,
             sink: list[Row] | None = None) -> Iterator[Row]:
    """The rows ``ps`` lists, in the task list's order (``keys``: see
    :func:`ps_rows`; left short when a row is not a task's).  ``sink``: a
    list the caller collects the rows in; a batch whose tasks were all read
    is added to it at once instead of yielded row by row."""
    pids: set[int] = set()
    addrs: set[int] = set()
    names: list[re.Pattern[str]] = []
    for f in args.filters:
        if re.fullmatch(r"\d+", f):
            pids.add(int(f))
        elif re.fullmatch(r"0x[0-9a-fA-F]+|[0-9a-fA-F]{16}", f):
            addrs.add(int(f, 16))
        else:
            names.append(re.compile(f if any(c in f for c in ".*[]^$+?") else re.escape(f)))
    seen_pids: set[int] = set()
    seen_addrs: set[int] = set()
    want_state = None
    if args.state:
        s = args.state.upper() if len(args.state) == 2 else CRASH_STATE.get(args.state)
        if s not in CRASH_STATE.values():
            raise CommandError(f"ps: unknown state {args.state!r} "
                               f"(use one of {' '.join(sorted(set(CRASH_STATE.values())))})")
        want_state = s
    active = active_tasks(ctx)
    total = totalram_pages(ctx.k)
    reader = _PsReader.of(ctx)
    counts: dict[str, int] = {}
    matched = 0
    filtering = bool(addrs or pids or names or args.k or args.u or args.G or want_state
                     or args.S)
    batches: Iterable[tuple[list[View], list[tuple[Any, ...] | None]]]
    split: dict[int, list[int]] | None = None
    table = _ps_table(ctx, reader)
    if table is not None:
        batches, split = table
    else:
        batches = _with_raw(_task_batches(ctx), reader)
        if reader.split:
            batches, split = _with_split(batches, reader)
    if keys is not None and not filtering:
        for batch, raws in batches:
            n = len(keys)
            rows = ps_rows(ctx, batch, raws, active, total, reader, split, keys)
            if len(keys) - n == len(rows):  # every task read: the rows at once
                if sink is not None:
                    sink += rows  # type: ignore[arg-type]
                else:
                    yield from rows  # type: ignore[misc]
                continue
            del keys[n:]  # the caller sorts with _ps_order
            for t, row in zip(batch, rows):
                if isinstance(row, Row):
                    yield row
                else:
                    ctx.warn(f"task {t.address:#x}: {row}")
        return
    for batch, raws in batches:
        if addrs and not (pids or names):
            kept = [i for i, t in enumerate(batch) if t._a in addrs]
            batch, raws = [batch[i] for i in kept], [raws[i] for i in kept]
        rows = ps_rows(ctx, batch, raws, active, total, reader, split)
        for t, raw, row in zip(batch, raws, rows):
            if not isinstance(row, Row):
                # a task freed under a live walk reads as garbage: skip it, say so
                ctx.warn(f"task {t.address:#x}: {row}")
                continue
            if not filtering:
                yield row
                continue
            cells = row.cells
            # PIDs, addresses and names each name tasks: a task any one names
            if (pids or addrs or names) and not (
                    cells[0] in pids or t._a in addrs
                    or any(r.fullmatch(str.__str__(cells[8])) for r in names)):
                continue
            kthread = cells[8].kthread
            if (args.k and not kthread) or (args.u and kthread):
                continue
            if args.G and cells[0] != (raw or reader.task(t._a))[1]:  # the tgid
                continue
            if want_state and cells[4] != want_state:
                continue
            matched += 1
            seen_pids.add(cells[0])
            seen_addrs.add(t._a)
            if args.S:
                counts[cells[4]] = counts.get(cells[4], 0) + 1
            else:
                yield row
    if args.S:
        for st, n in sorted(counts.items()):
            yield Row(("ST", "COUNT"), (st, n))
    missing = [f"no task with PID {p}" for p in sorted(pids - seen_pids)] + [
        f"no task at {a:#x}" for a in sorted(addrs - seen_addrs)]
    if missing and not matched:
        raise CommandError("ps: " + "; ".join(missing))
    for m in missing:  # crash reports each argument it cannot find
        ctx.warn(f"ps: {m}")


def _as_task(v: Any) -> View:
    """A ps row's object as a ``struct task_struct`` view (idle tasks' rows
    hold ``struct task_struct *``)."""
    from kmemx.types.view import struct_view

    t: View | None = struct_view(v)
    if t is None:
        raise CommandError(f"not a task: {v!r}")
    return t


def _kstackp_row(ctx: Context, row: Row) -> Row:
    """``ps -s``: the row with KSTACKP, the kernel stack pointer saved at the
    task's last switch, in place of TASK: x86-64's ``thread.sp``
    (arch/x86/include/asm/processor.h), arm64's ``thread.cpu_context.sp``
    (arch/arm64/include/asm/processor.h, saved by cpu_switch_to)."""
    t = _as_task(row.obj)
    try:
        sp = int(t.thread.sp)
    except (AttributeError, LookupError):  # arm64
        sp = int(t.thread.cpu_context.sp)
    # a task running on a CPU saved no stack pointer: crash's "--" (task.c)
    active = bool(getattr(row.cells[row.columns.index("PID")], "active", False))
    cols = tuple("KSTACKP" if c == "TASK" else c for c in row.columns)
    cells = tuple((Absent("--") if active else Address(sp)) if c == "TASK" else v
                  for c, v in zip(row.columns, row.cells))
    return Row(cols, cells, row.obj)


def _ps_line(ctx: Context, t: View, indent: int) -> Any:
    if ctx.as_json:
        return Row(("PID", "TASK", "CPU", "COMM", "DEPTH"),
                   (int(t.pid), Address(t.address), task_cpu(t),
                    Name(kernel_str(t.comm.string())), indent), t)
    return TextLine(" " * indent + task_header(ctx, t))


def _task_table(ctx: Context) -> list[View]:
    """Every task in crash's task table order (task.c sort_context_array():
    by PID, the idle tasks by CPU), which parent_list(), child_list() and
    show_tgid_list() walk."""
    every = argparse.Namespace(filters=[], k=False, u=False, G=False, state=None, S=False)
    rows = sorted((r for r in _ps_rows(ctx, every) if r.columns == PS_COLUMNS),
                  key=_ps_order)
    return [_as_task(r.obj) for r in rows]


def _ps_parents(ctx: Context, t: View) -> Iterator[Any]:
    """crash's ``ps -p`` (task.c parent_list()): the task's parents by
    ``task_struct.parent`` (parent_of()) up to the task that is its own
    parent (init_task, CPU 0's idle task), printed from there down, each one
    space further in.  Another CPU's idle task is under swapper/0: copy_process()
    sets ``parent`` only for a task with a PID (ptrace_init_task()), so an idle
    task keeps the one dup_task_struct() copied from PID 1, init_task.  A
    parent chain that loops elsewhere stops where it would repeat (crash's
    would not end)."""
    chain = [t]
    seen = {t.address}
    while True:
        parent = chain[-1].parent.deref()
        if not parent.address or parent.address in seen:
            break
        seen.add(parent.address)
        chain.append(parent)
    for depth, task in enumerate(reversed(chain)):
        yield _ps_line(ctx, task, depth)


def _children_of(table: list[View]) -> dict[int, list[View]]:
    """The tasks of ``table`` by the address of their ``task_struct.parent``
    (crash's task_context ptask), in the table's order."""
    kids: dict[int, list[View]] = {}
    for c in table:
        kids.setdefault(c.parent.value(), []).append(c)
    return kids


def _ps_children(ctx: Context, t: View, kids: dict[int, list[View]]) -> Iterator[Any]:
    """crash's ``ps -c`` (task.c child_list()): the task, then every task
    of the task table whose ``parent`` it is (``kids``: :func:`_children_of`),
    in the table's order, two spaces in; ``(no children)`` if none.  swapper/0
    is its own parent, so it lists itself, then the other CPUs' idle tasks
    (see :func:`_ps_parents`), init and kthreadd; another idle task has none."""
    yield _ps_line(ctx, t, 0)
    mine = kids.get(t.address, [])
    for c in mine:
        yield _ps_line(ctx, c, 2)
    if not mine and not ctx.as_json:
        yield TextLine("  (no children)")


def _ps_groups(ctx: Context, tasks: list[View], table: list[View], specified: bool,
               by_name: bool) -> Iterator[Any]:
    """crash's ``ps -g`` of ``tasks`` (task.c show_ps(), show_tgid_list()):
    each thread group's leader (the task whose PID is its TGID), then the
    table's other tasks of its TGID, two spaces in (``(no threads)`` if
    none), and a blank line.  Without task arguments (``specified``) only
    leaders are shown; a thread named by PID or address shows its group's
    leader (tgid_to_context()), one named by command (``by_name``) nothing.
    The idle tasks are one group, TGID 0, shown once: swapper/0 with the
    others under it (IDLE_TASK_SHOWN)."""
    tgids = [int(t.tgid) for t in table]
    members: dict[int, list[View]] = {}
    leaders: dict[int, View] = {}
    for t, tgid in zip(table, tgids):
        members.setdefault(tgid, []).append(t)
        if int(t.pid) == tgid:
            leaders.setdefault(tgid, t)
    idle_shown = False
    for t in tasks:
        tgid = int(t.tgid)
        leader: View | None = t
        if int(t.pid) != tgid:
            if not specified or by_name:
                continue
            leader = leaders.get(tgid)
        if leader is None or (int(leader.pid) == 0 and idle_shown):
            continue
        yield _ps_line(ctx, leader, 0)
        threads = [c for c in members.get(tgid, []) if c.address != leader.address]
        for c in threads:
            yield _ps_line(ctx, c, 2)
            idle_shown = idle_shown or int(c.pid) == 0
        if not ctx.as_json:
            if not threads:
                yield TextLine("  (no threads)")
            yield TextLine("")


def _run_seconds(ctx: Context, start_ns: int) -> int:
    """crash's RUN TIME in seconds: jiffies since boot minus the start time
    taken in whole *seconds* times HZ, divided by HZ, and 0 for a start after
    now (crash 8.0.6 task.c convert_start_time(), START_TIME_NSECS: the ns of
    ``start_time`` divided by 10^9 first; whole jiffies differ by one second
    when the start's fraction of a second is more than uptime's)."""
    from .basics import _hz

    hz = _hz(ctx)
    initial = (-300 * hz) & 0xFFFFFFFF
    jiffies = (int(ctx.k.object("jiffies_64")) - initial) & (2**64 - 1)
    return max(jiffies - start_ns // 10**9 * hz, 0) // hz


def _ps_times(ctx: Context, t: View) -> Iterator[Any]:
    """crash's ``ps -t``: RUN TIME (uptime minus start_time, HH:MM:SS), START
    TIME (``start_time``, ns of monotonic time), UTIME and STIME (ns)."""
    from .basics import uptime_text

    start = int(t.start_time)
    run = _run_seconds(ctx, start)
    utime, stime = int(t.utime), int(t.stime)
    if ctx.as_json:
        yield Row(("PID", "TASK", "RUN_TIME", "START_TIME", "UTIME", "STIME"),
                  (int(t.pid), Address(t.address), run, start, utime, stime), t)
        return
    yield TextLine(task_header(ctx, t))
    yield TextLine(f"    RUN TIME: {uptime_text(run)}")
    yield TextLine(f"  START TIME: {start}")
    yield TextLine(f"       UTIME: {utime}")
    yield TextLine(f"       STIME: {stime}")


def _last_run(t: View) -> int:
    """A task's last run in ns, as crash's ``task_last_run``:
    ``sched_info.last_arrival``, or ``se.exec_start`` without CONFIG_SCHED_INFO."""
    try:
        return int(t.sched_info.last_arrival)
    except AttributeError:
        return int(t.se.exec_start)


def translate_nanoseconds(ns: int) -> str:
    """crash's task.c translate_nanoseconds(): ``D HH:MM:SS.mmm``."""
    ms, secs = ns // 10**6 % 1000, ns // 10**9
    return (f"{secs // 86400} {secs // 3600 % 24:02}:{secs // 60 % 60:02}:{secs % 60:02}"
            f".{ms:03}")


def _rq_clock(ctx: Context, cpu: int) -> int:
    """``rq->clock`` of ``cpu``'s run queue, in ns (crash's rq_timestamp)."""
    return int(per_cpu(ctx.k.object("runqueues"), cpu).clock)


def _ps_last_run(ctx: Context, rows: list[Row], cpus: str | None,
                 msecs: bool = False) -> Iterator[Any]:
    """crash's ``ps -l``: ``[LAST_ARRIVAL] [ST]`` and the task line, most
    recent first; with ``-C``, the tasks of each CPU under a ``CPU: N`` line.
    ``msecs``: ``ps -m`` (task.c show_milliseconds()), the time since the
    last arrival by the task's CPU's ``rq->clock`` (0 when later), as
    ``[D HH:MM:SS.mmm]``; its days padded to the clock's with -C, or for
    tasks named."""
    if msecs:
        yield from _ps_msecs(ctx, rows, cpus)
        return
    # crash's width is the digits of its first task once sorted by last run
    # (show_last_run): the most recent of every task, listed or not
    width = len(str(max(_last_run(t) for t in _all_tasks(ctx))))
    for cpu, group in _last_run_groups(ctx, rows, cpus):
        if cpu is not None and not ctx.as_json:
            yield TextLine(f"CPU: {cpu}")
        for last, st, t in group:
            if ctx.as_json:
                yield Row(("LAST_RUN", "ST", "PID", "TASK", "CPU", "COMM"),
                          (last, st, int(t.pid), Address(t.address), task_cpu(t),
                           Name(kernel_str(t.comm.string()))), t)
            else:
                yield TextLine(f"[{last:{width}}] [{st}]  {task_header(ctx, t)}")
        if cpu is not None and not ctx.as_json:
            yield TextLine("")


def _last_run_groups(ctx: Context, rows: list[Row], cpus: str | None
                     ) -> list[tuple[int | None, list[tuple[int, str, View]]]]:
    """``ps -l``/``-m``'s tasks, ``(last run, ST, task)`` most recent first
    (crash's sort_context_array_by_last_run()), as one group (CPU None) or
    with ``-C CPUS`` one group per CPU of the cpuspec, each of its tasks."""
    from kmemx.commands import parse_cpuspec

    entries = [(_last_run(t), row["ST"], t) for row in rows for t in (_as_task(row.obj),)]
    entries.sort(key=lambda e: -e[0])
    if cpus is None:
        return [(None, entries)]
    return [(cpu, [e for e in entries if task_cpu(e[2]) == cpu])
            for cpu in parse_cpuspec(ctx.prog, cpus)]


def _ps_msecs(ctx: Context, rows: list[Row], cpus: str | None) -> Iterator[Any]:
    """``ps -m`` (:func:`_ps_last_run`)."""
    clocks: dict[int, int] = {}

    def clock(cpu: int) -> int:
        if cpu not in clocks:
            clocks[cpu] = _rq_clock(ctx, cpu)
        return clocks[cpu]

    named = len(rows) < len(_task_table(ctx))  # crash pads the days for tasks named
    for n, (cpu, group) in enumerate(_last_run_groups(ctx, rows, cpus)):
        if cpu is not None and not ctx.as_json:
            yield TextLine(("\n" if n else "") + f"CPU: {cpu}")
        for last, st, t in group:
            now = clock(task_cpu(t) if cpu is None else cpu)
            delta = max(now - last, 0)
            if ctx.as_json:
                yield Row(("SINCE_LAST_RUN", "ST", "PID", "TASK", "CPU", "COMM"),
                          (delta, st, int(t.pid), Address(t.address), task_cpu(t),
                           Name(kernel_str(t.comm.string()))), t)
                continue
            text = translate_nanoseconds(delta)
            if cpu is not None or named:
                width = translate_nanoseconds(now).index(" ")
                text = " " * (width - text.index(" ")) + text
            yield TextLine(f"[{text}] [{st}]  {task_header(ctx, t)}")


def _ps_argv(ctx: Context, t: View) -> Iterator[Any]:
    """crash's ``ps -a``: the command line and environment, read from the
    task's user memory (drgn's cmdline() and environ())."""
    from drgn.helpers.linux.mm import cmdline, environ

    task = t.to_drgn().address_of_()
    if not t.mm:
        args: list[bytes] | None = None
        env: list[bytes] | None = None
    else:
        args, env = cmdline(task), environ(task)
    if ctx.as_json:
        yield Row(("PID", "TASK", "ARG", "ENV"),
                  (int(t.pid), Address(t.address),
                   [kernel_str(a) for a in args or []], [kernel_str(e) for e in env or []]),
                  t)
        return
    yield TextLine(task_header(ctx, t))
    if args is None:
        yield TextLine("ps: no user stack")  # crash's error(INFO) (task.c show_task_args())
        return
    yield TextLine("ARG: " + "".join(kernel_str(a) + " " for a in args))
    for i, e in enumerate(env or []):
        yield TextLine(("ENV: " if i == 0 else "     ") + kernel_str(e))


#: include/uapi/asm-generic/resource.h, in RLIMIT_* order, as crash names them
_RLIMITS = ("CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE", "MEMLOCK",
            "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME")


def _ps_rlimits(ctx: Context, t: View) -> Iterator[Any]:
    """crash's ``ps -r``: ``signal->rlim[]``, RLIM_INFINITY as (unlimited)."""
    rlim = t.signal.rlim
    values = [(name, int(rlim[i].rlim_cur), int(rlim[i].rlim_max))
              for i, name in enumerate(_RLIMITS)]
    if ctx.as_json:
        for name, cur, mx in values:
            yield Row(("PID", "RLIMIT", "CURRENT", "MAXIMUM"), (int(t.pid), name, cur, mx), t)
        return

    def text(v: int | str) -> str:
        """Centred in 11 columns as crash's mkstring(CENTER): the odd space right."""
        return crash_centre("(unlimited)" if v == 2**64 - 1 else str(v), 11, False)

    yield TextLine(task_header(ctx, t))
    yield TextLine(f"{'RLIMIT':>12}   {text('CURRENT')}   {text('MAXIMUM')}")
    for name, cur, mx in values:
        yield TextLine(f"{name:>12}   {text(cur)}   {text(mx)}")


def _pstree_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``pstree --drgn``: for_each_task() by real parent (threads under their
    group leader with -t), children by PID, depth first; the rows of
    ``pstree --json``."""
    from kmemx.commands.drgncode import table_script

    root = args.pid if args.pid is not None else 0
    return table_script(ctx, ("PID", "PPID", "DEPTH", "COMM"), f"""\
children = {{}}
for t in for_each_task(prog):
    pid, tgid = t.pid.value_(), t.tgid.value_()
    if pid == 0 or ({not args.t} and pid != tgid):
        continue
    parent = t.real_parent.pid.value_() if pid == tgid else tgid
    children.setdefault(parent, []).append((pid, t.comm.string_().decode()))


def walk(pid, depth):
    for child, comm in sorted(children.get(pid, [])):
        row(child, pid, depth, comm)
        walk(child, depth + 1)


walk({root}, 1)
""", ["drgn.helpers.linux.pid:for_each_task"])


@command("pstree", "display the process tree",
         description="Tasks as a tree under their real parents (threads omitted; -t adds "
                     "them).  With --json: rows of PID PPID DEPTH COMM.",
         arguments=[arg("pid", nargs="?", type=int, help="root of the tree (default: 0)"),
                    arg("-t", action="store_true", help="include threads")],
         columns=("PID", "PPID", "DEPTH", "COMM"), enabled=_enabled, drgn_code=_pstree_drgn)
def _pstree(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    children: dict[int, list[tuple[int, str]]] = {}
    known: set[int] = {0}
    for t in _all_tasks(ctx):
        try:
            if t.pid == 0 or (not args.t and t.pid != t.tgid):
                continue
            parent = t.real_parent.pid if t.pid == t.tgid else t.tgid
            children.setdefault(parent, []).append((t.pid, kernel_str(t.comm.string())))
            known.add(t.pid)
        except drgn.FaultError as e:
            ctx.warn(f"task {t.address:#x}: {e}")
    root = args.pid if args.pid is not None else 0
    if root not in known:
        raise CommandError(f"pstree: no task with PID {root}")
    for kids in children.values():
        kids.sort()

    def walk(pid: int, depth: int, prefix: str) -> Iterator[Any]:
        kids = children.get(pid, [])
        for i, (cpid, comm) in enumerate(kids):
            last = i == len(kids) - 1
            if ctx.as_json:
                yield Row(("PID", "PPID", "DEPTH", "COMM"), (cpid, pid, depth, Name(comm)))
            else:
                yield TextLine(f"{prefix}{'`-' if last else '|-'}{comm}({cpid})")
            yield from walk(cpid, depth + 1, prefix + ("  " if last else "| "))

    if not ctx.as_json:
        yield TextLine("swapper(0)" if root == 0 else f"({root})")
    yield from walk(root, 1, "")


def task_header(ctx: Context, t: View) -> str:
    """crash's task header: ``PID: 1  TASK: ...  CPU: 0  COMMAND: "init"``."""
    return (f"PID: {t.pid:<7}  TASK: {t.address:x}  CPU: {task_cpu(t):<3}  "
            f"COMMAND: \"{kernel_str(t.comm.string())}\"")


def task_member_lines(obj: drgn.Object, name: str, radix: int | None = None
                      ) -> list[tuple[str, drgn.Object, str]]:
    """crash's ``task -R`` lines of one member of the task ``obj`` (a
    ``struct task_struct``; crash 8.0.6 task.c task_struct_member()): a path
    (``se.vruntime``, ``comm[0]``) is the task_struct's
    (parse_for_member_extended(), :func:`_member_text`'s CommandError when
    it has none); a plain name is looked for in the task_struct and in its
    thread_info (:func:`task_thread_info`) both, as crash's
    parse_task_thread() greps the two printed structures: ``flags`` gives
    task_struct's line then thread_info's.  Each (key for ``--json``, the
    member, its line); the thread_info's key is ``thread_info.NAME``.  []
    when neither has it.  Raises drgn.FaultError."""
    from .lists import crash_member_line

    if "." in name or "[" in name:
        line = _member_text(obj, name, radix)  # first: its CommandError for a bad path
        return [(name, obj.subobject_(name), line)]
    found: list[tuple[str, drgn.Object, str]] = []
    try:
        found.append((name, obj.subobject_(name), crash_member_line(obj, name, radix)))
    except LookupError:
        pass
    try:
        ti = task_thread_info(obj)
        found.append((f"thread_info.{name}", ti.subobject_(name),
                      crash_member_line(ti, name, radix)))
    except LookupError:
        pass
    return found


def _member_hint(obj: drgn.Object, name: str) -> str:
    """" (did you mean ...?)" for a member name ``obj``'s structure lacks."""
    from kmemx.commands import did_you_mean
    from kmemx.types import layout_for

    return did_you_mean(name, layout_for(obj.prog_, obj.type_).members)


def _member_text(obj: drgn.Object, path: str, radix: int | None = None) -> str:
    """crash's ``  path = value,`` line for member ``path`` of the struct
    ``obj`` (a ``struct task_struct``, not a pointer), as ``struct T.m ADDR``
    prints it (:func:`kmemx_plugins.lists.crash_member_line`; ``radix`` 16:
    integers in hex).  CommandError for an unknown member, with "did you mean"."""
    from .lists import crash_member_line

    try:
        return crash_member_line(obj, path, radix)
    except (LookupError, AttributeError) as e:
        from kmemx.commands import did_you_mean
        from kmemx.types import layout_for

        first = re.split(r"[.\[]", path, maxsplit=1)[0]
        members = layout_for(obj.prog_, obj.type_).members
        hint = did_you_mean(first, members) if first not in members else f": {e}"
        raise CommandError(f"{obj.type_.type_name()} has no member {path!r}{hint}") from None


#: --drgn of the task commands: crash's task header line
_HEADER_CODE = """\
def header(task):
    return (f"PID: {task.pid.value_():<7}  TASK: {task.value_():x}  CPU: {task_cpu(task):<3}  "
            f'COMMAND: "{task.comm.string_().decode()}"')


"""


def _tasks_code(ctx: Context, specs: list[str], command: str) -> str:
    """drgn code setting ``tasks`` to the ``struct task_struct *`` of a task
    command's arguments (PIDs and addresses resolved by kmemx as the command
    resolves them; none: the current context, the panic task at first)."""
    addrs = [hex(t.address) for t in command_tasks(ctx, specs, (), command)]
    return (f"tasks = [Object(prog, \"struct task_struct *\", int(a, 16)) for a in {addrs}]"
            .replace("'", '"') + "\n")


def task_thread_info(task: drgn.Object) -> drgn.Object:
    """The ``struct thread_info`` crash's ``task`` prints after a task's
    ``task_struct`` (``task`` a ``struct task_struct``): the one inside it
    (CONFIG_THREAD_INFO_IN_TASK, kernel commit c65eacbe290b "sched/core:
    Allow putting thread_info into task_struct", v4.9), else the one at the
    bottom of its stack (``task->stack``).  Raises LookupError when the
    kernel has neither."""
    try:
        ti = task.thread_info
    except AttributeError:
        ti = None
    if ti is not None and ti.type_.unqualified().kind != drgn.TypeKind.POINTER:
        return ti
    try:
        stack = task.stack
    except AttributeError:
        raise LookupError("task_struct has no thread_info or stack") from None
    return drgn.Object(task.prog_, "struct thread_info", address=int(stack.value_()))


def _task_whole_lines(obj: drgn.Object, radix: int | None) -> list[str]:
    """crash's ``task`` of a whole task after its header (task.c do_task()):
    ``struct task_struct {...}``, a blank line, ``struct thread_info {...}``
    (:func:`task_thread_info`), a blank line.  Raises drgn.FaultError."""
    from .lists import crash_struct_text

    lines = crash_struct_text(obj, "struct", "task_struct", radix).split("\n")
    try:
        ti = task_thread_info(obj)
    except LookupError:
        return [*lines, ""]
    return [*lines, "", *crash_struct_text(ti, "struct", "thread_info", radix).split("\n"), ""]


#: task --drgn's thread_info of ``task`` (inside the task_struct with
#: CONFIG_THREAD_INFO_IN_TASK, else under its stack), for -R and the whole dump
_THREAD_INFO_CODE = """\
    try:  # the thread_info inside the task (CONFIG_THREAD_INFO_IN_TASK), else under its stack
        ti = task.thread_info if task.thread_info.type_.kind != TypeKind.POINTER else None
    except AttributeError:
        ti = None
    if ti is None and hasattr(task, "stack"):
        ti = Object(prog, "struct thread_info", address=task.stack.value_())
"""


def _task_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``task --drgn``: each task's header and crash's text of its
    task_struct and thread_info, or of the members given (-R), through
    :data:`kmemx_plugins.lists.CRASH_MEMBER_CODE`."""
    from kmemx.commands.drgncode import text_script

    from .lists import CRASH_MEMBER_CODE

    members = [m.strip() for m in args.members.split(",") if m.strip()] if args.members else []
    radix = args.radix or 10
    body = CRASH_MEMBER_CODE + "\n\n" + _HEADER_CODE + _tasks_code(ctx, args.tasks, "task") \
        + "for task in tasks:\n    print(header(task))\n"
    if members:
        body += _THREAD_INFO_CODE + f"""\
    for m in {members!r}:  # crash's member lines (gdb's print as crash sets it up)
        if "." in m or "[" in m:
            print(member_line(task[0], m, {radix}))
            continue
        for s in (task[0], ti):  # a name: the task_struct's line, then the thread_info's
            try:
                s.member_(m)
            except (LookupError, AttributeError):
                continue
            print(member_line(s, m, {radix}))
    print()
"""
    else:
        body += f"""\
    print(struct_text(task[0], "struct", "task_struct", {radix}))
""" + _THREAD_INFO_CODE + f"""\
    if ti is not None:
        print()
        print(struct_text(ti, "struct", "thread_info", {radix}))
    print()
"""
    return text_script(ctx, body, ["drgn:FaultError,Object,SymbolKind,TypeKind,sizeof",
                                   "drgn.helpers.linux.sched:task_cpu"])


@command("task", "display task_struct contents",
         description="""
         task                  the current context (set; at first the panic task)
         task PID|ADDR ...     those tasks
         task -R pid,comm,se.vruntime PID   only these members (-m too), crash's
                               member lines (as struct T.m1,m2 ADDR prints them)
         ps | filter comm~^kmx-w00 | task -m pid,mm
         task -x / -d          integers in hex / decimal (the default)
         task --json           one object a task: task, pid, cpu, comm, and
                               members: member -> value (-R's members, else
                               every member), numbers, strings, objects
         The text is crash's: the header, then gdb's print of the task_struct
         and of its thread_info (each followed by a blank line), or -R's
         member lines.
         """,
         arguments=[arg("tasks", nargs="*", help="PID or task address"),
                    arg("-m", "-R", "--members",
                        help="comma-separated member paths (crash's -R)"),
                    arg("-x", dest="radix", action="store_const", const=16,
                        help="integers in hexadecimal"),
                    arg("-d", dest="radix", action="store_const", const=10,
                        help="integers in decimal (the default)")],
         takes_input=True, enabled=_enabled, drgn_code=_task_drgn)
def _task(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:

    from kmemx.commands.values import object_json

    tasks = command_tasks(ctx, args.tasks, input, "task")
    members = [m.strip() for m in args.members.split(",") if m.strip()] if args.members else []
    for t in tasks:
        # one record per task: crash's text; JSON: the task's fields and its
        # members (-R's, else all of them) as typed values; the task piped on
        try:
            obj = t.to_drgn()  # struct task_struct: resolve_tasks/piped_structs give structs
            lines = [task_header(ctx, t)]
            values: dict[str, Any] = {}
            if members:
                for m in members:
                    found = task_member_lines(obj, m, args.radix)
                    if not found:
                        ctx.warn(f"task: {m}: not a task_struct or thread_info member"
                                 + _member_hint(obj, m))
                    for key, sub, line in found:
                        lines.append(line)
                        if ctx.as_json:
                            values[key] = object_json(sub)
                lines.append("")  # crash ends each task's member lines with a blank line
            elif ctx.as_json:
                values = object_json(obj)
            else:
                lines += _task_whole_lines(obj, args.radix)
            yield TextRecord("".join(line + "\n" for line in lines),
                             {**bt_task_data(t), "members": values}, t)
        except drgn.FaultError as e:
            ctx.warn(f"task {t.address:#x}: {e}")


def command_tasks(ctx: Context, specs: list[str], input: Iterable[Any], command: str
                  ) -> list[View]:
    """The tasks a task command works on, as crash picks them: its arguments
    (PIDs, task addresses: :func:`resolve_tasks`), else the tasks piped in
    (other objects reported and skipped), else, with neither, the current
    context (:meth:`Context.current_task`: ``set``'s task, else the panic
    task, else CPU 0's current task)."""
    from kmemx.commands import piped_structs

    if specs:
        return resolve_tasks(ctx, specs)
    piped = list(input)
    tasks = list(piped_structs(ctx, piped, "struct task_struct", command))
    return tasks if tasks or piped else [_default_task(ctx)]


def _default_task(ctx: Context) -> View:
    """The ``struct task_struct`` view of the current context
    (:meth:`Context.current_task`: the task ``set`` chose, else the panic
    task, else CPU 0's current task)."""
    return ctx.k.view("struct task_struct", int(ctx.current_task().value_()))


#: include/linux/sched.h's task state bits (stable since 4.14, 2f064a59a11f
#: "sched: Change task_struct::state" kept them), in crash's order of names
_STATE_BITS = ((0x1, "TASK_INTERRUPTIBLE"), (0x2, "TASK_UNINTERRUPTIBLE"),
               (0x4, "TASK_STOPPED"), (0x8, "TASK_TRACED"), (0x10, "EXIT_DEAD"),
               (0x20, "EXIT_ZOMBIE"), (0x40, "TASK_PARKED"), (0x80, "TASK_DEAD"),
               (0x100, "TASK_WAKEKILL"), (0x200, "TASK_WAKING"), (0x400, "TASK_NOLOAD"),
               (0x800, "TASK_NEW"))


def task_state_names(state: int, exit_state: int) -> str:
    """``__state | exit_state`` as crash's task_state_string() names it:
    ``TASK_RUNNING`` for 0, else the names of the set bits joined by ``|``
    (``TASK_UNINTERRUPTIBLE|TASK_NOLOAD`` for an idle kworker)."""
    bits = state | exit_state
    if not bits:
        return "TASK_RUNNING"
    return "|".join(name for bit, name in _STATE_BITS if bits & bit) or f"{bits:#x}"


def _panic_is_sysrq(ctx: Context) -> bool:
    """The panic came from SysRq-c (crash then says ``(SYSRQ)``, not ``(PANIC)``)."""
    from drgn.helpers.linux.panic import panic_message

    try:
        msg = panic_message(ctx.prog)
    except (LookupError, drgn.FaultError, ValueError):
        return False
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg or "")
    return "sysrq" in text.lower()


def context_rows(ctx: Context, t: View) -> list[tuple[str, Any]]:
    """crash's context display (``set``; its start-up banner's last lines):
    PID, COMMAND, TASK (``(N of M)`` when M tasks share the PID, the idle
    tasks' 0), CPU and STATE with ``(PANIC)``/``(SYSRQ)`` for the panic task
    and ``(ACTIVE)`` for a task running on a CPU."""
    from kmemx.commands.context import panic_task

    pid = int(t.pid)
    addr = int(t.address)
    same = [i.address for i in idle_tasks(ctx)] if pid == 0 else [addr]
    task_text = f"{addr:x}"
    if len(same) > 1:
        task_text += f"  (1 of {len(same)})"  # crash's show_context() always says 1
    task_text += f"  [THREAD_INFO: {addr:x}]"  # THREAD_INFO_IN_TASK: thread_info is first
    state = task_state_names(int(getattr(t, task_state_member(ctx.k))), int(t.exit_state))
    state += " "
    if addr in active_tasks(ctx):
        # crash's is_task_active(): on a CPU; the panic task's mark says why it panicked
        panic = panic_task(ctx.prog)
        if panic is not None and panic.value_() == addr:
            state += "(SYSRQ)" if _panic_is_sysrq(ctx) else "(PANIC)"
        else:
            state += "(ACTIVE)"
    return [("PID", pid), ("COMMAND", f'"{kernel_str(t.comm.string())}"'), ("TASK", task_text),
            ("CPU", task_cpu(t)), ("STATE", state)]


def _set_target(ctx: Context, args: argparse.Namespace) -> int:
    """The address of the task ``set`` with these arguments shows (and
    chooses): the panic task (-p), CPU's running task (-c), a PID (0: the
    current CPU's idle task) or task address, else the current context.
    CommandError as ``set`` gives it."""
    from kmemx.commands.context import cpu_curr_task, panic_task

    if sum(x is not None and x is not False for x in (args.task, args.cpu, args.panic)) > 1:
        raise CommandError("set: give one of PID, task address, -c CPU, -p")
    if args.panic:
        task = panic_task(ctx.prog)
        if task is None:
            raise CommandError("set: no panic task found (a dump taken without a panic)")
        return int(task.value_())
    if args.cpu is not None:
        try:
            return int(cpu_curr_task(ctx.prog, args.cpu).value_())
        except LookupError as e:
            raise CommandError(f"set: {e}") from None
    if args.task is not None:
        from kmemx.commands import parse_task_spec

        kind, n = parse_task_spec(args.task)
        if kind == "pid" and n == 0:
            cpu = ctx.current_cpu()
            idle = idle_tasks(ctx)
            return int(idle[cpu].address if cpu < len(idle) else idle[0].address)
        return int(resolve_tasks(ctx, [args.task])[0].address)
    return int(ctx.current_task().value_())


def _set_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``set [PID|TASK|-c CPU|-p] --drgn``: the context rows (``set --json``)
    of the task set would choose (the current context without arguments: the
    panic task at first, drgn's prog.crashed_thread()); the choice itself is
    kmemx's session state, which a script has no use for."""
    from kmemx.commands.drgncode import table_script

    task = _set_target(ctx, args)
    names = ", ".join(f"({bit:#x}, {name!r})" for bit, name in _STATE_BITS)
    return table_script(ctx, ("KEY", "VALUE"), f"""\
STATES = [{names}]  # include/linux/sched.h, crash's names
task = Object(prog, "struct task_struct *", {task:#x})  # the context set chooses
row("PID", task.pid.value_())
row("COMMAND", task.comm.string_().decode())
row("TASK", hex(task.value_()))
row("CPU", task_cpu(task))
try:  # task_struct.state became __state in 5.14 (2f064a59a11f)
    bits = task.__state.value_()
except AttributeError:
    bits = task.state.value_()
bits |= task.exit_state.value_()
state = "|".join(n for b, n in STATES if bits & b) if bits else "TASK_RUNNING"
if any(cpu_curr(prog, cpu) == task for cpu in for_each_possible_cpu(prog)):
    try:
        panicked = prog.crashed_thread().object == task
    except (LookupError, ValueError):
        panicked = False
    if panicked:
        msg = panic_message(prog) or b""
        state += " (SYSRQ)" if b"sysrq" in msg.lower() else " (PANIC)"
    else:
        state += " (ACTIVE)"
row("STATE", state)
""".replace("'", '"'), ["drgn:Object", "drgn.helpers.linux.sched:cpu_curr,task_cpu",
                         "drgn.helpers.linux.cpumask:for_each_possible_cpu",
                         "drgn.helpers.linux.panic:panic_message"])


@command("set", "set or show the current context (the task commands default to)",
         description="""
         crash's set: the current context is the task that bt, task, files and vm
         show when given no task.  It starts as the panic task (the task that
         called panic()), or, in a dump taken without a panic, the task running
         on CPU 0.  It lasts for the REPL session.

         set              show the current context: PID COMMAND TASK CPU STATE
         set 97           PID 97 (set 0: the idle task of the current CPU)
         set ffff8880...  a task address
         set -c 1         the task running on CPU 1
         set -p           back to the panic task
         set --json       KEY/VALUE rows
         """,
         arguments=[arg("task", nargs="?", help="PID or task address"),
                    arg("-c", dest="cpu", type=int, help="the task running on this CPU"),
                    arg("-p", dest="panic", action="store_true", help="the panic task")],
         columns=("KEY", "VALUE"), enabled=_enabled, drgn_code=_set_drgn)
def _set(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    if args.task is not None or args.cpu is not None or args.panic:
        ctx.set_current_task(_set_target(ctx, args))
    t = _default_task(ctx)
    rows = context_rows(ctx, t)
    if ctx.as_json:
        for key, val in rows:
            if key == "TASK":
                val = Address(t.address)
            elif key == "COMMAND":
                val = Name(val.strip('"'))
            elif key == "STATE":
                val = val.strip()
            yield Row(("KEY", "VALUE"), (key, val), t if key == "TASK" else None)
        return
    for key, val in rows:
        yield TextLine(f"{key:>7}: {val}")


def frame_addresses(prog: drgn.Program, frame: drgn.StackFrame) -> tuple[int | None, int]:
    """crash's two addresses of a frame line (``#N [STACK] name at PC``) for
    ``frame`` (a :class:`drgn.StackFrame` of ``prog``): the bracketed stack address,
    ``None`` when the unwinder knows none, and the code address.

    x86-64: drgn's ``sp`` (where the return address was found) and ``pc``.
    arm64: the frame's ``x29``, the address of its frame record (crash's
    ``frame->fp``), and for a return address ``pc - 4``, the branch
    instruction (arm64.c arm64_print_stackframe_entry(): "if pc comes from
    a saved lr, it actually points to an instruction after branch").  An
    interrupted PC (an exception or a CPU's saved registers) is where the
    CPU was, so it stays exact; crash subtracts 4 from it too."""
    from kmemx.arch import is_aarch64

    arm64 = is_aarch64(prog)
    stack: int | None = None
    if arm64:
        try:
            stack = frame.register("x29")
        except (LookupError, ValueError):
            stack = None
    if stack is None:
        try:
            stack = frame.sp
        except (LookupError, ValueError):  # drgn's arm64 frame-pointer unwinder
            stack = None
    pc = frame.pc
    if arm64 and not frame.interrupted:
        pc -= 4
    return stack, pc


def _frame_line(i: int, frame: drgn.StackFrame, addresses: tuple[int | None, int],
                module: str | None = None, name: str | None = None) -> str:
    """crash's frame line: `` #1 [STACK] name at PC`` (``addresses``: the
    frame's :func:`frame_addresses`), then the source line when there is
    debug info, and `` [module]`` for a module's function (whose name may
    come from the module's in-memory symbol table); ``name`` replaces the
    function's name (``bt -s``)."""
    if name is None:
        name = frame.name
    if name is None:
        try:
            name = frame.symbol().name
        except LookupError:
            name = "???"
    stack, pc = addresses
    line = (f"{' ' if i < 10 else ''}#{i} [{'?' if stack is None else f'{stack:x}'}] {name} "
            f"at {pc:x}")
    if module:
        line += f" [{module}]"
    try:
        filename, lineno, _col = frame.source()
        line += f"  {filename}:{lineno}"
    except LookupError:
        pass
    if frame.is_inline:
        line += " (inlined)"
    return line


def thread_size(prog: drgn.Program) -> int:
    """THREAD_SIZE in bytes: the init task's stack, which the linker script
    lays out from ``init_stack`` to its end symbol
    (include/asm-generic/vmlinux.lds.h, INIT_TASK_DATA(THREAD_SIZE)).  The end
    symbol is ``__end_init_stack`` in newer kernels (6.12 has it, with
    ``__start_init_stack``; the renaming commit is not pinned down here),
    ``__end_init_task`` before (6.1): the newer name is tried first."""
    size: int | None = prog.cache.get("kmemx.plugins.tasks.thread_size")
    if size is None:
        start = prog.symbol("init_stack").address
        try:
            end = prog.symbol("__end_init_stack").address
        except LookupError:
            end = prog.symbol("__end_init_task").address
        size = prog.cache["kmemx.plugins.tasks.thread_size"] = end - start
    return size


def top_of_stack_padding(prog: drgn.Program) -> int:
    """``TOP_OF_KERNEL_STACK_PADDING`` in bytes: 16 on an x86-64 kernel built
    with CONFIG_X86_FRED (6.9, "x86/fred: Reserve space for the FRED stack
    frame"; its entry code ``asm_fred_entrypoint_user`` is
    in the symbol table), else 0 (arch/x86/include/asm/thread_info.h)."""
    pad: int | None = prog.cache.get("kmemx.plugins.tasks.stack_padding")
    if pad is None:
        try:
            prog.symbol("asm_fred_entrypoint_user")
            pad = 16
        except LookupError:
            pad = 0
        prog.cache["kmemx.plugins.tasks.stack_padding"] = pad
    return pad


def task_pt_regs(prog: drgn.Program, task: drgn.Object) -> int:
    """``task_pt_regs(task)``: the address of the user-mode registers saved
    at the top of ``struct task_struct *task``'s kernel stack
    (arch/x86/include/asm/processor.h: __top_of_stack - sizeof(struct
    pt_regs), below :func:`top_of_stack_padding`)."""
    return (int(task.stack.value_()) + thread_size(prog) - top_of_stack_padding(prog)
            - int(drgn.sizeof(prog.type("struct pt_regs"))))


def hardirq_stack_top(prog: drgn.Program, cpu: int) -> int | None:
    """The top of ``cpu``'s hard-IRQ stack (``hardirq_stack_ptr``), or None.
    6.2 (7443b296e699, "x86/percpu: Move irq_stack variables next to
    current_task") moved it into ``pcpu_hot``; it is a plain per-CPU
    variable before, and again after pcpu_hot was taken apart."""
    from drgn.helpers.linux.percpu import per_cpu

    try:
        return int(per_cpu(prog["hardirq_stack_ptr"], cpu).value_())
    except (KeyError, LookupError):
        pass
    try:
        return int(per_cpu(prog["pcpu_hot"], cpu).hardirq_stack_ptr.value_())
    except (KeyError, LookupError, AttributeError):
        return None


#: crash's register lines: (name, struct pt_regs member, hex digits) three to a line
_REG_ROWS: tuple[tuple[tuple[str, str, int], ...], ...] = (
    (("RIP", "ip", 16), ("RSP", "sp", 16), ("RFLAGS", "flags", 8)),
    (("RAX", "ax", 16), ("RBX", "bx", 16), ("RCX", "cx", 16)),
    (("RDX", "dx", 16), ("RSI", "si", 16), ("RDI", "di", 16)),
    (("RBP", "bp", 16), ("R8", "r8", 16), ("R9", "r9", 16)),
    (("R10", "r10", 16), ("R11", "r11", 16), ("R12", "r12", 16)),
    (("R13", "r13", 16), ("R14", "r14", 16), ("R15", "r15", 16)))


def pt_regs_lines(regs: drgn.Object) -> list[str]:
    """crash's register block for a ``struct pt_regs`` (x86_64_exception_frame()):
    RIP RSP RFLAGS, RAX..R15 three to a line, then ORIG_RAX CS SS."""
    lines = []
    for row in _REG_ROWS:
        cells = [f"{name:>3}: {int(getattr(regs, member)):0{width}x}"
                 for name, member, width in row]
        lines.append("    " + "  ".join(cells))
    lines.append(f"    ORIG_RAX: {int(regs.orig_ax) & (2**64 - 1):016x}  "
                 f"CS: {int(regs.cs) & 0xffff:04x}  SS: {int(regs.ss) & 0xffff:04x}")
    return lines


def _nearest_symbol(prog: drgn.Program, addr: int) -> drgn.Symbol:
    """The symbol crash names ``addr`` by: the nearest kernel symbol at or
    below it (a label inside a function, ``entry_SYSCALL_64_after_hwframe``,
    counts; so does a function that ``addr`` is one past, the return address
    of a call to a noreturn function); a module address by its containing
    symbol.  Raises LookupError."""

    table: tuple[list[int], list[drgn.Symbol]] | None = prog.cache.get(
        "kmemx.plugins.tasks.sorted_symbols")
    if table is None:
        syms = sorted((s for s in prog.symbols() if s.address >= 1 << 63
                       and s.kind in (drgn.SymbolKind.FUNC, drgn.SymbolKind.UNKNOWN)),
                      key=lambda s: (s.address, s.name))
        table = prog.cache["kmemx.plugins.tasks.sorted_symbols"] = (
            [s.address for s in syms], syms)
    try:
        return prog.symbol(addr) if addr >= 0xffffffffc0000000 else _closest(table, addr)
    except LookupError:
        return _closest(table, addr)


def _closest(table: tuple[list[int], list[drgn.Symbol]], addr: int) -> drgn.Symbol:
    import bisect

    i = bisect.bisect_right(table[0], addr) - 1
    if i < 0 or addr - table[0][i] > 1 << 20:
        raise LookupError(f"no symbol below {addr:#x}")
    return table[1][i]


def register_lines(regs: dict[str, int]) -> list[str]:
    """crash's register block for registers a dump saved per CPU (an ELF
    note: no ORIG_RAX), from drgn's ``StackFrame.registers()``."""
    def value(member: str) -> int:
        # drgn's names: rip rsp rflags rax ... r8 ... (struct pt_regs: ip sp flags ax)
        return regs.get(member if member.startswith("r") else "r" + member, 0)

    lines = ["    " + "  ".join(f"{name:>3}: {value(member):0{width}x}"
                                 for name, member, width in row)
             for row in _REG_ROWS]
    lines.append(f"    CS: {regs.get('cs', 0):04x}  SS: {regs.get('ss', 0):04x}")
    return lines


def _x86_64(prog: drgn.Program) -> bool:
    from kmemx.arch import is_x86_64

    return is_x86_64(prog)


def _arm64_pt_regs(regs: drgn.Object) -> dict[str, int]:
    """arm64 ``struct pt_regs`` (user_pt_regs: regs[31], sp, pc, pstate;
    orig_x0, syscallno) as a name -> value dict in drgn's register naming."""
    out = {"pc": int(regs.pc), "lr": int(regs.regs[30]), "sp": int(regs.sp),
           "pstate": int(regs.pstate)}
    out.update((f"x{n}", int(regs.regs[n])) for n in range(29, -1, -1))
    out["orig_x0"] = int(regs.orig_x0) & (2**64 - 1)
    out["syscallno"] = int(regs.syscallno) & (2**64 - 1)
    return out


def arm64_exception_lines(ctx: Context, regs: dict[str, int], user: bool) -> list[str]:
    """crash's arm64 exception frame (arm64.c arm64_print_exception_frame(),
    64-bit tasks): kernel mode ``PC: ... [sym+off]``, ``LR: ... [sym+off]``
    (the LR's pointer-authentication bits stripped), ``SP: ...  PSTATE:
    ...``; user mode ``PC LR SP`` on one line; then X29..X0 three to a line,
    and in user mode ``ORIG_X0 SYSCALLNO PSTATE``.  ``regs``: the dict of
    :func:`_arm64_pt_regs`."""
    from .lists import strip_pac

    lr = strip_pac(ctx, regs["lr"])

    def named(v: int) -> str:
        try:
            sym = _nearest_symbol(ctx.prog, v)
        except LookupError:
            return "[unknown or invalid address]"
        off = v - sym.address
        return f"[{sym.name}+{off}]" if off else f"[{sym.name}]"

    if user:
        lines = [f"     PC: {regs['pc']:016x}   LR: {regs['lr']:016x}   SP: {regs['sp']:016x}"]
    else:
        lines = [f"     PC: {regs['pc']:016x}  {named(regs['pc'])}",
                 f"     LR: {lr:016x}  {named(lr)}",
                 f"     SP: {regs['sp']:016x}  PSTATE: {regs['pstate']:08x}"]
    cells = [f"{'' if n >= 10 else ' '}X{n}: {regs[f'x{n}']:016x}" for n in range(29, -1, -1)]
    lines += ["    " + "  ".join(cells[i:i + 3]) for i in range(0, len(cells), 3)]
    if user:
        lines.append(f"    ORIG_X0: {regs['orig_x0']:016x}  SYSCALLNO: {regs['syscallno']:x}"
                     f"  PSTATE: {regs['pstate']:08x}")
    return lines


def _symbol_offset(prog: drgn.Program, pc: int, hex_offset: bool = False) -> str:
    """``name+offset`` of the ELF symbol containing ``pc`` (crash's naming)."""
    try:
        sym = _nearest_symbol(prog, pc)
    except LookupError:
        return f"{pc:x}"
    off = pc - sym.address
    return f"{sym.name}+{off:#x}" if hex_offset else f"{sym.name}+{off}"


def _stack_name(prog: drgn.Program, sp: int, cpu: int) -> str:
    top = hardirq_stack_top(prog, cpu)
    if top is not None and top - 16384 <= sp <= top + 8:
        return "IRQ stack"
    return "exception stack"


def _frame_data_lines(ctx: Context, start: int, end: int, symbolic: int = 0,
                      values_out: list[int] | None = None) -> list[str]:
    """crash's ``bt -f``: the stack words in [start, end), two to a line;
    ``symbolic`` (``bt -F``: 1, ``-FF``: 2) names them as crash's
    format_stack_entry() does (:func:`kmemx_plugins.lists.symbolic_word`);
    the words' values are appended to ``values_out``."""
    from .lists import symbolic_word

    lines: list[str] = []
    pos = start
    while pos < end and len(lines) < 4096:
        n = min(16, end - pos)
        try:
            data = ctx.k.read(pos, n)
        except drgn.FaultError:
            break
        values = [int.from_bytes(data[i:i + 8], "little") for i in range(0, n - n % 8, 8)]
        if values_out is not None:
            values_out.extend(values)
        words = " ".join(symbolic_word(ctx, v, symbolic, accessible=True) if symbolic
                         else f"{v:016x}" for v in values)
        lines.append(f"    {pos:x}: {words} ")
        pos += n
    return lines


def _is_text(prog: drgn.Program, value: int) -> bool:
    """crash's is_kernel_text() (symbols.c): ``value`` is in the kernel's text
    sections (``_stext``..``_etext``, ``_sinittext``..``_einittext``) or a
    module's address; the ranges cached in ``prog.cache["kmemx.plugins.tasks.text"]``."""
    from kmemx.helpers.kallsyms import module_of_address

    ranges: list[tuple[int, int]] | None = prog.cache.get("kmemx.plugins.tasks.text")
    if ranges is None:
        ranges = []
        for lo, hi in (("_stext", "_etext"), ("_sinittext", "_einittext")):
            try:
                ranges.append((prog.symbol(lo).address, prog.symbol(hi).address))
            except LookupError:
                continue
        prog.cache["kmemx.plugins.tasks.text"] = ranges
    if any(lo <= value < hi for lo, hi in ranges):
        return True
    return value >= 1 << 63 and module_of_address(prog, value) is not None


def _bt_tasks(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> list[View]:
    from kmemx.commands import parse_cpuspec
    from kmemx.commands.context import cpu_curr_task, panic_task

    if args.a:
        # a CPU whose run queue the dump lacks is one warning; the others follow
        return [curr.deref() for curr in _rq_tasks(ctx, "curr")]
    if args.cpus is not None:
        return [ctx.k.view("struct task_struct", int(cpu_curr_task(ctx.prog, cpu).value_()))
                for cpu in parse_cpuspec(ctx.prog, args.cpus)]
    if args.panic:
        task = panic_task(ctx.prog)
        if task is None:
            raise CommandError("bt: no panic task (a dump taken without a panic)")
        return [ctx.k.view("struct task_struct", int(task.value_()))]
    return command_tasks(ctx, args.tasks, input, "bt")


#: --drgn of bt: _nearest_symbol() and _symbol_offset() as drgn code,
#: ``symbol(pc)`` and ``symbol_offset(pc, hex_offset)``
_SYMBOL_OFFSET_CODE = """\
SYMS = sorted((s for s in prog.symbols() if s.address >= 1 << 63
               and s.kind in (SymbolKind.FUNC, SymbolKind.UNKNOWN)),
              key=lambda s: (s.address, s.name))
ADDRS = [s.address for s in SYMS]


def symbol(pc):
    # crash's name: the nearest symbol at or below pc (a label counts)
    if pc >= 0xffffffffc0000000:
        try:
            return prog.symbol(pc)
        except LookupError:
            pass
    i = bisect.bisect_right(ADDRS, pc) - 1
    if i < 0 or pc - ADDRS[i] > 1 << 20:
        raise LookupError(f"no symbol below {pc:#x}")
    return SYMS[i]


def symbol_offset(pc, hex_offset=False):
    try:
        sym = symbol(pc)
    except LookupError:
        return f"{pc:x}"
    off = pc - sym.address
    return f"{sym.name}+{off:#x}" if hex_offset else f"{sym.name}+{off}"
"""

#: --drgn of bt: THREAD_SIZE (thread_size()'s rule) and sizeof(struct pt_regs)
_THREAD_SIZE_CODE = """\
try:  # THREAD_SIZE: init_stack up to __end_init_stack (newer) or __end_init_task
    stack_end = prog.symbol("__end_init_stack").address
except LookupError:
    stack_end = prog.symbol("__end_init_task").address
THREAD_SIZE = stack_end - prog.symbol("init_stack").address
PT_REGS = sizeof(prog.type("struct pt_regs"))
"""

#: --drgn of bt: each task's header and frames, or why there are none (a
#: str.format() template: ``tasks``, the list of task addresses)
_BT_TASK_LOOP_CODE = """\
try:
    panic_task = prog.crashed_thread().object
except (LookupError, ValueError):
    panic_task = None
for n, addr in enumerate({tasks}):
    task = Object(prog, "struct task_struct *", int(addr, 16))
    if n:
        print()
    print(header(task))
    if task.exit_state.value_() & 0x30:  # EXIT_ZOMBIE | EXIT_DEAD
        print("  (no kernel stack: the task is a zombie; it has exited)")
        continue
    try:
        frames = list(prog.stack_trace(task))
    except (ValueError, LookupError, FaultError) as e:
        print(f"  (no stack trace: {{e}})")
        continue
"""


#: --drgn of bt: _frame_line() as drgn code, ``frame_line(i, frame)`` (``[?]``
#: for a frame whose SP drgn's unwinder does not know); a str.format()
#: template: ``symbols`` (-s: symbol_offset()'s name) and ``hex`` (-x)
_FRAME_LINE_CODE = """\\
ARM64 = prog.platform.arch == Architecture.AARCH64


def frame_addresses(prog, frame):  # crash's [STACK] and PC: arm64 x29 and pc - 4
    stack = None
    if ARM64:
        try:
            stack = frame.register("x29")
        except (LookupError, ValueError):
            pass
    if stack is None:
        try:
            stack = frame.sp
        except (LookupError, ValueError):
            pass
    return stack, frame.pc - 4 if ARM64 and not frame.interrupted else frame.pc


def frame_line(i, frame):
    name = frame.name
    if name is None:
        try:
            name = frame.symbol().name
        except LookupError:
            name = "???"
    stack, pc = frame_addresses(prog, frame)
    if {symbols} and not frame.is_inline:
        name = symbol_offset(pc, {hex})
    line = (f"{{' ' if i < 10 else ''}}#{{i}} [{{'?' if stack is None else f'{{stack:x}}'}}] "
            f"{{name}} at {{pc:x}}")
    try:
        filename, lineno, _ = frame.source()
        line += f"  {{filename}}:{{lineno}}"
    except LookupError:
        pass
    if frame.is_inline:
        line += " (inlined)"
    return line


"""


def _bt_frame_line_code(args: argparse.Namespace) -> str:
    """:data:`_FRAME_LINE_CODE` for ``args`` (bt's -s and -x)."""
    return _FRAME_LINE_CODE.format(symbols=bool(args.symbols), hex=bool(args.hex))


#: bt --drgn on arm64: _bt_frames()'s arm64 path (drgn's frame-pointer
#: unwinder, crash's arm64 exception frames, arm64_exception_lines())
_BT_ARM64_CODE = """\
{thread_size}INFO = prog.read(prog["vmcoreinfo_data"].value_(), 4096).split(b"\\0")[0].decode()
PAC_MASK = int(next((line.split("=")[1] for line in INFO.splitlines()
                     if line.startswith("NUMBER(KERNELPACMASK)=")), "0"), 16)
MODULES = [(start, start + size) for mod in for_each_module(prog)
           for start, size in module_address_regions(mod)]
KERNEL = (prog.symbol("_text").address,
          max(s.address for s in SYMS if not any(lo <= s.address < hi for lo, hi in MODULES)))


def strip_pac(value):  # crash's arm64.c: the PAC bits of a kernel text address
    if not PAC_MASK:
        return value
    v = value | PAC_MASK
    text = KERNEL[0] <= v <= KERNEL[1] or any(lo <= v < hi for lo, hi in MODULES)
    return v if text else value


def named(v):
    try:
        sym = symbol(v)
    except LookupError:
        return "[unknown or invalid address]"
    off = v - sym.address
    return f"[{{sym.name}}+{{off}}]" if off else f"[{{sym.name}}]"


def pt_regs(regs):  # name -> value, drgn's register names
    out = {{"pc": regs.pc.value_(), "lr": regs.regs[30].value_(), "sp": regs.sp.value_(),
           "pstate": regs.pstate.value_()}}
    out.update((f"x{{n}}", regs.regs[n].value_()) for n in range(29, -1, -1))
    out["orig_x0"] = regs.orig_x0.value_() & (2**64 - 1)
    out["syscallno"] = regs.syscallno.value_() & (2**64 - 1)
    return out


def exception_lines(r, user):  # crash's arm64_print_exception_frame()
    lr = strip_pac(r["lr"])
    if user:
        lines = [f"     PC: {{r['pc']:016x}}   LR: {{r['lr']:016x}}   SP: {{r['sp']:016x}}"]
    else:
        lines = [f"     PC: {{r['pc']:016x}}  {{named(r['pc'])}}",
                 f"     LR: {{lr:016x}}  {{named(lr)}}",
                 f"     SP: {{r['sp']:016x}}  PSTATE: {{r['pstate']:08x}}"]
    cells = [f"{{'' if n >= 10 else ' '}}X{{n}}: {{r[f'x{{n}}']:016x}}" for n in range(29, -1, -1)]
    lines += ["    " + "  ".join(cells[i:i + 3]) for i in range(0, len(cells), 3)]
    if user:
        lines.append(f"    ORIG_X0: {{r['orig_x0']:016x}}  SYSCALLNO: {{r['syscallno']:x}}"
                     f"  PSTATE: {{r['pstate']:08x}}")
    return lines


{frame_line}{task_loop}    top = task.stack.value_() + THREAD_SIZE
    # (a dump taken without a panic: crash-arm64 starts at the registers each
    # CPU was stopped with and prints no block for them)
    for i, frame in enumerate(frames):
        if frame.interrupted and not frame.is_inline and any(
                not f.is_inline for f in frames[:i]):
            # registers saved by an exception or system call entry
            user = frame.pc < 1 << 63
            block = []
            try:
                # user: task_pt_regs(); kernel: kernel_entry's pt_regs end where
                # the interrupted SP was
                regs_addr = top - PT_REGS if user else frame.sp - PT_REGS
                r = pt_regs(Object(prog, "struct pt_regs", address=regs_addr))
                if r["pc"] == frame.pc:
                    block = exception_lines(r, user)
            except (FaultError, LookupError, AttributeError):
                pass
            if not user and not block:  # crash prints the block alone
                print(f"    [exception RIP: {{symbol_offset(frame.pc)}}]")
            for line in block:
                print(line)
            if user:
                break
        if frame.pc < 1 << 63:
            break
        print(frame_line(i, frame))
    else:
        # a stack that ends at entry from EL0: its last frame record is the
        # terminal one in task_pt_regs() (entry.S), whose registers crash prints
        last = next((f for f in reversed(frames) if not f.is_inline), None)
        try:
            regs = Object(prog, "struct pt_regs", address=top - PT_REGS)
            if (last is not None and task.mm and not regs.pstate.value_() & 0xf
                    and frame_addresses(prog, last)[0] == regs.stackframe.address_):
                for line in exception_lines(pt_regs(regs), True):
                    print(line)
        except FaultError as e:
            print(f"kmemx: warning: pt_regs not readable at {{e.address:#x}}")
"""


def _bt_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``bt --drgn``: drgn's prog.stack_trace() of each task (the tasks as bt
    picks them: the current context, PIDs, -a, -c, -p), each frame as crash
    prints it (-s/-x: ELF symbol+offset), exception frames with the
    registers saved in their struct pt_regs, IRQ stack transitions; -f each
    frame's stack words, -e the exception frames only, -t/-T the text
    addresses on the stack.  arm64: the frames and exception frames (-s,
    -x), no -f, -e, -t, -T."""
    from kmemx.commands.drgncode import only, text_script

    if args.symbolic or args.raw or args.overflow or args.ref is not None:
        raise only("bt", "frames, -f, -e, -t, -T (no -F, -r, -v, -R)")
    if not _x86_64(ctx.prog):
        from kmemx.arch import is_aarch64

        if not is_aarch64(ctx.prog):
            raise only("bt", "x86-64 and arm64 stacks")
        if args.frames or args.exceptions or args.text or args.text_all:
            raise only("bt", "arm64 frames (-s, -x; no -f, -e, -t, -T)")
        tasks = [hex(t.address) for t in _bt_tasks(ctx, args, ())]
        return text_script(ctx, _HEADER_CODE + _SYMBOL_OFFSET_CODE + "\n\n" + _BT_ARM64_CODE.format(
            thread_size=_THREAD_SIZE_CODE, frame_line=_bt_frame_line_code(args),
            task_loop=_BT_TASK_LOOP_CODE.format(tasks=tasks)),
            ["bisect", "drgn:Architecture,FaultError,Object,SymbolKind,sizeof",
             "drgn.helpers.linux.module:for_each_module,module_address_regions",
             "drgn.helpers.linux.sched:task_cpu"])
    tasks = [hex(t.address) for t in _bt_tasks(ctx, args, ())]
    regs = repr(_REG_ROWS)
    return text_script(ctx, _HEADER_CODE + f"""\
REG_ROWS = {regs}  # crash's register block: name, struct pt_regs member, digits
{_THREAD_SIZE_CODE}try:  # CONFIG_X86_FRED keeps 16 bytes above them (TOP_OF_KERNEL_STACK_PADDING)
    prog.symbol("asm_fred_entrypoint_user")
    PT_REGS += 16
except LookupError:
    pass
{_SYMBOL_OFFSET_CODE}

def regs_lines(regs):
    lines = ["    " + "  ".join(f"{{name:>3}}: {{regs.member_(m).value_():0{{w}}x}}"
                                 for name, m, w in line) for line in REG_ROWS]
    lines.append(f"    ORIG_RAX: {{regs.orig_ax.value_() & (2**64 - 1):016x}}  "
                 f"CS: {{regs.cs.value_() & 0xffff:04x}}  SS: {{regs.ss.value_() & 0xffff:04x}}")
    return lines


def irq_stack_top(cpu):
    try:
        return per_cpu(prog["hardirq_stack_ptr"], cpu).value_()
    except (KeyError, LookupError):
        try:  # in struct pcpu_hot from 6.2 (7443b296e699)
            return per_cpu(prog["pcpu_hot"], cpu).hardirq_stack_ptr.value_()
        except (KeyError, LookupError, AttributeError):
            return None


{_bt_frame_line_code(args)}TEXT, WHOLE = {bool(args.text or args.text_all)}, {bool(args.text_all)}
EXCEPTIONS, FRAME_DATA = {bool(args.exceptions)}, {bool(args.frames)}
TEXT_RANGES = [(prog.symbol(lo).address, prog.symbol(hi).address)
               for lo, hi in (("_stext", "_etext"), ("_sinittext", "_einittext"))]
MODULES = [(start, start + size) for mod in for_each_module(prog)
           for start, size in module_address_regions(mod)]


def text_addresses(task, frames, base, top):
    # crash's bt -t / -T: every stack word that is a kernel text address
    first = frames[0]
    start = base
    if not WHOLE:
        start, pc = first.sp, first.pc
        if first.interrupted and panic_task:
            # the panicked CPU's saved registers: crash starts from the return
            # address on the stack
            pc = prog.read_u64(first.sp)
        print(f"              START: {{symbol_offset(pc).split('+')[0]}} at {{pc:x}}")
    if not base <= start < top:  # the stack pointer is on another (IRQ) stack
        start = base
    data = prog.read(start, top - start)
    for off in range(0, len(data) - 7, 8):
        value = int.from_bytes(data[off:off + 8], "little")
        if value >= 1 << 63 and any(lo <= value < hi for lo, hi in TEXT_RANGES + MODULES):
            name = symbol_offset(value)
            if "+" in name:
                print(f"  [{{start + off:x}}] {{name.split('+')[0]}} at {{value:x}}")
    if any(f.interrupted and f.pc < 1 << 63 for f in frames):
        # the registers saved at system call entry (task_pt_regs())
        for line in regs_lines(Object(prog, "struct pt_regs", address=top - PT_REGS)):
            print(line)


{_BT_TASK_LOOP_CODE.format(tasks=tasks)}    base = task.stack.value_()
    top = base + THREAD_SIZE
    if TEXT:
        text_addresses(task, frames, base, top)
        continue
    first = next((f for f in frames if not f.is_inline), None)
    if (first is not None and first.interrupted and first.pc >= 1 << 63 and not panic_task
            and not EXCEPTIONS):
        # a dump taken without a panic: the registers each CPU was stopped with
        print(f"    [exception RIP: {{symbol_offset(first.pc)}}]")
        r = first.registers()
        value = lambda m: r.get(m if m.startswith("r") else "r" + m, 0)
        for line in REG_ROWS:
            print("    " + "  ".join(f"{{name:>3}}: {{value(m):0{{w}}x}}" for name, m, w in line))
        print(f"    CS: {{r.get('cs', 0):04x}}  SS: {{r.get('ss', 0):04x}}")
    prev_stack = None
    for i, frame in enumerate(frames):
        sp = frame.sp
        on_task_stack = base <= sp <= top
        if prev_stack is not None and on_task_stack and not EXCEPTIONS:
            print(f"--- <{{prev_stack}}> ---")
        prev_stack = None
        if not on_task_stack:
            irq_top = irq_stack_top(task_cpu(task))
            on_irq = irq_top is not None and irq_top - 16384 <= sp <= irq_top + 8
            prev_stack = "IRQ stack" if on_irq else "exception stack"
        if frame.interrupted and not frame.is_inline and any(
                not f.is_inline for f in frames[:i]):
            # registers saved by an interrupt, exception or system call entry
            user = frame.pc < 1 << 63
            regs_addr = top - PT_REGS if user else frames[i - 1].sp  # task_pt_regs()
            regs = Object(prog, "struct pt_regs", address=regs_addr)
            if EXCEPTIONS:
                print()
                print(f"  {{'USER' if user else 'KERNEL'}}-MODE EXCEPTION FRAME AT: {{regs_addr:x}}")
            elif not user:
                print(f"    [exception RIP: {{symbol_offset(frame.pc)}}]")
            if regs.ip.value_() == frame.pc:
                for line in regs_lines(regs):
                    print(line)
            if user:
                break
        if frame.pc < 1 << 63:
            break
        if EXCEPTIONS:
            continue
        print(frame_line(i, frame))
        if FRAME_DATA and not frame.is_inline:
            # the stack from this frame's return address up to the next frame's
            nxt = next((f.sp for f in frames[i + 1:] if not f.is_inline), None)
            if nxt is not None and sp < nxt <= sp + THREAD_SIZE:
                for pos in range(sp, nxt, 16):
                    data = prog.read(pos, min(16, nxt - pos))
                    words = " ".join(f"{{int.from_bytes(data[k:k + 8], 'little'):016x}}"
                                     for k in range(0, len(data) - len(data) % 8, 8))
                    print(f"    {{pos:x}}: {{words}} ")
""", ["bisect", "drgn:Architecture,FaultError,Object,SymbolKind,sizeof",
      "drgn.helpers.linux.module:for_each_module,module_address_regions",
      "drgn.helpers.linux.percpu:per_cpu", "drgn.helpers.linux.sched:task_cpu"])


@command("bt", "display a kernel stack backtrace",
         description="""
         bt              the current context's stack (set; at first the panic task)
         bt PID|ADDR     that task
         bt -a           the current task of every CPU
         bt -c 1 / -c a  the current task of these CPUs (crash's cpuspec)
         bt -p           the panic task
         bt -s / -sx     each frame's ELF symbol+offset (decimal / hex)
         bt -f           each frame's stack words
         bt -r           the whole kernel stack, two words a line, named (rd -s)
         foreach bt -R schedule_timeout   the stacks that went through a function
         bt -v           check every task's stack end for STACK_END_MAGIC
         bt -F / -FF     the stack words named: symbol+offset, [slab cache] (-FF:
                         [address:cache]), as crash
         bt -t / -T      the text addresses on the stack, from the stack pointer
                         / from the bottom of the stack
         bt -e           only the exception frames (registers saved on the stack)
         bt -l           source lines (always shown)
         Where the kernel was entered from user space or interrupted, the
         registers saved there (struct pt_regs) follow, as crash shows them:
         [exception RIP: symbol+offset] and the RIP..SS block; a switch from
         an IRQ stack to the task's stack is marked --- <IRQ stack> ---.
         Zombies have no kernel stack; bt says so instead of printing stale frames.
         """,
         arguments=[arg("tasks", nargs="*"),
                    arg("-a", action="store_true", help="every CPU's current task"),
                    arg("-c", dest="cpus", help="current task of these CPUs (cpuspec)"),
                    arg("-p", dest="panic", action="store_true", help="the panic task"),
                    arg("-s", dest="symbols", action="store_true",
                        help="symbol+offset for each frame"),
                    arg("-x", dest="hex", action="store_true", help="offsets in hex"),
                    arg("-f", dest="frames", action="store_true",
                        help="the stack data of each frame"),
                    arg("-R", dest="ref", metavar="REF",
                        help="only stacks with a frame in function REF (or returning to "
                             "address REF)"),
                    arg("-r", dest="raw", action="store_true",
                        help="the whole kernel stack, words named (rd -s)"),
                    arg("-v", dest="overflow", action="store_true",
                        help="check every task's stack end for STACK_END_MAGIC"),
                    arg("-F", dest="symbolic", action="count", default=0,
                        help="-f with the words named: symbols, [slab cache] "
                             "(-FF: [address:cache])"),
                    arg("-t", dest="text", action="store_true",
                        help="text symbols on the stack from the stack pointer"),
                    arg("-T", dest="text_all", action="store_true",
                        help="text symbols on the whole stack"),
                    arg("-e", dest="exceptions", action="store_true",
                        help="only the exception frames"),
                    arg("-l", dest="lines", action="store_true",
                        help="source lines (always shown)")],
         takes_input=True, enabled=_enabled, drgn_code=_bt_drgn)
def _bt(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from kmemx.helpers.kallsyms import module_of_address, use_module_kallsyms

    prog = ctx.prog
    if args.overflow:
        yield from _bt_overflow(ctx)
        return
    tasks = _bt_tasks(ctx, args, input)
    use_module_kallsyms(prog)  # names module frames without the module's debug info
    shown = 0
    for t in tasks:
        if args.ref is not None and not _bt_references(ctx, t, args.ref):
            continue
        # one record per task: crash's text, one JSON object per frame, the task piped on
        lines: list[str] = [""] if shown else []
        data: list[dict[str, Any]] = []
        shown += 1
        try:
            task_data = bt_task_data(t)
            lines.append(task_header(ctx, t))
        except drgn.FaultError as e:
            ctx.warn(f"task {t.address:#x}: {e}")
            continue
        for line in _bt_task(ctx, t, args, task_data, data, module_of_address):
            lines.append(line)
        if not data:
            data.append(task_data)
        yield TextRecord("".join(line + "\n" for line in lines), data, t)


def bt_task_data(t: View) -> dict[str, Any]:
    """The task fields of each of ``bt --json``'s objects: task, pid, cpu, comm."""
    return {"task": Address(t.address), "pid": int(t.pid), "cpu": task_cpu(t),
            "comm": Name(kernel_str(t.comm.string()))}


def _bt_task(ctx: Context, t: View, args: argparse.Namespace, task_data: dict[str, Any],
             data: list[dict[str, Any]], module_of_address: Any) -> Iterator[str]:
    """One task's bt text lines after its header; its JSON objects go to ``data``."""
    prog = ctx.prog
    try:
        if t.exit_state & (EXIT_ZOMBIE | EXIT_DEAD):
            data.append({**task_data, "error": "zombie: no kernel stack"})
            yield "  (no kernel stack: the task is a zombie; it has exited)"
            return
        if args.raw:
            yield from _bt_raw(ctx, t, task_data, data)
            return
    except drgn.FaultError as e:
        ctx.warn(f"task {t.address:#x}: {e}")
        return
    task = t.to_drgn().address_of_()
    if args.exceptions and not _x86_64(prog):
        yield from _arm64_eframe_search(ctx, task, task_data, data)
        return
    try:
        trace = prog.stack_trace(task)
    except (ValueError, LookupError, drgn.FaultError) as e:
        data.append({**task_data, "error": f"no stack trace: {e}"})
        yield f"  (no stack trace: {e})"
        return
    if args.text or args.text_all:
        yield from _bt_text(ctx, t, task, trace, args.text_all, task_data, data)
        return
    yield from _bt_frames(ctx, t, task, trace, args, module_of_address, task_data, data)


def _bt_references(ctx: Context, t: View, ref: str) -> bool:
    """crash's ``bt -R REF`` test (x86_64_do_bt_reference_check()): whether a
    frame of ``t``'s stack is in the function named ``REF`` (the symbol
    crash names the frame by) or, for a hex ``REF``, returns to that address.
    A task whose stack cannot be unwound references nothing."""
    from .lists import _symbol_at

    value = int(ref, 16) if re.fullmatch(r"(0x)?[0-9a-fA-F]+", ref) else None
    try:
        if t.exit_state & (EXIT_ZOMBIE | EXIT_DEAD):
            return False
        trace = ctx.prog.stack_trace(t.to_drgn().address_of_())
    except (ValueError, LookupError, drgn.FaultError):
        return False
    for frame in trace:
        if frame.is_inline:
            continue
        if value is not None:
            if frame.pc == value:
                return True
            continue
        try:
            if _symbol_at(ctx.prog, frame.pc).name == ref:
                return True
        except LookupError:
            continue
    return False


def _bt_raw(ctx: Context, t: View, task_data: dict[str, Any], data: list[dict[str, Any]]
            ) -> Iterator[str]:
    """crash's ``bt -r`` (raw_stack_dump()): the task's whole kernel stack from
    its lowest address, two words a line, named as ``rd -s`` names them
    (JSON: one object a line, its address and its words' values)."""
    from .lists import symbolic_word

    base = end_of_stack(t)
    raw = ctx.k.read(base, thread_size(ctx.prog))
    for off in range(0, len(raw), 16):
        values = [int.from_bytes(raw[i:i + 8], "little")
                  for i in range(off, min(off + 16, len(raw)), 8)]
        data.append({**task_data, "address": Address(base + off), "values": values})
        yield f"{base + off:x}:  " + "".join(symbolic_word(ctx, v) + " " for v in values)


def _bt_overflow(ctx: Context) -> Iterator[Any]:
    """crash's ``bt -v`` (check_stack_overflow()): every task, idle tasks
    first, whose stack end lacks STACK_END_MAGIC (init_task's stack, the
    linker's, has none and is skipped, as crash does); a task that cannot be
    read is reported and the rest checked."""
    total = 0
    init = ctx.k.object("init_task").address
    for batch in _task_batches(ctx):
        for t in batch:
            if t.address == init:
                continue
            try:
                if not task_stack_end_corrupted(t):
                    continue
                where = end_of_stack(t)
                value = ctx.k.read_u64(where)
                text = (f"{task_header(ctx, t)}\n  possible stack overflow: {where:x}: "
                        f"{value:x} != STACK_END_MAGIC\n\n")
                yield TextRecord(text, {**bt_task_data(t), "stack_end": Address(where),
                                        "value": value}, t)
                total += 1
            except drgn.FaultError as e:
                ctx.warn(f"task {t.address:#x}: stack end unreadable: {e}")
    if not total and not ctx.as_json:
        yield TextLine("No stack overflows detected")


def _bt_text(ctx: Context, t: View, task: drgn.Object, trace: drgn.StackTrace,
             whole: bool, task_data: dict[str, Any], data: list[dict[str, Any]]
             ) -> Iterator[str]:
    """crash's ``bt -t`` / ``-T``: every stack word that is a kernel text
    address (JSON: one object each, its stack address ``sp``, the value
    ``pc`` and its ``function``; the START line's as ``start``)."""
    prog = ctx.prog
    base = int(task.stack.value_())
    top = base + thread_size(prog)
    first = trace[0]
    if whole:
        start = base
    else:
        start = first.sp
        pc = first.pc
        from kmemx.commands.context import panic_task

        if first.interrupted and panic_task(prog) is not None:
            # registers saved by the panic's CPU stop: crash starts from the
            # return address on the stack there, not from the saved RIP
            try:
                pc = ctx.k.read_u64(first.sp)
            except drgn.FaultError:
                pass
        try:
            name = _nearest_symbol(prog, pc).name
        except LookupError:
            name = f"{pc:x}"
        data.append({**task_data, "start": True, "sp": None, "pc": Address(pc),
                     "function": name})
        yield f"              START: {name} at {pc:x}"
    if not base <= start < top:  # the stack pointer is on another stack (IRQ): the task's
        start = base
    try:
        raw = ctx.k.read(start, top - start)
    except drgn.FaultError as e:
        ctx.warn(f"task {t.address:#x}: stack not readable at {e.address:#x}")
        return
    from .lists import kernel_pac_mask, strip_pac

    signed = bool(kernel_pac_mask(ctx))  # arm64: a signed return address is
    for off in range(0, len(raw) - 7, 8):  # named as its code (crash's rule)
        value = int.from_bytes(raw[off:off + 8], "little")
        if signed:
            value = strip_pac(ctx, value)
        if value >= 1 << 63 and _is_text(prog, value):
            try:
                name = _nearest_symbol(prog, value).name
            except LookupError:
                continue
            data.append({**task_data, "start": False, "sp": Address(start + off),
                         "pc": Address(value), "function": name})
            yield f"  [{start + off:x}] {name} at {value:x}"
    user = next((f for f in trace if f.interrupted and f.pc < 1 << 63), None)
    if user is not None:  # crash ends with the registers saved at system call entry
        try:
            regs = drgn.Object(prog, "struct pt_regs", address=task_pt_regs(prog, task))
            block = pt_regs_lines(regs)
            data.append({**task_data, "start": False, "sp": None, "pc": Address(int(regs.ip)),
                         "function": None,
                         "exception": _exception_data("user", regs.address_, regs)})
            yield from block
        except drgn.FaultError as e:
            ctx.warn(f"task {t.address:#x}: pt_regs not readable at {e.address:#x}")


def _frame_data(prog: drgn.Program, i: int, frame: drgn.StackFrame, sp: int | None,
                addresses: tuple[int | None, int], module: str | None,
                task_data: dict[str, Any]) -> dict[str, Any]:
    """One ``bt --json`` object: the task's fields, then the frame's number,
    sp and pc (drgn's), ``at`` and ``frame_pointer`` (the code address and,
    on arm64, the ``x29`` the text prints: ``addresses``, the frame's
    :func:`frame_addresses`), the
    function named in the text (DWARF's, else the symbol's), the ELF symbol
    containing ``at`` and ``at``'s offset in it (``bt -s``'s name+offset),
    the module, source file and line, whether inlined."""
    name = frame.name
    if name is None:
        try:
            name = frame.symbol().name
        except LookupError:
            name = None
    stack, at = addresses
    try:
        sym: drgn.Symbol | None = _nearest_symbol(prog, at)
    except LookupError:
        sym = None
    try:
        filename, lineno, _col = frame.source()
        source: tuple[str | None, int | None] = (filename, lineno)
    except LookupError:
        source = (None, None)
    return {**task_data, "frame": i, "sp": None if sp is None else Address(sp),
            "pc": Address(frame.pc), "at": Address(at),
            "frame_pointer": None if stack is None or _x86_64(prog) else Address(stack),
            "function": name, "symbol": None if sym is None else sym.name,
            "offset": None if sym is None else at - sym.address,
            "module": module, "file": source[0], "line": source[1],
            "inlined": bool(frame.is_inline)}


def pt_regs_values(regs: drgn.Object) -> dict[str, int]:
    """crash's register block of an x86-64 ``struct pt_regs`` as name -> value
    (crash's names: RIP RSP RFLAGS RAX..R15 ORIG_RAX CS SS)."""
    out = {name: int(getattr(regs, member)) & (2**64 - 1)
           for row in _REG_ROWS for name, member, _width in row}
    out["ORIG_RAX"] = int(regs.orig_ax) & (2**64 - 1)
    out["CS"] = int(regs.cs) & 0xffff
    out["SS"] = int(regs.ss) & 0xffff
    return out


def _exception_data(mode: str, address: int | None, regs: drgn.Object | dict[str, int]
                    ) -> dict[str, Any]:
    """``bt --json``'s ``exception``: where the registers were saved (``user``
    at system call entry, ``kernel`` by an interrupt or exception, ``cpu``
    by the dump for a CPU stopped without a panic), their address, and the
    registers crash prints there, name -> value."""
    if isinstance(regs, dict):
        values = {k.upper(): v for k, v in regs.items()}
    elif _x86_64(regs.prog_):
        values = pt_regs_values(regs)
    else:
        values = {k.upper(): v for k, v in _arm64_pt_regs(regs).items()}
    return {"mode": mode, "address": None if not address else Address(address),
            "registers": values}


def _bt_frames(ctx: Context, t: View, task: drgn.Object, trace: drgn.StackTrace,
               args: argparse.Namespace, module_of_address: Any,
               task_data: dict[str, Any], data: list[dict[str, Any]]) -> Iterator[str]:
    """crash's frame lines of one task (its JSON objects to ``data``)."""
    prog = ctx.prog
    base = int(task.stack.value_())
    top = base + thread_size(prog)
    cpu = task_cpu(t)
    from kmemx.commands.context import panic_task

    x86 = _x86_64(prog)
    frames = list(trace)
    user_shown = False
    prev_stack: str | None = None
    pending: dict[str, Any] | None = None  # the exception block before the next frame
    first = next((f for f in frames if not f.is_inline), None)
    if (first is not None and first.interrupted and first.pc >= 1 << 63
            and panic_task(prog) is None and not args.exceptions):
        # a dump taken without a panic: the registers each CPU was stopped
        # with, which x86-64 crash shows as an exception frame (crash-arm64
        # starts the frames there and prints no block; --json keeps them)
        registers = first.registers()
        if x86:
            yield f"    [exception RIP: {_symbol_offset(prog, first.pc)}]"
            yield from register_lines(registers)
        pending = _exception_data("cpu", None, dict(registers))
    for i, frame in enumerate(frames):
        try:
            sp: int | None = frame.sp
        except LookupError:  # drgn's arm64 frame-pointer unwinder knows no SP
            sp = None
        on_task_stack = sp is not None and base <= sp <= top
        stack_switch = None
        if prev_stack is not None and on_task_stack and not args.exceptions:
            stack_switch = prev_stack
            yield f"--- <{prev_stack}> ---"
        prev_stack = (None if on_task_stack or sp is None or not x86
                      else _stack_name(prog, sp, cpu))
        if (frame.interrupted and not frame.is_inline
                and any(not f.is_inline for f in frames[:i])):
            # registers saved by an interrupt, exception or system call entry
            user = frame.pc < 1 << 63
            block: list[str] = []
            regs: drgn.Object | None = None
            try:
                if user:
                    regs_addr = task_pt_regs(prog, task)
                elif x86:
                    regs_addr = frames[i - 1].sp
                else:  # arm64's kernel_entry: pt_regs ends where the interrupted SP was
                    regs_addr = frame.sp - prog.type("struct pt_regs").size
                regs = drgn.Object(prog, "struct pt_regs", address=regs_addr)
                if x86:
                    if int(regs.ip) == frame.pc:
                        block = pt_regs_lines(regs)
                else:
                    named = _arm64_pt_regs(regs)
                    if named["pc"] == frame.pc:
                        block = arm64_exception_lines(ctx, named, user)
            except (drgn.FaultError, LookupError, AttributeError):
                # unreadable, no SP known, or another architecture's pt_regs
                regs_addr = 0
            if args.exceptions:
                yield ""
                yield (f"  {'USER' if user else 'KERNEL'}-MODE EXCEPTION FRAME AT: "
                       f"{regs_addr:x}")
            elif not user and (x86 or not block):  # arm64: crash prints the block alone
                yield f"    [exception RIP: {_symbol_offset(prog, frame.pc)}]"
            yield from block
            pending = _exception_data("user" if user else "kernel", regs_addr,
                                      regs if block and regs is not None else {})
            if user:
                data.append(_user_entry_data(task_data, i, sp, frame.pc, pending))
                user_shown = True
                break
        if frame.pc < 1 << 63:  # user space without saved registers: stop, as crash
            user_shown = True
            break
        addresses = frame_addresses(prog, frame)
        if args.exceptions:
            if pending is not None:
                data.append({**_frame_data(prog, i, frame, sp, addresses, None, task_data),
                             "exception": pending})
                pending = None
            continue
        module = module_of_address(prog, frame.pc)
        entry = _frame_data(prog, i, frame, sp, addresses, module, task_data)
        if stack_switch is not None:
            entry["stack"] = stack_switch
        if pending is not None:
            entry["exception"] = pending
            pending = None
        data.append(entry)
        stack, pc = addresses
        yield _frame_line(i, frame, addresses, module,  # -s: crash's ELF symbol+offset
                          _symbol_offset(prog, pc, args.hex)
                          if args.symbols and not frame.is_inline else None)
        if (args.frames or args.symbolic) and not frame.is_inline:
            # crash's frame data.  x86-64: from above this frame's return
            # address to the next frame's, inclusive (drgn's sp is one word
            # up).  arm64: from this frame record to the next one
            # (arm64_display_full_frame(): [fp, next fp))
            nxt = next((frame_addresses(prog, f)[0] if not x86 else f.sp
                        for f in frames[i + 1:] if not f.is_inline), None)
            start = sp if x86 else stack
            if nxt is not None and start is not None and start < nxt <= start + thread_size(prog):
                words: list[int] = []
                yield from _frame_data_lines(ctx, start, nxt, args.symbolic, words)
                entry["stack_words"] = words
    if not x86 and not user_shown and not args.exceptions:
        yield from _arm64_user_block(ctx, task, frames, task_data, data)


def _arm64_eframe_search(ctx: Context, task: drgn.Object, task_data: dict[str, Any],
                         data: list[dict[str, Any]]) -> Iterator[str]:
    """arm64 ``bt -e``, as crash-arm64 searches (arm64.c
    ``arm64_eframe_search()``): each address of the task's stack where a
    kernel-mode ``struct pt_regs`` may lie
    (:func:`kmemx.arch.aarch64.kernel_exception_frames`), its
    ``KERNEL-MODE EXCEPTION FRAME AT:`` block; then, unless the task is a
    kernel thread (PF_KTHREAD), the ``USER-MODE EXCEPTION FRAME AT:`` block
    of ``task_pt_regs()``.  One ``--json`` object per block."""
    from kmemx.arch.aarch64 import kernel_exception_frames

    from .lists import kernel_pac_mask

    prog = ctx.prog
    base = int(task.stack.value_())
    size = thread_size(prog)
    regs_type = prog.type("struct pt_regs")
    where = {"x29": drgn.offsetof(regs_type, "regs") + 29 * 8,
             "x30": drgn.offsetof(regs_type, "regs") + 30 * 8,
             "sp": drgn.offsetof(regs_type, "sp"), "pc": drgn.offsetof(regs_type, "pc"),
             "pstate": drgn.offsetof(regs_type, "pstate")}
    try:
        stack = prog.read(base, size)
    except drgn.FaultError as e:
        data.append({**task_data, "error": f"stack not in the dump: {e}"})
        yield f"  (stack not in the dump: {e.address:#x})"
        return
    text = _kernel_text_test(prog)
    count = 0
    for addr in kernel_exception_frames(stack, base, regs_type.size, where, text,
                                        kernel_pac_mask(ctx)):
        regs = drgn.Object(prog, regs_type, address=addr)
        yield ""
        yield f"KERNEL-MODE EXCEPTION FRAME AT: {addr:x}"
        yield from arm64_exception_lines(ctx, _arm64_pt_regs(regs), False)
        data.append({**task_data, "exception": _exception_data("kernel", addr, regs)})
        count += 1
    if int(task.flags) & PF_KTHREAD:
        return
    addr = task_pt_regs(prog, task)
    regs = drgn.Object(prog, regs_type, address=addr)
    if count:
        yield ""
    yield f"USER-MODE EXCEPTION FRAME AT: {addr:x}"
    yield from arm64_exception_lines(ctx, _arm64_pt_regs(regs), True)
    data.append({**task_data, "exception": _exception_data("user", addr, regs)})


def _kernel_text_test(prog: drgn.Program) -> Callable[[int], bool]:
    """crash's is_kernel_text() (symbols.c) as a one-argument test: :func:`_is_text`."""
    return functools.partial(_is_text, prog)


def _arm64_user_block(ctx: Context, task: drgn.Object, frames: list[drgn.StackFrame],
                      task_data: dict[str, Any], data: list[dict[str, Any]]) -> Iterator[str]:
    """arm64: the user-mode registers crash prints where a stack ends at
    system-call or exception entry from EL0 (arm64.c: BACKTRACE_COMPLETE_USER,
    then arm64_print_exception_frame() of ``task_pt_regs()``).  drgn's
    unwinder stops at the last kernel frame, whose frame record is the
    terminal one kernel_entry writes into ``pt_regs->stackframe``
    (arch/arm64/kernel/entry.S); only a stack that ends there has them."""
    prog = ctx.prog
    last = next((f for f in reversed(frames) if not f.is_inline), None)
    if last is None:
        return
    try:
        regs_addr = task_pt_regs(prog, task)
        record = regs_addr + drgn.offsetof(prog.type("struct pt_regs"), "stackframe")
        if frame_addresses(prog, last)[0] != record:
            return
        regs = drgn.Object(prog, "struct pt_regs", address=regs_addr)
        named = _arm64_pt_regs(regs)
    except (LookupError, drgn.FaultError) as e:
        if isinstance(e, drgn.FaultError):
            ctx.warn(f"task {int(task.value_()):#x}: pt_regs not readable at {e.address:#x}")
        return
    if named["pstate"] & 0xf or not task.mm:
        # PSTATE.M not EL0, or no user address space: a kernel thread's or an
        # idle task's terminal record (ret_from_fork, __primary_switched),
        # whose pt_regs hold no user registers
        return
    yield from arm64_exception_lines(ctx, named, True)
    data.append(_user_entry_data(task_data, None, None, named["pc"],
                                 _exception_data("user", regs_addr, regs)))


def _user_entry_data(task_data: dict[str, Any], i: int | None, sp: int | None, pc: int,
                     exception: dict[str, Any] | None) -> dict[str, Any]:
    """``bt --json``'s object for the entry from user space that ends a
    stack: the user ``pc``, no function, and the registers saved there
    (``frame``/``sp`` where the unwinder gave a user frame, else None)."""
    return {**task_data, "frame": i, "sp": None if sp is None else Address(sp),
            "pc": Address(pc), "function": None, "symbol": None, "offset": None,
            "module": None, "file": None, "line": None, "inlined": False,
            "exception": exception}


_S_IFMT = {0o140000: "SOCK", 0o120000: "LNK", 0o100000: "REG", 0o060000: "BLK",
           0o040000: "DIR", 0o020000: "CHR", 0o010000: "FIFO"}


#: :func:`inode_type` in a drgn script (``files -d --drgn``, ``mount -f --drgn``)
INODE_TYPE_CODE = """\
S_IFMT = """ + repr(_S_IFMT) + """
try:  # crash's PIPE: a FIFO with pipe_inode_operations (gone in modern kernels)
    PIPE_IOPS = prog.symbol("pipe_inode_operations").address
except LookupError:
    PIPE_IOPS = None


def inode_type(inode):  # crash's inode_type()
    kind = S_IFMT.get(inode.i_mode.value_() & 0o170000, "UNKN")
    return "PIPE" if kind == "FIFO" and inode.i_op.value_() == PIPE_IOPS else kind


"""

_FILES_D_CODE = """\
for a in {addrs}:
    d = Object(prog, "struct dentry *", a)
    inode = d.d_inode
    sb = (inode.i_sb if inode else d.d_sb).value_()
    mnt = None
    for m in for_each_mount(prog):  # the last mount of the superblock, as crash
        if m.mnt.mnt_sb.value_() == sb:
            mnt = m
    path = (d_path(mnt.mnt.address_of_(), d) if mnt else dentry_path(d)).decode(
        "utf-8", "surrogateescape")
    kind = inode_type(inode) if inode else "N/A"
    if kind == "PIPE" or (kind == "SOCK" and path == "/"):
        path = ""
    row(hex(a), hex(inode.value_()), hex(sb), kind, path)
"""

_FILES_P_CODE = """\
NAMES = []  # (mask, name) in mm/debug.c's pageflag_names[] order, as %pGp and crash
try:
    for e in prog["pageflag_names"]:
        if not e.name:
            break
        NAMES.append((e.mask.value_(), e.name.string_().decode()))
except KeyError:  # before 4.6: enum pageflags by bit
    flags_enum = prog.type("enum pageflags").enumerators
    limit = next((v for n, v in flags_enum if n == "__NR_PAGEFLAGS"), 64)
    seen = set()
    for n, v in flags_enum:
        if v < limit and v not in seen:
            seen.add(v)
            NAMES.append((1 << v, n.removeprefix("PG_")))
for a in {addrs}:
    table("INODE", "NRPAGES")
    inode = Object(prog, "struct inode *", a)
    mapping = inode.i_mapping
    nrpages = mapping.nrpages.value_() if mapping else 0
    row(hex(a), nrpages)
    if not nrpages:
        continue
    table("PAGE", "PHYSICAL", "MAPPING", "INDEX", "CNT", "FLAGS", "NAMES")
    for index, entry in xa_for_each(mapping.i_pages.address_of_()):
        if xa_is_value(entry):
            continue
        page = cast("struct page *", entry)
        try:  # 6.18 wrapped page->flags in memdesc_flags_t ("mm: introduce memdesc_flags_t")
            flags = page.flags.f.value_()
        except AttributeError:
            flags = page.flags.value_()
        row(hex(page.value_()), hex(page_to_phys(page).value_()), hex(page.mapping.value_()),
            index, page._refcount.counter.value_(), flags,
            ",".join(name for mask, name in NAMES if flags & mask))
"""


def _files_opts_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``files -d/-p --drgn``: the dentry rows by drgn's for_each_mount() and
    d_path(); an inode's page cache by xa_for_each() of i_pages."""
    from kmemx.commands import resolve_each
    from kmemx.commands.drgncode import table_script

    from .lists import parse_address

    addrs = [hex(a) for a in resolve_each(ctx, args.tasks, lambda w: parse_address(ctx, w))]
    words = repr(addrs).replace("'", "")
    if args.dentry:
        return table_script(ctx, FILES_DENTRY_COLUMNS,
                            INODE_TYPE_CODE + _FILES_D_CODE.format(addrs=words),
                            ["drgn:Object", "drgn.helpers.linux.fs:d_path,dentry_path,"
                             "for_each_mount"])
    return table_script(ctx, (), _FILES_P_CODE.format(addrs=words),
                        ["drgn:Object,cast", "drgn.helpers.linux.mm:page_to_phys",
                         "drgn.helpers.linux.xarray:xa_for_each,xa_is_value"])


def _files_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``files --drgn``: drgn's for_each_file() of each task, d_path() of each;
    -c: each file's inode, its i_mapping and the mapping's nrpages."""
    from kmemx.commands.drgncode import table_script

    if args.dentry or args.inode:
        return _files_opts_drgn(ctx, args)

    if args.ref is not None:  # crash's open_file_reference(), as _files_ref_matches()
        ref_code = f"""\
REF = {args.ref!r}
NUMBER = re.fullmatch(r"(0[xX])?[0-9a-fA-F]+", REF) is not None


def component(path):  # crash's FILENAME_COMPONENT()
    return bool(path) and ((path == "/" and REF == "/") or (REF != "/" and REF in path))


def named(max_fds, fd, addrs, kind, path):
    if NUMBER:
        if re.fullmatch(r"[0-9]+", REF) and int(REF) <= max_fds:
            if fd == int(REF):
                return True
        elif fd == int(REF, 16) or int(REF, 16) in addrs:
            return True
    return REF == kind or (bool(path) and len(path.split()) == 1 and component(path))


"""
        test = """\
        if not named(task.files.fdt.max_fds.value_(), fd,
                     (f.value_(), f.f_path.dentry.value_(), inode.value_()), kind, path):
            continue
"""
    else:
        ref_code = test = ""
    types = repr({m: n for m, n in _S_IFMT.items()})
    if args.counts:  # crash's files -c
        columns: tuple[str, ...] = FILES_COUNT_COLUMNS
        cells = """\
        mapping = inode.i_mapping.value_() if inode else 0
        nrpages = inode.i_mapping.nrpages.value_() if mapping else 0
        row(*owner, fd, hex(inode.value_()), hex(mapping), nrpages, kind, path)
"""
    else:
        columns = ("FD", "FILE", "DENTRY", "INODE", "TYPE", "PATH")
        cells = """\
        row(*owner, fd, hex(f.value_()), hex(f.f_path.dentry.value_()), hex(inode.value_()),
            kind, path)
"""
    return table_script(ctx, (*TASK_COLUMNS, "ROOT", "CWD", *columns),
                        _tasks_code(ctx, args.tasks, "files") + f"""\
S_IFMT = {types}


def text(path):  # d_path() of a struct path, "" without a dentry
    if not path.dentry:
        return ""
    return d_path(path.address_of_()).decode("utf-8", "surrogateescape")


for task in tasks:
    if not task.files:
        continue
    fs = task.fs
    root, cwd = (text(fs.root), text(fs.pwd)) if fs else ("", "")
    owner = (task.pid.value_(), hex(task.value_()), task.comm.string_().decode(), root, cwd)
    for fd, f in for_each_file(task):
        inode = f.f_inode
        kind = S_IFMT.get(inode.i_mode.value_() & 0o170000, "?") if inode else "?"
        path = d_path(f.f_path.address_of_()).decode("utf-8", "surrogateescape")
{test}{cells}""".replace("{test}", test).replace("{cells}", cells).replace("S_IFMT = ", ref_code + "S_IFMT = ", 1),
                        ["re", "drgn:Object", "drgn.helpers.linux.fs:d_path,for_each_file"])


@command("files", "display open files of a task",
         description="""
         crash's columns: FD FILE DENTRY INODE TYPE (REG DIR CHR BLK FIFO SOCK LNK)
         PATH, after each task's PID/TASK/CPU/COMMAND line and its ROOT: ... CWD:
         ... line (fs->root, fs->pwd); "No open files" for a task without any.
         --json: each row starts with PID TASK COMM ROOT CWD (whose file it is).

         files                    the current context's (set; at first the panic task)
         files 1                  init's open files
         files 1 97 ffff8880...   several tasks (PID or task address); a bad one
                                  is reported, the others shown
         ps kmx-w00 | files       the files of piped tasks
         files -d DENTRY          the dentry's INODE, SUPERBLK, TYPE and PATH (the
                                  path through the last mount of its superblock, as
                                  crash); several DENTRYs
         files -p INODE           the inode's NRPAGES, then each of its page-cache
                                  pages: PAGE PHYSICAL MAPPING INDEX CNT FLAGS (names)
         files -c [PID...]        per open file: FD INODE I_MAPPING NRPAGES TYPE PATH
         files -R REF [PID...]    only the tasks and open files REF names (crash's
                                  rule: a decimal FD, a FILE/DENTRY/INODE address,
                                  a TYPE or a part of a path; ROOT/CWD too)
         foreach files -R worker  every task's files whose path holds "worker"
         """,
         arguments=[arg("tasks", nargs="*", help="PID or task address"),
                    arg("-d", dest="dentry", action="store_true",
                        help="the arguments are dentry addresses"),
                    arg("-p", dest="inode", action="store_true",
                        help="the arguments are inode addresses: their page cache"),
                    arg("-c", dest="counts", action="store_true",
                        help="FD INODE I_MAPPING NRPAGES TYPE PATH per open file"),
                    arg("-R", dest="ref", metavar="REF",
                        help="only the tasks and open files REF names: an FD, a "
                             "FILE/DENTRY/INODE address, a TYPE or a part of a path")],
         columns=("FD", "FILE", "DENTRY", "INODE", "TYPE", "PATH"), takes_input=True,
         enabled=_enabled, drgn_code=_files_drgn)
def _files(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    if args.dentry or args.inode:
        if args.dentry and args.inode:
            raise CommandError("files: -d and -p exclude each other")
        if not args.tasks:
            raise CommandError(f"files: {'-d' if args.dentry else '-p'} takes an address")
        from kmemx.commands import resolve_each

        from .lists import parse_address

        def kernel_address(word: str) -> int:
            a = parse_address(ctx, word)
            if a < 1 << 63:  # x86-64/arm64: kernel addresses have the top bit set
                raise CommandError(f"files: {word}: not a kernel address")
            return a

        addrs = list(resolve_each(ctx, args.tasks, kernel_address))
        rows = 0
        for row in (_files_dentry(ctx, addrs) if args.dentry else _files_inode(ctx, addrs)):
            rows += 1
            yield row
        if not rows:
            raise CommandError(f"files: nothing readable at {', '.join(args.tasks)}")
        return
    tasks = command_tasks(ctx, args.tasks, input, "files")
    cols = ("FD", "FILE", "DENTRY", "INODE", "TYPE", "PATH")
    ref = args.ref
    for t in tasks:
        try:
            root, cwd = task_root_cwd(t.to_drgn().address_of_())
            # JSON rows say whose file they are (several tasks in one array)
            owner = (*task_cells(t), Name(root), Name(cwd)) if ctx.as_json else ()
            owner_cols = (*TASK_COLUMNS, "ROOT", "CWD") if ctx.as_json else ()
            if ref is not None:  # crash's files -R: the task only when REF is found
                yield from _files_ref(ctx, t, ref, root, cwd, owner, owner_cols)
                continue
            if not ctx.as_json:
                yield TextLine(task_header(ctx, t))
                if root or cwd:
                    yield TextLine(f"ROOT: {root}    CWD: {cwd}")
            files = t.files
            if not files:
                if not ctx.as_json:
                    yield TextLine("No open files")
                continue
        except drgn.FaultError as e:
            ctx.warn(f"task {t.address:#x}: {e}")
            continue
        shown = 0
        try:
            for of in _open_files(ctx, t, files):
                shown += 1
                if args.counts:  # crash's files -c
                    try:
                        inode = of.inode
                        mapping = inode.i_mapping.value() if inode else 0
                        nrpages = ctx.k.view("struct address_space", mapping).nrpages \
                            if mapping else 0
                        yield Row((*owner_cols, *FILES_COUNT_COLUMNS),
                                  (*owner, of.fd, Address(inode.address), Address(mapping),
                                   int(nrpages), of.type, of.path), of.file)
                    except drgn.FaultError as e:
                        ctx.warn(f"PID {t.pid} fd {of.fd}: {e}")
                    continue
                yield Row((*owner_cols, *cols), (*owner, *of.cells()), of.file)
        except drgn.FaultError as e:  # the fd table itself
            ctx.warn(f"task {t.address:#x}: {e}")
            continue
        if not shown and not ctx.as_json:
            yield TextLine("No open files")


class OpenFile(NamedTuple):
    """One open file of a task: its FD, ``struct file`` view, dentry
    address, inode view (a null view when none), TYPE (``S_IFMT`` of
    ``i_mode``, ``?`` without an inode), d_path() (``?`` unreadable) and
    the fd table's ``max_fds``."""

    fd: int
    file: View
    dentry: int
    inode: View
    type: str
    path: str
    max_fds: int

    def cells(self) -> tuple[Any, ...]:
        """FD FILE DENTRY INODE TYPE PATH cells, as ``files`` shows them."""
        return (self.fd, Address(self.file.address), Address(self.dentry),
                Address(self.inode.address), self.type, self.path)


def _open_files(ctx: Context, t: View, files: View) -> Iterator[OpenFile]:
    """Each open file of ``files`` (the task ``t``'s ``struct files_struct``)
    in FD order: ``fdt->fd[0 .. max_fds)``'s non-null entries, as
    iterate_fd() (fs/file.c) visits them; a file that cannot be read is
    warned about and skipped.

    :raises drgn.FaultError: the fd table cannot be read
    """
    from drgn.helpers.linux.fs import d_path

    fdt = files.fdt
    fds, max_fds = fdt.fd.value(), int(fdt.max_fds)
    for fd in range(max_fds):
        try:
            faddr = ctx.k.read_u64(fds + 8 * fd)
            if not faddr:
                continue
            f = ctx.k.view("struct file", faddr)
            dentry, inode = f.f_path.dentry, f.f_inode
            typ = _S_IFMT.get(inode.i_mode & 0o170000, "?") if inode else "?"
            try:
                path = kernel_str(d_path(f.f_path.to_drgn().address_of_()))
            except (ValueError, drgn.FaultError, LookupError):
                path = "?"
        except drgn.FaultError as e:
            ctx.warn(f"PID {t.pid} fd {fd}: {e}")
            continue
        yield OpenFile(fd, f, dentry.address, inode, typ, path, max_fds)


#: the columns --json rows of files and vm start with: whose row it is
TASK_COLUMNS = ("PID", "TASK", "COMM")


def task_cells(t: View) -> tuple[Any, ...]:
    """PID TASK COMM cells of ``t`` (``struct task_struct``) for TASK_COLUMNS."""
    return (Pid(int(t.pid)), Address(t.address), Comm(kernel_str(t.comm.string())))


def task_root_cwd(task: drgn.Object) -> tuple[str, str]:
    """crash's ROOT and CWD of ``task`` (``struct task_struct *``;
    :func:`kmemx.helpers.fsstruct.task_root_cwd`), ``?`` for an unreadable one."""
    from kmemx.helpers.fsstruct import task_root_cwd as root_cwd

    try:
        return root_cwd(task)
    except (drgn.FaultError, ValueError):
        return "?", "?"


def _files_ref_matches(ref: str, max_fds: int, fd: int, addrs: tuple[int, int, int],
                       typ: str, path: str) -> bool:
    """crash's open_file_reference() (filesys.c): whether ``files -R REF``
    names this open file.  A decimal REF up to max_fds is an FD; another
    number (hex digits, ``0x``) an FD or a FILE/DENTRY/INODE address; any REF
    equal to TYPE, or a part of PATH (``/`` only the path ``/``), matches."""
    number = re.fullmatch(r"(0[xX])?[0-9a-fA-F]+", ref) is not None
    if number:
        if re.fullmatch(r"\d+", ref) and int(ref) <= max_fds:
            if fd == int(ref):
                return True
        else:
            value = int(ref, 16)
            if fd == value or value in addrs:
                return True
    if ref == typ:
        return True
    if path and len(path.split()) == 1:  # crash splits the line at blanks
        return filename_component(path, ref)
    return False


def filename_component(path: str, ref: str) -> bool:
    """crash's FILENAME_COMPONENT() (filesys.c, memory.c): whether ``files
    -R``/``vm -R`` REF names ``path``: ``/`` names only the path ``/``,
    another REF any non-empty path holding it."""
    if not path:
        return False
    return (path == "/" and ref == "/") or (ref != "/" and ref in path)


def _files_ref(ctx: Context, t: View, ref: str, root: str, cwd: str,
               owner: tuple[Any, ...], owner_cols: tuple[str, ...]) -> Iterator[Any]:
    """``files -R REF``: the task's header and ROOT/CWD line, the files
    header and the open files REF names (:func:`_files_ref_matches`), only
    when REF names the root, the cwd or an open file, as crash."""
    shown = False
    if not ctx.as_json and (filename_component(root, ref) or filename_component(cwd, ref)):
        yield TextLine(task_header(ctx, t))
        yield TextLine(f"ROOT: {root}    CWD: {cwd} ")
        shown = True
    files = t.files
    if not files:
        if shown:
            yield TextLine("")
        return
    for of in _open_files(ctx, t, files):
        if not _files_ref_matches(ref, of.max_fds, of.fd,
                                  (of.file.address, of.dentry, of.inode.address),
                                  of.type, of.path):
            continue
        if not shown and not ctx.as_json:
            yield TextLine(task_header(ctx, t))
            yield TextLine(f"ROOT: {root}    CWD: {cwd} ")
            shown = True
        yield Row((*owner_cols, "FD", "FILE", "DENTRY", "INODE", "TYPE", "PATH"),
                  (*owner, *of.cells()), of.file)
    if shown:
        yield TextLine("")


FILES_DENTRY_COLUMNS = ("DENTRY", "INODE", "SUPERBLK", "TYPE", "PATH")
FILES_INODE_COLUMNS = ("INODE", "NRPAGES")
FILES_COUNT_COLUMNS = ("FD", "INODE", "I_MAPPING", "NRPAGES", "TYPE", "PATH")
FILES_PAGE_COLUMNS = ("PAGE", "PHYSICAL", "MAPPING", "INDEX", "CNT", "FLAGS", "NAMES")


def inode_type(inode: drgn.Object) -> str:
    """crash's TYPE of an inode (filesys.c's inode_type()): REG DIR LNK CHR
    BLK FIFO SOCK by ``S_IFMT`` of ``i_mode``, PIPE for a FIFO whose ``i_op``
    is ``pipe_inode_operations`` (an anonymous pipe), UNKN otherwise."""
    kind = _S_IFMT.get(int(inode.i_mode) & 0o170000, "UNKN")
    if kind == "FIFO":
        try:
            pipe_iops = inode.prog_.symbol("pipe_inode_operations").address
            if inode.i_op.value_() == pipe_iops:
                return "PIPE"
        except LookupError:
            pass
    return kind


def dentry_path_of(prog: drgn.Program, dentry: drgn.Object) -> str:
    """The full path of ``dentry`` (``struct dentry *``) as crash's ``files
    -d`` finds it: d_path() through the last mount, in the initial mount
    namespace, of the dentry's superblock (``d_inode->i_sb``, else
    ``d_sb``); without one, the path inside its filesystem
    (dentry_path_raw())."""
    from drgn.helpers.linux.fs import d_path, dentry_path, for_each_mount

    inode = dentry.d_inode.read_()
    sb = (inode.i_sb if inode else dentry.d_sb).value_()
    found = None
    for mnt in for_each_mount(prog):
        if mnt.mnt.mnt_sb.value_() == sb:
            found = mnt
    if found is None:
        return kernel_str(dentry_path(dentry))
    return kernel_str(d_path(found.mnt.address_of_(), dentry))


def _files_dentry(ctx: Context, addrs: Iterable[int]) -> Iterator[Any]:
    """``files -d``: one DENTRY INODE SUPERBLK TYPE PATH row per dentry (a
    negative dentry: TYPE N/A, the superblock from d_sb, as crash)."""
    for a in addrs:
        try:
            d = drgn.Object(ctx.prog, "struct dentry *", value=a)
            inode = d.d_inode.read_()
            sb = (inode.i_sb if inode else d.d_sb).value_()
            path = dentry_path_of(ctx.prog, d)
            kind = inode_type(inode) if inode else "N/A"
            if kind == "PIPE" or (kind == "SOCK" and path == "/"):
                path = ""  # crash's inode_type() blanks these
            yield Row(FILES_DENTRY_COLUMNS, (Address(a), Address(inode.value_()), Address(sb),
                                             kind, Name(path)), d)
        except drgn.FaultError as e:
            ctx.warn(f"files: dentry {a:x}: cannot read {fault_where(e)}")


def _files_inode(ctx: Context, addrs: Iterable[int]) -> Iterator[Any]:
    """``files -p``: the inode's INODE NRPAGES row, then a PAGE PHYSICAL
    MAPPING INDEX CNT FLAGS NAMES row per page in its page cache (by index,
    as crash; its kmem -p columns)."""
    from drgn.helpers.linux.mm import page_to_phys

    from kmemx.commands import Hex
    from kmemx.helpers.pagewalk import xa_for_each_folio

    from .memory import page_flag_names

    for a in addrs:
        try:
            inode = drgn.Object(ctx.prog, "struct inode *", value=a)
            mapping = inode.i_mapping.read_()
            nrpages = int(mapping.nrpages) if mapping else 0
            yield Row(FILES_INODE_COLUMNS, (Address(a), nrpages), inode)
            if not nrpages:
                continue
            count = 0
            for index, page in xa_for_each_folio(mapping):
                count += 1
                flags = page_flags(page)
                yield Row(FILES_PAGE_COLUMNS,
                          (Address(page.value_()), Address(int(page_to_phys(page))),
                           Address(page.mapping.value_()), Hex(index),
                           int(page._refcount.counter), Hex(flags),
                           page_flag_names(ctx.k, flags)), page)
            if count != nrpages:
                ctx.warn(f"files: inode {a:x}: xarray page count: {count}  nrpages: {nrpages}")
        except drgn.FaultError as e:
            ctx.warn(f"files: inode {a:x}: cannot read {fault_where(e)}")


VM_MM_COLUMNS = ("MM", "PGD", "RSS", "TOTAL_VM")
VM_COLUMNS = ("VMA", "START", "END", "FLAGS", "FILE")


class KSize(Size):
    """A size shown as crash's ``vm`` shows it: ``1668k``; bytes in JSON."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"{int(self) // 1024}k"


def _vm_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``vm --drgn``: each task's mm (RSS as ps counts it: the mm's counters
    plus, before 6.2, each task's unsynced cache) and drgn's for_each_vma()."""
    from kmemx.commands.drgncode import table_script

    return table_script(ctx, (*TASK_COLUMNS, *VM_MM_COLUMNS),
                        _RSS_CODE + _tasks_code(ctx, args.tasks, "vm") + f"""\
PAGE = {PAGE_SIZE}
for task in tasks:
    owner = (task.pid.value_(), hex(task.value_()), task.comm.string_().decode())
    table("PID", "TASK", "COMM", "MM", "PGD", "RSS", "TOTAL_VM")
    mm = task.mm
    if not mm:
        row(*owner, hex(0), hex(0), 0, 0)
        continue
    row(*owner, hex(mm.value_()), hex(mm.pgd.value_()), rss_pages(mm) * PAGE,
        mm.total_vm.value_() * PAGE)
    table("PID", "TASK", "COMM", "VMA", "START", "END", "FLAGS", "FILE")
    for vma in for_each_vma(mm):
        path = ""
        if vma.vm_file:
            path = d_path(vma.vm_file.f_path.address_of_()).decode("utf-8", "surrogateescape")
        row(*owner, hex(vma.value_()), hex(vma.vm_start.value_()), hex(vma.vm_end.value_()),
            hex(vma.vm_flags.value_()), path)
""", ["drgn:Object", "drgn.helpers.linux.fs:d_path", "drgn.helpers.linux.mm:for_each_vma",
      *_RSS_IMPORTS])


#: vm -p/-P/-R --drgn: the page walk of kmemx.helpers.pagewalk.follow_pte
_FOLLOW_PTE_CODE = """\
L5 = "__pgtable_l5_enabled" in prog and bool(prog["__pgtable_l5_enabled"].value_())
PFN_MASK = ((1 << 52) - 1) & ~0xFFF
INIT_MM = prog["init_mm"].address_of_()


def follow_pte(pgd, vaddr):  # (physical or None, entry); PROTNONE counts as present
    levels = [48, 39, 30, 21, 12] if L5 else [39, 30, 21, 12]
    table = pgd
    for i, shift in enumerate(levels):
        value = prog.read_u64(table + ((vaddr >> shift) & 511) * 8, True)
        last = i == len(levels) - 1
        if (last or shift == 21) and not value & 0x101:
            return None, value if last else 0
        if not last and shift != 21 and not value & 1:
            return None, 0
        if last or (shift in (30, 21) and value & 0x80):
            size = 1 << shift
            return (value & PFN_MASK & ~(size - 1)) | (vaddr & (size - 1)), value
        table = value & PFN_MASK


def swap_entry(pte):  # (swap_info index, offset): __swp_type(), __swp_offset()
    return pte >> 59, ((~pte << 5) & ((1 << 64) - 1)) >> 14


"""

#: vm -p/-P/-R --drgn on arm64: kmemx.arch.aarch64.uvtop() (crash's
#: arm64_uvtop(): a page is mapped when PTE_VALID is set) and its swap entries
_FOLLOW_PTE_CODE_AARCH64 = """\
INFO = dict(line.split("=", 1) for line in
            prog["VMCOREINFO"].string_().decode().splitlines() if "=" in line)
VA_BITS = int(INFO["NUMBER(VA_BITS)"])
if int(INFO.get("NUMBER(TCR_EL1_T1SZ)", "0"), 0):  # the run-time size, 4 KiB pages
    VA_BITS = 64 - int(INFO["NUMBER(TCR_EL1_T1SZ)"], 0)
LEVELS = (VA_BITS - 12 + 8) // 9
INIT_MM = prog["init_mm"].address_of_()


def out(e):  # __pte_to_phys(): 52-bit output addresses keep bits 49:48 and 9:8 (LPA2)
    pa = e & 0x0000FFFFFFFFF000
    return pa | (e & 0x0003000000000000) | ((e & 0x300) << 42) if VA_BITS == 52 else pa


def follow_pte(pgd, vaddr):  # (physical or None, entry), crash's arm64_uvtop()
    table, shift, n = pgd, 12 + 9 * (LEVELS - 1), 1 << ((VA_BITS - 13) % 9 + 1)
    while True:
        value = prog.read_u64(table + ((vaddr >> shift) & (n - 1)) * 8, True)
        if shift == 12:  # the page: mapped when PTE_VALID is set
            return (out(value) | (vaddr & 0xFFF), value) if value & 1 else (None, value)
        if value & 3 == 1:  # a block
            return (out(value) & ~((1 << shift) - 1)) | (vaddr & ((1 << shift) - 1)), value
        if value & 3 != 3:
            return None, 0
        table, shift, n = out(value), shift - 9, 512


def swap_entry(pte):  # (swap_info index, offset): arm64's __swp_type(), __swp_offset()
    return (pte >> 3) & 0x1F, (pte >> 8) & ((1 << 50) - 1)


"""


def _follow_pte_code(ctx: Context) -> str:
    """The page walk of the --drgn scripts of the dump's architecture."""
    from kmemx.arch import is_aarch64

    return _FOLLOW_PTE_CODE_AARCH64 if is_aarch64(ctx.prog) else _FOLLOW_PTE_CODE


#: vm -p --drgn: the page walk of kmemx.helpers.pagewalk.walk_page_vma (after
#: _follow_pte_code())
_VM_PAGES_CODE = """\
vma_tables = 0


def pages(vma, mm, owner):  # crash's vm -p rows of one VMA
    global vma_tables
    if mm == INIT_MM:
        return
    vma_tables += 1
    table("PID", "TASK", "COMM", "VIRTUAL", "PHYSICAL")
    pgd = follow_phys(INIT_MM, mm.pgd.value_())
    start = vma.vm_start.value_()
    path = None
    for vaddr in range(start, vma.vm_end.value_(), PAGE):
        phys, pte = follow_pte(pgd, vaddr)
        if phys is not None:
            where = hex(phys)
        elif pte:
            kind, off = swap_entry(pte)
            si = prog["swap_info"][kind]
            dev = d_path(si.swap_file.f_path.address_of_()).decode("utf-8", "surrogateescape")
            where = f"SWAP: {dev}  OFFSET: {off}"
        elif vma.vm_file:
            if path is None:
                path = d_path(vma.vm_file.f_path.address_of_()).decode(
                    "utf-8", "surrogateescape")
            offset = ((vaddr - start) // PAGE + vma.vm_pgoff.value_()) * PAGE
            where = f"FILE: {path}  OFFSET: {offset:x}"
        else:
            where = "(not mapped)"
        row(*owner, hex(vaddr), where)


"""


#: vm -M/-P/-R --drgn: the VMAs (of the mm given for a task without one), a
#: VMA's pages, and crash's reference search over the VMAs and their pages
_VM_SELECT_CODE = """\
MM_GIVEN = {mm_given}  # -M: the mm of a task without one
ONLY_VMA = {only_vma}  # -P: this VMA and its pages
REF = {ref!r}  # -R: what it names (crash's memory.c VM_REF checks)
HEXVAL = int(REF, 16) if REF is not None and re.fullmatch(r"(0[xX])?[0-9a-fA-F]+", REF) else None
DECVAL = int(REF) if REF is not None and re.fullmatch(r"[0-9]+", REF) else None
MM_COLUMNS = ("PID", "TASK", "COMM", "MM", "PGD", "RSS", "TOTAL_VM")
VMA_COLUMNS = ("PID", "TASK", "COMM", "VMA", "START", "END", "FLAGS", "FILE")
PAGE_COLUMNS = ("PID", "TASK", "COMM", "VIRTUAL", "PHYSICAL")
try:  # without swap devices no page but a numbered one can match
    SEARCH_PAGES = HEXVAL is not None or bool(prog["nr_swapfiles"].value_())
except KeyError:
    SEARCH_PAGES = True


def component(path):  # crash's FILENAME_COMPONENT()
    return bool(path) and ((path == "/" and REF == "/") or (REF != "/" and REF in path))


def text(path):
    return d_path(path.address_of_()).decode("utf-8", "surrogateescape")


def page_rows(vma, mm):  # (VIRTUAL, PHYSICAL cell, whether REF names the page)
    if mm == INIT_MM:
        return
    pgd = follow_phys(INIT_MM, mm.pgd.value_())
    start = vma.vm_start.value_()
    for vaddr in range(start, vma.vm_end.value_(), PAGE):
        phys, pte = follow_pte(pgd, vaddr)
        if phys is not None:
            yield vaddr, hex(phys), HEXVAL in (vaddr, phys)
        elif pte:
            kind, off = swap_entry(pte)
            dev = text(prog["swap_info"][kind].swap_file.f_path)
            yield (vaddr, f"SWAP: {{dev}}  OFFSET: {{off}}",
                   HEXVAL == vaddr or DECVAL == off or component(dev))
        elif vma.vm_file:
            offset = ((vaddr - start) // PAGE + vma.vm_pgoff.value_()) * PAGE
            yield (vaddr, f"FILE: {{text(vma.vm_file.f_path)}}  OFFSET: {{offset:x}}",
                   HEXVAL in (vaddr, offset))
        else:
            yield vaddr, "(not mapped)", HEXVAL == vaddr


for task in tasks:
    owner = (task.pid.value_(), hex(task.value_()), task.comm.string_().decode())
    mm = task.mm
    mm_cells = ((hex(mm.value_()), hex(mm.pgd.value_()), rss_pages(mm) * PAGE,
                 mm.total_vm.value_() * PAGE) if mm else (hex(0), hex(0), 0, 0))
    if REF is not None:
        if HEXVAL is not None and HEXVAL in (int(mm_cells[0], 16), int(mm_cells[1], 16)):
            table(*MM_COLUMNS)
            row(*owner, *mm_cells)
            continue
    elif ONLY_VMA is None:
        table(*MM_COLUMNS)
        row(*owner, *mm_cells)
    if not mm:
        if MM_GIVEN is None or REF is not None:
            continue
        mm = Object(prog, "struct mm_struct *", MM_GIVEN)
    shown = False
    for vma in for_each_vma(mm):
        if ONLY_VMA is not None and vma.value_() != ONLY_VMA:
            continue
        path = text(vma.vm_file.f_path) if vma.vm_file else ""
        cells = (*owner, hex(vma.value_()), hex(vma.vm_start.value_()),
                 hex(vma.vm_end.value_()), hex(vma.vm_flags.value_()), path)
        if REF is None:
            table(*VMA_COLUMNS)
            row(*cells)
            if ONLY_VMA is not None:
                table(*PAGE_COLUMNS)
                for vaddr, where, _ in page_rows(vma, mm):
                    row(*owner, hex(vaddr), where)
            continue
        vma_shown = False
        if HEXVAL in (vma.value_(), vma.vm_flags.value_()) or component(path):
            if not shown:
                table(*MM_COLUMNS)
                row(*owner, *mm_cells)
                shown = True
            table(*VMA_COLUMNS)
            row(*cells)
            vma_shown = True
        if not SEARCH_PAGES:
            continue
        for vaddr, where, named in page_rows(vma, mm):
            if not named:
                continue
            if not shown:
                table(*MM_COLUMNS)
                row(*owner, *mm_cells)
                shown = True
            if not vma_shown:
                table(*VMA_COLUMNS)
                row(*cells)
                vma_shown = True
            table(*PAGE_COLUMNS)
            row(*owner, hex(vaddr), where)
"""


def _vm_select_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``vm -M MM``, ``vm -P VMA`` and ``vm -R REF --drgn``: one script for
    the three, drgn's for_each_vma() and the page walk written out."""
    from kmemx.commands.drgncode import table_script

    from .lists import parse_address

    mm_given = parse_address(ctx, args.mm_addr) if args.mm_addr is not None else None
    only_vma = parse_address(ctx, args.vma) if args.vma else None
    return table_script(ctx, (), _RSS_CODE + _follow_pte_code(ctx)
                        + _tasks_code(ctx, args.tasks, "vm") + f"PAGE = {PAGE_SIZE}\n"
                        + _VM_SELECT_CODE.format(
                            mm_given=None if mm_given is None else hex(mm_given),
                            only_vma=None if only_vma is None else hex(only_vma),
                            ref=args.ref),
                        ["re", "drgn:Object", "drgn.helpers.linux.fs:d_path",
                         "drgn.helpers.linux.mm:follow_phys,for_each_vma", *_RSS_IMPORTS])


def _vm_drgn_options(ctx: Context, args: argparse.Namespace) -> str:
    """``vm --drgn`` with its options: -m/-v each mm_struct/vm_area_struct by
    drgn's format_() (integer_base for -x/-d), -p the plain script with each
    VMA's page rows (the page-table walk written out)."""
    from kmemx.commands.drgncode import only, text_script

    if args.vm_flags is not None:
        from kmemx.commands.drgncode import text_script

        flags = int(args.vm_flags, 16)
        return text_script(ctx, f"""\
flags = {flags:#x}
names = []
table = prog["vmaflag_names"]  # the kernel's own names (mm/debug.c)
for i in range(len(table)):
    if not table[i].name:
        break
    mask = table[i].mask.value_()
    if flags & mask == mask:
        names.append(table[i].name.string_().decode().upper())
print(f"{{flags:x}}: ({{'|'.join(names)}})")
""")
    if args.vma or args.mm_addr is not None or args.ref is not None:
        if args.pages or args.mm or args.vmas:
            raise only("vm", "-M, -P and -R alone")
        return _vm_select_drgn(ctx, args)
    if args.mm or args.vmas:
        what = ("[task.mm[0]] if task.mm else []" if args.mm
                else "[v[0] for v in for_each_vma(task.mm)] if task.mm else []")
        return text_script(ctx, _HEADER_CODE + _tasks_code(ctx, args.tasks, "vm") + f"""\
for task in tasks:
    print(header(task))
    for obj in {what}:
        print(obj.format_(integer_base={args.radix or 10}))
""", ["drgn:Object", "drgn.helpers.linux.mm:for_each_vma",
      "drgn.helpers.linux.sched:task_cpu"])
    script = _vm_drgn(ctx, args)
    if not args.pages:
        return script
    row = "        row(*owner, hex(vma.value_()), hex(vma.vm_start.value_())"
    loop = "for task in tasks:\n"
    if script.count(row) != 1 or script.count(loop) != 1:
        raise only("vm", "the plain, -m and -v forms")
    script = script.replace(loop, _follow_pte_code(ctx) + _VM_PAGES_CODE + loop)
    script = script.replace(row, """\
        if vma_tables:
            table("PID", "TASK", "COMM", "VMA", "START", "END", "FLAGS", "FILE")
""" + row)
    end = "            hex(vma.vm_flags.value_()), path)\n"
    if script.count(end) != 1:
        raise only("vm", "the plain, -m and -v forms")
    script = script.replace(end, end + "        pages(vma, mm, owner)\n")
    return script.replace("from drgn.helpers.linux.mm import for_each_vma",
                          "from drgn.helpers.linux.mm import follow_phys, for_each_vma")


def _vma_path(vma: drgn.Object) -> str:
    """The path of the file ``struct vm_area_struct *vma`` maps (``d_path()``),
    "" for an anonymous mapping, "?" when it cannot be read."""
    from drgn.helpers.linux.fs import d_path

    if not vma.vm_file:
        return ""
    try:
        return kernel_str(d_path(vma.vm_file.f_path.address_of_()))
    except (ValueError, LookupError, drgn.FaultError):
        return "?"


@command("vm", "display a task's virtual memory: its mm and every VMA",
         description="""
         crash's vm: after the task's PID/TASK/CPU/COMMAND line, its MM, PGD (the
         page table's virtual address), RSS and TOTAL_VM (as ps counts them), then
         one row per VMA in address order: VMA (struct vm_area_struct), START,
         END, FLAGS (vm_flags, hex) and FILE (the mapped file's path, empty for
         anonymous memory).  A kernel thread has no mm: zeros, no VMAs.

         vm                       the current context (set; at first the panic task)
         vm 1 94                  these PIDs (or task addresses)
         ps kmx-main | vm         piped tasks
         vm 1 --json              MM/VMA rows as JSON
         vm -p 95                 after each VMA, each of its pages: VIRTUAL and
                                  PHYSICAL, or crash's "FILE: path  OFFSET: hex"
                                  (a file page not mapped), "SWAP: device  OFFSET:
                                  n" (a swap entry), "(not mapped)"
         vm -P VMA [PID]          the same for one VMA of the task (the current
                                  context's by default): its row and its pages
         vm -m 95                 the task's struct mm_struct (-x hex, -d decimal)
         vm -v 95                 each struct vm_area_struct (-x hex, -d decimal)
         vm -f 8000075            name vm_flags bits: crash's line, the kernel's
                                  own names (vmaflag_names), upper case
         vm -M MM PID             a task without an mm (exiting): the VMAs of MM
         vm -R REF [PID]          only what REF names (crash's rule): REF the mm
                                  or its PGD: the MM row; else the VMAs whose
                                  address, FLAGS value or file path (a part of
                                  it) REF is, and the pages whose virtual or
                                  physical address, file offset (hex) or swap
                                  offset (decimal) or device REF is, under their
                                  VMA; tasks where REF names nothing show nothing
         foreach vm -R libc       every task mapping a file whose path holds libc
         --json: every row starts with PID TASK COMM (whose it is).
         """,
         arguments=[arg("tasks", nargs="*", help="PID or task address"),
                    arg("-p", dest="pages", action="store_true",
                        help="translate each page of each VMA"),
                    arg("-P", dest="vma", metavar="VMA",
                        help="translate the pages of this VMA (struct vm_area_struct)"),
                    arg("-m", dest="mm", action="store_true", help="dump the mm_struct"),
                    arg("-v", dest="vmas", action="store_true",
                        help="dump every vm_area_struct"),
                    arg("-x", dest="radix", action="store_const", const=16,
                        help="-m/-v: integers in hexadecimal"),
                    arg("-d", dest="radix", action="store_const", const=10,
                        help="-m/-v: integers in decimal"),
                    arg("-f", dest="vm_flags", metavar="VM_FLAGS",
                        help="name the bits of a vm_flags value (the kernel's "
                             "vmaflag_names)"),
                    arg("-M", dest="mm_addr", metavar="MM",
                        help="the VMAs of this mm_struct for a task without an mm "
                             "(crash's -M: an exiting task whose task_struct lost it)"),
                    arg("-R", dest="ref", metavar="REF",
                        help="only what REF names: the mm or pgd, a VMA, a vm_flags "
                             "value, a part of a file's path, a page's virtual or "
                             "physical address, swap offset or file offset")],
         columns=VM_COLUMNS, takes_input=True, enabled=_enabled, drgn_code=_vm_drgn_options)
def _vm(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from drgn.helpers.linux.mm import for_each_vma

    from kmemx.helpers.mm import task_mm_usage

    if args.vm_flags is not None:
        yield from _vm_flags(ctx, args)
        return
    if sum(map(bool, (args.pages, args.mm, args.vmas, args.vma, args.ref is not None))) > 1:
        raise CommandError("vm: -p, -P, -m, -v and -R exclude each other")
    if args.ref is not None:
        if args.mm_addr is not None or args.radix:
            raise CommandError("vm: -R goes with tasks only")
        ref = VmRef(args.ref)
        for t in command_tasks(ctx, args.tasks, input, "vm"):
            try:
                yield from _vm_ref(ctx, t, ref)
            except drgn.FaultError as e:
                ctx.warn(f"task {t.address:#x}: cannot read {fault_where(e)}")
        return
    mm_given = None
    if args.mm_addr is not None:
        from .lists import parse_address

        mm_given = parse_address(ctx, args.mm_addr)
        if mm_given < 1 << 63:
            raise CommandError(f"vm: -M {args.mm_addr}: not a kernel address")
    only_vma = None
    if args.vma:
        from .lists import parse_address

        only_vma = parse_address(ctx, args.vma)
    if args.radix and not (args.mm or args.vmas):
        raise CommandError("vm: -x and -d go with -m or -v")
    tasks = command_tasks(ctx, args.tasks, input, "vm")
    if args.mm or args.vmas:
        yield from _vm_dump(ctx, tasks, args)
        return
    for t in tasks:
        try:
            # JSON rows say whose they are (several tasks in one array)
            owner = task_cells(t) if ctx.as_json else ()
            oc = TASK_COLUMNS if ctx.as_json else ()
            if not ctx.as_json:
                yield TextLine(task_header(ctx, t))
            mm = t.mm
            if not mm:
                if only_vma is None:
                    yield Row((*oc, *VM_MM_COLUMNS),
                              (*owner, Address(0), Address(0), KSize(0), KSize(0)), t)
                if mm_given is None:
                    continue
                # crash's -M: the VMAs of the mm given for a task that has none
                # (an exiting task's), after the task's own (zero) MM row
                mm = ctx.k.view("struct mm_struct", mm_given)
            if only_vma is None and t.mm:  # crash's -P: the VMA and its pages only
                rss, total_vm = task_mm_usage(ctx.k, mm.address)
                yield Row((*oc, *VM_MM_COLUMNS),
                          (*owner, Address(mm.address), Address(mm.pgd.value()),
                           KSize(rss * PAGE_SIZE), KSize(total_vm * PAGE_SIZE)), mm)
            for vma in for_each_vma(drgn.Object(ctx.prog, "struct mm_struct *",
                                                value=mm.address)):
                if only_vma is not None and vma.value_() != only_vma:
                    continue
                path = _vma_path(vma)
                yield Row((*oc, *VM_COLUMNS),
                          (*owner, Address(vma.value_()), Address(vma.vm_start.value_()),
                           Address(vma.vm_end.value_()), Address(vma.vm_flags.value_()),
                           Name(path)), vma)
                if args.pages or only_vma is not None:
                    for page in _vm_pages(ctx, vma, mm):
                        yield Row((*oc, *page.columns), (*owner, *page.cells), page.obj)
        except drgn.FaultError as e:
            ctx.warn(f"task {t.address:#x}: cannot read {fault_where(e)}")


VM_PAGE_COLUMNS = ("VIRTUAL", "PHYSICAL")


def _vm_flags(ctx: Context, args: argparse.Namespace) -> Iterator[Any]:
    """``vm -f VM_FLAGS``: crash's ``8000075: (READ|EXEC|...)`` line, the
    names the kernel's own ``vmaflag_names`` gives the set bits (upper case,
    as crash); JSON: FLAGS NAMES."""
    from kmemx.commands import Hex
    from kmemx.helpers.vmflags import for_each_vma_flag

    from .lists import parse_address

    if args.tasks or args.pages or args.mm or args.vmas or args.vma or args.mm_addr:
        raise CommandError("vm: -f takes a vm_flags value alone")
    flags = parse_address(ctx, args.vm_flags if args.vm_flags.startswith("0x")
                          else "0x" + args.vm_flags)
    try:
        names = "|".join(name.upper() for _, name in for_each_vma_flag(ctx.prog, flags))
    except LookupError:
        raise CommandError("vm: -f: the kernel has no vmaflag_names table") from None
    if ctx.as_json:
        yield Row(("FLAGS", "NAMES"), (Hex(flags), names))
    else:
        yield TextLine(f"{flags:x}: ({names})")


def _vm_pages(ctx: Context, vma: drgn.Object, mm: View) -> Iterator[Any]:
    """``vm -p``: the VIRTUAL/PHYSICAL rows of one VMA (crash's
    vm_area_page_dump(); none for init_mm, as crash)."""
    for _page, row in _vm_page_rows(ctx, vma, mm):
        yield row


def _vm_page_rows(ctx: Context, vma: drgn.Object, mm: View) -> Iterator[tuple[Any, Row]]:
    """Each page of one VMA (:func:`kmemx.helpers.pagewalk.walk_page_vma`'s
    VmaPage) with its ``vm -p`` row: VIRTUAL and PHYSICAL, or crash's
    ``SWAP: device  OFFSET: n``, ``FILE: path  OFFSET: hex`` or ``(not
    mapped)``; nothing for init_mm, as crash."""
    from drgn.helpers.linux.fs import d_path
    from drgn.helpers.linux.mm import follow_phys

    from kmemx.helpers.pagewalk import walk_page_vma

    prog = ctx.prog
    init_mm = prog["init_mm"].address_of_()
    if mm.address == init_mm.value_():
        return
    pgd = int(follow_phys(init_mm, mm.pgd.value()))
    paths: dict[int, str] = {}
    for p in walk_page_vma(vma, pgd):
        where: Any
        if p.phys is not None:
            where = Address(p.phys)
        elif p.swap is not None:
            where = Name(f"SWAP: {_swap_device(ctx, p.swap[0])}  OFFSET: {p.swap[1]}")
        elif p.file is not None:
            key = p.file.value_()
            if key not in paths:
                paths[key] = kernel_str(d_path(p.file.f_path.address_of_()))
            where = Name(f"FILE: {paths[key]}  OFFSET: {p.offset:x}")
        else:
            where = Name("(not mapped)")
        yield p, Row(VM_PAGE_COLUMNS, (Address(p.vaddr), where))


class VmRef:
    """crash's ``vm -R REF`` (memory.c's struct reference and its VM_REF
    checks): REF as a number when it is one (hexadecimal, and decimal too
    when only digits) and as a file-name component."""

    def __init__(self, ref: str) -> None:
        self.text = ref
        self.hexval = int(ref, 16) if re.fullmatch(r"(0[xX])?[0-9a-fA-F]+", ref) else None
        self.decval = int(ref) if re.fullmatch(r"\d+", ref) else None

    def component(self, path: str) -> bool:
        """crash's FILENAME_COMPONENT() (:func:`filename_component`)."""
        return filename_component(path, self.text)

    def names_vma(self, vma: int, flags: int, path: str) -> bool:
        """The VMA's address, its vm_flags value or a part of its file's path."""
        return self.hexval in (vma, flags) or self.component(path)

    def names_page(self, p: Any, swap_device: Callable[[int], str]) -> bool:
        """A page (VmaPage) REF names (crash's vm_area_page_dump() in its
        search mode): its virtual address; mapped, its physical address;
        swapped, its swap offset (decimal) or device path; a file page not
        mapped, its file offset."""
        if self.hexval is not None and self.hexval == p.vaddr:
            return True
        if p.phys is not None:
            return bool(self.hexval == p.phys)
        if p.swap is not None:
            return ((self.decval is not None and self.decval == p.swap[1])
                    or self.component(swap_device(p.swap[0])))
        if p.file is not None:
            return bool(self.hexval is not None and self.hexval == p.offset)
        return False


def _vm_ref(ctx: Context, t: View, ref: VmRef) -> Iterator[Any]:
    """``vm -R REF`` of one task, as crash's vm_area_dump() with a
    reference: REF the mm or its pgd: the task's header and MM row only;
    else the VMAs REF names (:meth:`VmRef.names_vma`) and, after each VMA,
    the pages from the first one REF names on that REF names
    (:meth:`VmRef.names_page`), the task's header and MM row first; a
    blank line after a task shown, nothing for the others."""
    from drgn.helpers.linux.mm import for_each_vma

    from kmemx.helpers.mm import task_mm_usage

    owner = task_cells(t) if ctx.as_json else ()
    oc = TASK_COLUMNS if ctx.as_json else ()
    mm = t.mm
    mm_addr = mm.address if mm else 0
    pgd = int(mm.pgd.value()) if mm else 0
    rss, total_vm = task_mm_usage(ctx.k, mm_addr) if mm else (0, 0)
    mm_row = Row((*oc, *VM_MM_COLUMNS), (*owner, Address(mm_addr), Address(pgd),
                                          KSize(rss * PAGE_SIZE),
                                          KSize(total_vm * PAGE_SIZE)), mm or t)

    def head() -> Iterator[Any]:
        if not ctx.as_json:
            yield TextLine(task_header(ctx, t))
        yield mm_row

    if ref.hexval is not None and ref.hexval in (mm_addr, pgd):
        yield from head()
        if not ctx.as_json:
            yield TextLine("")
        return
    if not mm:
        return
    try:  # without swap devices no page but a numbered one can match
        pages = ref.hexval is not None or bool(int(ctx.prog["nr_swapfiles"]))
    except LookupError:
        pages = True
    shown = False
    for vma in for_each_vma(drgn.Object(ctx.prog, "struct mm_struct *", value=mm_addr)):
        path = _vma_path(vma)
        vma_row = Row((*oc, *VM_COLUMNS),
                      (*owner, Address(vma.value_()), Address(vma.vm_start.value_()),
                       Address(vma.vm_end.value_()), Address(vma.vm_flags.value_()),
                       Name(path)), vma)
        vma_shown = False
        if ref.names_vma(vma.value_(), vma.vm_flags.value_(), path):
            if not shown:
                yield from head()
                shown = True
            yield vma_row
            vma_shown = True
        if not pages:
            continue
        for p, row in _vm_page_rows(ctx, vma, mm):
            if not ref.names_page(p, lambda kind: _swap_device(ctx, kind)):
                continue
            if not shown:
                yield from head()
                shown = True
            if not vma_shown:
                yield vma_row
                vma_shown = True
            yield Row((*oc, *row.columns), (*owner, *row.cells), row.obj)
    if shown and not ctx.as_json:
        yield TextLine("")


def _swap_device(ctx: Context, swap_type: int) -> str:
    """The path of swap device ``swap_type`` (``swap_info[type]->swap_file``)."""
    from drgn.helpers.linux.fs import d_path

    try:
        si = ctx.prog["swap_info"][swap_type]
        return kernel_str(d_path(si.swap_file.f_path.address_of_()))
    except (LookupError, ValueError, drgn.FaultError):
        return f"(unknown swap location: type {swap_type})"


def _vm_dump(ctx: Context, tasks: Iterable[View], args: argparse.Namespace) -> Iterator[Any]:
    """``vm -m`` / ``vm -v``: the task's mm_struct or each vm_area_struct as
    ``struct`` prints them (-x, -d: drgn's integer_base); JSON rows
    ADDRESS TYPE."""
    from drgn.helpers.linux.mm import for_each_vma

    base = args.radix or 10
    for t in tasks:
        try:
            if not ctx.as_json:
                yield TextLine(task_header(ctx, t))
            mm = t.mm
            if not mm:
                continue
            mm_obj = drgn.Object(ctx.prog, "struct mm_struct *", value=mm.address)
            objs = [mm_obj[0]] if args.mm else [v[0] for v in for_each_vma(mm_obj)]
            for obj in objs:
                if ctx.as_json:
                    yield Row((*TASK_COLUMNS, "ADDRESS", "TYPE"),
                              (*task_cells(t), Address(obj.address_ or 0),
                               obj.type_.type_name()), obj)
                else:
                    yield TextLine(obj.format_(integer_base=base))
        except drgn.FaultError as e:
            ctx.warn(f"task {t.address:#x}: cannot read {fault_where(e)}")


#: crash's foreach keywords that run a kmemx command per task
_FOREACH_COMMANDS = ("bt", "task", "files", "vm", "ps", "set")


def _foreach_select(ctx: Context, words: list[str]) -> tuple[list[View], str, list[str]]:
    """``foreach``'s words as (the tasks its selectors choose, by PID; the
    command's name; the command's own arguments).  CommandError for no
    command or contradicting selectors."""
    k = next((i for i, w in enumerate(words) if w in _FOREACH_COMMANDS), None)
    if k is None:
        raise CommandError("foreach: no command (one of "
                           f"{' '.join(c for c in _FOREACH_COMMANDS if c != 'set')})")
    selectors, name, rest = words[:k], words[k], words[k + 1:]
    if name == "set":
        raise CommandError("foreach: set takes one task; use set PID")
    states = set(CRASH_STATE.values())
    pids: set[int] = set()
    addrs: set[int] = set()
    comms: set[str] = set()
    want_states: set[str] = set()
    kernel = user = active = False
    for w in selectors:
        if w == "kernel":
            kernel = True
        elif w == "user":
            user = True
        elif w == "active":
            active = True
        elif w in states:
            want_states.add(w)
        elif re.fullmatch(r"\d+", w):
            pids.add(int(w))
        elif re.fullmatch(r"(0x)?[0-9a-fA-F]{9,16}", w):
            addrs.add(int(w, 16))
        else:
            comms.add(w[1:] if w.startswith("\\") else w)
    if kernel and user:
        raise CommandError("foreach: user and kernel are mutually exclusive")
    on_cpu = active_tasks(ctx) if active else set()
    chosen: list[View] = []
    listed = bool(pids or addrs or comms)
    for row in _ps_rows(ctx, argparse.Namespace(
            filters=[], k=False, u=False, G=False, S=False, state=None)):
        if row.columns != PS_COLUMNS:
            continue
        t = _as_task(row.obj)
        comm = row["COMM"]
        if listed and not (int(row["PID"]) in pids or t.address in addrs
                           or str.__str__(comm) in comms):
            continue
        if (kernel and not comm.kthread) or (user and comm.kthread):
            continue
        if want_states and row["ST"] not in want_states:
            continue
        if active and t.address not in on_cpu:
            continue
        chosen.append(t)
    chosen.sort(key=lambda t: int(t.pid))  # crash's task table order; idle tasks by CPU
    return chosen, name, rest


def _foreach_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``foreach ... CMD --drgn``: CMD's drgn code for the tasks the
    selectors choose (by PID, as foreach runs CMD on them)."""
    from kmemx.commands.drgncode import text_script

    chosen, name, rest = _foreach_select(ctx, list(args.words))
    if not chosen:
        return text_script(ctx, "# foreach: no task matches the selectors\n")
    cmd = ctx.registry.lookup(name)
    parsed = cmd.parse([*rest, *(f"{t.address:#x}" for t in chosen)])
    if parsed is None or cmd.drgn_code is None:
        raise CommandError(f"foreach: {name} has no --drgn code for these arguments")
    pids = ", ".join(str(int(t.pid)) for t in chosen)
    return f"# foreach {' '.join(args.words)}: {name} of PIDs {pids}\n" + cmd.drgn_code(ctx, parsed)


@command("foreach", "run a command on each of a set of tasks (crash's foreach)",
         description="""
         foreach [SELECTOR...] COMMAND [ARGS]
         SELECTORs (all tasks when none): PIDs, task addresses, command names
         (a name that is a keyword too: \\name), kernel, user, active (the tasks
         running on CPUs), and states (RU IN UN ST TR ZO DE ID PA NE WA).
         Tasks come by PID (crash's order); several selectors add up, kernel/user and
         states narrow.  COMMAND is bt, task, files, vm or ps, with its own
         options:

         foreach bt                every task's stack
         foreach UN bt             the stacks of tasks in D state
         foreach kmx-main bt -f    by name, with bt's options
         foreach kernel ps         the kernel threads
         foreach 1 2 task -R pid
         """,
         arguments=[arg("words", nargs=argparse.REMAINDER,
                        help="selectors, then the command and its arguments")],
         takes_input=False, enabled=_enabled, drgn_code=_foreach_drgn)
def _foreach(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    chosen, name, rest = _foreach_select(ctx, list(args.words))
    cmd = ctx.registry.lookup(name)
    if name == "ps":
        parsed = cmd.parse([*rest, *(f"{t.address:#x}" for t in chosen)])
        if parsed is None:
            yield cmd.help()
            return
        if chosen:
            yield from cmd.run(ctx, parsed, iter(()))
        return
    parsed = cmd.parse(rest)
    if parsed is None:
        yield cmd.help()
        return
    if chosen:
        yield from cmd.run(ctx, parsed, iter(chosen))
