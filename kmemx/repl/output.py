"""Showing results: highlighting and the pager.

:class:`Output` takes lines (lazily, so a long walk streams), colours them
with :class:`~.lexers.OutputLexer` when the terminal shows colour, and sends
them through the pager (``$PAGER``, default ``less -R``) once they no longer
fit on the screen.  It never pages when stdout is not a terminal.  ^C while
lines are produced stops the producer (the walk), closes the pager and
returns to the prompt.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from pygments import highlight  # type: ignore[import-untyped,unused-ignore]
from pygments.formatters import Terminal256Formatter  # type: ignore[import-untyped,unused-ignore]
from pygments.style import Style  # type: ignore[import-untyped,unused-ignore]
from pygments.styles import get_style_by_name  # type: ignore[import-untyped,unused-ignore]
from pygments.token import Error, Generic, Keyword, Punctuation, Text, Token  # type: ignore[import-untyped,unused-ignore]
from pygments.util import ClassNotFound  # type: ignore[import-untyped,unused-ignore]

from .config import ReplConfig
from .lexers import OutputLexer

__all__ = ["Highlighter", "Output", "output_style"]


def output_style(name: str) -> type[Style]:
    """The pygments style ``name`` with kmemx's output token colours added."""
    try:
        base = get_style_by_name(name)
    except ClassNotFound:
        base = get_style_by_name("default")
    extra = {
        # plain text keeps the terminal's colour: only what means something is coloured
        Token: "",
        Text: "",
        Punctuation: "",
        Generic.Heading: "bold",
        Generic.Subheading: "bold",
        Generic.Error: "bold #ff5f5f",
        Error: "#ff5f5f",
        Keyword.Type: base.styles.get(Keyword.Type, "") or "#5fafff",
    }
    styles = dict(base.styles)
    styles.update(extra)
    return type("KmemxOutputStyle", (base,), {"styles": styles})


class Highlighter:
    """Colours lines of output with ANSI escapes (or leaves them alone)."""

    def __init__(self, style: str, enabled: bool) -> None:
        self.enabled = enabled
        self._lexer = OutputLexer(stripnl=False, ensurenl=False)
        self._formatter = Terminal256Formatter(style=output_style(style))

    def line(self, text: str) -> str:
        if not self.enabled or not text or len(text) > 2000:
            return text
        return str(highlight(text, self._lexer, self._formatter))


def _is_tty(stream: IO[str]) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False


class Output:
    """Where the REPL's results go: ``stream`` (default stdout), highlighted
    and paged according to the settings."""

    def __init__(self, config: ReplConfig, stream: IO[str] | None = None,
                 tty: bool | None = None, err: IO[str] | None = None) -> None:
        self.config = config
        self._stream = stream
        self._err = err
        self._tty = tty
        self.paging = False  # a pager is running (no progress output meanwhile)
        self._hl: Highlighter | None = None
        self._hl_key: tuple[str, bool] | None = None

    @property
    def stream(self) -> IO[str]:
        return self._stream if self._stream is not None else sys.stdout

    @property
    def err(self) -> IO[str]:
        return self._err if self._err is not None else sys.stderr

    @property
    def tty(self) -> bool:
        return self._tty if self._tty is not None else _is_tty(self.stream)

    @property
    def color(self) -> bool:
        c = self.config.color
        return c == "always" or (c == "auto" and self.tty and os.environ.get("NO_COLOR") is None
                                 and os.environ.get("TERM") != "dumb")

    @property
    def highlighter(self) -> Highlighter:
        key = (self.config.style, self.color)
        if self._hl is None or self._hl_key != key:
            self._hl = Highlighter(self.config.style, self.color)
            self._hl_key = key
        return self._hl

    def write(self, text: str) -> None:
        """Unpaged text (messages)."""
        self.stream.write(text)
        self.stream.flush()

    def error(self, message: str) -> None:
        """A one-line error (or a traceback) on the error stream, coloured like one."""
        self.stream.flush()
        text = message if "\n" in message else self.highlighter.line(message)
        self.err.write(text + "\n")
        self.err.flush()

    def _screen(self) -> tuple[int, int]:
        size = shutil.get_terminal_size((80, 24))
        return max(size.columns, 20), max(size.lines, 5)

    def show(self, lines: Iterable[str], page: bool | None = None,
             live: bool = False) -> int:
        """Show ``lines``; returns how many were shown.  Exceptions raised by
        the producer (and ^C) propagate after the pager is closed.  ``live``:
        the lines come over time (``repeat``): no pager, each shown at once."""
        if live:
            page = False
        use_pager = (self.config.pager if page is None else page) and self.tty
        hl = self.highlighter
        it = iter(lines)
        count = 0
        try:
            if not use_pager:
                for line in it:
                    self.stream.write(hl.line(line) + "\n")
                    count += 1
                    if live:
                        self.stream.flush()
                self.stream.flush()
                return count
            width, height = self._screen()
            held: list[str] = []
            rows = 0
            for line in it:
                held.append(line)
                rows += 1 + max(0, len(line) - 1) // width
                if rows >= height - 1:
                    return len(held) + self._page(held, it)
            for line in held:
                self.stream.write(hl.line(line) + "\n")
            self.stream.flush()
            return len(held)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    def _page(self, held: list[str], rest: Iterator[str]) -> int:
        hl = self.highlighter
        env = dict(os.environ)
        env.setdefault("LESS", "FRX")
        try:
            argv = shlex.split(self.config.pager_argv())
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=self.stream,
                                    env=env, text=True, errors="replace")
        except (OSError, ValueError) as e:
            self.error(f"kmemx: warning: cannot run pager: {e}; paging is off")
            self.config.pager = False
            for line in held:
                self.stream.write(hl.line(line) + "\n")
            n = len(held)
            for line in rest:
                self.stream.write(hl.line(line) + "\n")
                n += 1
            return n - len(held)
        assert proc.stdin is not None
        self.paging = True
        n = 0
        try:
            for line in held:
                proc.stdin.write(hl.line(line) + "\n")
            for line in rest:
                proc.stdin.write(hl.line(line) + "\n")
                n += 1
        except BrokenPipeError:
            pass  # the user quit the pager: stop producing
        finally:
            self.paging = False
            _close_quietly(proc.stdin)
            _wait(proc)
        return n


def _close_quietly(f: Any) -> None:
    try:
        f.close()
    except (BrokenPipeError, OSError):
        pass


def _wait(proc: subprocess.Popen[str]) -> None:
    """Wait for the pager; ^C goes to the pager too, so keep waiting for it."""
    while True:
        try:
            proc.wait()
            return
        except KeyboardInterrupt:
            continue
