"""Crash-dump basics: sys, log, lsmod (crash's mod), mount."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from typing import Any

import drgn

from kmemx.commands import Address, Context, Name, Row, TextLine, arg, command
from kmemx.helpers.mm import PAGE_SIZE, totalram_pages

__all__: list[str] = []


def _uptime_s(ctx: Context) -> int | None:
    from drgn.helpers.linux.timekeeping import uptime

    try:
        return int(uptime(ctx.prog))
    except (LookupError, drgn.FaultError, AttributeError, ValueError):
        return None


def _panic_string(ctx: Context) -> str:
    from drgn.helpers.linux.panic import panic_message

    try:
        msg = panic_message(ctx.prog)
    except (LookupError, drgn.FaultError, ValueError):
        return ""
    if msg is None:
        return ""
    return msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)


def _cpus_text(possible: int, online: int) -> str:
    return str(possible) + (f" [OFFLINE: {possible - online}]" if online < possible else "")


@command("sys", "system data: release, machine, CPUs, memory, uptime, panic string",
         columns=("KEY", "VALUE"))
def _sys(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from drgn.helpers.linux.cpumask import num_online_cpus, num_possible_cpus

    prog = ctx.prog
    uts = ctx.k.object("init_uts_ns").name
    rows: list[tuple[str, Any]] = [
        ("KERNEL", ctx.k.target),
        ("NODENAME", uts.nodename.string().decode()),
        ("RELEASE", uts.release.string().decode()),
        ("VERSION", uts.version.string().decode()),
        ("MACHINE", uts.machine.string().decode()),
        ("CPUS", _cpus_text(num_possible_cpus(prog), num_online_cpus(prog))),
        ("MEMORY", f"{totalram_pages(ctx.k) * PAGE_SIZE / 2**20:.1f} MB"),
    ]
    s = _uptime_s(ctx)
    if s is not None:
        rows.append(("UPTIME", f"{s // 86400} days, {s // 3600 % 24:02}:{s // 60 % 60:02}:"
                               f"{s % 60:02}"))
    rows.append(("PANIC", _panic_string(ctx)))
    rows.append(("READER", ctx.k.reader.name))
    for key, val in rows:
        yield Row(("KEY", "VALUE"), (key, val))


@command("log", "display the kernel ring buffer (dmesg)",
         description="log -t: without timestamps.  Continues after a bad record.",
         arguments=[arg("-t", dest="no_time", action="store_true", help="no timestamps")],
         columns=("TIME", "LEVEL", "TEXT"))
def _log(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from drgn.helpers.linux.printk import get_printk_records

    try:
        records = get_printk_records(ctx.prog)
    except drgn.FaultError as e:
        ctx.warn(f"the printk ring buffer is not readable ({e.address:#x}): "
                 "missing from this dump")
        return
    for r in records:
        text = r.text.decode("utf-8", "replace")
        if ctx.as_json:
            yield Row(("TIME", "LEVEL", "TEXT"), (r.timestamp / 1e9, r.level, text))
        elif args.no_time:
            yield TextLine(text)
        else:
            secs, ns = divmod(r.timestamp, 10**9)
            yield TextLine(f"[{secs:5}.{ns // 1000:06}] {text}")


@command("lsmod", "loaded kernel modules", aliases=("mod",),
         columns=("MODULE", "NAME", "BASE", "SIZE", "REFCOUNT"))
def _lsmod(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from kmemx.helpers import list_for_each_entry

    for mod in list_for_each_entry("struct module", ctx.k.object("modules"), "list"):
        try:
            name = mod.name.string().decode()
            try:  # 6.4 split core_layout into mem[MOD_TEXT..]
                mems = mod.mem
                base = int(mems[0].base.value())
                size = sum(int(mems[i].size) for i in range(len(mems)) if i != 4 and i != 5)
            except AttributeError:
                base = int(mod.core_layout.base.value())
                size = int(mod.core_layout.size)
            ref = int(mod.refcnt.counter) - 1 if hasattr(mod, "refcnt") else 0
            yield Row(("MODULE", "NAME", "BASE", "SIZE", "REFCOUNT"),
                      (Address(mod.address), Name(name), Address(base), size, ref), mod)
        except drgn.FaultError as e:
            ctx.warn(f"module {mod.address:#x}: cannot read {e.address:#x}")


@command("mount", "mounted filesystems", columns=("MOUNT", "SUPERBLK", "TYPE", "DEVNAME",
                                                  "DIRNAME"))
def _mount(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from drgn.helpers.linux.fs import for_each_mount, mount_dst, mount_fstype, mount_src

    cols = ("MOUNT", "SUPERBLK", "TYPE", "DEVNAME", "DIRNAME")
    try:
        for mnt in for_each_mount(ctx.prog):
            try:
                yield Row(cols, (Address(mnt.value_()), Address(mnt.mnt.mnt_sb.value_()),
                                 mount_fstype(mnt).decode(), mount_src(mnt).decode(),
                                 mount_dst(mnt).decode()), mnt)
            except drgn.FaultError as e:
                ctx.warn(f"mount {mnt.value_():#x}: cannot read {e.address:#x}")
    except drgn.FaultError as e:
        ctx.warn(f"mount list walk stopped: cannot read {e.address:#x}")
