"""Command lines: ``cmd args | cmd2 args ! shell``.

Between kmemx commands a pipe passes objects (sdb-style: ``ps | filter
comm~kmx | task``); after ``!`` the rendered text goes to a shell command.
"""

from __future__ import annotations

import gc
import shlex
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .context import Context
from .errors import CommandError, UsageError
from .registry import Command
from .rows import Row

__all__ = ["Pipeline", "Stage", "gc_paused", "objects", "parse_pipeline", "run_pipeline",
           "run_shell"]


@dataclass
class Stage:
    command: Command
    argv: list[str]


@dataclass
class Pipeline:
    """A started pipeline: lazy output ``items``; ``as_json`` when any stage
    had ``--json`` (every table-producing command accepts it)."""

    items: Iterator[Any]
    last: Command | None
    shell: str | None
    as_json: bool


def _split_unquoted(line: str, sep: str) -> list[str]:
    parts, cur, quote = [], [], ""
    for ch in line:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if quote:
        raise UsageError("unterminated quote")
    parts.append("".join(cur))
    return parts


def parse_pipeline(ctx: Context, line: str) -> tuple[list[Stage], str | None, bool]:
    """Stages of a command line, the shell command after ``!`` (or None), and
    whether ``--json`` was given."""
    shell: str | None = None
    as_json = False
    parts = _split_unquoted(line, "!")
    if len(parts) > 1:
        line, shell = parts[0], "!".join(parts[1:]).strip() or None
    stages = []
    for seg in _split_unquoted(line, "|"):
        try:
            words = shlex.split(seg)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if not words:
            raise UsageError("empty command in pipeline")
        if "--json" in words[1:]:
            as_json = True
            words = [words[0]] + [w for w in words[1:] if w != "--json"]
        cmd = ctx.registry.lookup(words[0])
        try:
            if not cmd.enabled(ctx.prog):
                raise CommandError(f"{cmd.name}: not available for this kernel "
                                   "(it lacks what the command needs)")
        except CommandError:
            raise
        except Exception as e:
            raise CommandError(f"{cmd.name}: capability check failed: {e}") from None
        stages.append(Stage(cmd, words[1:]))
    return stages, shell, as_json


#: items a command produces per pause of the cyclic garbage collector
GC_BATCH = 4096


def gc_paused(items: Iterator[Any], batch: int = GC_BATCH) -> Iterator[Any]:
    """``items``, produced in batches with CPython's cyclic GC paused.

    A command's output is many small acyclic objects (rows, cells, views)
    that a table keeps alive until it is printed; with the collector running,
    every collection re-scans all of them again: two thirds of ``slab
    dentry``'s time for its 30k rows.  Reference counting still frees
    everything as usual; the collector runs again between batches and
    afterwards, so only its scheduling changes.  Items produced before an
    error are passed on, then the error is raised."""
    if not gc.isenabled():
        yield from items
        return
    nxt = items.__next__
    while True:
        out: list[Any] = []
        append = out.append
        err: BaseException | None = None
        done = False
        gc.disable()
        try:
            for _ in range(batch):
                append(nxt())
        except StopIteration:
            done = True
        except BaseException as e:  # re-raised after the batch is passed on
            err = e
        finally:
            gc.enable()
        yield from out
        if err is not None:
            raise err
        if done:
            return


def objects(items: Iterable[Any]) -> Iterator[Any]:
    """The kernel objects of piped items: a row's object, else the item itself.
    Rows flow through pipes whole (so ``filter`` sees their columns);
    commands that want objects call this."""
    for it in items:
        yield it.obj if isinstance(it, Row) and it.obj is not None else it


def run_pipeline(ctx: Context, line: str) -> Pipeline:
    """Start a pipeline.  Nothing runs until its items are iterated; a stage
    given ``-h`` makes the items its help text."""
    stages, shell, as_json = parse_pipeline(ctx, line)
    ctx.as_json = ctx.as_json or as_json
    stream: Iterable[Any] = ()
    last = None
    for i, st in enumerate(stages):
        args = st.command.parse(st.argv)
        if args is None:
            return Pipeline(iter([st.command.help()]), None, shell, False)
        if i and not st.command.takes_input:
            raise UsageError(f"{st.command.name} does not read piped input")
        stream = st.command.run(ctx, args, iter(stream) if i else iter(()))
        last = st.command
    return Pipeline(gc_paused(iter(stream)), last, shell, as_json)


def run_shell(shell: str, text: str) -> str:
    """Feed ``text`` to ``sh -c shell`` and return its output."""
    try:
        proc = subprocess.run(["sh", "-c", shell], input=text, capture_output=True, text=True)
    except OSError as e:
        raise CommandError(f"cannot run shell command: {e.strerror}") from None
    return proc.stdout + proc.stderr
