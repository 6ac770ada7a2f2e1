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
``sys.exit()`` give the same exit status; they also get ``k``, the
:class:`~kmemx.Kernel`, whose fast reader is underneath ``prog``.  Problems
opening the target print one line, ``kmemx: error: ...``, and exit 1.
"""

from __future__ import annotations

import argparse
import builtins
import logging
import os
import pkgutil
import re
import runpy
import sys
import warnings
from typing import IO, Any, TextIO

import drgn

from .progress import CommandProgress, spinner

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
                             "one a line, as crash's -i (stdin holding only command lines "
                             "is taken that way too: kmemx -c ... < cmds)")
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
    they open the target, as drgn does."""
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
                k = kmemx.open(args.core, vmlinux, reader=args.reader, debug_info=debug_info,
                               **extra)
            else:
                k = kmemx.open_live(vmlinux, reader=args.reader, debug_info=debug_info)
    except (kmemx.KmemxError, OSError, ValueError, LookupError, drgn.FaultError) as e:
        raise _Failed(_one_line(e)) from None
    _speedups_notice()
    from .types.layoutcache import is_deferred

    if is_deferred(k.prog):
        return k  # the layout cache answers: no debug info to load (yet)
    if symbols[1:] or (debug_info and not args.no_default_symbols):
        # drgn also looks for the modules' debugging symbols and loads any
        # further -s files: do the same, so scripts see the same program;
        # its one warning per module becomes one line
        missing = _MissingModules()
        logger.addFilter(missing)
        try:
            with spinner("loading module debug info"):
                k.prog.load_debug_info(symbols[1:], default=not args.no_default_symbols)
        except drgn.MissingDebugInfoError as e:
            logger.warning("%s", e)
        except (OSError, ValueError) as e:
            raise _Failed(_one_line(e)) from None
        finally:
            logger.removeFilter(missing)
        if (missing.modules and logger.isEnabledFor(logging.WARNING)
                and not (note_once and _noted_before(args, missing.modules))):
            print(missing.summary(k), file=sys.stderr)
    return k


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


class _MissingModules(logging.Filter):
    """Collects drgn's "missing debugging symbols for MODULE" warnings (one per
    module, then a pointer to drgn's docs) instead of letting them through."""

    _ONE = re.compile(r"missing debugging symbols for (\S+)")

    def __init__(self) -> None:
        super().__init__()
        self.modules: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        m = self._ONE.match(msg)
        if m:
            self.modules.append(m.group(1))
            return False
        return not msg.startswith("missing some debugging symbols")

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
    runpy.run_path(script, init_globals={"prog": k.prog, "k": k}, run_name="__main__")
    return 0


def _run_code(args: argparse.Namespace) -> int:
    """``-e CODE`` (or Python on standard input) in the REPL's namespace.
    ``-e`` text that is not Python but starts with a kmemx command runs as
    that command line (``kmemx -c vmcore -e 'bt 1'``, as the REPL takes
    ``bt 1``); other text that is not Python is one error line, not a
    traceback.  The code's own exceptions propagate, as under drgn."""
    from .repl.namespace import build_namespace

    name, text = ("<stdin>", args.stdin_text) if args.exec is None else ("<string>", args.exec)
    line = text.strip().removeprefix("%")
    as_command = args.exec is not None and _is_command(line)
    try:
        code = compile(text, name, "exec")
    except SyntaxError as e:
        if as_command:
            args.args = [line, *args.args]
            return _run_command(args)
        where = f"line {e.lineno}" + (f", column {e.offset}" if e.offset else "")
        return _error(f"{'-e' if args.exec is not None else 'standard input'} is not Python "
                      f"({e.msg}, {where}) and does not start with a kmemx command")
    try:
        k = _open(args)
    except _Failed as e:
        return _error(str(e))
    drgn.set_default_prog(k.prog)
    sys.path.insert(0, "")
    ns = build_namespace(k)
    if as_command and line.split()[0] not in ns and line.split()[0] not in dir(builtins):
        return _print_command(k, _command_line([line, *args.args]), args)  # -e ps
    if args.exec is None:
        sys.argv = [""]
        ns["__file__"] = "<stdin>"
    else:
        sys.argv = ["-e", *args.args]
    exec(code, ns)
    return 0


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
    from .commands import REGISTRY, load_plugins

    load_plugins()
    name = word.split(None, 1)[0] if word.strip() else word
    try:
        REGISTRY.lookup(name)
        return True
    except Exception:
        return False


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


def _print_command(k: Any, line: str, args: argparse.Namespace) -> int:
    """Run one command line on ``k`` and print its output; returns the exit
    status (0, 1 with one error line, EXIT_INCOMPLETE, 130 on ^C)."""
    from .commands import CommandError, execute
    from .errors import KmemxError

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
        # the reader went away (kmemx ... | head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        out.flush()
        return 130
    except (CommandError, KmemxError, drgn.FaultError) as e:
        return _error(str(e))
    except Exception as e:  # a bug in a command: one line, not a traceback
        return _error(f"{line.split(None, 1)[0]}: internal error: {type(e).__name__}: "
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
        # crash's habit, kmemx -c ... < cmds: command lines run as commands;
        # anything else is a Python script, as under drgn
        args.stdin_text = sys.stdin.read()
        lines, bad = _command_lines(args.stdin_text)
        if lines and bad is None:
            return _run_command_lines(args, lines)
        try:
            compile(args.stdin_text, "<stdin>", "exec")
        except SyntaxError as e:
            if lines and _is_command(lines[0]):
                # command lines with a typo among them: each runs, as crash
                # runs them, and the bad one says it is not a command
                return _run_command_lines(args, lines)
            return _error(f"<stdin> line {e.lineno}: {e.msg}: neither Python nor kmemx "
                          f"command lines ({bad!r} is not a command)")
        return _run_code(args)
    return _run_repl(args)


if __name__ == "__main__":
    sys.exit(main())
