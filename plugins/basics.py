"""Crash-dump basics: sys, log, lsmod (crash's mod), mount."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from typing import Any

import drgn

from kmemx.commands import (
    Address,
    CommandError,
    Context,
    Name,
    Row,
    TextLine,
    TextRecord,
    arg,
    command,
)
from kmemx.commands.cells import cell_text, crash_centre, crash_size_text
from kmemx.errors import fault_where
from kmemx.helpers.mm import PAGE_SIZE
from kmemx.helpers.timekeeping import JIFFIES_CODE
from kmemx.types import View

__all__: list[str] = []


#: x86-64 (crash's PAGESIZE())
_GiB, _MiB = 1 << 30, 1 << 20
#: kernel/sched/loadavg.c: avenrun[] is fixed point with FSHIFT fraction bits
_FSHIFT = 11
_FIXED_1 = 1 << _FSHIFT


def memory_text(total: int) -> str:
    """crash's ``sys`` MEMORY for ``total`` bytes of node memory: rounded up to the
    next GiB when that is at most 64 MiB away (crash's get_memory_size()), then
    shown as crash's pages_to_size() does: one decimal, ``.0`` dropped."""
    next_gig = -(-total // _GiB) * _GiB
    if next_gig - total <= 64 * _MiB:
        total = next_gig
    return crash_size_text(total)


def loadavg_text(avenrun: tuple[int, int, int]) -> str:
    """``avenrun[]`` as /proc/loadavg and crash print it (LOAD_INT/LOAD_FRAC of the
    value rounded at the second decimal)."""
    parts = []
    for v in avenrun:
        v += _FIXED_1 // 200
        parts.append(f"{v >> _FSHIFT}.{((v & (_FIXED_1 - 1)) * 100) >> _FSHIFT:02}")
    return ", ".join(parts)


def uptime_text(seconds: int) -> str:
    """crash's convert_time(): ``HH:MM:SS``, with ``N days, `` in front from one day on."""
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600:02}:{rest // 60 % 60:02}:{rest % 60:02}"
    return f"{days} days, {text}" if days else text


def date_text(epoch: int) -> str:
    """Wall-clock seconds in local time, as crash's ctime_tz() prints them."""
    import time

    return time.strftime("%a %b %e %T %Z %Y", time.localtime(epoch))


def jiffies_uptime(jiffies_64: int, hz: int) -> int:
    """Seconds since boot from ``jiffies_64``, which starts at INITIAL_JIFFIES =
    (unsigned int)(-300 * HZ) (include/linux/jiffies.h), as crash's get_uptime()."""
    initial = (-300 * hz) & 0xFFFFFFFF
    return ((jiffies_64 - initial) & (2**64 - 1)) // hz



#: --drgn of sys and mach: crash's memory size (every online node's present pages,
#: rounded up to the next GiB when that is at most 64 MiB away), as ``memory``
MEMORY_CODE = f"""\
try:
    nids = list(for_each_online_node(prog))
except (LookupError, AttributeError):  # !CONFIG_NUMA
    nids = [0]
total = sum(NODE_DATA(prog, nid).node_present_pages.value_() for nid in nids) * {PAGE_SIZE}
# crash rounds up to the next GiB when that is at most 64 MiB away
next_gig = -(-total // (1 << 30)) * (1 << 30)
if next_gig - total <= 64 << 20:
    total = next_gig
if total >= 1 << 30:
    memory = f"{{total / (1 << 30):.1f}} GB".replace(".0 ", " ")
elif total >= 1 << 20:
    memory = f"{{total / (1 << 20):.1f}} MB".replace(".0 ", " ")
else:
    memory = f"{{total >> 10}} KB"
"""

#: --drgn of sys and mach: crash's CPUS (the highest present CPU + 1, with the
#: CPUs that are not online, as a panic leaves the others, as [OFFLINE: n])
CPUS_CODE = """\
cpus = max(for_each_present_cpu(prog)) + 1
online = num_online_cpus(prog)
row("CPUS", str(cpus) + (f" [OFFLINE: {cpus - online}]" if online < cpus else ""))
"""
#: the imports CPUS_CODE needs
CPUS_IMPORTS = "drgn.helpers.linux.cpumask:for_each_present_cpu,num_online_cpus"


def cpus_text(cpus: int, online: int) -> str:
    return str(cpus) + (f" [OFFLINE: {cpus - online}]" if online < cpus else "")


def _hz(ctx: Context) -> int:
    """CONFIG_HZ, from the NTP tick length (kmemx.helpers.timekeeping)."""
    from kmemx.helpers.timekeeping import kernel_hz

    return kernel_hz(ctx.prog)


def _node_present_bytes(ctx: Context) -> int:
    """Sum of node_present_pages over the online nodes (crash's total_node_memory())."""
    from drgn.helpers.linux.mmzone import NODE_DATA
    from drgn.helpers.linux.nodemask import for_each_online_node

    prog = ctx.prog
    try:
        nids = list(for_each_online_node(prog))
    except (LookupError, AttributeError):  # !CONFIG_NUMA: one node, contig_page_data
        nids = [0]
    pages = sum(int(NODE_DATA(prog, nid).node_present_pages) for nid in nids)
    return pages * PAGE_SIZE


def _crash_cpus(ctx: Context) -> int:
    """crash's CPUS: the highest present CPU + 1 (x86_64_per_cpu_init())."""
    from drgn.helpers.linux.cpumask import for_each_present_cpu, num_possible_cpus

    try:
        return max(for_each_present_cpu(ctx.prog)) + 1
    except (LookupError, ValueError):
        return num_possible_cpus(ctx.prog)


def _avenrun(ctx: Context) -> tuple[int, int, int]:
    a = ctx.k.object("avenrun")
    return int(a[0]), int(a[1]), int(a[2])


def _task_count(ctx: Context) -> int:
    """Tasks as crash counts them (its ``ps`` rows): every thread, and one idle
    task per CPU."""
    from .tasks import _task_batches

    return sum(len(batch) for batch in _task_batches(ctx, strict=True))


def _panic_string(ctx: Context) -> str:
    from drgn.helpers.linux.panic import panic_message

    try:
        msg = panic_message(ctx.prog)
    except (LookupError, drgn.FaultError, ValueError):
        return ""
    if msg is None:
        return ""
    return msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)


def _kernel_file(ctx: Context) -> str:
    try:
        path = ctx.prog.main_module().debug_file_path
    except LookupError:
        path = None
    tainted = 0
    try:
        tainted = int(ctx.k.object("tainted_mask"))
    except (LookupError, drgn.FaultError):
        pass
    return (path or "?") + ("  [TAINTED]" if tainted else "")


def _machine(ctx: Context, uts: Any) -> str:
    machine: str = uts.machine.string().decode()
    try:
        mhz = int(ctx.k.object("cpu_khz")) // 1000
    except (LookupError, drgn.FaultError):
        mhz = 0
    return f"{machine}  ({mhz} Mhz)" if mhz else f"{machine}  (unknown Mhz)"


def _sys_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``sys --drgn``: the KEY/VALUE rows from drgn's helpers (-t: the taint
    mask and letters; -c: each sys_call_table entry's symbol and source line)."""
    from kmemx.commands.drgncode import table_script

    if args.syscalls:
        return table_script(ctx, ("NUM", "SYSTEM_CALL", "FILE", "LINE"), """\
table = prog["sys_call_table"]
for i in range(len(table)):
    addr = table[i].value_()
    try:
        name = prog.symbol(addr).name
    except LookupError:
        name = f"{addr:x}"
    try:
        end = prog.symbol(addr).address + prog.symbol(addr).size
    except LookupError:
        end = addr + 1
    file, line = "", 0
    # the outermost source location, not an inlined one; past an entry in a
    # header under include/, the function's first address that is not (crash)
    for a in range(addr, max(end, addr + 1)):
        try:
            loc = prog.source_location(a)[-1]
        except (LookupError, ValueError, IndexError):
            if a == addr:
                break
            continue
        file, line = loc.filename, loc.line
        if not (file.endswith(".h") and "include/" in file):
            break
    else:
        if file.endswith(".h") and "include/" in file:
            file, line = "", 0  # only headers: crash gives no file
    row(i, name, file, line)
""")
    if args.taint:
        return table_script(ctx, ("KEY", "VALUE"), """\
mask = prog["tainted_mask"].value_()
flags = prog["taint_flags"]
row("TAINTED_MASK", mask)
row("TAINTS", "".join(chr(flags[i].c_true) for i in range(len(flags)) if mask >> i & 1))
""")
    return table_script(ctx, ("KEY", "VALUE"), f"""\
uts = prog["init_uts_ns"].name
{JIFFIES_CODE}try:
    kernel = prog.main_module().debug_file_path or "?"
except LookupError:
    kernel = "?"
if prog["tainted_mask"].value_():
    kernel += "  [TAINTED]"
row("KERNEL", kernel)
row("DUMPFILE", {ctx.k.target!r})  # the file given to drgn -c
{CPUS_CODE}row("DATE", time.strftime("%a %b %e %T %Z %Y", time.localtime(ktime_get_real_seconds(prog))))
days, rest = divmod(jiffies // hz, 86400)
uptime = f"{{rest // 3600:02}}:{{rest // 60 % 60:02}}:{{rest % 60:02}}"
row("UPTIME", f"{{days}} days, {{uptime}}" if days else uptime)
load = []
for v in prog["avenrun"]:  # fixed point, FSHIFT = 11 fraction bits
    v = v.value_() + (1 << 11) // 200
    load.append(f"{{v >> 11}}.{{((v & ((1 << 11) - 1)) * 100) >> 11:02}}")
row("LOAD AVERAGE", ", ".join(load))
# crash counts each CPU's idle task and every thread
row("TASKS", num_possible_cpus(prog) + sum(1 for _ in for_each_task(prog)))
row("NODENAME", uts.nodename.string_().decode())
row("RELEASE", uts.release.string_().decode())
row("VERSION", uts.version.string_().decode())
try:
    mhz = prog["cpu_khz"].value_() // 1000
except KeyError:  # x86's; arm64 has none
    mhz = 0
machine = uts.machine.string_().decode()
row("MACHINE", f"{{machine}}  ({{mhz}} Mhz)" if mhz else f"{{machine}}  (unknown Mhz)")
{MEMORY_CODE}row("MEMORY", memory)
msg = panic_message(prog)
row("PANIC", msg.decode("utf-8", "replace") if msg else "")
row("READER", "drgn")
""", imports=["time", CPUS_IMPORTS, "drgn.helpers.linux.cpumask:num_possible_cpus",
              "drgn.helpers.linux.timekeeping:ktime_get_real_seconds",
              "drgn.helpers.linux.pid:for_each_task",
              "drgn.helpers.linux.nodemask:for_each_online_node",
              "drgn.helpers.linux.mmzone:NODE_DATA", "drgn.helpers.linux.panic:panic_message"])


@command("sys", "system data: release, machine, CPUs, memory, uptime, panic string",
         description="""
         crash's keys and values: KERNEL DUMPFILE CPUS DATE UPTIME LOAD AVERAGE
         TASKS NODENAME RELEASE VERSION MACHINE MEMORY PANIC, then kmemx's READER.
         MEMORY is the memory of the online nodes (node_present_pages), UPTIME
         counts jiffies, DATE is the wall clock in local time (TZ).

         sys                      the summary crash prints at start-up, in crash's
                                  layout (KEY: value, keys right-aligned, PANIC
                                  quoted; a value that cannot be read: -)
         sys --json               KEY/VALUE rows
         sys -t                   tainted_mask, and the kernel's taint letters
         sys -c                   the system call table: NUM, the function, its
                                  source file and line (DWARF)
         """,
         arguments=[arg("-t", dest="taint", action="store_true", help="the taint mask"),
                    arg("-c", dest="syscalls", action="store_true",
                        help="the system call table")],
         columns=("KEY", "VALUE"), drgn_code=_sys_drgn)
def _sys(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from drgn.helpers.linux.cpumask import num_online_cpus
    from drgn.helpers.linux.timekeeping import ktime_get_real_seconds

    if args.taint:
        mask = int(ctx.k.object("tainted_mask"))
        letters = taint_letters(ctx, mask)
        if ctx.as_json:
            yield Row(("KEY", "VALUE"), ("TAINTED_MASK", mask))
            yield Row(("KEY", "VALUE"), ("TAINTS", letters))
        else:
            yield TextLine(f"TAINTED_MASK: {mask:x}  {letters}")
        return
    if args.syscalls:
        yield from _syscalls(ctx)
        return

    prog = ctx.prog
    uts = ctx.k.object("init_uts_ns").name

    def value(get: Any) -> Any:
        try:
            return get()
        except (LookupError, drgn.FaultError, AttributeError, ValueError,
                ZeroDivisionError) as e:
            ctx.warn(f"sys: {e}")
            return None

    rows: list[tuple[str, Any]] = [
        ("KERNEL", value(lambda: _kernel_file(ctx))),
        ("DUMPFILE", ctx.k.target),
        ("CPUS", value(lambda: cpus_text(_crash_cpus(ctx), num_online_cpus(prog)))),
        ("DATE", value(lambda: date_text(int(ktime_get_real_seconds(prog))))),
        ("UPTIME", value(lambda: uptime_text(jiffies_uptime(
            int(ctx.k.object("jiffies_64")), _hz(ctx))))),
        ("LOAD AVERAGE", value(lambda: loadavg_text(_avenrun(ctx)))),
        ("TASKS", value(lambda: _task_count(ctx))),
        ("NODENAME", value(lambda: uts.nodename.string().decode())),
        ("RELEASE", value(lambda: uts.release.string().decode())),
        ("VERSION", value(lambda: uts.version.string().decode())),
        ("MACHINE", value(lambda: _machine(ctx, uts))),
        ("MEMORY", value(lambda: memory_text(_node_present_bytes(ctx)))),
        ("PANIC", value(lambda: _panic_string(ctx))),
        ("READER", ctx.k.reader.name),
    ]
    for key, val in rows:
        if ctx.as_json:
            yield Row(("KEY", "VALUE"), (key, val))
        else:  # crash's display_sys_stats(): keys right-aligned, the panic string quoted
            text = cell_text(val)
            yield TextLine(f"{key:>12}: " + (f'"{val}"' if key == "PANIC" and val is not None
                                             else text))


def taint_letters(ctx: Context, mask: int) -> str:
    """The letters of the taint bits set in ``mask``, from the kernel's
    ``taint_flags[]`` (kernel/panic.c: ``c_true`` of each set bit), as
    /proc/sys/kernel/tainted's users and crash print them."""
    flags = ctx.k.object("taint_flags")
    out = []
    for i in range(len(flags)):
        if mask >> i & 1:
            out.append(chr(int(flags[i].c_true)))
    return "".join(out)


def _syscall_line(prog: drgn.Program, addr: int) -> tuple[str, int]:
    """The source file and line ``sys -c`` gives a system call at ``addr``:
    the outermost (not inlined) location of its first address, or, where that
    is a header under include/ (arm64 6.1: 163 entries start in an inlined
    qspinlock.h, refcount.h, syscalls.h...), of the function's first address
    that is not, as crash's cmd_sys() walks up to the next symbol (kernel.c:
    "the first instruction address in the system call that shows the actual
    source file").  ``("", 0)`` without line information."""
    try:
        sym = prog.symbol(addr)
        end = sym.address + sym.size
    except LookupError:
        end = addr + 1
    file, line = "", 0
    for a in range(addr, max(end, addr + 1)):
        try:
            loc = prog.source_location(a)[-1]  # the outermost, not inlined
        except (LookupError, ValueError, IndexError):
            if a == addr:
                break
            continue
        file, line = loc.filename, int(loc.line)
        if not (file.endswith(".h") and "include/" in file):
            return file, line
    return ("", 0) if file.endswith(".h") and "include/" in file else (file, line)


def _syscalls(ctx: Context) -> Iterator[Any]:
    """crash's ``sys -c``: each ``sys_call_table`` entry's function and the
    source file and line of its entry (DWARF, drgn's source_location())."""
    table = ctx.prog["sys_call_table"]
    cols = ("NUM", "SYSTEM_CALL", "FILE", "LINE")
    if not ctx.as_json:
        yield TextLine("NUM  SYSTEM CALL                FILE AND LINE NUMBER")
    for i in range(len(table)):
        addr = int(table[i].value_())
        try:
            name = ctx.prog.symbol(addr).name
        except LookupError:
            name = f"{addr:x}"
        file, line = _syscall_line(ctx.prog, addr)
        if ctx.as_json:
            yield Row(cols, (i, Name(name), file, line))
        else:
            yield TextLine(f"{i:3}  {name:<26} {file}: {line}" if file else f"{i:3}  {name}")


def _log_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``log --drgn``: the records of drgn's get_printk_records(), with
    crash's prefixes (-t none, -T the wall clock: boot by ``sys``'s DATE
    minus its jiffies UPTIME, -c the caller, -m the level; -d the device
    lines)."""
    from kmemx.commands.drgncode import only_options, text_script

    only_options("log", args, ("no_time", "wall", "level", "caller", "dict", "rust"),
                 "the printk records (no -a)")
    body = ""
    if args.wall:
        # boot, as crash takes it: the wall clock minus the jiffies uptime
        body = JIFFIES_CODE + """\
boot = int(ktime_get_real_seconds(prog)) - jiffies // hz
"""
    if args.wall:
        prefix = ('"[" + time.strftime("%a %b %e %T %Z %Y", time.localtime('
                  'boot + r.timestamp // 10**9)) + "] "')
    elif args.no_time:
        prefix = '""'
    else:
        prefix = 'f"[{r.timestamp // 10**9:5}.{r.timestamp % 10**9 // 1000:06}] "'
    if args.caller:
        body += """\
try:  # crash's width of the caller: pid_max's digits (8 without the symbol)
    pid_max = prog["pid_max"].value_()
    width = 6 if pid_max <= 99999 else 7 if pid_max <= 999999 else 8
except KeyError:  # 7.x keeps it per PID namespace
    width = 8
"""
        prefix += (' + ("" if r.caller_cpu is None and r.caller_tid is None else '
                   'f"[{f\'C{r.caller_cpu}\' if r.caller_cpu is not None else '
                   'f\'T{r.caller_tid}\':>{width}}] ")')
    if args.level:
        prefix += ' + f"<{r.level}>"'
    device = """
    for key in (b"SUBSYSTEM", b"DEVICE"):  # dev_printk()'s device, crash's -d
        if r.context.get(key):
            print(" " * len(prefix) + key.decode() + "=" + r.context[key].decode("utf-8", "replace"))""" \
        if args.dict else ""
    body += """\
records = list(get_printk_records(prog))
texts = [r.text.decode("utf-8", "replace") for r in records]
"""
    if args.rust:
        from kmemx.demangle import RUST_SYMBOL

        body += f"""\
# -R: Rust names demangled by libiberty's rust_demangle() (GNU binutils'
# c++filt, crash's demangler), every one of each record
RUST = re.compile({RUST_SYMBOL.pattern!r})
names = sorted({{m.group(1) for t in texts for m in RUST.finditer(t)}})
out = subprocess.run(["c++filt", "-i", "-s", "rust"], input="".join(n + "\\n" for n in names),
                     capture_output=True, text=True).stdout.split("\\n")
readable = {{n: d for n, d in zip(names, out) if d and d != n}}
texts = [RUST.sub(lambda m: readable.get(m.group(1), m.group(1)), t) for t in texts]
"""
    return text_script(ctx, body + f"""\
for r, text in zip(records, texts):
    prefix = {prefix}
    first, *more = text.split("\\n")
    print(prefix + first)
    for line in more:  # continuation lines under the text, as kmemx's log
        print(" " * len(prefix) + line){device}
""", ["re", "subprocess", "time", "drgn.helpers.linux.printk:get_printk_records",
      "drgn.helpers.linux.timekeeping:ktime_get_real_seconds"])


@command("log", "display the kernel ring buffer (dmesg)",
         description="""
         The kernel's printk ring buffer, oldest first, as crash's log shows it:
         [seconds.microseconds] text.  A record that cannot be read is reported
         and the rest are shown.

         log                      every record with its timestamp
         log -t                   without timestamps
         log -T                   with the wall-clock time: [Sun Nov 29 08:54:33 UTC 2026]
                                  (boot time, tk_core's offs_real, plus the record's time)
         log -m                   with each record's <level>
         log -c                   with the caller: [   T123] a task's PID, [     C1] a CPU
         log -d                   with the device of dev_printk() records:
                                  SUBSYSTEM= and DEVICE= lines under the text
         log -R                   Rust symbol names demangled (crash 9's -R; by GNU
                                  binutils' c++filt, libiberty's demangler as crash's),
                                  every one of a record where crash takes the first
         log -a                   the audit records queued for auditd: type=N text
         log ! grep -i oops       through a shell command
         log --json               TIME (seconds) LEVEL CALLER TEXT rows, and each
                                  record's SUBSYSTEM and DEVICE (-d); -a: QUEUE SKB TYPE TEXT
         """,
         arguments=[arg("-t", dest="no_time", action="store_true", help="no timestamps"),
                    arg("-T", dest="wall", action="store_true",
                        help="wall-clock time of each record (local time, TZ)"),
                    arg("-m", dest="level", action="store_true",
                        help="each record's <level> after its time"),
                    arg("-c", dest="caller", action="store_true",
                        help="each record's caller, T<pid> or C<cpu>"),
                    arg("-d", dest="dict", action="store_true",
                        help="the SUBSYSTEM and DEVICE of dev_printk() records"),
                    arg("-R", dest="rust", action="store_true",
                        help="Rust symbol names demangled"),
                    arg("-a", dest="audit", action="store_true",
                        help="the audit records not yet read by auditd")],
         columns=("TIME", "LEVEL", "TEXT"), drgn_code=lambda ctx, args: _log_drgn(ctx, args))
def _log(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from drgn.helpers.linux.printk import get_printk_records

    if args.audit:
        yield from _log_audit(ctx)
        return
    try:
        records = get_printk_records(ctx.prog)
    except drgn.FaultError as e:
        ctx.warn(f"the printk ring buffer is not readable ({e.address:#x}): "
                 "missing from this dump")
        return
    boot = _boot_seconds(ctx) if args.wall else 0
    width = _caller_width(ctx) if args.caller else 0
    texts = [r.text.decode("utf-8", "replace") for r in records]
    if args.rust:
        texts = _rust_demangled(texts)
    for r, text in zip(records, texts):
        caller = (f"C{r.caller_cpu}" if r.caller_cpu is not None else
                  f"T{r.caller_tid}" if r.caller_tid is not None else None)
        device = {k.decode(): v.decode("utf-8", "replace") for k, v in r.context.items()
                  if k in (b"SUBSYSTEM", b"DEVICE")} if args.dict else {}
        if ctx.as_json:
            cols: tuple[str, ...] = ("TIME", "LEVEL", "CALLER", "TEXT")
            cells: tuple[Any, ...] = (r.timestamp / 1e9, r.level, caller, text)
            if args.dict:
                cols += ("SUBSYSTEM", "DEVICE")
                cells += (device.get("SUBSYSTEM"), device.get("DEVICE"))
            yield Row(cols, cells)
            continue
        prefix = ""
        if args.wall:
            prefix = f"[{date_text(boot + r.timestamp // 10**9)}] "
        elif not args.no_time:
            secs, ns = divmod(r.timestamp, 10**9)
            prefix = f"[{secs:5}.{ns // 1000:06}] "
        if args.caller and caller is not None:  # printk.c: "[%*s] ", pid_max's digits
            prefix += f"[{caller:>{width}}] "
        if args.level:
            prefix += f"<{r.level}>"  # crash: the level alone, whatever the facility
        indent = " " * len(prefix)  # crash: the lines after the first under the text
        first, *more = text.split("\n")
        yield TextLine(prefix + first)
        for line in more:
            yield TextLine(indent + line)
        for key in ("SUBSYSTEM", "DEVICE"):  # crash's -d: the dev_printk_info strings
            if device.get(key):
                yield TextLine(f"{indent}{key}={device[key]}")


def _rust_demangled(texts: list[str]) -> list[str]:
    """Each record's text with its Rust names demangled
    (:func:`kmemx.demangle.demangle_rust_in_text`, line by line)."""
    from kmemx.demangle import demangle_rust_in_text
    from kmemx.errors import KmemxError

    counts = [t.count("\n") + 1 for t in texts]
    try:
        lines = demangle_rust_in_text([ln for t in texts for ln in t.split("\n")])
    except KmemxError as e:
        raise CommandError(f"log -R: {e}") from None
    out, at = [], 0
    for n in counts:
        out.append("\n".join(lines[at:at + n]))
        at += n
    return out


def _caller_width(ctx: Context) -> int:
    """The width crash gives ``log -c``'s caller (printk.c): 6 characters
    while ``pid_max`` has at most 5 digits, 7 for 6, else 8."""
    try:
        pid_max = int(ctx.prog["pid_max"])
    except (KeyError, drgn.FaultError):
        return 8
    return 6 if pid_max <= 99999 else 7 if pid_max <= 999999 else 8


def _log_audit(ctx: Context) -> Iterator[Any]:
    """``log -a``: crash's ``type=N text`` lines of the audit records still
    queued (kernel.c dump_audit()), or its ``kernel audit log is empty``."""
    from kmemx.commands import CommandError
    from kmemx.helpers.audit import for_each_audit_record

    cols = ("QUEUE", "SKB", "TYPE", "TEXT")
    n = 0
    try:
        for rec in for_each_audit_record(ctx.prog):
            n += 1
            text = rec.text.decode("utf-8", "replace")
            row = Row(cols, (rec.queue, Address(rec.skb), rec.type, text))
            yield row if ctx.as_json else TextRecord(f"type={rec.type} {text}", row.as_dict())
    except LookupError as e:
        raise CommandError(f"log: -a: {e}") from None
    except drgn.FaultError as e:
        ctx.warn(f"log: -a: an audit buffer is not readable ({e.address:#x})")
    if not n and not ctx.as_json:
        yield TextLine("log: kernel audit log is empty")  # crash's error(INFO) line


def _boot_seconds(ctx: Context) -> int:
    """The wall-clock second of boot as crash's ``log -T`` takes it: the dump's
    wall clock (``sys``'s DATE) minus its uptime by jiffies (``sys``'s UPTIME)."""
    from drgn.helpers.linux.timekeeping import ktime_get_real_seconds

    return int(ktime_get_real_seconds(ctx.prog)) - jiffies_uptime(
        int(ctx.k.object("jiffies_64")), _hz(ctx))


MOD_COLUMNS = ("MODULE", "NAME", "BASE", "SIZE", "OBJECT_FILE", "REFCOUNT")


def _mod_core(ctx: Context, mod: View) -> tuple[int, int]:
    """The module's core text base and core size (init sections excluded), as
    crash's ``mod`` shows them."""
    try:
        # 6.4 (ac3b43283923 "module: replace module_layout with module_memory")
        # split core_layout into mem[MOD_TEXT ... MOD_INIT_RODATA]
        mems = mod.mem
    except AttributeError:
        return int(mod.core_layout.base.value()), int(mod.core_layout.size)
    first_init = ctx.prog.constant("MOD_INIT_TEXT").value_()
    text = ctx.prog.constant("MOD_TEXT").value_()
    return (int(mems[text].base.value()),
            sum(int(mems[i].size) for i in range(first_init)))


def _mod_object_file(ctx: Context, mod: View, name: str) -> str:
    """crash's OBJECT FILE: the module's debug file when one is loaded, else
    ``(not loaded)``, tagged ``[CONFIG_KALLSYMS]`` when the module keeps a symbol
    table (crash then knows its symbols from kallsyms)."""
    try:
        m = ctx.prog.linux_kernel_loadable_module(mod.to_drgn().address_of_())
        path = m.debug_file_path or m.loaded_file_path  # mod -s: the symbols' file
    except (LookupError, AttributeError, ValueError, TypeError):
        path = None
    if path:
        return str(path)
    try:
        nsyms = int(mod.core_kallsyms.num_symtab)
    except AttributeError:  # before 4.5 (8244062ef1e5): num_symtab in struct module
        nsyms = int(mod.num_symtab)
    return "(not loaded)" + ("  [CONFIG_KALLSYMS]" if nsyms else "")


def _lsmod_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``mod --drgn``: the module rows by for_each_module() (-t: the taint
    letters)."""
    from kmemx.commands.drgncode import table_script

    imports = ["drgn.helpers.linux.module:for_each_module"]
    if args.load is not None or args.load_all is not None:
        from kmemx.commands.drgncode import only

        raise only("mod", "the module table and -t (mod -s/-S load files: in drgn, "
                          "prog.linux_kernel_loadable_module(mod).try_file(PATH))")
    if args.tainted:
        return table_script(ctx, ("NAME", "TAINTS"), """\
flags = prog["taint_flags"]
for mod in for_each_module(prog):
    if mod.taints:
        taints = mod.taints.value_()
        row(mod.name.string_().decode(),
            "".join(chr(flags[i].c_true) for i in range(len(flags)) if taints >> i & 1))
""", imports)
    return table_script(ctx, MOD_COLUMNS, """\
rows = []
for mod in for_each_module(prog):
    try:  # 6.4 (ac3b43283923) split core_layout into mem[MOD_TEXT...]
        mems = mod.mem
        base = mems[prog["MOD_TEXT"]].base.value_()
        size = sum(mems[i].size.value_() for i in range(prog["MOD_INIT_TEXT"].value_()))
    except AttributeError:
        base, size = mod.core_layout.base.value_(), mod.core_layout.size.value_()
    try:
        path = prog.linux_kernel_loadable_module(mod).debug_file_path
    except (LookupError, ValueError):
        path = None
    if not path:
        path = "(not loaded)" + ("  [CONFIG_KALLSYMS]" if mod.core_kallsyms.num_symtab else "")
    rows.append((hex(mod.value_()), mod.name.string_().decode(), hex(base), size, path,
                 mod.refcnt.counter.value_() - 1))
for r in sorted(rows, key=lambda r: int(r[2], 16)):  # crash's order: by base address
    row(*r)
""", imports)


@command("lsmod", "loaded kernel modules", aliases=("mod",),
         description="""
         crash's mod columns: MODULE (struct module), NAME, BASE (the core text,
         crash's TEXT_BASE on 6.4+), SIZE (core size, init sections excluded;
         /proc/modules' size), OBJECT FILE; then REFCOUNT (/proc/modules' "used by"
         count).  In crash's order: by BASE (not the modules list's, newest first).
         crash's -d -D -r -R -g -o manage crash's own symbol tables: nothing to do
         in kmemx (drgn keeps a module file once taken).

         mod                      every loaded module
         mod | filter name~^nf_   some of them
         mod -t                   the tainted modules and their taint letters
         mod -s MODULE [OBJFILE]  load MODULE's symbols and debug info from OBJFILE, or
                                  from the first MODULE.ko (- and _ alike) under
                                  /lib/modules/RELEASE, vmlinux's directory, then
                                  /usr/lib/debug/lib/modules/RELEASE (drgn's debug
                                  directories); its row, OBJECT_FILE the file, LOADED
                                  what drgn took: symbols (the file's symbol table)
                                  and/or debug info (its DWARF)
         mod -S [DIR]             the same for every module (only under DIR if given)
         """,
         arguments=[arg("-t", dest="tainted", action="store_true",
                        help="tainted modules (struct module's taints)"),
                    arg("-s", dest="load", nargs="+", metavar="MODULE [OBJFILE]",
                        help="load a module's symbols and debug info"),
                    arg("-S", dest="load_all", nargs="?", const="", metavar="DIR",
                        help="load every module's symbols and debug info")],
         columns=MOD_COLUMNS, drgn_code=_lsmod_drgn)
def _lsmod(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from kmemx.helpers import list_for_each_entry

    if args.load is not None or args.load_all is not None:
        yield from _mod_load(ctx, args)
        return
    if args.tainted:
        found = False
        for mod in list_for_each_entry("struct module", ctx.k.object("modules"), "list"):
            taints = int(mod.taints)
            if not taints:
                continue
            if not found and not ctx.as_json:
                yield TextLine("NAME  TAINTS")
            found = True
            name = mod.name.string().decode()
            yield Row(("NAME", "TAINTS"), (Name(name), taint_letters(ctx, taints)), mod)
        if not found and not ctx.as_json:
            yield TextLine("no tainted modules")
        return

    rows = []
    for mod in list_for_each_entry("struct module", ctx.k.object("modules"), "list"):
        try:
            name = mod.name.string().decode()
            base, size = _mod_core(ctx, mod)
            ref = int(mod.refcnt.counter) - 1 if hasattr(mod, "refcnt") else 0
            rows.append(Row(MOD_COLUMNS, (Address(mod.address), Name(name), Address(base),
                                          size, _mod_object_file(ctx, mod, name), ref), mod))
        except drgn.FaultError as e:
            ctx.warn(f"module {mod.address:#x}: cannot read {fault_where(e)}")
    yield from _crash_module_order(rows)


def _crash_module_order(rows: list[Row]) -> list[Row]:
    """``mod``'s rows (BASE the third cell) in crash's order: by base address
    (symbols.c sorts its load_modules with compare_mods() on mod_base), not
    the modules list's (newest first)."""
    return sorted(rows, key=lambda r: int(r.cells[2]))


def _mod_load(ctx: Context, args: argparse.Namespace) -> Iterator[Any]:
    """``mod -s MODULE [OBJFILE]`` / ``mod -S [DIR]``: each module's object
    file given to drgn (:func:`kmemx.helpers.modfiles.module_try_file`);
    MOD_COLUMNS plus LOADED for each module a file was found for."""
    from pathlib import Path

    from kmemx.commands import CommandError
    from kmemx.helpers import list_for_each_entry
    from kmemx.helpers.kallsyms import refresh_module_kallsyms
    from kmemx.helpers.modfiles import module_object_dirs, module_object_files, module_try_file

    if args.load is not None and args.load_all is not None:
        raise CommandError("mod: -s and -S exclude each other")
    mods = list(list_for_each_entry("struct module", ctx.k.object("modules"), "list"))
    by_name = {m.name.string().decode(): m for m in mods}
    if args.load is not None:
        if len(args.load) > 2:
            raise CommandError("mod: -s takes MODULE [OBJFILE]")
        name = args.load[0]
        if name not in by_name:
            from kmemx.commands import did_you_mean

            raise CommandError(f"mod: {name}: not a loaded module"
                               + did_you_mean(name, list(by_name)))
        wanted = [by_name[name]]
        given = Path(args.load[1]) if len(args.load) == 2 else None
        if given is not None and not given.is_file():
            raise CommandError(f"mod: {given}: no such file")
        dirs = module_object_dirs(ctx.prog)
    else:
        wanted = mods
        given = None
        if args.load_all:
            if not Path(args.load_all).is_dir():
                raise CommandError(f"mod: {args.load_all}: not a directory")
            dirs = [Path(args.load_all)]
        else:
            dirs = module_object_dirs(ctx.prog)
    rows = []
    for mod in wanted:
        name = mod.name.string().decode()
        candidates = [given] if given is not None else module_object_files(name, dirs)
        result = None
        for path in candidates:
            result = module_try_file(mod.to_drgn().address_of_(), path)
            if result.loaded or result.debug:
                break
        if result is None or not (result.loaded or result.debug):
            why = (f"{given} is not its object file (another build or module)" if given
                   else f"no {name}.ko under {', '.join(map(str, dirs)) or '(no directory)'}")
            if args.load is not None:
                raise CommandError(f"mod: {name}: {why}")
            continue
        loaded = ", ".join(w for w, ok in (("symbols", result.loaded),
                                           ("debug info", result.debug)) if ok)
        base, size = _mod_core(ctx, mod)
        ref = int(mod.refcnt.counter) - 1 if hasattr(mod, "refcnt") else 0
        rows.append(Row((*MOD_COLUMNS, "LOADED"),
                        (Address(mod.address), Name(name), Address(base), size,
                         str(result.path), ref, loaded), mod))
    if rows:
        # the modules' symbols are now drgn's from their files: the in-memory
        # tables' copies go (crash's mod -s replaces them too)
        refresh_module_kallsyms(ctx.prog)
    yield from _crash_module_order(rows)
    if not rows and args.load_all is not None:
        ctx.warn("mod: -S: no module's object file found under "
                 + (", ".join(map(str, dirs)) or "(no directory)"))


MOUNT_COLUMNS = ("MOUNT", "SUPERBLK", "TYPE", "DEVNAME", "DIRNAME")
MOUNT_FILE_COLUMNS = ("DENTRY", "INODE", "TYPE", "PATH", "MOUNT")


def _mount_namespace(ctx: Context, spec: str | None) -> drgn.Object:
    """The ``struct mnt_namespace *`` crash's ``mount`` shows: that of the
    task ``-n`` names (a PID or a task address), else of PID 1 (crash: the
    first PID from 1 that exists).

    :raises CommandError: no such task
    """
    from drgn.helpers.linux.pid import find_task

    from kmemx.commands import CommandError

    from .tasks import resolve_tasks

    if spec is not None:
        task = resolve_tasks(ctx, [spec])[0].to_drgn()
    else:
        task = find_task(ctx.prog, 1)
        if not task:  # the lowest PID there is
            from drgn.helpers.linux.pid import for_each_task

            task = min((t for t in for_each_task(ctx.prog) if t.pid > 0),
                       key=lambda t: int(t.pid), default=ctx.prog["init_task"].address_of_())
    try:
        return task.nsproxy.mnt_ns
    except drgn.FaultError as e:
        raise CommandError(f"mount: task {task.value_():#x}: cannot read its nsproxy "
                           f"({e.address:#x})") from None


def _mount_selectors(ctx: Context, ns: drgn.Object, specs: list[str]
                     ) -> list[tuple[str, int | None, int | None]]:
    """Each ``mount ARG`` once: (the word, the address it is or None, the
    superblock of the dentry or inode there or None), the superblocks those
    may have being the namespace's (``struct mnt_namespace *``)."""
    from drgn.helpers.linux.fs import for_each_mount

    from kmemx.commands import parse_hex

    sbs = {int(m.mnt.mnt_sb.value_()) for m in for_each_mount(ns)}
    out: list[tuple[str, int | None, int | None]] = []
    for spec in specs:
        addr = parse_hex(spec)
        out.append((spec.rstrip("/") or "/", addr,
                    None if addr is None else _fs_object_superblock(ctx, addr, sbs)))
    return out


def _mount_selected(row: Row, mnt: drgn.Object,
                    selectors: list[tuple[str, int | None, int | None]]) -> bool:
    """crash's ``mount ARG``: a row one of whose words is ARG (a path
    compared without a trailing ``/``; an address in hex, ``0x`` or not),
    or whose struct vfsmount (``&mount.mnt``) ARG is; kmemx also takes a
    dentry's or an inode's address (its superblock's mounts: crash 8.0.6
    finds those through super_block.s_files, gone since 3.13)."""
    words = [str(c).rstrip("/") or "/" for c in row.cells]
    sb = int(mnt.mnt.mnt_sb.value_())
    for word, addr, fs_sb in selectors:
        if word in words:
            return True
        if addr is not None and (addr in (int(mnt.value_()), int(mnt.mnt.address_), sb)
                                 or fs_sb == sb):
            return True
    return False


def _fs_object_superblock(ctx: Context, addr: int, sbs: set[int]) -> int | None:
    """The superblock of the dentry or inode at ``addr`` (a dentry when its
    slab cache is ``dentry``, else an inode whose ``i_sb`` is one of the
    mounted superblocks ``sbs``, else a dentry whose ``d_sb`` is); None when
    it is neither."""
    from kmemx.helpers.slab import virt_to_cache

    try:
        slab = virt_to_cache(ctx.k, addr)
        name = bytes(slab.name.string()).decode(errors="replace") if slab else ""
    except (drgn.FaultError, LookupError, ValueError):
        name = ""
    kinds = ("dentry",) if name == "dentry" else ("inode", "dentry")
    for kind in kinds:
        member = "d_sb" if kind == "dentry" else "i_sb"
        try:
            sb = int(drgn.Object(ctx.prog, f"struct {kind}", address=addr)
                     .member_(member).value_())
        except drgn.FaultError:
            continue
        if sb in sbs:
            return sb
    return None


def _mount_open_files(ctx: Context) -> dict[int, list[drgn.Object]]:
    """Every open ``struct file *`` of the tasks' file descriptor tables,
    once each, by the ``struct vfsmount *`` it was opened through
    (``f_path.mnt``): crash's ``mount -f``, whose super_block.s_files list
    is gone since 3.13 (eee5cc2702929)."""
    from drgn.helpers.linux.fs import for_each_file
    from drgn.helpers.linux.pid import for_each_task

    seen: set[int] = set()
    by_mnt: dict[int, list[drgn.Object]] = {}
    for task in for_each_task(ctx.prog):
        try:
            if not task.files:
                continue
            for _, f in for_each_file(task):
                if int(f.value_()) not in seen:
                    seen.add(int(f.value_()))
                    by_mnt.setdefault(int(f.f_path.mnt.value_()), []).append(f)
        except drgn.FaultError as e:
            ctx.warn(f"mount -f: task {int(task.pid)}: cannot read its files ({e.address:#x})")
    return by_mnt


def _mount_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``mount --drgn``: for_each_mount() of PID 1's mount namespace (-n:
    the task's) and drgn's mount_*() helpers."""
    from kmemx.commands.drgncode import only_options, table_script

    only_options("mount", args, ("namespace", "files"),
                 "the mount table of a namespace (-n) and -f")
    ns = _mount_namespace(ctx, args.namespace)
    files = """\
    table(*FILE_COLUMNS)
    for f in opened.get(mnt.mnt.address_, []):
        dentry, inode = f.f_path.dentry, f.f_inode
        row(hex(dentry.value_()), hex(inode.value_()), inode_type(inode) if inode else "N/A",
            dentry_path(dentry).decode().lstrip("/"), hex(mnt.value_()))
    table(*MOUNT_COLUMNS)
""" if args.files else ""
    from .tasks import INODE_TYPE_CODE

    opened = INODE_TYPE_CODE + f"""\
FILE_COLUMNS, MOUNT_COLUMNS = {MOUNT_FILE_COLUMNS!r}, {MOUNT_COLUMNS!r}
opened, seen = {{}}, set()  # every task's open files, once each, by vfsmount
for task in for_each_task(prog):
    if task.files:
        for _, f in for_each_file(task):
            if f.value_() not in seen:
                seen.add(f.value_())
                opened.setdefault(f.f_path.mnt.value_(), []).append(f)
""" if args.files else ""
    imports = ["drgn:Object", "drgn.helpers.linux.fs:for_each_mount,mount_dst,mount_fstype,"
               "mount_src"]
    if args.files:
        imports += ["drgn.helpers.linux.fs:dentry_path,for_each_file",
                    "drgn.helpers.linux.pid:for_each_task"]
    return table_script(ctx, MOUNT_COLUMNS, opened + f"""\
ns = Object(prog, "struct mnt_namespace *", {int(ns.value_()):#x})  # {"the task's" if args.namespace else "PID 1's"}
for mnt in for_each_mount(ns):
    row(hex(mnt.value_()), hex(mnt.mnt.mnt_sb.value_()), mount_fstype(mnt).decode(),
        mount_src(mnt).decode(), mount_dst(mnt).decode())
""" + files, imports)


@command("mount", "mounted filesystems",
         description="""
         crash's columns: MOUNT (struct mount), SUPERBLK, TYPE, DEVNAME, DIRNAME,
         one row per mount of PID 1's mount namespace (crash's default), or of
         the task -n names.

         mount                          every mount
         mount -n PID|TASK              the mounts of that task's namespace
         mount /proc  mount proc  mount ADDR
                                        the rows where a word is the argument, or
                                        whose vfsmount, superblock, or a dentry's or
                                        inode's superblock ADDR is
         mount -f                       each mount, then crash's "OPEN FILES" and the
                                        files open through it (DENTRY INODE TYPE PATH
                                        MOUNT), or "No open files found", from the
                                        tasks' file tables (super_block.s_files, which
                                        crash reads, is gone since 3.13)
         mount | filter type==tmpfs     the tmpfs ones
         -i (dirty inodes) is crash's for kernels before 2.6.32: refused, as crash.
         """,
         arguments=[arg("specs", nargs="*", metavar="MOUNT|VFSMOUNT|SUPERBLOCK|DEV|DIR|DENTRY|INODE"),
                    arg("-n", dest="namespace", metavar="PID|TASK",
                        help="the mount namespace of this task"),
                    arg("-f", dest="files", action="store_true",
                        help="the open files of each filesystem"),
                    arg("-i", dest="inodes", action="store_true",
                        help="dirty inodes (kernels before 2.6.32, as crash)")],
         columns=MOUNT_COLUMNS, drgn_code=_mount_drgn)
def _mount(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from drgn.helpers.linux.fs import (
        dentry_path,
        for_each_mount,
        mount_dst,
        mount_fstype,
        mount_src,
    )

    from kmemx.commands import CommandError
    from kmemx.commands.rows import END_TABLE

    from .tasks import inode_type

    if args.inodes:
        try:
            ctx.prog.type("struct super_block").member("s_dirty")
        except LookupError:
            raise CommandError("mount: -i: the super_block.s_dirty linked list does not exist "
                               "in this kernel (gone since 2.6.32)") from None
    ns = _mount_namespace(ctx, args.namespace)
    files = _mount_open_files(ctx) if args.files else {}
    selectors = _mount_selectors(ctx, ns, args.specs) if args.specs else []
    shown = 0
    try:
        for mnt in for_each_mount(ns):
            try:
                row = Row(MOUNT_COLUMNS, (Address(mnt.value_()), Address(mnt.mnt.mnt_sb.value_()),
                                          mount_fstype(mnt).decode(), mount_src(mnt).decode(),
                                          mount_dst(mnt).decode()), mnt)
                if selectors and not _mount_selected(row, mnt, selectors):
                    continue
                shown += 1
                yield row
                opened = files.get(int(mnt.mnt.address_), [])
                if not args.files:
                    continue
                yield END_TABLE
                if not ctx.as_json:  # crash's lines (filesys.c show_mounts())
                    yield TextLine(crash_centre("OPEN FILES", 16, False).rstrip())
                    if not opened:
                        yield TextLine("No open files found")
                for f in opened:
                    dentry, inode = f.f_path.dentry, f.f_inode
                    path = dentry_path(dentry).decode("utf-8", "surrogateescape")
                    yield Row(MOUNT_FILE_COLUMNS, (Address(dentry.value_()),
                                                   Address(inode.value_()),
                                                   inode_type(inode) if inode else "N/A",
                                                   path.lstrip("/"), Address(mnt.value_())), f)
                yield END_TABLE
            except drgn.FaultError as e:
                ctx.warn(f"mount {mnt.value_():#x}: cannot read {fault_where(e)}")
    except drgn.FaultError as e:
        ctx.warn(f"mount list walk stopped: cannot read {fault_where(e)}")
    if selectors and not shown:
        raise CommandError(f"mount: no mount of {' '.join(args.specs)} in this namespace")
