"""What the REPL knows about ``%`` commands, for completion: names, options,
and which arguments take kernel symbols or type names.

The catalog reads the command registry at run time (plugins that load later
show up), adds the REPL's own commands (``%debug``, ``%set``) and drgn's
commands (``%crash``, ``%sh``...), which the REPL also runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ArgKind", "CommandCatalog", "CommandInfo", "drgn_command_names"]

#: Commands whose positional arguments are kernel symbols or addresses.
SYMBOL_COMMANDS = frozenset({
    "sym", "rd", "wr", "dis", "p", "px", "pd", "print", "eval", "kmem", "search", "whatis",
    "ptype", "struct", "union", "list", "tree", "task", "files", "bt", "irq", "timer",
})
#: Commands whose first positional argument is a type name (crash style: no tag).
TYPE_COMMANDS: Mapping[str, str] = {
    "struct": "struct", "union": "union", "whatis": "struct", "ptype": "struct",
    "list": "struct", "tree": "struct", "offsetof": "struct", "sizeof": "struct",
}
_SYMBOL_DESTS = ("sym", "symbol", "addr", "address", "expr", "expression", "variable",
                 "location")
_TYPE_DESTS = ("type", "struct", "typename")

ArgKind = str  # "symbol", "type:struct", "type:union", or "" (nothing known)


@dataclass
class CommandInfo:
    """One command as the completer sees it."""

    name: str
    summary: str
    source: str  # "kmemx", "repl" or "drgn"
    parser: argparse.ArgumentParser | None = None

    def options(self) -> list[tuple[str, str]]:
        """``(option, help)`` of every option string, plus ``--json`` for kmemx commands."""
        out: list[tuple[str, str]] = []
        if self.parser is not None:
            for action in self.parser._actions:
                helptext = action.help if isinstance(action.help, str) else ""
                if helptext == argparse.SUPPRESS:
                    continue
                for opt in action.option_strings:
                    out.append((opt, helptext.split("\n")[0]))
        if self.source == "kmemx" and not any(o == "--json" for o, _ in out):
            out.append(("--json", "output JSON"))
        return out

    def positionals(self) -> list[argparse.Action]:
        if self.parser is None:
            return []
        return [a for a in self.parser._actions if not a.option_strings]

    def arg_kind(self, index: int, previous: str) -> ArgKind:
        """What the ``index``-th positional word (0-based) of this command takes."""
        if previous in ("struct", "union", "enum"):
            return f"type:{previous}"
        pos = self.positionals()
        action = pos[min(index, len(pos) - 1)] if pos else None
        dest = f"{getattr(action, 'dest', '')} {getattr(action, 'metavar', '') or ''}".lower()
        if index == 0 and self.name in TYPE_COMMANDS:
            return f"type:{TYPE_COMMANDS[self.name]}"
        if any(d in dest for d in _TYPE_DESTS) and index == 0:
            return "type:struct"
        if self.name in SYMBOL_COMMANDS or any(d in dest for d in _SYMBOL_DESTS):
            return "symbol"
        return ""


def drgn_command_names(prog: Any) -> dict[str, str]:
    """drgn's own commands enabled for ``prog`` (name -> description); {} on old drgn."""
    try:
        from drgn.commands import DEFAULT_COMMAND_NAMESPACE
    except ImportError:
        return {}
    out: dict[str, str] = {}
    try:
        for name, cmd in DEFAULT_COMMAND_NAMESPACE.enabled(prog):
            try:
                out[name] = cmd.description()
            except Exception:
                out[name] = ""
    except Exception:
        return {}
    return out


class CommandCatalog:
    """Command names and argument knowledge; rebuilt when the registry grows."""

    def __init__(self, prog: Any, registry: Any = None,
                 repl_commands: Mapping[str, str] | None = None,
                 drgn_commands: Callable[[Any], Mapping[str, str]] | None = drgn_command_names
                 ) -> None:
        self.prog = prog
        if registry is None:
            from ..commands import REGISTRY

            registry = REGISTRY
        self.registry = registry
        self.repl_commands = dict(repl_commands or {})
        self._drgn_fn = drgn_commands
        self._drgn: dict[str, str] | None = None
        self._infos: dict[str, CommandInfo] | None = None
        self._seen = -1

    def _build(self) -> dict[str, CommandInfo]:
        from ..commands import load_plugins

        load_plugins()
        infos: dict[str, CommandInfo] = {}
        if self._drgn is None:
            self._drgn = dict(self._drgn_fn(self.prog)) if self._drgn_fn else {}
        for name, summary in self._drgn.items():
            infos[name] = CommandInfo(name, summary, "drgn")
        for cmd in self.registry.enabled(self.prog):
            try:
                parser = cmd.parser
            except Exception:
                parser = None
            info = CommandInfo(cmd.name, cmd.summary, "kmemx", parser)
            infos[cmd.name] = info
            for alias in cmd.aliases:
                infos[alias] = CommandInfo(alias, f"alias of {cmd.name}", "kmemx", parser)
        for name, summary in self.repl_commands.items():
            infos.pop(name, None)  # the REPL's own (%set) wins, listed last
            infos[name] = CommandInfo(name, summary, "repl")
        return infos

    def infos(self) -> dict[str, CommandInfo]:
        n = len(self.registry.commands)
        if self._infos is None or n != self._seen:
            self._infos = self._build()
            self._seen = n
        return self._infos

    def names(self) -> list[tuple[str, str]]:
        """Sorted ``(name, summary)`` of every command the REPL runs."""
        return sorted((n, i.summary) for n, i in self.infos().items())

    def get(self, name: str) -> CommandInfo | None:
        return self.infos().get(name)

    def complete_names(self, prefix: str) -> Iterable[tuple[str, str]]:
        return ((n, s) for n, s in self.names() if n.startswith(prefix))
