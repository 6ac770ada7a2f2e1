"""Commands: a declarative API for plugins, an output layer and pipelines.

A plugin module registers commands with :func:`command`::

    @command("hello", "say hello", arguments=[arg("name")], columns=("NAME",))
    def hello(ctx, args, input):
        yield Row(("NAME",), (Name(args.name),))

and :func:`execute` runs a command line (``ps -k | filter comm~kworker``)
against a :class:`~kmemx.Kernel`, returning the rendered lines.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from ..kernel import Kernel
from .arguments import (
    did_you_mean,
    parse_cpuspec,
    parse_hex,
    parse_task_spec,
    piped_structs,
    resolve_each,
)
from .cells import Absent, Address, CrashSize, Hex, Name, Percent, Size, kernel_bytes, kernel_str
from .context import Context
from .discovery import LoadedPlugin, load_plugins, loaded_plugins
from .errors import CommandError, UsageError
from .output import render, render_json, render_table, surrogate_safe
from .pipeline import (
    CommandLine,
    Pipeline,
    objects,
    parse_pipeline,
    run_pipeline,
    run_shell,
    split_command_line,
)
from .registry import REGISTRY, Command, Registry, arg, command
from .rows import Row, Table, TextLine, TextRecord

__all__ = [
    "REGISTRY",
    "Absent",
    "Address",
    "Command",
    "CommandError",
    "CommandLine",
    "Context",
    "CrashSize",
    "Hex",
    "LoadedPlugin",
    "Name",
    "Percent",
    "Pipeline",
    "Registry",
    "Row",
    "Size",
    "Table",
    "TextLine",
    "TextRecord",
    "UsageError",
    "arg",
    "command",
    "did_you_mean",
    "execute",
    "kernel_bytes",
    "kernel_str",
    "load_plugins",
    "loaded_plugins",
    "objects",
    "parse_cpuspec",
    "parse_hex",
    "parse_pipeline",
    "parse_task_spec",
    "piped_structs",
    "render",
    "render_json",
    "render_table",
    "resolve_each",
    "run_pipeline",
    "run_shell",
    "split_command_line",
    "surrogate_safe",
]


def execute(k: Kernel, line: str, as_json: bool = False,
            progress: Callable[[str, int, int], None] | None = None,
            registry: Registry | None = None) -> Iterator[str]:
    """Run a command line and yield its output lines (lazily, so a pager or
    ^C can stop a long walk).  Problems the command survived come last, as
    ``kmemx: warning: ...`` lines.  ``cmd | shell`` yields the shell's
    output; ``cmd > FILE`` / ``>> FILE`` writes (appends) the lines to FILE
    and yields only the warnings (see :mod:`kmemx.commands.pipeline`).
    Raises :class:`CommandError` (one line)."""
    load_plugins()
    epoch = getattr(k, "new_epoch", None)  # one command = one pass over a live kernel
    if epoch is not None:
        epoch()
    ctx = Context(k, registry, progress)
    ctx.as_json = as_json
    try:
        run = run_pipeline(ctx, line)
        lines = render(run.items, as_json=as_json or run.as_json)
        if run.shell:
            yield from run_shell(run.shell, "".join(x + "\n" for x in lines)).splitlines()
        elif run.redirect:
            path, append = run.redirect
            try:
                out = open(os.path.expanduser(path), "a" if append else "w",
                           encoding="utf-8", errors="surrogateescape")
            except OSError as e:
                raise CommandError(f"cannot write {path}: {e.strerror or e}") from None
            with out:
                for text in lines:
                    out.write(text + "\n")
        else:
            yield from lines
    except CommandError:
        # the problems it survived before the error are never lost
        yield from _warning_lines(ctx)
        raise
    yield from _warning_lines(ctx)


def _warning_lines(ctx: Context) -> Iterator[str]:
    """``kmemx: warning: ...`` lines of the problems ``ctx``'s command
    survived: each distinct one once, in order, with how often it came."""
    counts: dict[str, int] = {}
    for msg in ctx.errors:
        counts[msg] = counts.get(msg, 0) + 1
    for msg, n in list(counts.items())[:20]:
        yield f"kmemx: warning: {msg}" + (f" ({n} times)" if n > 1 else "")
    if len(counts) > 20:
        yield f"kmemx: warning: ... and {len(counts) - 20} more"
