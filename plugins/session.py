"""crash's session commands: ``alias``, ``repeat`` and ``exit`` (``q``).

They act on the session, not on the kernel: ``alias`` names command lines
(kept for the process, as crash keeps them for its session), ``repeat`` runs
a command line again and again (each run a fresh pass over a live kernel),
``exit`` ends the session (the REPL, or a one-shot line).
"""

from __future__ import annotations

import argparse
import re
import shlex
import time
from collections.abc import Iterable, Iterator
from typing import Any

from kmemx.commands import CommandError, Context, Row, arg, command
from kmemx.commands.drgncode import nothing_to_translate
from kmemx.commands.pipeline import run_pipeline
from kmemx.commands.rows import END_TABLE

__all__: list[str] = []

ALIAS_COLUMNS = ("ORIGIN", "ALIAS", "COMMAND")


def _alias_rows(ctx: Context, names: Iterable[str] | None = None) -> Iterator[Row]:
    builtin = ctx.registry.builtin_aliases()
    runtime = ctx.registry.runtime_aliases
    for name in sorted(builtin) if names is None else ():
        yield Row(ALIAS_COLUMNS, ("builtin", name, builtin[name]))
    for name in (sorted(runtime) if names is None else names):
        yield Row(ALIAS_COLUMNS, ("runtime", name, runtime[name]))


@command("alias", "command aliases: list them, show one, make or delete one",
         description="""
         crash's alias.  A runtime alias is a word that stands for a command
         line (pipes, shell pipes and redirections included); it is expanded
         when it is the first word of a line, once, so it may name the command
         it shadows.  Aliases last as long as the process (the REPL session).

         alias                        every alias: the commands' own ("builtin")
                                      and the runtime ones
         alias NAME                   the command line NAME stands for
         alias kp kmem -p             make kp stand for "kmem -p"
         alias ksd "kmem -p | grep slab"
         alias kp ""                  delete kp
         """,
         arguments=[arg("name", nargs="?", help="the alias"),
                    arg("words", nargs=argparse.REMAINDER, help="the command line it stands for")],
         columns=ALIAS_COLUMNS,
         drgn_code=nothing_to_translate("alias names kmemx command lines"))
def _alias(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    runtime = ctx.registry.runtime_aliases
    if args.name is None:
        yield from _alias_rows(ctx)
        return
    name: str = args.name
    if not args.words:
        if name in runtime:
            yield from _alias_rows(ctx, [name])
            return
        builtin = ctx.registry.builtin_aliases()
        if name in builtin:
            yield Row(ALIAS_COLUMNS, ("builtin", name, builtin[name]))
            return
        raise CommandError(f"alias: {name}: no such alias")
    if re.search(r"\s", name) or not name:
        raise CommandError(f"alias: {name!r}: an alias is one word")
    line = " ".join(args.words).strip()
    if not line:
        if runtime.pop(name, None) is None:
            raise CommandError(f"alias: {name}: no such alias")
        yield f"alias deleted: {name}"
        return
    if line.split(None, 1)[0] == name and name not in ctx.registry.names():
        raise CommandError(f"alias: {name} cannot stand for itself")
    runtime[name] = line
    yield from _alias_rows(ctx, [name])


def _repeat_args(words: list[str]) -> tuple[float, str]:
    """crash's ``[-seconds] command``: the delay and the command line."""
    seconds = 0.0
    if words and re.fullmatch(r"-\d+(\.\d*)?", words[0]):
        seconds = float(words[0][1:])
        words = words[1:]
    if not words:
        raise CommandError("repeat: which command? (repeat [-seconds] command)")
    # one quoted word is a whole command line: repeat -1 "ps -G | count"
    return seconds, words[0] if len(words) == 1 else shlex.join(words)


@command("repeat", "run a command line again and again (until ^C)",
         description="""
         crash's repeat: the command line runs again and again, each run a
         fresh pass over a live kernel, with -SECONDS between runs (0 by
         default), until ^C.  As crash says, it is meant for live kernels.
         --count N (kmemx's) stops after N runs, for scripts.

         repeat -1 p jiffies          jiffies once a second
         repeat --count 3 -2 kmem -i  three memory summaries, 2 s apart
         repeat -5 "ps -G | count"    a pipeline, quoted (unquoted, the pipe takes
                                      repeat's whole output, as in crash)
         """,
         arguments=[arg("--count", type=int, metavar="N", help="stop after N runs (kmemx's)"),
                    arg("words", nargs=argparse.REMAINDER, metavar="[-SECONDS] COMMAND",
                        help="the delay between runs and the command line")],
         drgn_code=nothing_to_translate("repeat runs a kmemx command line in a loop"))
def _repeat(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    seconds, line = _repeat_args(list(args.words))
    count: int | None = args.count
    if count is not None and count < 1:
        raise CommandError("repeat: --count must be at least 1")
    if ctx.registry.expand(line).split(None, 1)[0] == "repeat":
        raise CommandError("repeat: a repeat of repeat never shows anything")
    n = 0
    while count is None or n < count:
        if n:
            time.sleep(seconds)
            ctx.k.new_epoch()  # each run one pass over a live kernel
        run = run_pipeline(ctx, line)
        if run.shell or run.redirect:
            raise CommandError("repeat: put the shell pipe or redirection after the whole "
                               "repeat line")
        yield from run.items
        yield END_TABLE  # each run's tables end with it, as crash prints each run
        n += 1


@command("exit", "end the session (the REPL; a one-shot line)",
         description="""
         crash's exit and q: leave the REPL (as ^D does), or end a one-shot
         line with status 0.
         """,
         aliases=["q", "quit"],
         drgn_code=nothing_to_translate("exit ends the kmemx session"))
def _exit(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    raise SystemExit(0)
    yield  # a generator, as every command
