"""crash's scheduler, timer, interrupt and signal commands: runq, timer, irq,
sig, waitq.  The walks are drgn's helpers (``drgn.helpers.linux.sched``,
``.timer``, ``.irq``, ``.signal``, ``.wait``); these commands lay them out
as crash does."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import drgn

from kmemx.commands import (
    Address,
    CommandError,
    Context,
    Hex,
    Name,
    Row,
    TextLine,
    TextRecord,
    arg,
    command,
)
from kmemx.commands.cells import kernel_str
from kmemx.errors import fault_where
from kmemx.helpers.timekeeping import JIFFIES_CODE

from .dis import LOCATION_CODE, location_text
from .tasks import command_tasks, task_header

__all__ = ["cpu_list", "cpulist_text", "task_line", "task_pointer"]

RUNQ_COLUMNS = ("CPU", "RUNQUEUE", "QUEUE", "DEPTH", "PRIO", "PID", "TASK", "COMMAND")
TIMER_COLUMNS = ("CPU", "BASE", "EXPIRES", "TTE", "TIMER_LIST", "FUNCTION", "NAME")
HRTIMER_COLUMNS = ("CPU", "CLOCK", "SOFTEXPIRES", "EXPIRES", "TTE", "HRTIMER", "FUNCTION",
                   "NAME")
SIG_COLUMNS = ("PID", "SIG", "SIGACTION", "HANDLER", "MASK", "FLAGS")


def cpu_list(ctx: Context, spec: str | None) -> list[int]:
    """The present CPUs, or those of a crash cpuspec (``3``, ``1,8,9``,
    ``1-3``, ``a``/``all``) that are present.  Present, not online: a panic
    stops the other CPUs and marks them offline (crash_smp_send_stop()), and
    they are the ones to look at; crash too shows every CPU up to its
    ``kt->cpus``.  Raises CommandError."""
    from kmemx.helpers.cpumask import for_each_present_cpu

    online = list(for_each_present_cpu(ctx.k))
    if spec is None or spec in ("a", "all"):
        return online
    want: set[int] = set()
    try:
        for part in spec.split(","):
            lo, _, hi = part.partition("-")
            want.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise CommandError(f"invalid cpu specification {spec!r}") from None
    bad = sorted(want - set(online))
    if bad:
        raise CommandError(f"invalid cpu: {bad[0]} (present: "
                           f"{','.join(map(str, online))})")
    return sorted(want)


def task_pointer(ctx: Context, task: Any) -> drgn.Object:
    """A task view (as :func:`command_tasks` gives them) as the ``struct
    task_struct *`` that drgn's helpers take."""
    return drgn.Object(ctx.prog, "struct task_struct *", value=int(task.address))


def task_line(task: drgn.Object) -> str:
    """crash's ``PID: 1      TASK: ffff...  COMMAND: "init"``."""
    return (f"PID: {int(task.pid):<6} TASK: {int(task.value_()):x}  "
            f"COMMAND: \"{kernel_str(task.comm.string_())}\"")


# ---------------------------------------------------------------------------- runq

def _runq_rows(ctx: Context, cpu: int) -> Iterator[tuple[str, int, int, drgn.Object]]:
    """(queue, depth, prio, task) for CPU ``cpu``: the RT queue by priority,
    then the CFS rbtree leftmost first (the running entity is not in it)."""
    from drgn.helpers.linux.sched import (
        cfs_rq_for_each_entity,
        cpu_rq,
        rq_for_each_rt_task,
        sched_entity_to_task,
    )

    rq = cpu_rq(ctx.prog, cpu)
    for t in rq_for_each_rt_task(rq):
        yield "RT", 0, int(t.prio), t
    for se, depth, is_curr, is_task in cfs_rq_for_each_entity(rq.cfs.address_of_()):
        if is_curr or not is_task:
            continue
        t = sched_entity_to_task(se)
        yield "CFS", depth, int(t.prio), t


def _ms_text(ns: int) -> str:
    """crash's ``[D HH:MM:SS.mmm]`` for ``ns`` nanoseconds (``runq -m``)."""
    ms = ns // 1_000_000
    s, ms = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    d, h = divmod(h, 24)
    return f"[{d} {h:02}:{m:02}:{s:02}.{ms:03}]"


def _runq_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``runq --drgn``: drgn's cpu_rq(), rq_for_each_rt_task() and
    cfs_rq_for_each_entity(); the rows of ``runq --json`` (-t/-m: the clocks,
    -T: the lags)."""
    from kmemx.commands.drgncode import table_script

    cpus = cpu_list(ctx, args.cpus)
    imports = ["drgn.helpers.linux.sched:cfs_rq_for_each_entity,cpu_rq,rq_for_each_rt_task,"
               "sched_entity_to_task"]
    if args.lag:
        return table_script(ctx, ("CPU", "LAG"), f"""\
clocks = {{cpu: cpu_rq(prog, cpu).clock.value_() for cpu in {cpus}}}
newest = max(clocks.values())
for cpu, clock in sorted(clocks.items(), key=lambda c: -c[1]):  # the most recent first
    row(cpu, (newest - clock) / 1e9)
""", imports)
    if args.timestamps or args.running:
        return table_script(ctx, ("CPU", "CLOCK", "LAST_ARRIVAL", "PID", "TASK", "COMMAND"), f"""\
for cpu in {cpus}:
    rq = cpu_rq(prog, cpu)
    curr = rq.curr
    row(cpu, rq.clock.value_(), curr.sched_info.last_arrival.value_(), curr.pid.value_(),
        hex(curr.value_()), curr.comm.string_().decode())
""", imports)
    current = """\
    row(cpu, hex(rq.value_()), "CURRENT", 0, rq.curr.prio.value_(), rq.curr.pid.value_(),
        hex(rq.curr.value_()), rq.curr.comm.string_().decode())
"""
    return table_script(ctx, RUNQ_COLUMNS, f"""\
def task_row(cpu, rq, queue, depth, t):
    row(cpu, hex(rq.value_()), queue, depth, t.prio.value_(), t.pid.value_(), hex(t.value_()),
        t.comm.string_().decode())


for cpu in {cpus}:
    rq = cpu_rq(prog, cpu)
{current}    for t in rq_for_each_rt_task(rq):
        task_row(cpu, rq, "RT", 0, t)
    for se, depth, is_curr, is_task in cfs_rq_for_each_entity(rq.cfs.address_of_()):
        if is_task and not is_curr:  # the running entity is not in the rbtree
            task_row(cpu, rq, "CFS", depth, sched_entity_to_task(se))
""", imports)


@command("runq", "the tasks on each CPU's run queue (crash's runq)",
         description="""
         For each online CPU: the run queue, the current task, the RT priority
         array and the CFS rbtree with the queued tasks ([PRIO] PID TASK COMMAND),
         as crash prints them; tasks of a child task group follow, indented.

         runq                     every CPU
         runq -c 1,3              these CPUs
         runq -t                  rq->clock and the current task's last arrival
                                  (sched_info.last_arrival), in ns
         runq -m                  how long the current task has been running
                                  ([days HH:MM:SS.ms]: rq->clock - last_arrival)
         runq -T                  each CPU's lag behind the most recent rq->clock
                                  (seconds, two decimals), the most recent first
         runq -g                  by task group: ROOT_TASK_GROUP and its RT_RQ (with
                                  CONFIG_RT_GROUP_SCHED) and CFS_RQ, child groups as
                                  TASK_GROUP lines with their own queues, indented
         runq --json              CPU RUNQUEUE QUEUE DEPTH PRIO PID TASK COMMAND rows,
                                  QUEUE being CURRENT, RT or CFS
         """,
         arguments=[arg("-t", dest="timestamps", action="store_true", help="timestamps"),
                    arg("-T", dest="lag", action="store_true", help="lag behind the newest"),
                    arg("-g", dest="groups", action="store_true", help="by task group"),
                    arg("-m", dest="running", action="store_true",
                        help="how long the current tasks have run"),
                    arg("-c", dest="cpus", help="cpu(s): 3, 1,8,9, 1-3")],
         columns=RUNQ_COLUMNS, drgn_code=_runq_drgn)
def _runq(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from drgn.helpers.linux.sched import cpu_rq

    cpus = cpu_list(ctx, args.cpus)
    if args.lag:
        clocks = {cpu: int(cpu_rq(ctx.prog, cpu).clock) for cpu in cpus}
        newest = max(clocks.values())
        # the most recent first, as crash sorts them
        for cpu, clock in sorted(clocks.items(), key=lambda c: -c[1]):
            lag = (newest - clock) / 1e9
            if ctx.as_json:
                yield Row(("CPU", "LAG"), (cpu, lag))
            else:
                yield TextLine(f"  CPU {cpu}: {lag:.2f} secs")
        return
    if args.groups:
        yield from _runq_groups(ctx, cpus)
        return
    for n, cpu in enumerate(cpus):
        rq = cpu_rq(ctx.prog, cpu)
        curr = rq.curr.read_()
        clock = int(rq.clock)
        arrival = int(curr.sched_info.last_arrival)
        if args.timestamps or args.running:
            if ctx.as_json:
                yield Row(("CPU", "CLOCK", "LAST_ARRIVAL", "PID", "TASK", "COMMAND"),
                          (cpu, clock, arrival, int(curr.pid), Address(int(curr.value_())),
                           Name(kernel_str(curr.comm.string_()))), curr)
            elif args.timestamps:  # crash's dump_on_rq_timestamp() (task.c)
                yield TextLine(f"{' ' if cpu < 10 else ''}CPU {cpu}: {clock}")
                indent = 8 if cpu < 100 else 9 if cpu < 1000 else 0
                yield TextLine(f"{' ' * indent}{arrival:0{len(str(clock))}}  PID: "
                               f"{int(curr.pid):<5}  TASK: {int(curr.value_()):x}  "
                               f"COMMAND: \"{kernel_str(curr.comm.string_())}\"")
            else:
                yield TextLine(f" CPU {cpu}: {_ms_text(clock - arrival)}  {task_line(curr)}")
            continue
        rows = list(_runq_rows(ctx, cpu))
        if ctx.as_json:
            yield _runq_row(cpu, rq, "CURRENT", 0, int(curr.prio), curr)
            for queue, depth, prio, t in rows:
                yield _runq_row(cpu, rq, queue, depth, prio, t)
            continue
        if n:
            yield TextLine("")
        yield TextLine(f"CPU {cpu} RUNQUEUE: {int(rq.value_()):x}")
        yield TextLine(f"  CURRENT: {task_line(curr)}")
        for queue, title, addr in (
                ("RT", "RT PRIO_ARRAY", int(rq.rt.active.address_of_().value_())),
                ("CFS", "CFS RB_ROOT", int(rq.cfs.tasks_timeline.address_of_().value_()))):
            yield TextLine(f"  {title}: {addr:x}")
            mine = [r for r in rows if r[0] == queue]
            if not mine:
                yield TextLine("     [no tasks queued]")
            for _, depth, prio, t in mine:
                yield TextLine(f"     {'   ' * depth}[{prio:3}] {task_line(t)}")


def _runq_row(cpu: int, rq: drgn.Object, queue: str, depth: int, prio: int,
              task: drgn.Object) -> Row:
    """One ``runq --json`` row: ``struct rq *rq``'s ``struct task_struct *task``."""
    return Row(RUNQ_COLUMNS, (cpu, Address(int(rq.value_())), queue, depth, prio,
                              int(task.pid), Address(int(task.value_())),
                              Name(kernel_str(task.comm.string_()))), task)


def _runq_groups(ctx: Context, cpus: list[int]) -> Iterator[Any]:
    """``runq -g``: each CPU's queues under the root task group, child groups
    (group sched_entities, ``se->my_q``) with their own queues, indented."""
    from drgn.helpers.linux.sched import (
        cfs_rq_for_each_entity,
        cpu_rq,
        rq_for_each_rt_task,
        sched_entity_to_task,
    )

    root = ctx.prog["root_task_group"].address_of_()
    rt_groups = hasattr(root, "rt_rq")  # CONFIG_RT_GROUP_SCHED
    for n, cpu in enumerate(cpus):
        rq = cpu_rq(ctx.prog, cpu)
        curr = rq.curr.read_()
        if ctx.as_json:  # the rows of runq --json: the current task's, then the queues'
            yield _runq_row(cpu, rq, "CURRENT", 0, int(curr.prio), curr)
            for queue, depth, prio, t in _runq_rows(ctx, cpu):
                yield _runq_row(cpu, rq, queue, depth, prio, t)
            continue
        if n:
            yield TextLine("")
        yield TextLine(f"CPU {cpu}")
        yield TextLine(f"  CURRENT: {task_line(curr)}")
        if rt_groups:
            yield TextLine(f"  ROOT_TASK_GROUP: {int(root.value_()):x}  RT_RQ: "
                           f"{int(rq.rt.address_of_().value_()):x}")
            rt = list(rq_for_each_rt_task(rq))
            if not rt:
                yield TextLine("     [no tasks queued]")
            for t in rt:
                yield TextLine(f"     [{int(t.prio):3}] {task_line(t)}")
        yield TextLine(f"  ROOT_TASK_GROUP: {int(root.value_()):x}  CFS_RQ: "
                       f"{int(rq.cfs.address_of_().value_()):x}")
        empty = True
        for se, depth, is_curr, is_task in cfs_rq_for_each_entity(rq.cfs.address_of_()):
            pad = "   " * depth
            if not is_task:
                empty = False
                tg = se.my_q.tg
                yield TextLine(f"     {pad}TASK_GROUP: {int(tg.value_()):x}  CFS_RQ: "
                               f"{int(se.my_q.value_()):x}")
                continue
            t = sched_entity_to_task(se)
            if is_curr and int(t.value_()) != int(curr.value_()):
                continue
            empty = False
            mark = " [CURRENT]" if is_curr else ""
            yield TextLine(f"     {pad}[{int(t.prio):3}] {task_line(t)}{mark}")
        if empty:
            yield TextLine("     [no tasks queued]")


# ---------------------------------------------------------------------------- timer

def _function(ctx: Context, fn: drgn.Object) -> tuple[Address, str]:
    addr = int(fn.value_()) if fn else 0
    return Address(addr), location_text(ctx.prog, addr) if addr else ""


def _timer_wheel(ctx: Context, cpus: list[int]) -> Iterator[Any]:
    from drgn.helpers.linux.percpu import per_cpu
    from drgn.helpers.linux.timer import timer_base_for_each, timer_base_names

    jiffies = int(ctx.prog["jiffies"])
    names = timer_base_names(ctx.prog)
    if not ctx.as_json:
        yield TextLine("JIFFIES")
        yield TextLine(str(jiffies))
    for cpu in cpus:
        bases = per_cpu(ctx.prog["timer_bases"], cpu)
        if not ctx.as_json:
            yield TextLine("")
        for i in range(len(bases)):
            base = bases[i].address_of_()
            name = names[i] if i < len(names) else str(i)
            timers = sorted(timer_base_for_each(base), key=lambda t: int(t.expires))
            if not ctx.as_json:
                yield TextLine(f"TIMER_BASES[{cpu}][{name}]: {int(base.value_()):x}")
            for t in timers:
                expires = int(t.expires)
                fn, where = _function(ctx, t.function)
                yield Row(TIMER_COLUMNS if ctx.as_json else TIMER_COLUMNS[2:],
                          ((cpu, name) if ctx.as_json else ())
                          + (expires, expires - jiffies, Address(int(t.value_())), fn,
                             where), t)


def _clock_now(ctx: Context, clock_base: drgn.Object) -> int:
    """The time of an hrtimer clock base as crash's ``timer -r`` shows it
    (CURRENT): the jiffies-based uptime, (jiffies_64 - INITIAL_JIFFIES) *
    TICK_NSEC, plus the clock's offset (``*clock_base->offset``: offs_real,
    offs_boot, offs_tai; 0 for the monotonic clock).  Nanoseconds."""
    prog = ctx.prog
    from kmemx.helpers.timekeeping import kernel_hz

    hz = kernel_hz(prog)
    initial = (-300 * hz) & 0xFFFFFFFF  # INITIAL_JIFFIES (include/linux/jiffies.h)
    ticks = (int(prog["jiffies_64"]) - initial) & (2**64 - 1)
    offset = 0
    try:
        off = clock_base.offset
        # a ktime_t in the kernels of the test bed; handled as a pointer too,
        # should a kernel hold it as one
        if off.type_.kind == drgn.TypeKind.POINTER:
            offset = int(off[0]) if off else 0
        else:
            offset = int(off)
    except (AttributeError, drgn.FaultError):
        pass
    return ticks * (10**9 // hz) + offset


def _enum_name(prog: drgn.Program, enum: str, value: int) -> str:
    """The first enumerator of ``enum`` whose value is ``value``, or ""."""
    try:
        enumerators = prog.type(enum).enumerators or ()
    except LookupError:
        return ""
    return next((name for name, v in enumerators if v == value), "")


def _hrtimers(ctx: Context, cpus: list[int]) -> Iterator[Any]:
    from drgn.helpers.linux.percpu import per_cpu
    from drgn.helpers.linux.timer import hrtimer_clock_base_for_each

    for n, cpu in enumerate(cpus):
        cpu_base = per_cpu(ctx.prog["hrtimer_bases"], cpu)
        if not ctx.as_json:
            if n:
                yield TextLine("")
            yield TextLine(f"CPU: {cpu}  HRTIMER_CPU_BASE: "
                           f"{int(cpu_base.address_of_().value_()):x}")
        for i in range(len(cpu_base.clock_base)):
            cb = cpu_base.clock_base[i].address_of_()
            now = _clock_now(ctx, cb)
            try:
                get_time = location_text(ctx.prog, int(cb.get_time.value_()))
            except AttributeError:
                # no hrtimer_clock_base.get_time (7.2.13 reads the clock by
                # its clockid): crash names the base by its index's
                # enumerator (enum hrtimer_base_type; hrtimer_base_ids before)
                get_time = (_enum_name(ctx.prog, "enum hrtimer_base_type", i)
                            or _enum_name(ctx.prog, "enum hrtimer_base_ids", i))
            if not ctx.as_json:
                yield TextLine(f"  CLOCK: {i}  HRTIMER_CLOCK_BASE: {int(cb.value_()):x}  "
                               f"[{get_time.strip('<>')}]")
            timers = list(hrtimer_clock_base_for_each(cb))
            if not timers:
                if not ctx.as_json:
                    yield TextLine("  (empty)")
                    yield TextLine("")
                continue
            if not ctx.as_json:
                yield TextLine("     CURRENT")
                yield TextLine(f"  {now}")
            for t in timers:
                soft = int(t._softexpires)
                exp = int(t.node.expires)
                fn, where = _function(ctx, t.function)
                yield Row(HRTIMER_COLUMNS if ctx.as_json else HRTIMER_COLUMNS[2:],
                          ((cpu, i) if ctx.as_json else ())
                          + (soft, exp, exp - now,
                             Address(int(t.value_())), fn, where), t)
            if not ctx.as_json:
                yield TextLine("")


def _timer_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``timer --drgn``: drgn's timer_base_for_each() of each CPU's bases,
    earliest first; ``-r``: hrtimer_clock_base_for_each() with crash's
    CURRENT (the jiffies uptime in ns plus the clock's offset)."""
    from kmemx.commands.drgncode import table_script

    cpus = cpu_list(ctx, args.cpus)
    if args.hrtimers:
        return table_script(ctx, HRTIMER_COLUMNS, LOCATION_CODE + f"""\
{JIFFIES_CODE}for cpu in {cpus}:
    cpu_base = per_cpu(prog["hrtimer_bases"], cpu)
    for i, cb in enumerate(cpu_base.clock_base):
        now = jiffies * (10**9 // hz) + cb.offset.value_()
        for t in hrtimer_clock_base_for_each(cb.address_of_()):
            fn = t.function.value_()
            exp = t.node.expires.value_()
            row(cpu, i, t._softexpires.value_(), exp, exp - now, hex(t.value_()), hex(fn),
                location(fn))
""", ["drgn.helpers.linux.percpu:per_cpu", "drgn.helpers.linux.timer:hrtimer_clock_base_for_each"])
    return table_script(ctx, TIMER_COLUMNS, LOCATION_CODE + f"""\
jiffies = prog["jiffies"].value_()
names = timer_base_names(prog)
for cpu in {cpus}:
    for i, base in enumerate(per_cpu(prog["timer_bases"], cpu)):
        name = names[i] if i < len(names) else str(i)
        for t in sorted(timer_base_for_each(base.address_of_()), key=lambda t: t.expires):
            fn = t.function.value_()
            row(cpu, name, t.expires.value_(), t.expires.value_() - jiffies, hex(t.value_()),
                hex(fn), location(fn))
""", ["drgn.helpers.linux.percpu:per_cpu",
      "drgn.helpers.linux.timer:timer_base_for_each,timer_base_names"])


@command("timer", "pending timers, per CPU and base, by expiry (crash's timer)",
         description="""
         timer                    the timer wheel of each online CPU: JIFFIES, then per
                                  TIMER_BASES[cpu][base] EXPIRES TTE TIMER_LIST FUNCTION
                                  NAME, earliest first (TTE = expires - jiffies)
         timer -r                 the hrtimers of each CPU's clock bases: SOFTEXPIRES
                                  EXPIRES TTE HRTIMER FUNCTION NAME; CURRENT is crash's:
                                  the jiffies uptime in ns plus the clock's offset
         timer -C 1,3             these CPUs
         timer --json             rows with CPU and BASE (CLOCK for -r)
         """,
         arguments=[arg("-r", dest="hrtimers", action="store_true", help="hrtimers"),
                    arg("-C", dest="cpus", help="cpu(s)")],
         columns=TIMER_COLUMNS, drgn_code=_timer_drgn)
def _timer(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    cpus = cpu_list(ctx, args.cpus)
    if args.hrtimers:
        yield from _hrtimers(ctx, cpus)
    else:
        yield from _timer_wheel(ctx, cpus)


# ---------------------------------------------------------------------------- irq

IRQ_COLUMNS = ("IRQ", "IRQ_DESC/_DATA", "IRQACTION", "NAME")


def cpulist_text(cpus: Iterable[int]) -> str:
    """CPUs as a cpulist (``0-1,4``), as /proc/irq/N/smp_affinity_list and crash."""
    parts: list[str] = []
    run: list[int] = []
    for c in sorted(cpus):
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [c]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def _idt(ctx: Context) -> drgn.Object:
    """``idt_table``; CommandError in one line on a kernel without it."""
    try:
        return ctx.prog["idt_table"]
    except LookupError:  # arm64 has exception vectors (vectors), not an IDT
        raise CommandError("irq: -d: the dump's kernel has no idt_table "
                           "(the IDT is x86-64's)") from None


def _idt_rows(ctx: Context) -> Iterator[Row]:
    from drgn.helpers.linux.irq import gate_desc_func

    idt = _idt(ctx)
    for i in range(len(idt)):
        fn = int(gate_desc_func(idt[i]).value_())
        yield Row(("INDEX", "HANDLER", "NAME"),
                  (i, Address(fn), location_text(ctx.prog, fn).strip("<>") or None))


SOFTIRQ_COLUMNS = ("SOFTIRQ_VEC", "ACTION", "SYMBOL", "NAME")


def _softirq_rows(ctx: Context) -> Iterator[Row]:
    """``irq -b``: crash's display_bh_4() rows (kernel.c), with the vector's name."""
    from kmemx.helpers.softirq import for_each_softirq_action

    for nr, action, name in for_each_softirq_action(ctx.k):
        yield Row(SOFTIRQ_COLUMNS, (nr, Address(action),
                                    location_text(ctx.prog, action).strip("<>") or None, name))


def _irq_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``irq --drgn``: drgn's for_each_irq_desc() and irq_desc_*() helpers
    (-u, IRQ numbers, -s, -a); ``-d``: the IDT by gate_desc_func()."""
    from kmemx.commands.drgncode import table_script

    imports = ["drgn.helpers.linux.irq:for_each_irq_desc,irq_desc_action_names,"
               "irq_desc_affinity_mask,irq_desc_chip_name,irq_desc_kstat_cpu,irq_get_nr_irqs",
               "drgn.helpers.linux.cpumask:for_each_cpu"]
    if args.idt:
        _idt(ctx)
        return table_script(ctx, ("INDEX", "HANDLER", "NAME"), LOCATION_CODE + """\
for i, gate in enumerate(prog["idt_table"]):
    fn = gate_desc_func(gate).value_()
    row(i, hex(fn), location(fn).strip("<>") or None)
""", ["drgn.helpers.linux.irq:gate_desc_func"])
    if args.softirq:
        return table_script(ctx, SOFTIRQ_COLUMNS, LOCATION_CODE + """\
try:
    names = prog["softirq_to_name"]
except KeyError:
    names = None
for nr, vec in enumerate(prog["softirq_vec"]):
    fn = vec.action.value_()
    if fn:
        name = names[nr].string_().decode() if names is not None and names[nr] else None
        row(nr, hex(fn), location(fn).strip("<>") or None, name)
""", [])
    cpus = cpu_list(ctx, args.cpus)
    want = sorted(set(args.irqs))
    if args.stats or args.affinity:
        cols: tuple[str, ...] = ("IRQ", "NAME", "AFFINITY")
        cells = """\
    mask = irq_desc_affinity_mask(desc)
    cpus = sorted(for_each_cpu(mask))
    parts = []  # a cpulist: 0-1,4
    for c in cpus:
        if parts and c == parts[-1][1] + 1:
            parts[-1][1] = c
        else:
            parts.append([c, c])
    row(irq, ",".join(names), ",".join(f"{a}-{b}" if b > a else str(a) for a, b in parts))
"""
        if not args.affinity:
            cols = ("IRQ", *(f"CPU{c}" for c in cpus), "CHIP", "ACTIONS")
            cells = f"""\
    chip = irq_desc_chip_name(desc)
    chip = chip.decode() if chip else ""
    if desc.name:  # the flow: IO-APIC-edge
        chip += "-" + desc.name.string_().decode()
    row(irq, *(irq_desc_kstat_cpu(desc, c) for c in {cpus}), chip, ",".join(names))
"""
        shown = "desc.action"  # an action, a chained handler's nameless one too
        return table_script(ctx, cols, f"""\
for irq, desc in sorted(for_each_irq_desc(prog), key=lambda d: d[0]):
    if {want} and irq not in {want}:
        continue
    names = [n.decode() for n in irq_desc_action_names(desc)]
    if not {shown}:
        continue
""" + cells, imports)
    numbers = (f"{want}" if want else "sorted(descs)" if args.in_use
               else "range(irq_get_nr_irqs(prog))")
    return table_script(ctx, IRQ_COLUMNS, f"""\
descs = dict(for_each_irq_desc(prog))
for irq in {numbers}:
    desc = descs.get(irq)
    if desc is None:
        row(irq, None, None, None)
        continue
    names = [n.decode() for n in irq_desc_action_names(desc)]
    row(irq, hex(desc.value_()), hex(desc.action.value_()) if desc.action else None,
        ",".join(names) or None)
""", imports)


@command("irq", "interrupt descriptors and their per-CPU counts (crash's irq)",
         description="""
         irq                      every IRQ number up to nr_irqs: IRQ IRQ_DESC/_DATA
                                  IRQACTION NAME (the first action and every action's
                                  name; - where crash says '(unused)', null in --json)
         irq -u                   the IRQs that have a descriptor
         irq 4 9                  these IRQs
         irq -a                   the in-use IRQs' CPU affinity: IRQ NAME AFFINITY
         irq -d                   the x86-64 IDT: INDEX HANDLER NAME (symbol+offset)
         irq -b                   the softirq vectors with a handler: SOFTIRQ_VEC ACTION
                                  SYMBOL (the handler function) NAME (softirq_to_name[]:
                                  TIMER, NET_RX...)
         irq -s                   the counts per CPU, as /proc/interrupts: IRQ, one
                                  column per CPU, the chip name and flow
                                  (IO-APIC-edge), the action names
         irq -s -c 0              these CPUs only
         """,
         arguments=[arg("irqs", nargs="*", type=int, help="IRQ numbers"),
                    arg("-s", dest="stats", action="store_true", help="counts per CPU"),
                    arg("-u", dest="in_use", action="store_true", help="IRQs with a descriptor"),
                    arg("-a", dest="affinity", action="store_true", help="CPU affinity"),
                    arg("-d", dest="idt", action="store_true", help="the IDT"),
                    arg("-b", dest="softirq", action="store_true",
                        help="the softirq vectors' handlers"),
                    arg("-c", dest="cpus", help="cpu(s), with -s")],
         columns=IRQ_COLUMNS, drgn_code=_irq_drgn)
def _irq(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from drgn.helpers.linux.cpumask import for_each_cpu
    from drgn.helpers.linux.irq import (
        for_each_irq_desc,
        irq_desc_action_names,
        irq_desc_affinity_mask,
        irq_desc_chip_name,
        irq_desc_kstat_cpu,
        irq_get_nr_irqs,
    )

    if args.idt:
        yield from _idt_rows(ctx)
        return
    if args.softirq:
        yield from _softirq_rows(ctx)
        return
    cpus = cpu_list(ctx, args.cpus)
    want = set(args.irqs)
    descs = dict(for_each_irq_desc(ctx.prog))
    if args.stats or args.affinity:
        cols = ("IRQ", *(f"CPU{c}" for c in cpus), "CHIP", "ACTIONS")
        for irq, desc in sorted(descs.items()):
            if want and irq not in want:
                continue
            names = [kernel_str(a) for a in irq_desc_action_names(desc)]
            if not desc.action:
                # every IRQ with an action (crash's generic_show_interrupts() for -s,
                # irq -a's too), a chained handler's nameless one too (chained_action,
                # kernel/irq/chip.c)
                continue
            if args.affinity:
                mask = irq_desc_affinity_mask(desc)
                yield Row(("IRQ", "NAME", "AFFINITY"),
                          (irq, ",".join(names), cpulist_text(for_each_cpu(mask))), desc)
                continue
            chip = irq_desc_chip_name(desc)
            chip_text = kernel_str(chip) if chip else ""
            flow = kernel_str(desc.name.string_()) if desc.name else ""
            chip_text = f"{chip_text}-{flow}" if flow else chip_text
            yield Row(cols, (irq, *(irq_desc_kstat_cpu(desc, c) for c in cpus), chip_text,
                             ",".join(names)), desc)
        return
    numbers = sorted(want) if want else (sorted(descs) if args.in_use
                                         else range(irq_get_nr_irqs(ctx.prog)))
    for irq in numbers:
        desc = descs.get(irq)
        action = desc.action.read_() if desc is not None else None
        names = [kernel_str(a) for a in irq_desc_action_names(desc)] if desc is not None else []
        yield Row(IRQ_COLUMNS, (irq, Address(int(desc.value_())) if desc is not None else None,
                                Address(int(action.value_())) if action else None,
                                ",".join(names) or None), desc)


# ---------------------------------------------------------------------------- sig

def _sigset(s: drgn.Object) -> int:
    """A ``sigset_t`` as crash's 64-bit value (``sig[0]``, bit N-1 = signal N)."""
    return int(s.sig[0])


def _sig_lines(ctx: Context, t: drgn.Object) -> Iterator[Any]:
    from drgn.helpers.linux.signal import decode_sigaction_flags, sigpending_for_each

    sighand = t.sighand.read_()
    signal = t.signal.read_()
    if not ctx.as_json:
        yield TextLine(f"PID: {int(t.pid):<8} TASK: {int(t.value_()):x}  CPU: "
                       f"{_task_cpu(t):<4} COMMAND: \"{kernel_str(t.comm.string_())}\"")
        yield TextLine(f"SIGNAL_STRUCT: {int(signal.value_()):x}  NR_THREADS: "
                       f"{int(signal.nr_threads)}")
    if sighand:
        for i in range(len(sighand.action)):
            k = sighand.action[i].address_of_()
            sa = k.sa
            handler = int(sa.sa_handler.value_())
            htext = {0: "SIG_DFL", 1: "SIG_IGN"}.get(handler, f"{handler:x}")
            flags = int(sa.sa_flags)
            names = decode_sigaction_flags(sa.address_of_()) if flags else ""
            yield Row(SIG_COLUMNS, (int(t.pid), i + 1, Address(int(k.value_())), htext,
                                    Hex(_sigset(sa.sa_mask)),
                                    f"{flags:x}" + (f" ({names})" if names else "")), k)
    if ctx.as_json:
        return
    pending = bool(int(t.thread_info.flags) & (1 << _tif_sigpending(ctx)))
    yield TextLine(f"SIGPENDING: {'yes' if pending else 'no'}")
    yield TextLine(f"   BLOCKED: {_sigset(t.blocked):016x}")
    for title, p in (("PRIVATE_PENDING", t.pending), ("SHARED_PENDING", signal.shared_pending)):
        yield TextLine(title)
        yield TextLine(f"    SIGNAL: {_sigset(p.signal):016x}")
        queue = list(sigpending_for_each(p.address_of_()))
        if not queue:
            yield TextLine("  SIGQUEUE: (empty)")
        else:
            yield TextLine("  SIGQUEUE:  SIG  SIGINFO")
            for q in queue:
                yield TextLine(f"            {int(q.info.si_signo):3}  "
                               f"{int(q.info.address_of_().value_()):x}")
    yield TextLine("")


def _tif_sigpending(ctx: Context) -> int:
    """``TIF_SIGPENDING`` of the dump's architecture (crash's sig reads
    ``thread_info.flags & (1 << TIF_SIGPENDING)``, task.c): 2 on x86-64, 0 on
    arm64 (:data:`kmemx.arch.TIF_SIGPENDING`)."""
    from kmemx.arch import TIF_SIGPENDING, prog_machine

    machine = prog_machine(ctx.prog) or ""
    try:
        return TIF_SIGPENDING[machine]
    except KeyError:
        raise CommandError(f"sig: no TIF_SIGPENDING known for {machine or 'this'} "
                           "architecture") from None


def _task_cpu(t: drgn.Object) -> int:
    from drgn.helpers.linux.sched import task_cpu

    return int(task_cpu(t))


def _signals_by_number(names: Mapping[str, int]) -> dict[int, list[str]]:
    """The names of each signal number (drgn's signal_names(), ``{name:
    number}``), and for the real-time signals between SIGRTMIN and the last
    one crash's ``SIGRTMIN+N`` up to half way, then ``SIGRTMAX-N``
    (``sig -l``: [33] SIGRTMIN+1 ... [48] SIGRTMIN+16, [49] SIGRTMAX-15)."""
    by_number: dict[int, list[str]] = {}
    for name, num in names.items():
        by_number.setdefault(num, []).append(name)
    low = min((n for n, v in by_number.items() if "SIGRTMIN" in v), default=None)
    if low is not None:
        high = max(by_number)
        for num in range(low + 1, high):
            by_number.setdefault(num, [f"SIGRTMIN+{num - low}" if num - low <= (high - low) // 2
                                       else f"SIGRTMAX-{high - num}"])
    return by_number


def _sig_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``sig --drgn``: each signal's sighand->action[] entry of the tasks
    (-g: their thread groups); ``-l`` / ``-s``: drgn's signal_names()."""
    from kmemx.commands.drgncode import table_script

    if args.list or args.sigset is not None:
        names = """\
by_number = {}
for name, num in signal_names(prog).items():
    by_number.setdefault(num, []).append(name)
# the real-time signals between: SIGRTMIN+N up to half way, then SIGRTMAX-N (crash's)
low = min(n for n, v in by_number.items() if "SIGRTMIN" in v)
high = max(by_number)
for num in range(low + 1, high):
    by_number.setdefault(num, [f"SIGRTMIN+{num - low}" if num - low <= (high - low) // 2
                               else f"SIGRTMAX-{high - num}"])
"""
        if args.list:
            body = "for num in sorted(by_number):\n    row(num, \"/\".join(by_number[num]))\n"
        else:
            value = int(args.sigset, 16)
            body = f"""\
for num in range(1, 65):
    if {value:#x} >> (num - 1) & 1:
        row(num, "/".join(by_number.get(num, [str(num)])))
"""
        return table_script(ctx, ("NUMBER", "NAME"), names + body,
                            ["drgn.helpers.linux.signal:signal_names"])
    tasks = [int(t.address) for t in command_tasks(ctx, args.tasks, (), "sig")]
    group = "for_each_task_in_group(task, include_self=True)" if args.group else "[task]"
    return table_script(ctx, SIG_COLUMNS, f"""\
for addr in {[hex(t) for t in tasks]}:
    task = Object(prog, "struct task_struct *", int(addr, 16))
    for t in {group}:
        if not t.sighand:
            continue
        for i, k in enumerate(t.sighand.action):
            sa = k.sa
            handler = sa.sa_handler.value_()
            flags = sa.sa_flags.value_()
            names = decode_sigaction_flags(sa.address_of_()) if flags else ""
            row(t.pid.value_(), i + 1, hex(k.address_), {{0: "SIG_DFL", 1: "SIG_IGN"}}.get(
                handler, f"{{handler:x}}"), sa.sa_mask.sig[0].value_(),
                f"{{flags:x}}" + (f" ({{names}})" if names else ""))
""", ["drgn:Object", "drgn.helpers.linux.signal:decode_sigaction_flags",
      "drgn.helpers.linux.pid:for_each_task_in_group"])


@command("sig", "a task's signal handlers, pending and blocked signals (crash's sig)",
         description="""
         sig [PID|TASK ...]       the current context's task, or these: SIGNAL_STRUCT,
                                  then per signal SIG SIGACTION HANDLER MASK FLAGS,
                                  then SIGPENDING, BLOCKED and the private and shared
                                  pending sets and queues (sigset_t as 64-bit hex)
         sig -g PID               every thread of the task's thread group
         sig -l                   the signal numbers and names of this kernel
         sig -s SIGSET            the names of the signals set in a 64-bit sigset value
         """,
         arguments=[arg("tasks", nargs="*", help="PID or task address"),
                    arg("-g", dest="group", action="store_true", help="the thread group"),
                    arg("-l", dest="list", action="store_true", help="signal names"),
                    arg("-s", dest="sigset", help="decode a sigset value")],
         columns=SIG_COLUMNS, takes_input=True, drgn_code=_sig_drgn)
def _sig(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from drgn.helpers.linux.signal import signal_names

    by_number = _signals_by_number(signal_names(ctx.prog))
    if args.list:
        for num in sorted(by_number):
            yield Row(("NUMBER", "NAME"), (num, "/".join(by_number[num])))
        return
    if args.sigset is not None:
        try:
            value = int(args.sigset, 16)
        except ValueError:
            raise CommandError(f"sig: -s: not a hex sigset: {args.sigset!r}") from None
        for num in range(1, 65):
            if value & (1 << (num - 1)):
                yield Row(("NUMBER", "NAME"), (num, "/".join(by_number.get(num, [f"{num}"]))))
        return
    from drgn.helpers.linux.pid import for_each_task_in_group

    for t in command_tasks(ctx, args.tasks, input, "sig"):
        task = task_pointer(ctx, t)
        group = list(for_each_task_in_group(task, include_self=True)) if args.group else [task]
        for member in group:
            try:
                yield from _sig_lines(ctx, member)
            except drgn.FaultError as e:
                ctx.warn(f"sig: task {int(member.value_()):#x}: cannot read {fault_where(e)}")


# ---------------------------------------------------------------------------- waitq

def _waitq_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``waitq --drgn``: drgn's waitqueue_for_each_task() of the head."""
    from kmemx.commands.drgncode import table_script

    from .lists import parse_address

    if args.address is not None:
        struct, _, member = args.what.partition(".")
        tname = struct if " " in struct else f"struct {struct}"
        head = (f"Object(prog, {tname!r}, address={parse_address(ctx, args.address):#x})"
                f".subobject_({member!r}).address_of_()")
    else:
        try:
            ctx.prog[args.what]
            head = f"prog[{args.what!r}].address_of_()"
        except KeyError:
            head = f"Object(prog, 'struct wait_queue_head *', {parse_address(ctx, args.what):#x})"
    return table_script(ctx, ("PID", "TASK", "COMMAND"), f"""\
head = cast("struct wait_queue_head *", {head})
for task in waitqueue_for_each_task(head):
    row(task.pid.value_(), hex(task.value_()), task.comm.string_().decode())
""", ["drgn:Object,cast", "drgn.helpers.linux.wait:waitqueue_for_each_task"])


@command("waitq", "the tasks waiting on a wait queue (crash's waitq)",
         description="""
         waitq SYMBOL             a wait_queue_head_t global
         waitq STRUCT.MEMBER ADDR the wait queue head in a structure at ADDR
         waitq ADDR               a wait_queue_head_t at ADDR
         Rows: PID TASK COMMAND of each waiting task (entries that are not tasks are
         skipped)
         """,
         arguments=[arg("what", help="symbol, struct.member, or address"),
                    arg("address", nargs="?", help="structure address for struct.member")],
         columns=("PID", "TASK", "COMMAND"), drgn_code=_waitq_drgn)
def _waitq(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from drgn.helpers.linux.wait import waitqueue_for_each_task

    from .lists import KERNEL_HALF, parse_address

    prog = ctx.prog
    head_type = prog.type("struct wait_queue_head")
    named = False  # a symbol: crash names it when the queue is empty
    if args.address is not None:
        struct, _, member = args.what.partition(".")
        if not member:
            raise CommandError("waitq: STRUCT.MEMBER ADDR: no member given")
        base = parse_address(ctx, args.address)
        try:
            t = prog.type(struct if " " in struct else f"struct {struct}")
            obj = drgn.Object(prog, t, address=base).subobject_(member)
        except (LookupError, ValueError) as e:
            raise CommandError(f"waitq: {e}") from None
        head = obj.address_of_()
    else:
        name, _, path = args.what.partition(".")
        try:
            sym = prog[name]
            head = (sym.subobject_(path) if path else sym).address_of_()
            named = True
        except KeyError:
            head = drgn.Object(prog, prog.pointer_type(head_type),
                               value=parse_address(ctx, args.what))
        except (LookupError, ValueError) as e:
            raise CommandError(f"waitq: {e}") from None
    walk: Any = waitqueue_for_each_task
    target = head.type_.type
    while target.kind == drgn.TypeKind.TYPEDEF:
        target = target.type
    kind = target.unqualified().type_name()
    if kind == "struct swait_queue_head":  # a simple wait queue (include/linux/swait.h)
        from drgn.helpers.linux.swait import swait_for_each_task as walk
    elif kind not in ("struct wait_queue_head", "void") and target.kind != drgn.TypeKind.ARRAY:
        # a named object of another type is not a wait queue (an address is taken as one)
        raise CommandError(f"waitq: {args.what} is a {kind}, not a wait queue head "
                           "(wait_queue_head_t or struct swait_queue_head)")
    else:
        head = drgn.cast(prog.pointer_type(head_type), head)
    addr = int(head.value_())
    if addr < KERNEL_HALF:  # crash: no queue at NULL or a user address, nothing printed
        return
    n = 0
    try:
        for task in walk(head):
            n += 1
            row = Row(("PID", "TASK", "COMMAND"), (int(task.pid), Address(int(task.value_())),
                                                  Name(kernel_str(task.comm.string_()))), task)
            # crash's text: each task's header line (kernel.c dump_waitq())
            yield row if ctx.as_json else TextRecord(
                task_header(ctx, ctx.k.view("struct task_struct", int(task.value_()))),
                row.as_dict(), task)
    except drgn.FaultError as e:
        raise CommandError(f"waitq: cannot read {fault_where(e)}") from None
    if not n and not ctx.as_json:  # crash's dump_waitq() (kernel.c)
        yield TextLine(f'wait queue "{args.what}" ({addr:x}) is empty' if named
                       else f"wait queue {addr:x} is empty")
