"""Running Python input: statements, the value of a final expression, and
one-line errors whose tracebacks are kept for ``%debug``.

Values display as in drgn's REPL: :class:`drgn.Object` through
``format_(columns=...)`` (C syntax), drgn's "display with str()" types
(stack traces, types, source locations) with ``str()``, everything else with
``repr()``.  kmemx views (structs, arrays, pointers) display as the drgn
Object they view.
"""

from __future__ import annotations

import ast
import builtins
import shutil
import sys
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

import drgn

__all__ = ["Evaluator", "format_value", "one_line"]


def _display_str_types() -> tuple[type, ...]:
    try:
        import drgn.cli

        types: tuple[type, ...] = drgn.cli._DISPLAY_STR_TYPES
        return types
    except (ImportError, AttributeError):
        return (drgn.StackTrace, drgn.StackFrame, drgn.Type)


def one_line(e: BaseException) -> str:
    """``Type: first line of the message`` (``SyntaxError`` keeps its position)."""
    name = type(e).__name__
    if isinstance(e, SyntaxError):
        where = f" (line {e.lineno})" if e.lineno else ""
        return f"{name}: {e.msg}{where}"
    text = str(e).strip()
    first = text.splitlines()[0] if text else ""
    return f"{name}: {first}" if first else name


def format_value(value: Any, columns: int | None = None,
                 warn: Callable[[str], None] | None = None) -> str:
    """The text the REPL shows for the value of an expression."""
    cols = columns or shutil.get_terminal_size((80, 24)).columns
    from ..types.view import ArrayView, PointerView, View

    if isinstance(value, (View, ArrayView, PointerView)):
        try:
            value = value.to_drgn()
        except Exception:
            return repr(value)
    if isinstance(value, drgn.Object):
        try:
            return str(value.format_(columns=cols))
        except drgn.FaultError as e:
            if warn is not None:
                warn(f"kmemx: warning: can't print value: {e}")
            return repr(value)
    if isinstance(value, _display_str_types()):
        return str(value)
    return repr(value)


class Evaluator:
    """Executes code in ``namespace``; ``show(text)`` receives displayed values."""

    def __init__(self, namespace: dict[str, Any], show: Callable[[str], None],
                 warn: Callable[[str], None] | None = None) -> None:
        self.namespace = namespace
        self.show = show
        self.warn = warn
        self.last_exc: BaseException | None = None
        self.last_tb: TracebackType | None = None

    def displayhook(self, value: Any) -> None:
        """``sys.displayhook`` while the REPL runs code."""
        if value is None:
            return
        builtins._ = None  # type: ignore[attr-defined]
        self.show(format_value(value, warn=self.warn))
        builtins._ = value  # type: ignore[attr-defined]

    def run(self, source: str, filename: str = "<input>", line: int = 1) -> None:
        """Run ``source``; the last statement's value is displayed when it is an
        expression.  Exceptions propagate (the caller prints one line); their
        traceback is kept for :meth:`traceback`.  ``filename`` and ``line``
        (of the first line of ``source``) are where tracebacks say the code is."""
        try:
            tree = ast.parse(source, filename, "exec")
        except (SyntaxError, ValueError, OverflowError) as e:
            self.remember(e)
            raise
        if line != 1:
            ast.increment_lineno(tree, line - 1)
        body = tree.body
        try:
            if body and isinstance(body[-1], ast.Expr):
                head = ast.Module(body=body[:-1], type_ignores=[])
                if head.body:
                    exec(compile(head, filename, "exec"), self.namespace)
                last = ast.Interactive(body=[body[-1]])
                old_hook, sys.displayhook = sys.displayhook, self.displayhook
                try:
                    exec(compile(last, filename, "single"), self.namespace)
                finally:
                    sys.displayhook = old_hook
            else:
                exec(compile(tree, filename, "exec"), self.namespace)
        except BaseException as e:
            if not isinstance(e, SystemExit):
                self.remember(e)
            raise

    def remember(self, e: BaseException) -> None:
        self.last_exc = e
        self.last_tb = e.__traceback__

    def traceback(self) -> str:
        """The last error's full traceback (REPL frames dropped), or a note."""
        e = self.last_exc
        if e is None:
            return "no error yet"
        tb = self.last_tb
        # drop the frames of this module: start at the user's code
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        return "".join(traceback.format_exception(type(e), e, tb)).rstrip("\n")
