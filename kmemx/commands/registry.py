"""Declaring commands: ``@command(...)`` and the registry that holds them."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..symbols import did_you_mean
from .errors import UsageError

if TYPE_CHECKING:
    from .context import Context

__all__ = ["REGISTRY", "Command", "DrgnFunc", "Registry", "arg", "command"]

RunFunc = Callable[["Context", argparse.Namespace, Iterable[Any]], Iterable[Any]]
#: ``drgn_code(ctx, args) -> str``: runnable drgn code (``prog`` a global, as
#: ``drgn -c CORE script.py`` gives it) that prints what the command prints
DrgnFunc = Callable[["Context", argparse.Namespace], str]


@dataclass(frozen=True)
class arg:
    """One argparse argument: ``arg("-p", "--pid", type=int, help="...")``."""

    flags: tuple[str, ...]
    kwargs: dict[str, Any]

    def __init__(self, *flags: str, **kwargs: Any) -> None:
        object.__setattr__(self, "flags", flags)
        object.__setattr__(self, "kwargs", kwargs)


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (one line, with a suggestion) instead of exiting."""

    def error(self, message: str) -> Any:
        if "unrecognized arguments" in message:
            opts = [o for a in self._actions for o in a.option_strings] + ["--json"]
            bad = message.split(":", 1)[1].split()
            hints = (did_you_mean(b, opts, n=1) for b in bad if b.startswith("-"))
            hint = next((h for h in hints if h), "")
            raise UsageError(f"{self.prog}: {message}{hint}")
        if message.startswith("the following arguments are required: "):
            # argparse names a "*" or "?" positional after a missing one too
            # (struct: "type, addresses"): only the ones that are required
            optional = {str(x) for a in self._actions if a.nargs in ("*", "?")
                        for x in (a.dest, a.metavar) if x}
            names = [n for n in message.split(": ", 1)[1].split(", ") if n not in optional]
            if names:
                message = f"the following arguments are required: {', '.join(names)}"
        raise UsageError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        raise _HelpShown(message or "")

    def _print_message(self, message: str, file: Any = None) -> None:
        """Print nothing: ``-h`` (argparse prints the help, then exits) makes
        :meth:`Command.parse` return None, and the caller shows
        :meth:`Command.help` as the command's output, once."""


class _HelpShown(Exception):
    pass


def _int_auto(s: str) -> int:
    """Decimal, or hex with 0x or when it has hex letters (crash's convention)."""
    try:
        return int(s, 0)
    except ValueError:
        return int(s, 16)


@dataclass
class Command:
    """A registered command (see :func:`command`)."""

    name: str
    summary: str
    run: RunFunc
    description: str = ""
    aliases: tuple[str, ...] = ()
    arguments: tuple[arg, ...] = ()
    columns: tuple[str, ...] = ()
    enabled: Callable[[Any], bool] = field(default=lambda prog: True)
    plugin: str = ""
    #: consumes objects piped into it (``ps | task``)
    takes_input: bool = False
    #: ``--drgn``: the drgn code that computes the command's result
    drgn_code: DrgnFunc | None = None
    _parser: _Parser | None = field(default=None, repr=False)
    _usage: str | None = field(default=None, repr=False)
    #: argument words -> what they parsed to (:meth:`_parse`)
    _parsed: dict[tuple[str, ...], argparse.Namespace] = field(
        default_factory=dict, repr=False, compare=False)

    @property
    def parser(self) -> _Parser:
        if self._parser is None:
            # a command that takes crash's -h (list -h) keeps --help only
            own_h = any("-h" in a.flags for a in self.arguments)
            p = _Parser(prog=self.name, description=self.summary,
                        epilog=textwrap.dedent(self.description).strip() or None,
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        add_help=not own_h, allow_abbrev=False)
            if own_h:
                p.add_argument("--help", action="help", help="show this help message and exit")
            p.register("type", "addr", _int_auto)
            for a in self.arguments:
                p.add_argument(*a.flags, **a.kwargs)
            self._parser = p
        return self._parser

    def parse(self, argv: Sequence[str]) -> argparse.Namespace | None:
        """Parsed arguments, or None after printing help (``-h``)."""
        p = self.parser
        if p.usage is None:
            # parse_intermixed_args() formats the usage for its error messages
            # on every call (~0.1 ms, most of a parse); ours never show it
            if self._usage is None:
                self._usage = p.format_usage()[7:].replace("%", "%%")
            p.usage = self._usage
            try:
                return self._parse(argv)
            finally:
                p.usage = None
        return self._parse(argv)

    def _parse(self, argv: Sequence[str]) -> argparse.Namespace | None:
        # the same words parse the same way (the parser reads nothing else):
        # a command repeated (foreach, repeat, a script's loop) is parsed once;
        # each call gets its own copy, lists included
        key = tuple(argv)
        done = self._parsed.get(key)
        if done is not None:
            return argparse.Namespace(**{n: list(v) if isinstance(v, list) else v
                                         for n, v in vars(done).items()})
        ns = self._parse_words(argv)
        if ns is not None:
            if len(self._parsed) >= 256:
                self._parsed.clear()
            self._parsed[key] = argparse.Namespace(
                **{n: list(v) if isinstance(v, list) else v for n, v in vars(ns).items()})
        return ns

    def _parse_words(self, argv: Sequence[str]) -> argparse.Namespace | None:
        try:
            # crash puts options anywhere (list task_struct.tasks -H ADDR):
            # positionals may come before, between and after options
            return self.parser.parse_intermixed_args(list(argv))
        except TypeError:  # argparse cannot intermix this parser (REMAINDER...)
            try:
                return self.parser.parse_args(list(argv))
            except _HelpShown:
                return None
        except _HelpShown:
            return None

    def help(self) -> str:
        """Man-page style help text."""
        return self.parser.format_help()


class Registry:
    """Commands by name and alias.

    Two kinds of alias: a command's own (``aliases=`` of :func:`command`,
    another name for it, crash's "builtin" ones) and runtime aliases (crash's
    ``alias NAME COMMAND STRING``: a word that stands for a whole command
    line, expanded by :meth:`expand` before the line is parsed)."""

    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self._aliases: dict[str, str] = {}
        #: runtime aliases: word -> the command line it stands for
        self.runtime_aliases: dict[str, str] = {}

    def register(self, cmd: Command) -> None:
        self.commands[cmd.name] = cmd
        for a in cmd.aliases:
            self._aliases[a] = cmd.name

    def names(self) -> list[str]:
        return sorted(set(self.commands) | set(self._aliases))

    def builtin_aliases(self) -> dict[str, str]:
        """The commands' own aliases: alias -> command name."""
        return dict(self._aliases)

    def expand(self, line: str) -> str:
        """``line`` with its first word replaced by the command line of the
        runtime alias it names, if any (as crash does: once, the first word
        only, so an alias may use the command it shadows)."""
        stripped = line.lstrip()
        word, _, rest = stripped.partition(" ")
        target = self.runtime_aliases.get(word)
        if target is None:
            return line
        return f"{target} {rest}" if rest.strip() else target

    def lookup(self, name: str) -> Command:
        key = self._aliases.get(name, name)
        cmd = self.commands.get(key)
        if cmd is None:
            from .discovery import loaded_plugins

            # a command of a plugin that did not import is unknown: say which failed
            failed = "; ".join(f"{p.source}: {p.error}" for p in loaded_plugins() if not p.ok)
            raise UsageError(f"unknown command '{name}'" + did_you_mean(
                name, self.names() + sorted(self.runtime_aliases))
                + (f" (plugins that failed to load: {failed})" if failed else ""))
        return cmd

    def enabled(self, prog: Any) -> list[Command]:
        out = []
        for c in self.commands.values():
            try:
                if c.enabled(prog):
                    out.append(c)
            except Exception:
                continue
        return sorted(out, key=lambda c: c.name)


#: The registry built-in and third-party plugins add their commands to.
REGISTRY = Registry()


def command(name: str, summary: str, *, description: str = "", aliases: Sequence[str] = (),
            arguments: Sequence[arg] = (), columns: Sequence[str] = (),
            enabled: Callable[[Any], bool] | None = None, takes_input: bool = False,
            drgn_code: DrgnFunc | None = None,
            registry: Registry | None = None) -> Callable[[RunFunc], RunFunc]:
    """Register a command.

    :param name: the command word.
    :param summary: one line for ``help``.
    :param description: man-page text shown by ``CMD -h``.
    :param arguments: :class:`arg` declarations (argparse).
    :param columns: column names of the rows it yields, if it prints a table.
    :param enabled: ``enabled(prog) -> bool``: whether the kernel has what the
        command needs (check capabilities, e.g. a type or symbol, not versions).
    :param takes_input: it consumes objects piped into it.
    :param drgn_code: ``drgn_code(ctx, args) -> str``, for ``CMD --drgn``: a
        runnable drgn script (``prog`` is a global, as under ``drgn -c CORE
        script.py``; imports included) that prints the command's result as
        the command's text does, for the same arguments.  A command without
        one says so when given ``--drgn``.

    The decorated function is ``run(ctx, args, input)`` and yields
    :class:`~kmemx.commands.rows.Row`, :class:`~kmemx.commands.rows.TextLine`
    or kernel objects.
    """

    def deco(func: RunFunc) -> RunFunc:
        (registry or REGISTRY).register(Command(
            name=name, summary=summary, run=func, description=description,
            aliases=tuple(aliases), arguments=tuple(arguments), columns=tuple(columns),
            enabled=enabled or (lambda prog: True), plugin=func.__module__,
            takes_input=takes_input, drgn_code=drgn_code))
        return func

    return deco
