"""Command arguments: several of them, each resolved on its own.

A command that takes several names (``sym jiffies 0x10``, ``task 1 2 3``,
``bt PID ADDR``) resolves each with :func:`resolve_each`: the good ones give
their rows, each bad one is reported (``ctx.warn``, as crash prints a line
per argument) and only a command line whose every argument is bad fails.

What a user types is read by the parsers here, as /proc and crash read it:
:func:`parse_hex` (kernel addresses, with or without ``0x``, of any length)
and :func:`parse_task_spec` (a PID, decimal, or a task address, hex).  Piped
objects reach commands as struct views of one kind through
:func:`piped_structs`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import drgn

from ..errors import fault_where
from ..symbols import did_you_mean
from ..types.view import struct_view
from .context import Context
from .errors import CommandError
from .pipeline import objects

__all__ = ["did_you_mean", "parse_cpuspec", "parse_hex", "parse_task_spec", "piped_structs",
           "resolve_each"]

T = TypeVar("T")

_HEX = re.compile(r"(?:0[xX])?[0-9a-fA-F]+")
_DEC = re.compile(r"[0-9]+")


def resolve_each(ctx: Context, names: Iterable[str], resolve: Callable[[str], T]) -> Iterator[T]:
    """``resolve(name)`` for each of ``names``, in order, lazily.

    ``resolve`` raises :class:`CommandError` (or :class:`drgn.FaultError`)
    for a bad name; that name is reported with ``ctx.warn(message)`` (so the
    command's output is known to be incomplete: the CLI exits 3) and the
    next one is resolved.  When no name resolves, nothing was output and the
    warnings would be lost with the error, so :class:`CommandError` is raised
    instead, with the one message, or the messages of all the names joined
    by ``"; "``.  No names: nothing.

    Every command that takes several arguments resolves them with this."""
    errors: list[str] = []
    good = 0
    for name in names:
        try:
            value = resolve(name)
        except CommandError as e:
            message = str(e)
        except drgn.FaultError as e:
            message = f"{name}: cannot read {fault_where(e)}"
        else:
            good += 1
            yield value
            continue
        errors.append(message)
        ctx.warn(message)
    if errors and not good:
        for message in errors:  # shown by the error instead
            for i in range(len(ctx.errors) - 1, -1, -1):
                if ctx.errors[i] == message:
                    del ctx.errors[i]
                    break
        raise CommandError("; ".join(errors))


def parse_hex(s: str) -> int | None:
    """A kernel address as crash reads one: hex digits with or without
    ``0x``, any number of them (``ffffffff81000000``, ``0x10``, ``dead``);
    None when ``s`` is not hex."""
    s = s.strip()
    if not _HEX.fullmatch(s):
        return None
    return int(s, 16)


def parse_task_spec(s: str) -> tuple[str, int]:
    """A task argument as crash reads one: ``("pid", N)`` for decimal digits,
    ``("task", ADDR)`` for a hex address (``0x`` or not, a hex letter or
    ``0x`` tells it from a PID).  Raises :class:`CommandError`."""
    s = s.strip()
    if _DEC.fullmatch(s):
        return "pid", int(s)
    addr = parse_hex(s)
    if addr is None:
        raise CommandError(f"not a PID or task address: {s!r}")
    return "task", addr


def piped_structs(ctx: Context, input: Iterable[Any], type_name: str,
                  command: str) -> Iterator[Any]:
    """The piped objects (rows' objects, views, drgn Objects) as views of the
    struct ``type_name`` (``"struct task_struct"``), all of one kind: a
    pointer to the struct is dereferenced (``ps`` rows of idle tasks hold
    ``struct task_struct *``, the others ``struct task_struct``).  Objects
    of another type are reported (``ctx.warn``) and skipped."""
    want: drgn.Type | None = None
    for x in objects(input):
        v = struct_view(x)
        if v is None:
            ctx.warn(f"{command}: skipped a piped {type(x).__name__}, not a {type_name}")
            continue
        if want is None:
            want = ctx.prog.type(type_name)
        if v.type.type_name() != want.type_name():
            ctx.warn(f"{command}: skipped a piped {v.type.type_name()} at {v.address:#x}, "
                     f"not a {type_name}")
            continue
        yield v


def parse_cpuspec(prog: drgn.Program, spec: str) -> list[int]:
    """The CPUs of a crash cpuspec (the part after ``:`` in ``runqueues:1``):
    ``a`` or ``all`` (every possible CPU), or a comma-separated list of CPUs
    and ranges (``1,3``, ``0-2``).  Raises :class:`CommandError` for a CPU
    that is not possible or a malformed spec."""
    from drgn.helpers.linux.cpumask import for_each_possible_cpu

    possible = list(for_each_possible_cpu(prog))
    spec = spec.strip()
    if spec in ("a", "all"):
        return possible
    cpus: list[int] = []
    for part in spec.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if m is None:
            raise CommandError(f"invalid cpuspec {spec!r}: use a, all, N, N-M or N,M")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        for cpu in range(lo, hi + 1):
            if cpu not in possible:
                raise CommandError(f"invalid cpu {cpu} in cpuspec {spec!r} "
                                   f"(possible CPUs: {possible[0]}-{possible[-1]})")
            if cpu not in cpus:
                cpus.append(cpu)
    return cpus
