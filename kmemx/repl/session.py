"""The REPL: a prompt_toolkit session that runs Python and ``%`` commands.

Input starting with ``%`` is a command line: the REPL's own commands
(``%debug``, ``%set``), kmemx commands and pipelines (``%ps -k | filter
comm~kworker ! grep x``) and, for drgn habits, drgn's commands (``%crash``,
``%sh``...).  Anything else is Python in drgn's interactive namespace plus
kmemx's.  Errors print one line and the session goes on; ^C stops what is
running; ^D exits.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO, Any

import drgn
from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import ThreadedCompleter
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.input import Input
from prompt_toolkit.output import ColorDepth
from prompt_toolkit.output import Output as PTOutput
from prompt_toolkit.shortcuts import CompleteStyle
from prompt_toolkit.styles import BaseStyle, Style, merge_styles, style_from_pygments_cls
from pygments.styles import get_style_by_name  # type: ignore[import-untyped,unused-ignore]
from pygments.util import ClassNotFound  # type: ignore[import-untyped,unused-ignore]

from ..commands import execute, load_plugins, loaded_plugins
from ..errors import KmemxError, fault_text
from .catalog import CommandCatalog
from .completion import ReplCompleter
from .config import ReplConfig, load_config
from .editing import key_bindings
from .evaluator import Evaluator, one_line
from .history import make_history
from .lexers import ReplLexer
from .lines import is_bare_command
from .magics import MAGICS, SUMMARIES
from .names import NameSource
from .namespace import build_namespace, clashing_helpers
from .output import Output

__all__ = ["Repl", "banner"]


def _version_line() -> str:
    from .. import __version__

    py = ".".join(str(v) for v in sys.version_info[:3])
    return f"kmemx {__version__} (drgn {drgn.__version__}, Python {py})"


def banner(k: Any, n_commands: int, clashes: list[str], helpers: str) -> str:
    """Target, kernel release, reader and plugins, then how to get around."""
    try:
        release = str(k.release)
    except Exception as e:
        release = f"unknown ({one_line(e)[:70]})"
    plugins = loaded_plugins()
    failed = [p.name for p in plugins if not p.ok]
    pl = f"{len(plugins) - len(failed)} loaded, {n_commands} commands"
    if failed:
        pl += f"; failed: {', '.join(failed)} (see %plugins)"
    lines = [
        _version_line(),
        f"target:  {k.target or 'program'}",
        f"kernel:  {release}",
        f"reader:  {k.reader.name}",
        f"plugins: {pl}",
        "python:  drgn's namespace (prog, drgn.helpers.linux.*) + k, view, kx (kmemx.helpers)",
    ]
    if clashes:
        shown = ", ".join(clashes[:2]) + (", ..." if len(clashes) > 2 else "")
        if helpers == "drgn":
            lines.append(f"         shared names ({shown}) are drgn's; kmemx's are kx.NAME")
        else:
            lines.append(f"         shared names ({shown}) are kmemx's (helpers = \"kmemx\")")
    lines.append("%help: commands   %debug: last traceback   Ctrl-D: exit")
    return "\n".join(lines)


class _Progress:
    """A transient ``what: done/total`` line on the terminal during long walks."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.shown = False
        self._last = 0.0

    def __call__(self, what: str, done: int, total: int = 0) -> None:
        if self.out.paging or not self.out.tty:
            return
        now = time.monotonic()
        if now - self._last < 0.2:
            return
        self._last = now
        text = f"{what}: {done}/{total}" if total else f"{what}: {done}"
        self.out.err.write(f"\r{text}\x1b[K")
        self.out.err.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.out.err.write("\r\x1b[K")
            self.out.err.flush()
            self.shown = False

    def wrap(self, lines: Iterator[str]) -> Iterator[str]:
        try:
            for line in lines:
                self.clear()
                yield line
        finally:
            self.clear()
            close = getattr(lines, "close", None)
            if close is not None:
                close()


class Repl:
    """One interactive session on a :class:`~kmemx.Kernel`.

    ``input``/``output`` are prompt_toolkit's (tests pass a pipe input and a
    ``DummyOutput``); ``stdout``/``stderr`` receive results and errors.
    """

    def __init__(self, k: Any, config: ReplConfig | None = None, *,
                 input: Input | None = None, output: PTOutput | None = None,
                 stdout: IO[str] | None = None, stderr: IO[str] | None = None,
                 tty: bool | None = None, names: NameSource | None = None,
                 threaded_completion: bool = True, warnings: list[str] | None = None) -> None:
        if config is None:
            config, warning = load_config()
            warnings = (warnings or []) + ([warning] if warning else [])
        self.k = k
        self.prog = k.prog
        self.config = config
        self.out = Output(config, stdout, tty=tty, err=stderr)
        load_plugins()
        self.namespace = build_namespace(k, helpers=config.helpers)
        self.evaluator = Evaluator(self.namespace, show=self._show_text, warn=self.out.error)
        if names is None:
            # once the big name lists exist, stop the cyclic GC from rescanning
            # them (and everything loaded so far): no 50+ ms pauses mid-keystroke
            names = NameSource(self.prog, lock=threading.Lock(), on_ready=gc.freeze)
        self.names = names
        # libdrgn is not thread-safe: input runs, the name lists are built and
        # completions are computed each while holding this lock
        self.lock = names.lock
        self.catalog = CommandCatalog(self.prog, repl_commands=SUMMARIES)
        self.catalog.infos()  # capability checks of every command, once, now
        self.completer = ReplCompleter(self.namespace, self.names, self.catalog,
                                       lock=self.lock)
        self._warnings = list(warnings or [])
        history, warning = make_history(config.history_file, config.history_size)
        if warning:
            self._warnings.append(warning)
        self.session: PromptSession[str] = PromptSession(
            message=self._prompt,
            multiline=True,
            prompt_continuation=self._continuation,
            lexer=ReplLexer(),
            style=self._style(),
            include_default_pygments_style=False,
            completer=ThreadedCompleter(self.completer) if threaded_completion
            else self.completer,
            complete_while_typing=config.complete_while_typing,
            complete_style=CompleteStyle.COLUMN,
            auto_suggest=AutoSuggestFromHistory(),
            history=history,
            key_bindings=key_bindings(),
            search_ignore_case=True,
            color_depth=ColorDepth.MONOCHROME if config.color == "never" else None,
            input=input,
            output=output,
        )

    # -- appearance -------------------------------------------------------------------
    def _style(self) -> BaseStyle:
        try:
            base = style_from_pygments_cls(get_style_by_name(self.config.style))
        except ClassNotFound:
            base = style_from_pygments_cls(get_style_by_name("default"))
        try:
            extra = Style.from_dict(self.config.colors)
        except (ValueError, AssertionError) as e:
            self._warn(f"kmemx: warning: bad [colors] in config: {e}")
            extra = Style([])
        return merge_styles([base, Style.from_dict({"prompt": "bold", "continuation": ""}),
                             extra])

    def restyle(self) -> None:
        """Apply a changed ``style`` setting."""
        self.session.style = self._style()

    def _prompt(self) -> StyleAndTextTuples:
        return [("class:prompt", self.config.prompt)]

    def _continuation(self, width: int, line_number: int, wrap_count: int) -> StyleAndTextTuples:
        return [("class:continuation", self.config.continuation.rjust(width))]

    def _warn(self, message: str) -> None:
        self.out.error(message)

    def _show_text(self, text: str) -> None:
        self.out.show(text.split("\n"))

    def banner(self) -> str:
        return banner(self.k, len(self.catalog.names()),
                      clashing_helpers(self.prog), self.config.helpers)

    # -- running input -----------------------------------------------------------------
    def handle(self, text: str) -> None:
        """Run one input (Python or a ``%`` line); never raises except SystemExit."""
        stripped = text.strip()
        if not stripped:
            return
        try:
            with self.lock:
                if stripped.startswith("%"):
                    self.run_command(stripped[1:])
                elif self.is_bare_command(stripped):
                    self.run_command(stripped)
                else:
                    self.run_python(text)
        except KeyboardInterrupt:
            self.out.error("KeyboardInterrupt")

    def is_bare_command(self, line: str) -> bool:
        """Whether ``line``, typed without ``%``, is a command as crash users
        type them (``bt -a``, ``files 1``, ``set -v``, ``q``): the rule of
        :func:`kmemx.repl.lines.is_bare_command` over the session's namespace
        (piped standard input follows the same rule, line by line)."""
        return is_bare_command(line, self.namespace, self.names_command)

    def names_command(self, word: str) -> bool:
        """Whether ``word`` names a command, a REPL command or a runtime alias."""
        return (self.catalog.get(word) is not None or word in MAGICS
                or word in self.catalog.registry.runtime_aliases)

    def run_python(self, source: str) -> None:
        self.k.new_epoch()  # one statement = one pass over a live kernel
        try:
            self.evaluator.run(source)
        except SystemExit:
            raise
        except KeyboardInterrupt:
            raise
        except BaseException as e:
            if self.config.traceback and not isinstance(e, SyntaxError):
                self.out.error(self.evaluator.traceback())
            else:
                self.out.error(one_line(e))

    def run_command(self, line: str) -> None:
        """Run a ``%`` line (without the ``%``)."""
        words = line.split(None, 1)
        if not words:
            self.out.error("kmemx: error: expected a command after %")
            return
        name, rest = words[0], (words[1] if len(words) > 1 else "")
        progress = _Progress(self.out)
        try:
            if name in MAGICS:
                MAGICS[name](self, rest)
                return
            info = self.catalog.get(name)
            if info is not None and info.source == "drgn":
                self._run_drgn_command(line)
                return
            lines = execute(self.k, line, as_json=self.config.json, progress=progress)
            self.out.show(progress.wrap(lines), live=self._live(name))
            if name == "help" and not rest.strip():
                self.out.show([self._more_commands()], page=False)
        except KeyboardInterrupt:
            progress.clear()
            self.out.error("kmemx: interrupted")
        except (KmemxError, drgn.FaultError) as e:
            progress.clear()
            self.evaluator.remember(e)
            self.out.error(f"kmemx: error: {fault_text(e) if isinstance(e, drgn.FaultError) else e}")
        except Exception as e:
            progress.clear()
            self.evaluator.remember(e)
            if self.config.traceback:
                self.out.error(self.evaluator.traceback())
            else:
                self.out.error(f"kmemx: error: {one_line(e)} (%debug shows the traceback)")

    def _live(self, name: str) -> bool:
        """Whether command ``name`` (or the runtime alias's command) prints over
        time (crash's ``repeat``): its lines are shown as they come, unpaged."""
        from kmemx.commands import REGISTRY

        word = REGISTRY.expand(name).split(None, 1)[0] if name else name
        try:
            return REGISTRY.lookup(word).name == "repeat"
        except Exception:
            return False

    def _more_commands(self) -> str:
        """The line after ``%help``: the REPL's own commands and drgn's."""
        infos = self.catalog.infos().values()
        repl = " ".join(f"%{i.name}" for i in infos if i.source == "repl")
        drgn_cmds = " ".join(f"%{i.name}" for i in infos if i.source == "drgn")
        text = f"REPL: {repl}"
        if drgn_cmds:
            text += f"; drgn's commands: {drgn_cmds}"
        return text

    def _run_drgn_command(self, line: str) -> None:
        from drgn.commands import (
            CommandArgumentError,
            CommandExitStatusError,
            CommandNotFoundError,
            run_command,
        )

        def onerror(e: Exception) -> None:
            self.evaluator.remember(e)
            if isinstance(e, (CommandArgumentError, CommandExitStatusError,
                              CommandNotFoundError)):
                self.out.error(f"kmemx: {e}")
            elif isinstance(e, SyntaxError):
                self.out.error(f"kmemx: syntax error: {e}")
            else:
                self.out.error(f"kmemx: error: {e}")

        self.out.stream.flush()
        ret = run_command(self.prog, line, globals=self.namespace, onerror=onerror)
        if ret is not None:
            import builtins

            builtins._ = ret  # type: ignore[attr-defined]

    # -- the loop ----------------------------------------------------------------------
    def run(self, show_banner: bool = True) -> int:
        """Read-eval-print until ^D (or ``exit()``); returns the exit status."""
        old_path = list(sys.path)
        try:
            old_prog: drgn.Program | None = drgn.get_default_prog()
        except drgn.NoDefaultProgramError:
            old_prog = None
        try:
            sys.path.insert(0, "")
            drgn.set_default_prog(self.prog)
            if show_banner:
                self.out.write(self.banner() + "\n")
            self.names.warm()  # after the banner, which may use the program
            for w in self._warnings:
                self.out.error(f"kmemx: warning: {w}")
            return self._loop()
        finally:
            sys.path[:] = old_path
            drgn.set_default_prog(old_prog)

    def _loop(self) -> int:
        while True:
            try:
                text = self.session.prompt()
            except KeyboardInterrupt:
                continue
            except EOFError:
                return 0
            try:
                self.handle(text)
            except SystemExit as e:
                code = e.code
                if code is None:
                    return 0
                if isinstance(code, int):
                    return code
                self.out.error(str(code))
                return 1
            history = self.session.history
            err = getattr(history, "error", None)
            if err:
                self.out.error(f"kmemx: warning: {err}")
                history.error = None  # type: ignore[attr-defined]
