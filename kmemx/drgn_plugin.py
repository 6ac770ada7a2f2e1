"""kmemx's commands inside drgn's own REPL: a drgn plugin.

drgn loads the modules of the entry-point group ``drgn.plugins`` and calls
their ``drgn_prog_set(prog)`` when a program gets its target.  For a Linux
kernel program this module registers, in drgn's command namespace:

* ``%kmemx LINE``: any kmemx command line, pipelines included
  (``%kmemx ps -k | filter comm~kworker ! grep 0``);
* in an interactive drgn session, ``%NAME ARGS`` for every kmemx command and
  alias that drgn does not have itself (``%ps``, ``%bt``, ``%slabinfo``...;
  drgn's ``%crash``, ``%sh``, ``%py`` and ``%source`` stay drgn's).  ``%kmemx``
  with no arguments registers them too, in any session.

The commands run on :func:`kmemx.attach` of drgn's program, so an ELF vmcore
gets kmemx's mmap reader.  Errors become drgn's :class:`CommandError`, which
drgn prints as ``drgn: error: ...``.  Registering ``%kmemx`` imports nothing
but drgn; the per-command names need kmemx's plugins imported (~0.2 s), which
is why scripts and ``drgn -e`` do not pay for them.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["KmemxDrgnCommand", "drgn_prog_set", "register_commands"]

_UMBRELLA = "kmemx"
#: drgn options that take a value (to tell scripts from option values in argv)
_VALUE_OPTIONS = frozenset({
    "-c", "--core", "-p", "--pid", "--qemu", "-s", "--symbols", "--extra-symbols",
    "--try-symbols-by", "--no-symbols-by", "--debug-directory", "--debug-link-directory",
    "--kernel-directory", "--architecture", "--vmcoreinfo", "--log-level", "-e",
})
_registered: set[str] = set()


def _is_kernel(prog: Any) -> bool:
    import drgn

    return bool(prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL)


class KmemxDrgnCommand:
    """A drgn command (drgn's ``Command`` protocol) that runs a kmemx command
    line; ``name`` None is ``%kmemx`` itself, which takes a whole line."""

    def __init__(self, name: str | None) -> None:
        self.name = name

    def _kmemx_command(self) -> Any:
        from .commands import REGISTRY, load_plugins

        load_plugins()
        return REGISTRY.lookup(self.name or "help")

    def description(self) -> str:
        if self.name is None:
            return "run a kmemx command line (pipelines too): %kmemx ps -k | count"
        try:
            return f"kmemx: {self._kmemx_command().summary}"
        except Exception:
            return "kmemx command"

    def format_usage(self) -> str:
        if self.name is None:
            return "kmemx [COMMAND [ARGS] [| COMMAND [ARGS]]... [! SHELL]]"
        try:
            usage: str = self._kmemx_command().parser.format_usage()
        except Exception:
            return self.name
        return usage.removeprefix("usage: ").rstrip()

    def format_help(self, *, indent: str = "") -> str:
        if self.name is None:
            text = ("Runs a kmemx command line on this program.  kmemx pipes pass\n"
                    "objects between kmemx commands with |; ! sends the text to a shell.\n"
                    "With no arguments: list the kmemx commands (and make each one\n"
                    "available as %NAME).")
        else:
            try:
                text = self._kmemx_command().help()
            except Exception as e:
                text = f"(no help: {e})"
        return "\n".join(indent + line if line else line for line in text.splitlines())

    def enabled(self, prog: Any) -> bool:
        if not _is_kernel(prog):
            return False
        if self.name is None:
            return True
        try:
            return bool(self._kmemx_command().enabled(prog))
        except Exception:
            return False

    def parse(self, source: str) -> Any:
        from drgn.commands import ParsedCommand

        return ParsedCommand(source.strip())

    def run(self, prog: Any, name: str, args: Any, **kwargs: Any) -> None:
        from drgn.commands import CommandError

        from .commands import execute, load_plugins
        from .errors import KmemxError
        from .types.view import kernel_of

        line = str(args)
        if self.name is None and not line:
            register_commands(prog, every_command=True)
            line = "help"
        elif self.name is not None:
            line = f"{name} {line}".strip()
        load_plugins()
        try:
            k = kernel_of(prog)
            out = sys.stdout
            for text in execute(k, line):
                out.write(text + "\n")
        except (KmemxError, LookupError, ValueError) as e:
            raise CommandError(str(e)) from None


def register_commands(prog: Any, every_command: bool = True) -> list[str]:
    """Register ``%kmemx`` and (``every_command``) a ``%NAME`` per kmemx
    command that drgn lacks; returns the names registered now."""
    from drgn.commands import DEFAULT_COMMAND_NAMESPACE as ns

    existing = set(ns._commands)
    added: list[str] = []
    if _UMBRELLA not in existing:
        ns.register(_UMBRELLA, KmemxDrgnCommand(None))  # type: ignore[arg-type,unused-ignore]
        _registered.add(_UMBRELLA)
        added.append(_UMBRELLA)
    if every_command:
        from .commands import REGISTRY, load_plugins

        load_plugins()
        for cmd in REGISTRY.commands.values():
            for name in (cmd.name, *cmd.aliases):
                if name in existing or name in added:
                    continue
                ns.register(name, KmemxDrgnCommand(name))  # type: ignore[arg-type,unused-ignore]
                _registered.add(name)
                added.append(name)
    return added


def _interactive_drgn() -> bool:
    """Whether this process is drgn's interactive CLI (no script, no -e, a tty)."""
    if os.path.basename(sys.argv[0]) not in ("drgn", "__main__.py"):
        return False
    try:
        if not os.isatty(sys.stdin.fileno()):
            return False
    except (AttributeError, OSError, ValueError):
        return False
    argv = sys.argv[1:]
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-e" or (a.startswith("-e") and not a.startswith("--")):
            return False
        if a in _VALUE_OPTIONS:
            i += 2
            continue
        if not a.startswith("-"):
            return False  # a script
        i += 1
    return True


def drgn_prog_set(prog: Any) -> None:
    """drgn's hook: called when ``prog`` gets its target.  Never raises."""
    try:
        if not _is_kernel(prog):
            return
        register_commands(prog, every_command=_interactive_drgn())
    except Exception:
        import logging

        logging.getLogger("drgn.plugins").debug("kmemx: cannot register commands",
                                                exc_info=True)
