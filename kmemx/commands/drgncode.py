"""``CMD --drgn``: the shapes shared by the drgn code that commands print.

A command's ``drgn_code(ctx, args)`` (see :func:`kmemx.commands.registry.command`)
returns a script that runs under plain drgn (``drgn -c CORE -s VMLINUX
script.py``: ``prog`` is a global, no kmemx import) and prints what the
command computes.  Each command's rule lives next to the command; this module
holds only what they share:

- :func:`table_script`: imports (through drgn's public
  :class:`drgn.commands.DrgnCodeBuilder`, which sorts and deduplicates them),
  a ``row()`` printer and the header line, then the command's loop.  Rows are
  printed one a line, cells separated by tabs, each cell as the command's
  ``--json`` gives it: addresses ``0x...`` (``hex()``), numbers in decimal,
  strings as they are, a missing value ``-``.
- :func:`text_script`: imports, then code that prints the command's text.
- :func:`nothing_to_translate`: the one line of a command that reads nothing
  from the kernel (``help``, pipe stages, arithmetic).
- :func:`only`: the one error of an option the code does not translate.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import drgn

from .errors import CommandError

if TYPE_CHECKING:
    from .context import Context
    from .registry import DrgnFunc

__all__ = ["ROW_DEF", "nothing_to_translate", "only", "only_options", "table_script",
           "text_script"]

#: the printers every table script defines: ``table(COLUMN, ...)`` names the
#: columns of the rows that follow, printed before the first of them unless
#: they are the columns of the rows before (a table with no rows prints
#: nothing, as the command's ``--json`` has nothing); ``row(cell, ...)`` prints
#: one row, tab-separated, ``-`` for None, tabs and newlines in a cell as ``\t``
#: and ``\n``
ROW_DEF = '''\
columns = printed = None


def table(*names):
    global columns
    columns = names


def row(*cells):
    global printed
    if columns != printed:
        print("\\t".join(columns))
        printed = columns
    print("\\t".join("-" if c is None else cell_text(c) for c in cells))


def cell_text(c):  # one line per row: a cell's tabs and newlines escaped
    return str(c).replace("\\t", "\\\\t").replace("\\n", "\\\\n")
'''


def _build(prog: drgn.Program, imports: Iterable[str], body: str) -> str:
    """``imports`` (``"module"`` or ``"module:name1,name2"``) sorted and
    deduplicated by drgn's DrgnCodeBuilder, then ``body``."""
    from drgn.commands import DrgnCodeBuilder

    code = DrgnCodeBuilder(prog)
    for imp in imports:
        module, _, names = imp.partition(":")
        if names:
            code.add_from_import(module, *(n.strip() for n in names.split(",")))
        else:
            code.add_import(module)
    code.append(body if body.endswith("\n") else body + "\n")
    return code.get()


def table_script(ctx: Context, columns: Sequence[str], body: str,
                 imports: Iterable[str] = ()) -> str:
    """A drgn script printing a table: the header (``columns``, upper case as
    the command's), then whatever rows ``body`` prints with ``row(...)``
    (``body`` may start another table with ``table(COLUMN, ...)``).

    :param columns: the command's column names, in its order (empty: ``body``
        calls ``table()`` itself).
    :param body: Python code (drgn's ``prog`` a global) calling ``row(cell, ...)``
        once per row, cells in ``columns``' order.
    :param imports: ``"module:name,..."`` or ``"module"`` strings.
    """
    header = "table(" + ", ".join(repr(c) for c in columns) + ")\n" if columns else ""
    return _build(ctx.prog, imports, ROW_DEF + "\n\n" + header + body)


def text_script(ctx: Context, body: str, imports: Iterable[str] = ()) -> str:
    """A drgn script printing text lines: ``imports``, then ``body``."""
    return _build(ctx.prog, imports, body)


def nothing_to_translate(what: str) -> DrgnFunc:
    """The ``drgn_code`` of a command that reads nothing from the kernel: a
    one-line comment saying so, and ``what`` the command does instead."""

    def code(ctx: Context, args: argparse.Namespace) -> str:
        return f"# nothing to translate: {what}\n"

    return code


def only(command: str, forms: str) -> CommandError:
    """The error for an option whose drgn code is not written: ``forms`` are
    the ones that are (``raise only("log", "the plain and -t forms")``)."""
    return CommandError(f"{command}: --drgn gives {forms} only")


def only_options(command: str, args: argparse.Namespace, translated: Iterable[str],
                 forms: str) -> None:
    """Raise :func:`only` when ``args`` sets an option whose ``dest`` is not
    in ``translated`` (an option added to a command after its drgn code is
    refused, not silently left out: every option's default is false).

    :raises CommandError: ``COMMAND: --drgn gives FORMS only``
    """
    keep = set(translated)
    for dest, value in vars(args).items():
        if dest not in keep and value not in (None, False, 0, "", []):
            raise only(command, forms)
