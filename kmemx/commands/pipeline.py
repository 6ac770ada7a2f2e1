"""Command lines: ``cmd args | cmd2 args | shell-command > file``.

One rule tells kmemx's object pipes from crash's shell pipes: after a
``|``, a word that names a kmemx command starts the next kmemx stage, which
gets the previous stage's objects (sdb-style: ``ps | filter comm~kmx |
task``); any other word starts a shell command, which gets the rendered text
on its standard input and takes the rest of the line (``ps | grep kmx |
wc -l``: ``/bin/sh -c 'grep kmx | wc -l'``), as in crash.  ``!`` sends the
text to the shell whatever comes after it (``ps ! head -3``: the shell's
head, not kmemx's).  ``> FILE`` and ``>> FILE`` at the end of the kmemx part
write (append) the text to FILE, as crash does.  A ``>`` or ``!`` counts
only where it starts a word (after a space), so ``filter pid>3`` and
``filter comm!=init`` are expressions.  Quotes protect all of them.
"""

from __future__ import annotations

import gc
import itertools
import shlex
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .._accel import speedups
from .context import Context
from .errors import CommandError, UsageError
from .registry import Command
from .rows import END_TABLE, EndTable, Row, TextRecord

__all__ = ["CommandLine", "Pipeline", "Stage", "gc_paused", "objects", "parse_pipeline",
           "run_pipeline", "run_shell", "split_command_line"]


@dataclass
class Stage:
    command: Command
    argv: list[str]


@dataclass
class Pipeline:
    """A started pipeline: lazy output ``items``; ``as_json`` when any stage
    had ``--json`` (every table-producing command accepts it); ``redirect``:
    (file, append) for ``> FILE`` / ``>> FILE``."""

    items: Iterator[Any]
    last: Command | None
    shell: str | None
    as_json: bool
    redirect: tuple[str, bool] | None = None


@dataclass
class CommandLine:
    """A command line split by :func:`split_command_line`: the kmemx stages
    (each its text), the shell command the text goes to, and the file it is
    written to (``(path, append)``)."""

    stages: list[str]
    shell: str | None
    redirect: tuple[str, bool] | None


def _unquoted(line: str) -> Iterator[tuple[int, str]]:
    """``(index, char)`` of each character of ``line`` outside quotes
    (single or double; a backslash escapes the next character).  Raises
    UsageError for an unterminated quote."""
    quote = ""
    escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        else:
            yield i, ch
    if quote:
        raise UsageError("unterminated quote")


def _word_start(line: str, i: int) -> bool:
    return i == 0 or line[i - 1].isspace()


def split_command_line(line: str, is_command: Any) -> CommandLine:
    """Split ``line`` into kmemx stages, a shell command and a redirection
    (the rules are in this module's docstring).  ``is_command(word)`` says
    whether ``word`` names a kmemx command.  Raises UsageError (an
    unterminated quote, ``>`` without a file name)."""
    chars = list(_unquoted(line))
    shell: str | None = None
    for i, ch in chars:
        if ch == "!" and _word_start(line, i) and line[i + 1:i + 2] not in ("=", "~"):
            shell = line[i + 1:].strip() or None
            line = line[:i]
            chars = [(j, c) for j, c in chars if j < i]
            break
    cuts = [i for i, ch in chars if ch == "|"]
    pieces, start = [], 0
    for i in cuts:
        pieces.append((start, line[start:i]))
        start = i + 1
    pieces.append((start, line[start:]))
    stages: list[str] = []
    for n, (pos, piece) in enumerate(pieces):
        first = piece.split(None, 1)[0] if piece.strip() else ""
        if n and first and not is_command(first):
            rest = line[pos:].strip()
            shell = f"{rest} | {shell}" if shell else rest
            break
        stages.append(piece)
    redirect: tuple[str, bool] | None = None
    if shell is None and stages:
        last_start = pieces[len(stages) - 1][0]
        for i, ch in chars:
            if i >= last_start and ch == ">" and _word_start(line, i):
                append = line[i + 1:i + 2] == ">"
                target = line[i + (2 if append else 1):len(line)].strip()
                try:
                    words = shlex.split(target)
                except ValueError as e:
                    raise UsageError(str(e)) from None
                if len(words) != 1:
                    raise UsageError(f"'>' takes one file name, not {target!r}"
                                     if words else "'>' without a file name")
                redirect = (words[0], append)
                stages[-1] = line[last_start:i]
                break
    return CommandLine(stages, shell, redirect)


def _is_command(ctx: Context, word: str) -> bool:
    try:
        ctx.registry.lookup(word)
        return True
    except UsageError:
        return False


def parse_pipeline(ctx: Context, line: str) -> tuple[list[Stage], str | None, bool]:
    """Stages of a command line, the shell command its text goes to (after
    ``!`` or a ``|`` followed by a word that is no kmemx command; or None),
    and whether ``--json`` was given.  The redirection, if any, is left out
    (see :func:`split_command_line`)."""
    split = split_command_line(ctx.registry.expand(line), lambda w: _is_command(ctx, w))
    stages, shell, _ = _parse_stages(ctx, split)
    return stages, shell, _


def _parse_stages(ctx: Context, split: CommandLine) -> tuple[list[Stage], str | None, bool]:
    shell = split.shell
    as_json = False
    stages = []
    for seg in split.stages:
        if "--drgn" in seg.split():
            ctx.drgn = True
        try:
            words = shlex.split(seg)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if not words:
            raise UsageError("empty command in pipeline")
        if "--json" in words[1:]:
            as_json = True
            words = [words[0]] + [w for w in words[1:] if w != "--json"]
        words = [words[0]] + [w for w in words[1:] if w != "--drgn"]
        try:
            cmd = ctx.registry.lookup(words[0])
        except UsageError:
            ctx.registry.lookup(seg.split(None, 1)[0])  # the name as typed in the message
            raise
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
    error are passed on, then the error is raised.  The batches are chained
    in C (:func:`itertools.chain.from_iterable`): no Python frame per item
    on the way out either."""
    if not gc.isenabled():
        return items
    return itertools.chain.from_iterable(_gc_paused_batches(items, batch))


def _gc_paused_batches(items: Iterator[Any], batch: int) -> Iterator[list[Any]]:
    """:func:`gc_paused`'s batches: lists of up to ``batch`` items, each made
    with the collector paused; the error after the items before it."""
    nxt = items.__next__
    # the same batch in one C call, without a Python frame per item
    take = speedups.take_until if speedups is not None else None
    while True:
        out: list[Any] = []
        append = out.append
        err: BaseException | None = None
        done = False
        paused = gc.isenabled()
        gc.disable()
        try:
            if take is not None:
                out, done, err = take(items, batch, END_TABLE)
            else:
                for _ in range(batch):
                    item = nxt()
                    append(item)
                    if item is END_TABLE:  # a table ends: pass it on now (repeat's runs)
                        break
        except StopIteration:
            done = True
        except BaseException as e:  # re-raised after the batch is passed on
            err = e
        finally:
            if paused:
                gc.enable()
        if out:
            yield out
        if err is not None:
            raise err
        if done:
            return


def objects(items: Iterable[Any]) -> Iterator[Any]:
    """The kernel objects of piped items: a row's object, else the item itself.
    Rows flow through pipes whole (so ``filter`` sees their columns);
    commands that want objects call this."""
    for it in items:
        yield it.obj if isinstance(it, (Row, TextRecord)) and it.obj is not None else it


def _items(stream: Iterable[Any]) -> Iterator[Any]:
    """A stage's output as the next stage's input (without table ends)."""
    return (x for x in stream if not isinstance(x, EndTable))


def run_pipeline(ctx: Context, line: str) -> Pipeline:
    """Start a pipeline.  Nothing runs until its items are iterated; a stage
    given ``-h`` makes the items its help text.  A runtime alias (crash's
    ``alias``) in the first word is expanded first."""
    line = ctx.registry.expand(line)
    split = split_command_line(line, lambda w: _is_command(ctx, w))
    stages, shell, as_json = _parse_stages(ctx, split)
    ctx.as_json = ctx.as_json or as_json
    stream: Iterable[Any] = ()
    last = None
    if ctx.drgn:
        if len(stages) != 1:
            raise UsageError("--drgn takes one command, not a pipeline")
        st = stages[0]
        args = st.command.parse(st.argv)
        if args is None:
            return Pipeline(iter([st.command.help()]), None, shell, False, split.redirect)
        if st.command.drgn_code is None:
            raise CommandError(f"{st.command.name}: no --drgn code for this command yet")
        code = st.command.drgn_code(ctx, args)
        return Pipeline(iter(code.rstrip("\n").split("\n")), st.command, shell, False,
                        split.redirect)
    for i, st in enumerate(stages):
        args = st.command.parse(st.argv)
        if args is None:
            return Pipeline(iter([st.command.help()]), None, shell, False, split.redirect)
        if i and not st.command.takes_input:
            raise UsageError(f"{st.command.name} does not read piped input")
        stream = st.command.run(ctx, args, _items(stream) if i else iter(()))
        last = st.command
    return Pipeline(gc_paused(iter(stream)), last, shell, as_json, split.redirect)


def run_shell(shell: str, text: str) -> str:
    """Feed ``text`` to ``/bin/sh -c shell`` (as crash does) and return its
    output (stdout, then stderr)."""
    try:
        proc = subprocess.run(["/bin/sh", "-c", shell], input=text, capture_output=True,
                              text=True, errors="surrogateescape")
    except OSError as e:
        raise CommandError(f"cannot run shell command: {e.strerror}") from None
    return proc.stdout + proc.stderr
