"""The ``kmemx`` command line.

::

    kmemx                              # REPL on the running kernel
    kmemx -c vmcore -s vmlinux         # REPL on a crash dump
    kmemx -c vmcore -s vmlinux ps -k   # one command, then exit
    kmemx -c vmcore -s vmlinux 'ps | filter comm~kworker | count'
    kmemx -c vmcore -s vmlinux script.py ARGS...   # a drgn script, as drgn runs it
    kmemx -c vmcore -e 'print(prog["jiffies"])'
    kmemx doctor                       # why live access does (not) work

drgn's options keep their meaning (``-c``, ``-k``, ``-s``,
``--no-default-symbols``, ``-e``, ``-q``).  Scripts run exactly as under
``drgn``: ``prog`` is a global and the default program, ``sys.argv`` is the
script and its arguments, ``__name__ == "__main__"``, and exceptions and
``sys.exit()`` give the same exit status (the traceback starts at the
script's own frame, as ``python script.py`` prints it); they also get ``k``,
the :class:`~kmemx.Kernel`, whose fast reader is underneath ``prog``.
Standard input that is not a terminal is taken as the REPL takes lines, one
at a time (a command line or Python, an error one line and the next line
runs), unless it is a real Python script (:func:`kmemx.repl.lines.is_script`).
Problems opening the target print one line, ``kmemx: error: ...``, and exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import pkgutil
import re
import runpy
import sys
import traceback
import warnings
from collections.abc import Iterable, Iterator
from types import CodeType
from typing import IO, TYPE_CHECKING, Any, TextIO

import drgn

from .progress import CommandProgress, spinner

if TYPE_CHECKING:
    from .repl.evaluator import Evaluator

__all__ = ["EXIT_INCOMPLETE", "build_parser", "main"]

#: Exit status of a one-shot command that printed its result but reported
#: problems it survived (``kmemx: warning:`` lines: a list cycle, a corrupt
#: freelist, unreadable memory, a bad argument among good ones): the output
#: is incomplete.  1 is an error with no result; 2 a bad kmemx command line.
EXIT_INCOMPLETE = 3

logger = logging.getLogger("drgn")

_DESCRIPTION = """\
kmemx: a fast kernel-memory debugger built on drgn.

With no ARG, kmemx starts its REPL: Python with drgn's namespace plus k (the
kmemx kernel), and %COMMAND lines.  With a script, it runs the script as drgn
does.  With a COMMAND, it runs that one command (or pipeline) and exits.
With no -c, it debugs the running kernel with the fastest reader available."""

_EPILOG = """\
examples:
  kmemx -c vmcore -s vmlinux                 interactive session on a dump
  kmemx -c vmcore -s vmlinux ps -k           one command
  kmemx -c vmcore 'ps | filter comm~kworker | count'
                                             a pipeline (quote it as one argument)
  kmemx -c vmcore -s vmlinux script.py a b   a drgn script with arguments
  kmemx -c vmcore -e 'print(k.release)'      a Python statement
  kmemx help                                 the commands; kmemx help CMD: one manual
  kmemx doctor                               why live-kernel access does or does not work

exit status of a one-shot command: 0 done; 1 error (one 'kmemx: error:' line);
2 bad kmemx options; 3 the output is incomplete: 'kmemx: warning:' lines say what
was skipped (a corrupt list or freelist, unreadable memory, a bad argument among
good ones).  -q silences drgn's notices only, never these warnings.

The REPL reads ~/.config/kmemx/config.toml and keeps its history in
~/.local/state/kmemx/history (XDG_CONFIG_HOME and XDG_STATE_HOME are respected)."""


def _version() -> str:
    from . import __version__
    from ._accel import speedups

    py = ".".join(str(v) for v in sys.version_info[:3])
    fast = "C speedups" if speedups is not None else "pure Python: no C speedups"
    return f"kmemx {__version__} (drgn {drgn.__version__}, Python {py}, {fast})"


def build_parser() -> argparse.ArgumentParser:
    """kmemx's argument parser: drgn's target and symbol options plus kmemx's."""
    from .target import READERS

    parser = argparse.ArgumentParser(
        prog="kmemx", description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_argument_group("target").add_mutually_exclusive_group()
    target.add_argument("-k", "--kernel", action="store_true",
                        help="debug the running kernel (default)")
    target.add_argument("-c", "--core", metavar="PATH",
                        help="debug the given crash dump (ELF or kdump-compressed vmcore)")
    symbols = parser.add_argument_group("debugging symbols")
    symbols.add_argument("-s", "--symbols", metavar="PATH", action="append",
                         help="load debugging symbols from the given file; the first is the "
                              "vmlinux of the kernel (checked against the dump's build ID). "
                              "This option may be given more than once")
    symbols.add_argument("--no-default-symbols", action="store_true",
                         help="don't load any debugging symbols that were not explicitly "
                              "added with -s")
    kx = parser.add_argument_group("kmemx")
    kx.add_argument("--reader", choices=READERS,
                    help="read memory with this reader instead of the fastest that works: "
                         "mmap-elf (ELF vmcores), kdump (kdump-compressed and flattened "
                         "vmcores, through a page cache), mmap-devmem (/dev/mem) or drgn "
                         "(drgn's own reader, e.g. /proc/kcore)")
    kx.add_argument("--page-cache", metavar="MIB", type=int, default=None,
                    help="MiB of decompressed pages the kdump reader keeps (default "
                         "256; when full it starts over)")
    kx.add_argument("--json", action="store_true",
                    help="commands print JSON instead of tables (one-shot and in the REPL)")
    parser.add_argument("--log-level",
                        choices=["debug", "info", "warning", "error", "critical", "none"],
                        default="warning",
                        help="log messages of at least the given level to standard error "
                             "(default: warning)")
    parser.add_argument("-q", "--quiet", dest="log_level", action="store_const", const="none",
                        help="don't print drgn's logs (missing debug info...); kmemx's own "
                             "integrity warnings (truncated dump, list cycle, corrupt "
                             "freelist) are always printed")
    parser.add_argument("-e", dest="exec", metavar="CODE",
                        help="an expression or statement to evaluate, instead of running in "
                             "interactive mode")
    parser.add_argument("-i", dest="input", metavar="FILE",
                        help="run the kmemx command lines of FILE ('-': standard input), "
                             "one a line, as crash's -i (without -i, stdin that is not a "
                             "terminal is taken line by line as the REPL takes lines: a "
                             "command line or Python each)")
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("args", metavar="ARG", nargs=argparse.REMAINDER,
                        help="a script to run (script.py ARGS...), or a COMMAND [ARGS] to run "
                             "(see 'kmemx help'), instead of the interactive mode")
    return parser


# -- messages ---------------------------------------------------------------------------

def _is_tty(f: IO[str]) -> bool:
    try:
        return os.isatty(f.fileno())
    except (AttributeError, OSError, ValueError):
        return False


class _LogFormatter(logging.Formatter):
    """drgn's log format: ``warning: message`` for drgn, ``warning:name: message`` else."""

    _COLORS = {logging.DEBUG: "\033[36m", logging.INFO: "\033[32m",
               logging.WARNING: "\033[33m", logging.ERROR: "\033[31m",
               logging.CRITICAL: "\033[31;1m"}

    def __init__(self, color: bool) -> None:
        super().__init__()
        self.color = color

    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower() + ":"
        if self.color and record.levelno in self._COLORS:
            level = f"{self._COLORS[record.levelno]}{level}\033[m"
        if record.name == "drgn":
            return f"{level} {record.getMessage()}"
        return f"{level}{record.name}: {record.getMessage()}"


def _set_log_handler() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_LogFormatter(_is_tty(sys.stderr)))
    logging.getLogger().addHandler(handler)


def _error(message: str) -> int:
    """``kmemx: error: <one line>`` on stderr; exit status 1."""
    sys.stdout.flush()
    text = " ".join(str(message).split("\n")).strip()
    print(f"kmemx: error: {text}", file=sys.stderr)
    return 1


_default_showwarning = warnings.showwarning


def _show_warning(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: TextIO | None = None, line: str | None = None) -> None:
    """kmemx's warnings (a truncated dump...) in one line; others as Python shows them."""
    from .errors import KmemxWarning

    if issubclass(category, KmemxWarning):
        print(f"kmemx: warning: {message}", file=file or sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# -- opening the target -------------------------------------------------------------------

class _Failed(Exception):
    """Opening the target failed; the message is the one line to print."""


def _open(args: argparse.Namespace, note_once: bool = False) -> Any:
    """Open the target of ``args``.  ``note_once``: the note about modules
    without debug info is printed only the first time a command runs on this
    dump (one-shot commands and ``-i FILE``; ``mod`` lists those modules as
    ``(not loaded)`` afterwards); the REPL and scripts print it each time
    they open the target, as drgn does.  drgn's notes about the modules
    become kmemx's lines (:class:`_DrgnNotes`)."""
    notes = _DrgnNotes(args.symbols or ())
    with notes.collecting():
        k = _open_target(args)
        if not _is_deferred(k):
            _load_more_symbols(k, args)
    _speedups_notice()
    for line in notes.warnings():
        print(line, file=sys.stderr)  # an integrity warning: printed even with -q
    if (notes.modules and logger.isEnabledFor(logging.WARNING)
            and not (note_once and _noted_before(args, notes.modules))):
        print(notes.summary(k), file=sys.stderr)
    return k


def _open_target(args: argparse.Namespace) -> Any:
    """``kmemx.open`` (or ``open_live``) of ``args``' target and vmlinux;
    :class:`_Failed` with its one line when it cannot."""
    import kmemx

    symbols: list[str] = list(args.symbols or [])
    vmlinux = symbols[0] if symbols else None
    debug_info = bool(symbols) or not args.no_default_symbols
    try:
        # kmemx's own warnings (a truncated dump...) are never silenced, not even by -q
        with spinner("opening the target, loading debug info"):
            if args.core is not None:
                extra = {} if args.page_cache is None else {"page_cache_mib": args.page_cache}
                if getattr(args, "layout_cache", False) and vmlinux is not None:
                    extra["layout_cache"] = True
                return kmemx.open(args.core, vmlinux, reader=args.reader,
                                  debug_info=debug_info, **extra)
            return kmemx.open_live(vmlinux, reader=args.reader, debug_info=debug_info)
    except (kmemx.KmemxError, OSError, ValueError, LookupError, drgn.FaultError) as e:
        raise _Failed(_one_line(e)) from None


def _is_deferred(k: Any) -> bool:
    """Whether the layout cache answers for ``k``: no debug info to load (yet)."""
    from .types.layoutcache import is_deferred

    return bool(is_deferred(k.prog))


def _load_more_symbols(k: Any, args: argparse.Namespace) -> None:
    """As drgn does after opening: look for the modules' debugging symbols
    and load any further ``-s`` files, so scripts see the same program."""
    symbols: list[str] = list(args.symbols or [])
    if not (symbols[1:] or not args.no_default_symbols):
        return
    try:
        with spinner("loading module debug info"):
            k.prog.load_debug_info(symbols[1:], default=not args.no_default_symbols)
    except drgn.MissingDebugInfoError as e:
        logger.warning("%s", e)
    except (OSError, ValueError) as e:
        raise _Failed(_one_line(e)) from None


#: the notes already shown for a dump, one key a line
_NOTES_FILE = "notes-shown"


def _noted_before(args: argparse.Namespace, modules: list[str]) -> bool:
    """Whether the note about ``modules`` was shown for this dump before
    (the dump's path, size and modification time, and the module names);
    records it when not.  Kept in ``$XDG_CACHE_HOME/kmemx/notes-shown``
    (``~/.cache/kmemx``); a cache that cannot be written shows the note."""
    import hashlib

    if args.core is None:
        return False  # the live kernel changes under us: say it each time
    try:
        st = os.stat(args.core)
    except OSError:
        return False
    ident = f"{os.path.realpath(args.core)}\0{st.st_size}\0{st.st_mtime_ns}\0" \
        + ",".join(sorted(set(modules)))
    key = hashlib.sha256(ident.encode()).hexdigest()[:32]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "kmemx", _NOTES_FILE)
    try:
        with open(path) as f:
            seen = f.read().split()
    except OSError:
        seen = []
    if key in seen:
        return True
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("\n".join([*seen[-999:], key]) + "\n")
    except OSError:
        pass
    return False


def _speedups_notice() -> None:
    """One note when kmemx runs without its C speedups though nobody asked
    for that (KMEMX_NO_SPEEDUPS=1): results are the same, only slower."""
    from ._accel import speedups

    if (speedups is None and os.environ.get("KMEMX_NO_SPEEDUPS", "") in ("", "0")
            and logger.isEnabledFor(logging.WARNING)):
        print("kmemx: note: the C speedups were not built (no C compiler when kmemx was "
              "installed): pure-Python paths, same results, slower; install gcc and "
              "python3-dev and reinstall kmemx for full speed (-q hides this note)",
              file=sys.stderr)


class _DrgnNotes(logging.Handler):
    """drgn's notes about the modules while kmemx opens the target, collected
    instead of let through: its "missing debugging symbols for MODULE" (one
    per module, then a pointer to its docs) become one note
    (:meth:`summary`); its "can't find kernel modules: WHY" (once per load
    of debug info, and kmemx loads twice, as drgn's CLI does) one kmemx
    warning (:meth:`warnings`).  A handler of drgn's logger, so it sees what
    kmemx's own filters (:mod:`kmemx.target`) let through; other records go
    on to the root logger's handlers as ``--log-level`` says.  While
    collecting, drgn logs warnings even under ``-q``, so that an unreadable
    module list is never silent."""

    _ONE = re.compile(r"missing debugging symbols for (?!kernel\b)(\S+)")
    _UNLISTED = re.compile(r"can't find kernel modules: (?:couldn't read modules list: )?(.*)",
                           re.DOTALL)
    #: a file given with -s that drgn did not use ("PATH: WHY; ignoring",
    #: "provided file PATH did not match any loaded modules; ignoring")
    _IGNORED = re.compile(r"(?:provided file (?P<file>.+) (?P<why>did not match any loaded "
                          r"modules)|(?P<path>.+?): (?P<reason>.+)); ignoring$", re.DOTALL)

    def __init__(self, given: Iterable[str] = ()) -> None:
        super().__init__()
        self.given = set(given)  # the -s files
        self.modules: list[str] = []
        self.unlisted: list[str] = []
        self.ignored: list[str] = []
        self.shown = logging.WARNING  # the level the user asked to see

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        m = self._ONE.match(msg)
        if m:
            self.modules.append(m.group(1))
            return
        m = self._UNLISTED.match(msg)
        if m:
            self.unlisted.append(_once_address(m.group(1).strip()))
            return
        m = self._IGNORED.match(msg)
        if m and (m.group("file") or m.group("path")) in self.given:
            path = m.group("file") or m.group("path")
            why = m.group("why") or m.group("reason")
            self.ignored.append(f"kmemx: warning: -s {path} not used: {why}")
            return
        if not msg.startswith("missing some debugging symbols") and record.levelno >= self.shown:
            logging.getLogger().handle(record)

    @contextlib.contextmanager
    def collecting(self) -> Iterator[None]:
        """Collect while the block runs (at least drgn's warnings)."""
        level, propagate = logger.level, logger.propagate
        self.shown = logger.getEffectiveLevel()
        logger.addHandler(self)
        logger.propagate = False
        if self.shown > logging.WARNING:
            logger.setLevel(logging.WARNING)  # drgn syncs its own level with this
        try:
            yield
        finally:
            logger.removeHandler(self)
            logger.propagate = propagate
            if logger.level != level:
                logger.setLevel(level)

    def warnings(self) -> list[str]:
        """``kmemx: warning:`` about each ``-s`` file drgn did not use (a
        missing, non-ELF or unmatched file: the user asked for it), and about
        the module list drgn could not read (once; none when the reason is a
        dump cut short: kmemx's warning that it is truncated was printed, and
        what reads there says so again)."""
        out = list(dict.fromkeys(self.ignored))
        if not self.unlisted or any("truncated" in why for why in self.unlisted):
            return out
        return [*out, f"kmemx: warning: can't read the kernel's module list "
                f"({self.unlisted[-1]}): the modules' symbols, types and stack frames "
                "are unknown"]

    def summary(self, k: Any) -> str:
        names = sorted(set(self.modules))
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        try:
            rel = k.release
        except Exception:  # a kernel without UTS_RELEASE: say it generically
            rel = "RELEASE"
        return (f"kmemx: note: no debug info for {len(names)} module"
                f"{'s' if len(names) != 1 else ''} ({shown}): their types and source lines "
                f"are unknown; add -s MODULE.ko or install linux-image-{rel}-dbg "
                "(-q hides this note)")


def _once_address(text: str) -> str:
    """``text`` without the address drgn appends to a fault message that
    already ends with it (``...: 0x1a610ff8: 0x1a610ff8``)."""
    return re.sub(r"(: (0x[0-9a-f]+)): \2$", r"\1", text)


def _identify_script(path: str) -> str:
    """drgn's check: "core", "elf" (another binary) or "other" (a script)."""
    with open(path, "rb") as f:
        head = f.read(18)
    if head.startswith((b"KDUMP   ", b"makedumpfile\0\0\0\0")):
        return "core"
    if len(head) < 18 or head[:4] != b"\177ELF":
        return "other"
    order = "little" if head[5] == 1 else "big"
    e_type = int.from_bytes(head[16:18], order)  # type: ignore[arg-type,unused-ignore]
    return "core" if e_type == 4 else "elf"


# -- modes ------------------------------------------------------------------------------------

def _run_script(args: argparse.Namespace) -> int:
    script = args.args[0]
    try:
        kind = _identify_script(script)
    except OSError as e:
        return _error(f"{script}: {e.strerror or e}")
    if kind == "core":
        return _error(f"{script} is a core dump (did you mean -c {script}?)")
    if kind == "elf":
        return _error(f"{script} is a binary, not a drgn script")
    try:
        k = _open(args)
    except _Failed as e:
        return _error(str(e))
    drgn.set_default_prog(k.prog)
    sys.argv = list(args.args)
    if pkgutil.get_importer(script) is None:
        sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        runpy.run_path(script, init_globals={"prog": k.prog, "k": k}, run_name="__main__")
    except Exception as e:
        return _script_error(e)
    return 0


def _exec_script(code: CodeType, namespace: dict[str, Any]) -> int:
    """Run compiled code (``-e``, a script on stdin) as drgn does; 1 with
    its traceback when it raises (:func:`_script_error`)."""
    try:
        exec(code, namespace)
    except Exception as e:
        return _script_error(e)
    return 0


def _script_error(e: BaseException) -> int:
    """A script's uncaught exception as Python reports one for ``python
    script.py`` (drgn lets it reach Python's handler: the traceback, exit
    status 1), without kmemx's frames that ran the script (this module's,
    runpy's); ``SystemExit`` and ``KeyboardInterrupt`` are not caught and
    behave as under drgn."""
    tb = e.__traceback__
    while tb is not None and _runs_scripts(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    sys.stdout.flush()
    sys.stderr.write("".join(traceback.format_exception(type(e), e, tb)))
    return 1


def _runs_scripts(filename: str) -> bool:
    """Whether a frame of ``filename`` is kmemx's machinery that runs a script."""
    return filename in (__file__, runpy.__file__, "<frozen runpy>")


def _run_code(args: argparse.Namespace) -> int:
    """``-e CODE`` in the REPL's namespace.  A one-line CODE that the REPL
    would take as a command line (``kmemx -c vmcore -e 'bt 1'``, ``-e ps``;
    :func:`kmemx.repl.lines.is_bare_command`) runs as that command line;
    other text that is not Python is one error line, not a traceback.  The
    code's own exceptions are reported as drgn and ``python -c`` report them
    (:func:`_script_error`)."""
    from .repl.lines import is_bare_command
    from .repl.namespace import build_namespace

    text = args.exec
    line = text.strip().removeprefix("%")
    try:
        code = compile(text, "<string>", "exec")
    except SyntaxError as e:
        if _is_command(line):
            args.args = [line, *args.args]
            return _run_command(args)
        where = f"line {e.lineno}" + (f", column {e.offset}" if e.offset else "")
        return _error(f"-e is not Python ({e.msg}, {where}) and does not start with a "
                      "kmemx command")
    try:
        k = _open(args)
    except _Failed as e:
        return _error(str(e))
    drgn.set_default_prog(k.prog)
    sys.path.insert(0, "")
    ns = build_namespace(k)
    if is_bare_command(line, ns, _names_command):
        return _print_command(k, _command_line([line, *args.args]), args)  # -e ps
    sys.argv = ["-e", *args.args]
    return _exec_script(code, ns)


def _command_line(words: list[str]) -> str:
    """The command line for ``execute``: the first argument as it is (it may
    hold a whole pipeline, or a command with its options); the others quoted,
    except ``|``, ``!``, ``>`` and ``>>`` (pipes and redirection)."""
    import shlex

    if len(words) == 1:
        return words[0]
    # the first word may itself be a quoted command with arguments ('kmem -i' --json)
    return " ".join([words[0], *(w if w in ("|", "!", ">", ">>") else shlex.quote(w) for w in words[1:])])


def _is_command(word: str) -> bool:
    """Whether the first word of ``word`` names a kmemx command."""
    from .commands import REGISTRY, load_plugins

    load_plugins()
    name = word.split(None, 1)[0] if word.strip() else word
    try:
        REGISTRY.lookup(name)
        return True
    except Exception:
        return False


def _names_command(word: str) -> bool:
    """Whether ``word`` names a kmemx command or a runtime alias (``alias``)."""
    from .commands import REGISTRY

    return _is_command(word) or word in REGISTRY.runtime_aliases


#: Commands checked to print the same from the layout cache as from DWARF
#: (tests/vmcore/test_layoutcache.py): a one-shot line made of these alone
#: opens the dump with ``layout_cache=True`` (docs/triage.md)
LAYOUT_CACHE_COMMANDS = frozenset({"ps", "pstree", "log", "slabinfo", "mount", "lsmod", "files",
                                   "vm"})


def _layout_cached(line: str) -> bool:
    """Whether every command of the one-shot ``line`` is in
    :data:`LAYOUT_CACHE_COMMANDS` (KMEMX_LAYOUT_CACHE=0 turns the cache off)."""
    if os.environ.get("KMEMX_LAYOUT_CACHE") == "0":
        return False
    words = [part.split(None, 1)[0] if part.split() else "" for part in line.split("|")]
    return bool(words) and all(w in LAYOUT_CACHE_COMMANDS for w in words)


#: drgn entry-point plugins that only add commands to drgn's CLI: drgn's own
#: (``drgn.commands._builtin``, ``drgn.commands._crash``) and kmemx's ``%kmemx``
#: (:mod:`kmemx.drgn_plugin`)
DRGN_COMMAND_PLUGINS = ("builtin_commands", "crash_commands", "kmemx")


def _skip_drgn_command_plugins() -> None:
    """drgn imports every ``drgn.plugins`` entry point at a Program's first
    plugin hook, its command plugins included (they import ``drgn.cli`` and
    every ``drgn.helpers.linux`` module: 0.05-0.1 s, a third of ``drgn -e
    pass``).  A one-shot kmemx command never runs drgn's CLI commands, so they
    are left out through drgn's own ``DRGN_DISABLE_PLUGINS``; other drgn
    plugins (kmemx's, the user's) still load, and an explicit
    ``DRGN_PLUGINS``/``DRGN_DISABLE_PLUGINS`` setting is left alone."""
    if "DRGN_PLUGINS" in os.environ or "DRGN_DISABLE_PLUGINS" in os.environ:
        return
    os.environ["DRGN_DISABLE_PLUGINS"] = ",".join(DRGN_COMMAND_PLUGINS)


def _run_command(args: argparse.Namespace) -> int:
    line = _command_line(list(args.args))
    args.layout_cache = _layout_cached(line)
    _skip_drgn_command_plugins()
    try:
        k: Any = _open(args, note_once=True)
    except _Failed as e:
        first = line.split(None, 1)[0]
        if args.core is None and first in ("help", "plugins"):
            k = _Targetless(str(e))  # help and plugins work without a kernel
            if first == "help" and line.split() == ["help"]:
                print(f"kmemx: note: no kernel to check commands against ({e}); "
                      "commands that need one are not listed", file=sys.stderr)
        else:
            return _error(str(e))
    return _print_command(k, line, args)


def _command_lines(text: str) -> tuple[list[str], str | None]:
    """The command lines of ``text`` (crash's input file: one a line, ``#``
    comments and blank lines skipped, a REPL-style ``%`` allowed), and the
    first line that does not start with a kmemx command (then it is Python),
    or None."""
    lines = [ln.strip().removeprefix("%") for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    return lines, next((ln for ln in lines if not _is_command(ln)), None)


def _run_command_lines(args: argparse.Namespace, lines: list[str]) -> int:
    """Each command line in turn on one kernel, as crash runs ``-i FILE``:
    a failing line prints its one error and the next runs; the status is
    that of the worst line."""
    _skip_drgn_command_plugins()
    try:
        k = _open(args, note_once=True)
    except _Failed as e:
        return _error(str(e))
    worst = 0
    for line in lines:
        rc = _print_command(k, line, args)
        if rc == 130:
            return rc
        worst = max(worst, rc)
    return worst


def _run_input(args: argparse.Namespace) -> int:
    """``-i FILE``: FILE's command lines (``-``: standard input)."""
    try:
        text = sys.stdin.read() if args.input == "-" else open(args.input).read()
    except OSError as e:
        return _error(f"-i: cannot read {args.input}: {e.strerror or e}")
    # every line runs, as under crash: one that is not a command says so and
    # the next runs
    lines, _ = _command_lines(text)
    return _run_command_lines(args, lines)


def _run_stdin(args: argparse.Namespace, text: str) -> int:
    """Standard input that is not a terminal, as the REPL would take it typed
    line by line (:func:`kmemx.repl.lines.inputs`): a command line (crash's
    habit, ``kmemx -c ... < cmds``) runs as a command, other lines as Python
    in the REPL's namespace (an expression's value is shown); an error is one
    line and the next input runs; the status is the worst input's.  A real
    Python script (:func:`kmemx.repl.lines.is_script`: blocks, no command
    lines) runs whole, as drgn runs stdin."""
    from .repl.lines import is_script
    from .repl.namespace import build_namespace

    lines, bad = _command_lines(text)
    only_commands = bool(lines) and bad is None
    if only_commands:
        _skip_drgn_command_plugins()
    try:
        k = _open(args, note_once=only_commands)
    except _Failed as e:
        return _error(str(e))
    drgn.set_default_prog(k.prog)
    sys.path.insert(0, "")
    sys.argv = [""]
    ns = build_namespace(k)
    ns["__file__"] = "<stdin>"
    if is_script(text, ns, _names_command):
        return _exec_script(compile(text, "<stdin>", "exec"), ns)
    return _run_inputs(k, ns, text, args)


def _run_inputs(k: Any, ns: dict[str, Any], text: str, args: argparse.Namespace) -> int:
    """Each input of ``text`` in turn on ``k`` (:func:`_run_stdin`)."""
    from .repl.evaluator import Evaluator
    from .repl.lines import inputs, is_bare_command

    def show(value: str) -> None:
        sys.stdout.write(value + "\n")

    def warn(message: str) -> None:
        sys.stdout.flush()
        print(message, file=sys.stderr)

    evaluator = Evaluator(ns, show, warn)
    worst = 0
    for item in inputs(text, lambda line: is_bare_command(line, ns, _names_command)):
        if item.command:
            rc = _print_command(k, item.text, args, f"<stdin> line {item.line}")
        elif item.error is not None:
            rc = _error(_syntax_error_line(item.text, item.error))
        else:
            rc = _run_python(k, evaluator, item.text, item.line)
        if rc == 130:
            return rc
        worst = max(worst, rc)
    return worst


def _syntax_error_line(text: str, e: SyntaxError) -> str:
    """The one line for Python on stdin that does not compile: a line that
    is neither a command nor Python says so; a longer statement (a block,
    open brackets) is Python with an error."""
    where = f"<stdin> line {e.lineno}"
    if "\n" not in text.strip():
        return f"{where}: neither a kmemx command nor Python ({e.msg}): {text.strip()!r}"
    return f"{where}: SyntaxError: {e.msg}"


def _run_python(k: Any, evaluator: Evaluator, source: str, line: int) -> int:
    """One Python statement from stdin (``line``: its first line's number),
    as the REPL runs it; an exception is one ``kmemx: error: <stdin> line N:``
    line naming the line that raised it."""
    from .repl.evaluator import one_line

    k.new_epoch()  # one statement = one pass over a live kernel
    try:
        evaluator.run(source, "<stdin>", line)
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_gone()
    except KeyboardInterrupt:
        sys.stdout.flush()
        return 130
    except Exception as e:
        return _error(f"<stdin> line {_raised_at(e, line)}: {one_line(e)}"
                      f"{_not_a_command(e, source)}")
    return 0


def _not_a_command(e: Exception, source: str) -> str:
    """For a one-line input whose first word is the name Python does not
    know (``frob``, ``pss -a``): that it is no command either, and the
    commands it is close to (a crash user's typo)."""
    from .commands import REGISTRY
    from .symbols import did_you_mean

    word = source.split(None, 1)[0] if source.strip() else ""
    if not isinstance(e, NameError) or "\n" in source.strip() or e.name != word:
        return ""
    return "; not a kmemx command either" + did_you_mean(
        word, REGISTRY.names() + sorted(REGISTRY.runtime_aliases))


def _raised_at(e: BaseException, default: int) -> int:
    """The line of stdin's innermost frame in ``e``'s traceback (or ``default``)."""
    tb, at = e.__traceback__, default
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<stdin>":
            at = tb.tb_lineno
        tb = tb.tb_next
    return at


def _stdout_gone() -> None:
    """The reader of stdout went away (``kmemx ... | head``): the rest of the
    output goes nowhere, quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _print_command(k: Any, line: str, args: argparse.Namespace, where: str = "") -> int:
    """Run one command line on ``k`` and print its output; returns the exit
    status (0, 1 with one error line, EXIT_INCOMPLETE, 130 on ^C).
    ``where``: the input's place (``<stdin> line 6``), named in its error."""
    at = f"{where}: " if where else ""
    from .commands import CommandError, execute
    from .errors import KmemxError, fault_text

    out, err = sys.stdout, sys.stderr
    incomplete = False
    progress = CommandProgress()
    progress.on = progress.on and not args.json
    try:
        for text in execute(k, line, as_json=args.json, progress=progress):
            progress.close()
            if text.startswith("kmemx: warning: "):
                # integrity warnings print even with -q: the result is incomplete
                out.flush()
                err.write(text + "\n")
                incomplete = True
            else:
                out.write(text + "\n")
        out.flush()
    except BrokenPipeError:
        _stdout_gone()  # the reader went away (kmemx ... | head): stop quietly
        return 0
    except KeyboardInterrupt:
        out.flush()
        return 130
    except drgn.FaultError as e:
        return _error(at + fault_text(e))
    except (CommandError, KmemxError) as e:
        return _error(at + str(e))
    except Exception as e:  # a bug in a command: one line, not a traceback
        return _error(f"{at}{line.split(None, 1)[0]}: internal error: {type(e).__name__}: "
                      f"{_one_line(e)} (please report it with the command line)")
    finally:
        progress.close()
    return EXIT_INCOMPLETE if incomplete else 0


class _Targetless:
    """Stands in for a kernel when ``help``/``plugins`` run where none can be opened."""

    def __init__(self, why: str) -> None:
        from .readers.drgnreader import DrgnReader

        self.prog = drgn.Program()
        self.reader = DrgnReader(self.prog)
        self.target = "none"
        self.why = why


def _run_repl(args: argparse.Namespace) -> int:
    try:
        k = _open(args)
    except _Failed as e:
        return _error(str(e))
    from .repl import run

    return run(k, as_json=args.json)


def main(argv: list[str] | None = None) -> int:
    """Run ``kmemx``; returns the exit status (scripts' exceptions and
    ``sys.exit()`` propagate, as under drgn)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["doctor"]:
        from .doctor import main as doctor_main

        return doctor_main(argv[1:])
    if argv[:1] == ["triage"]:
        from .triage.cli import main as triage_main

        return triage_main(argv[1:])
    args = build_parser().parse_args(argv)
    from .commands.output import surrogate_safe

    surrogate_safe(sys.stdout)  # kernel bytes that are not UTF-8 come out as they are
    _set_log_handler()
    if args.log_level == "none":
        logger.setLevel(logging.CRITICAL + 1)
    else:
        logger.setLevel(args.log_level.upper())
    warnings.showwarning = _show_warning

    if args.exec is not None:
        return _run_code(args)
    if args.args:
        first = args.args[0]
        if first == "doctor":
            from .doctor import main as doctor_main

            return doctor_main(list(args.args[1:]))
        if not first.endswith(".py") and _is_command(first):
            return _run_command(args)
        if not first.endswith(".py") and not os.path.exists(first):
            from .commands import REGISTRY, UsageError

            try:
                REGISTRY.lookup(first.split(None, 1)[0] if first.strip() else first)
            except UsageError as e:
                return _error(f"{e}; or no such script: {first}")
        return _run_script(args)
    if args.input is not None:
        return _run_input(args)
    if not _is_tty(sys.stdin):
        return _run_stdin(args, sys.stdin.read())
    return _run_repl(args)


if __name__ == "__main__":
    sys.exit(main())
