"""Multi-line editing: when Enter runs the input, and auto-indentation.

Enter runs the input when it is complete, as in Python's own REPL: a simple
statement or expression at once, a compound statement (``for``, ``def``,
``if``...) after an empty line.  Otherwise Enter opens a new line indented
like the last one, one level deeper after a ``:``, one level shallower after
``return``/``pass``/``break``/``continue``/``raise``.  ``%`` commands are
one line.  Escape-Enter (or Alt-Enter) runs the input as it is; Tab at the
start of a line indents.
"""

from __future__ import annotations

import codeop
import re

from prompt_toolkit.application.current import get_app
from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import Condition, has_completions, has_focus, is_searching
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

__all__ = ["INDENT", "is_complete", "key_bindings", "next_indent"]

INDENT = "    "
_DEDENT = re.compile(r"^\s*(return|pass|break|continue|raise)\b")
_OPENS_BLOCK = re.compile(r"^\s*(@|(async\s+)?(def|class|for|while|with|if|try)\b|match\s)")


def _compiles(text: str, symbol: str) -> bool | None:
    """True: complete; None: needs more; False: a syntax error (run it to show it)."""
    try:
        code = codeop.compile_command(text, "<input>", symbol)
    except (SyntaxError, ValueError, OverflowError):
        return False
    return True if code is not None else None


def _open_brackets(text: str) -> int:
    """Brackets left open in ``text`` (strings and comments skipped, roughly)."""
    depth = 0
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif text.startswith(quote, i):
                i += len(quote) - 1
                quote = ""
        elif ch == "#":
            nl = text.find("\n", i)
            i = len(text) if nl < 0 else nl
        elif ch in "'\"":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            i += len(quote) - 1
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        i += 1
    return max(depth, 0)


def _in_block(lines: list[str]) -> bool:
    """Whether the last top-level statement is a compound one (``for ...:``)."""
    for line in reversed(lines):
        if line.strip() and not line[0].isspace():
            s = line.split("#", 1)[0].rstrip()
            return bool(_OPENS_BLOCK.match(line)) or s.endswith(":")
    return False


def is_complete(text: str) -> bool:
    """Whether Enter at the end of ``text`` should run it."""
    if not text.strip():
        return True
    if text.lstrip().startswith("%"):
        return not text.rstrip("\n").endswith("\\")
    lines = text.split("\n")
    if len(lines) == 1:
        return _compiles(text, "single") is not None
    if not lines[-1].strip():
        return _open_brackets(text) == 0
    state = _compiles(text, "exec")
    if state is None:
        return False
    if state is False:
        # a syntax error: an unfinished block still being typed, or a real error
        return not (lines[-1][:1].isspace() or lines[-1].rstrip().endswith(":"))
    # complete code: a compound statement goes on until an empty line
    return not _in_block(lines)


def next_indent(line: str) -> str:
    """Indentation for the line after ``line``."""
    indent = line[: len(line) - len(line.lstrip())]
    stripped = line.strip()
    if stripped.endswith(":") and not stripped.startswith("#"):
        return indent + INDENT
    if _DEDENT.match(line):
        return indent[: max(0, len(indent) - len(INDENT))]
    return indent


def key_bindings() -> KeyBindings:
    """Enter / Escape-Enter / Tab bindings for the REPL's buffer."""
    kb = KeyBindings()
    editing = has_focus(DEFAULT_BUFFER) & ~is_searching

    @Condition
    def completion_selected() -> bool:
        state = get_app().current_buffer.complete_state
        return bool(state and state.current_completion)

    @kb.add("enter", filter=editing & has_completions & completion_selected)
    def _accept_completion(event: KeyPressEvent) -> None:
        event.current_buffer.complete_state = None

    @kb.add("enter", filter=editing & ~(has_completions & completion_selected))
    def _enter(event: KeyPressEvent) -> None:
        buf = event.current_buffer
        doc = buf.document
        if doc.is_cursor_at_the_end and is_complete(doc.text):
            buf.validate_and_handle()
            return
        if not doc.is_cursor_at_the_end and is_complete(doc.text) and "\n" not in doc.text:
            buf.validate_and_handle()
            return
        buf.insert_text("\n" + next_indent(doc.current_line_before_cursor))

    @kb.add("escape", "enter", filter=editing)
    def _run_now(event: KeyPressEvent) -> None:
        event.current_buffer.validate_and_handle()

    @Condition
    def at_indent() -> bool:
        before = get_app().current_buffer.document.current_line_before_cursor
        return not before.strip()

    @kb.add("tab", filter=editing & at_indent)
    def _indent(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text(INDENT)

    @kb.add("s-tab", filter=editing & at_indent)
    def _dedent(event: KeyPressEvent) -> None:
        buf = event.current_buffer
        before = buf.document.current_line_before_cursor
        buf.delete_before_cursor(min(len(before), len(INDENT)))

    return kb
