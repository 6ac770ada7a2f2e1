"""Input that arrives as many lines at once (standard input that is not a
terminal): which lines are kmemx command lines and which are Python, by the
REPL's rule, and where each Python statement ends.

The REPL takes one input at a time: a line starting with ``%`` is a command
line, and so is a line typed without it whose first word names a command and
that Python would not run (:func:`is_bare_command`); anything else is Python.
:func:`inputs` applies the same rule to a text line by line, taking a Python
statement that spans lines (a ``def`` or ``for`` block, open brackets, a
decorator) whole, as the REPL's Enter does (:func:`python_statement`).
:func:`is_script` tells a real Python script (blocks, no command lines) from
REPL input, so that it can run as drgn runs a script.  Nothing here prints
or runs anything.
"""

from __future__ import annotations

import ast
import builtins
import codeop
import re
from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass

__all__ = ["Input", "bound_names", "inputs", "is_bare_command", "is_script",
           "python_statement"]

#: the first words of clauses that continue a compound statement
_CLAUSE = re.compile(r"(else|elif|except|finally)\b")


def is_bare_command(line: str, defined: Container[str],
                    names_command: Callable[[str], bool]) -> bool:
    """Whether ``line``, typed without ``%``, is a command as crash users
    type them (``bt -a``, ``files 1``, ``set -v``, ``q``): one line whose
    first word names a command (``names_command``) and that Python would not
    run: it does not compile, or it reads a name that neither ``defined``
    (the session's namespace) nor the builtins define (``bt``, ``v`` of
    ``set -v``).  A command's name alone that only the builtins define
    (``set``, ``help``, ``exit``, ``list``) is the command: Python would
    only echo the builtin; ``set()``, ``help(len)`` and ``exit(3)`` are
    Python's."""
    if "\n" in line.strip() or not line.strip():
        return False
    word = line.split(None, 1)[0]
    if not names_command(word):
        return False
    if line.strip() == word and word not in defined:
        return True
    try:
        tree = ast.parse(line.strip(), "<input>", "single")
    except (SyntaxError, ValueError, OverflowError):
        return True
    names = [n for n in ast.walk(tree) if isinstance(n, ast.Name)]
    bound = {n.id for n in names if not isinstance(n.ctx, ast.Load)}
    bound |= {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
    return any(n.id not in bound and n.id not in defined and not hasattr(builtins, n.id)
               for n in names if isinstance(n.ctx, ast.Load))


@dataclass(frozen=True)
class Input:
    """One input of a text: a command line (without its ``%``) or a Python
    statement; ``line`` is the number of its first line (from 1).  ``error``
    is the syntax error of Python that does not compile, its ``lineno``
    counted in the whole text."""

    line: int
    text: str
    command: bool
    error: SyntaxError | None = None


def _significant(lines: Sequence[str], start: int) -> int | None:
    """The index of the first line from ``start`` that is neither blank nor a comment."""
    for i in range(start, len(lines)):
        s = lines[i].strip()
        if s and not s.startswith("#"):
            return i
    return None


def _compiles(source: str) -> bool:
    """True when ``source`` is complete Python, False when it needs more
    lines; raises SyntaxError (or ValueError: a NUL byte) when it is wrong."""
    return codeop.compile_command(source, "<stdin>", "exec") is not None


def python_statement(lines: Sequence[str], start: int) -> tuple[int, SyntaxError | None]:
    """Where the Python statement starting at ``lines[start]`` ends (the index
    after its last line), and its syntax error, if any (``lineno`` counted
    from the first of ``lines``).  As Python's REPL reads it: lines are added
    while the statement is incomplete (an open bracket, a block's header), and
    past a complete one while the next line is indented (the block goes on)
    or starts a clause (``else``, ``elif``, ``except``, ``finally``); a
    statement that can never complete takes the rest of the text."""
    end = start + 1
    while True:
        source = "\n".join(lines[start:end])
        try:
            complete = _compiles(source)
        except (SyntaxError, ValueError, OverflowError) as e:
            return end, _at(e, start)
        following = _significant(lines, end)
        if complete and (following is None or not (lines[following][:1].isspace()
                                                  or _CLAUSE.match(lines[following]))):
            return end, None
        if following is None:  # incomplete at the end: compile says what is missing
            try:
                compile(source + "\n", "<stdin>", "exec")
            except (SyntaxError, ValueError, OverflowError) as e:
                return len(lines), _at(e, start)
            return len(lines), None
        end = following + 1


def _at(e: Exception, start: int) -> SyntaxError:
    """``e`` as a SyntaxError whose line is counted from the text's first line."""
    if not isinstance(e, SyntaxError):
        return SyntaxError(str(e), ("<stdin>", start + 1, 0, ""))
    e.lineno = (e.lineno or 1) + start
    return e


def inputs(text: str, is_command: Callable[[str], bool]) -> Iterator[Input]:
    """The inputs of ``text`` in order, as the REPL would take them typed one
    after the other: blank lines and ``#`` comments skipped, a ``%`` line a
    command, a line for which ``is_command(line)`` holds a command, anything
    else a Python statement (as many lines as it takes).  ``is_command`` is
    asked when the line is reached, so it sees what the inputs before it
    defined when they ran in between."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            i += 1
        elif stripped.startswith("%") or is_command(stripped):
            yield Input(i + 1, stripped.removeprefix("%").strip(), True)
            i += 1
        else:
            end, error = python_statement(lines, i)
            yield Input(i + 1, "\n".join(lines[i:end]), False, error)
            i = end


def bound_names(tree: ast.AST) -> set[str]:
    """The names ``tree`` assigns, imports, defines or takes as arguments."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".", 1)[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def _compound(stmt: ast.stmt) -> bool:
    return "body" in stmt._fields or "cases" in stmt._fields


def is_script(text: str, defined: Container[str], names_command: Callable[[str], bool]) -> bool:
    """Whether ``text`` is a Python script to run whole, as drgn runs stdin:
    it parses as one module, has a compound statement (``def``, ``for``,
    ``if``...) at its top level, and none of its one-line top-level
    statements is a bare command line (:func:`is_bare_command`, with the
    names the script itself binds counted as defined).  Other text is REPL
    input, taken line by line (:func:`inputs`)."""
    try:
        tree = ast.parse(text, "<stdin>", "exec")
    except (SyntaxError, ValueError, OverflowError):
        return False
    if not any(_compound(s) for s in tree.body):
        return False
    known = _Union(defined, bound_names(tree))
    lines = text.splitlines()
    for stmt in tree.body:
        if _compound(stmt) or stmt.lineno != stmt.end_lineno:
            continue
        if is_bare_command(lines[stmt.lineno - 1], known, names_command):
            return False
    return True


class _Union:
    """``in`` over two containers."""

    def __init__(self, a: Container[str], b: Container[str]) -> None:
        self.a, self.b = a, b

    def __contains__(self, name: object) -> bool:
        return name in self.a or name in self.b
