"""The REPL's own ``%`` commands: ``%debug`` and ``%set``.

``%debug`` prints the traceback of the last error (``%debug pdb`` opens the
post-mortem debugger on it).  ``%set`` shows the current context (crash's ``set``) and the settings;
``%set NAME VALUE`` changes a setting for this session (``pager``,
``traceback``, ``color``, ``json``, ``style``, ``pager_command``);
``%set PID``, ``%set TASK``, ``%set -c CPU``, ``%set -p`` are crash's
``set``: they choose the current context.
"""

from __future__ import annotations

import pdb
import re
from typing import TYPE_CHECKING, Callable

from ..commands import UsageError

if TYPE_CHECKING:
    from .session import Repl

__all__ = ["MAGICS", "SETTINGS", "SUMMARIES"]

_TRUE = {"on": True, "true": True, "yes": True, "1": True,
         "off": False, "false": False, "no": False, "0": False}

#: settings ``%set`` changes: name -> kind ("bool", "str" or a choice tuple)
SETTINGS: dict[str, object] = {
    "pager": "bool", "traceback": "bool", "json": "bool",
    "color": ("auto", "always", "never"), "style": "str", "pager_command": "str",
}


def _debug(repl: Repl, args: str) -> None:
    ev = repl.evaluator
    if args.strip() == "pdb":
        if ev.last_tb is None:
            raise UsageError("debug: no error to debug")
        pdb.post_mortem(ev.last_tb)
        return
    if args.strip():
        raise UsageError("debug: usage: %debug [pdb]")
    repl.out.show(ev.traceback().splitlines(), page=False)


def _is_context_arg(word: str) -> bool:
    """A word of crash's ``set`` (a PID, a task address, ``-c``, ``-p``)."""
    return word.startswith("-") or re.fullmatch(r"(0[xX])?[0-9a-fA-F]+", word) is not None


def _set(repl: Repl, args: str) -> None:
    cfg = repl.config
    words = args.split(None, 1)
    if words == ["-v"]:  # crash's set -v: the session's own variables
        repl.out.show([f"{name} = {getattr(cfg, name)!r}" for name in SETTINGS], page=False)
        return
    if not words or (words[0] not in SETTINGS and _is_context_arg(words[0])):
        from ..commands import execute

        try:
            repl.out.show(list(execute(repl.k, f"set {args}".strip(),
                                       as_json=cfg.json)), page=False)
        except Exception:  # no context to show (no task list): the settings instead
            if words:
                raise
            repl.out.show([f"{name} = {getattr(cfg, name)!r}" for name in SETTINGS],
                          page=False)
        return
    name = words[0]
    if name not in SETTINGS:
        raise UsageError(f"set: unknown setting '{name}' (settings: {', '.join(SETTINGS)})")
    if len(words) < 2:
        repl.out.show([f"{name} = {getattr(cfg, name)!r}"], page=False)
        return
    raw = words[1].strip()
    kind = SETTINGS[name]
    value: object
    if kind == "bool":
        if raw.lower() not in _TRUE:
            raise UsageError(f"set: {name} takes on or off")
        value = _TRUE[raw.lower()]
    elif isinstance(kind, tuple):
        if raw not in kind:
            raise UsageError(f"set: {name} takes one of {', '.join(kind)}")
        value = raw
    else:
        value = raw
    setattr(cfg, name, value)
    if name == "style":
        repl.restyle()


#: name -> function(repl, argument text)
MAGICS: dict[str, Callable[[Repl, str], None]] = {"debug": _debug, "set": _set}
#: name -> one-line summary (for %help-style listings and completion)
SUMMARIES: dict[str, str] = {
    "debug": "show the last error's traceback (%debug pdb: post-mortem debugger)",
    "set": "show or change the current context (crash's set: %set 97, %set -c 1), a "
           "REPL setting (%set pager off), or list the settings (%set -v)",
}
