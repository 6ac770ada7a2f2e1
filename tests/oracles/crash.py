"""The ``crash`` utility as an independent oracle for kmemx's vmcore tests.

crash (https://crash-utility.github.io) is a separate implementation of kernel
dump analysis (its own ELF/kdump readers, page-table walks and struct layouts
via an embedded gdb), so agreement between crash, kmemx and the guest's own
/proc snapshot (the fixture's manifest.json) is strong evidence.

bookworm's crash 8.0.2 misreads the test bed's kernels, so a crash >= 8.0.4 is
required; ``scripts/build-crash`` builds 8.0.6 from Debian trixie's source
package, and on request sid's 9.0.2 (newer kernels; it does not open 7.2.13) and
builds that read arm64 dumps (``--target ARM64``).  Which one reads a dump is
found by trying them (:func:`crash_for`), never from the kernel's version.
crash can hang rather than fail, so :func:`run_crash` always runs it under a
hard timeout.

Typical use::

    crash = find_crash()
    out = run_crash_commands(vmlinux, vmcore, ["ps", "mod"])
    tasks = parse_ps(out["ps"])
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

__all__ = [
    "ARM64_LAST_FRAMES",
    "MIN_VERSION",
    "CrashCannotRead",
    "CrashError",
    "CrashTimeout",
    "as_crash_806",
    "chosen_crash",
    "crash_for",
    "crash_outputs",
    "crash_symbol_names",
    "crash_version",
    "default_tools_dir",
    "find_crash",
    "find_crashes",
    "kmem_i_text",
    "maple_text_as_806",
    "parse_addresses",
    "parse_bt",
    "parse_files",
    "parse_kmem_address",
    "parse_kmem_i",
    "parse_kmem_s",
    "parse_list_members",
    "parse_log",
    "parse_mod",
    "parse_mount",
    "parse_ps",
    "parse_rd",
    "parse_struct_members",
    "parse_struct_offsets",
    "parse_struct_size",
    "parse_sym",
    "parse_sym_l",
    "parse_sys",
    "parse_vm",
    "run_crash",
    "run_crash_commands",
    "without_gdb16_symbols",
]

#: Oldest crash that reads the test bed's kernels (8.0.4 fixed the ``struct pid``
#: flex-array change backported to 6.1.y, without which ``ps`` shows 2 tasks).
MIN_VERSION = (8, 0, 4)
#: The version that ``scripts/build-crash`` builds.
BUILT_VERSION = "8.0.6"

_VERSION_RE = re.compile(r"^crash (\d+)\.(\d+)\.(\d+)", re.MULTILINE)
_SEPARATOR = "@@KMEMX-CRASH-ORACLE-{}@@"


class CrashError(RuntimeError):
    """crash failed: it exited non-zero, or could not be started.  ``output``
    is all that crash printed before it exited ("" when it did not run)."""

    output: str = ""


class CrashTimeout(CrashError):
    """crash did not finish within the timeout and was killed."""


class CrashCannotRead(CrashError):
    """No crash found here opens this dump (its session does not start): the
    kernel is newer than every crash built here knows.  The message is one
    line: each crash tried and how it failed."""


def default_tools_dir() -> Path:
    """Where ``scripts/build-crash`` installs its build: ``$KMEMX_TOOLS`` or
    ``~/.cache/kmemx/tools``."""
    env = os.environ.get("KMEMX_TOOLS")
    return Path(env) if env else Path.home() / ".cache" / "kmemx" / "tools"


@functools.cache
def crash_version(binary: Path) -> tuple[int, int, int] | None:
    """The version that ``binary --version`` reports, or None if it does not run."""
    try:
        proc = subprocess.run([str(binary), "--version"], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = _VERSION_RE.search(proc.stdout)
    if proc.returncode != 0 or not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def _candidates() -> list[Path]:
    """``$KMEMX_CRASH``, the build of ``scripts/build-crash``, ``crash`` on PATH:
    the binaries :func:`find_crash` tries, in order (unchecked)."""
    candidates: list[Path] = []
    env = os.environ.get("KMEMX_CRASH")
    if env:
        candidates.append(Path(env))
    candidates.append(default_tools_dir() / f"crash-{BUILT_VERSION}" / "crash")
    on_path = shutil.which("crash")
    if on_path:
        candidates.append(Path(on_path))
    return candidates


def find_crashes() -> list[Path]:
    """Every crash binary that is new enough (>= :data:`MIN_VERSION`), in the
    order :func:`find_crash` tries them, then newer builds cached next to
    :data:`BUILT_VERSION`'s (``$KMEMX_TOOLS/crash-<version>/crash``, oldest
    first) for kernels the first cannot read."""
    candidates = _candidates()
    builds = sorted(default_tools_dir().glob("crash-*/crash"),
                    key=lambda p: crash_version(p) or (0, 0, 0))
    out: list[Path] = []
    for path in [*candidates, *builds]:
        version = crash_version(path) if path.is_file() else None
        if version is not None and version >= MIN_VERSION and path not in out:
            out.append(path)
    return out


@functools.cache
def _crash_for(vmlinux: str, vmcore: str) -> Path | str:
    chosen = _CHOSEN.get((vmlinux, vmcore))
    if chosen is not None:  # crash_outputs found it first
        return chosen
    reasons = []
    for binary in find_crashes():
        version = ".".join(map(str, crash_version(binary) or ()))
        known = _UNREADABLE.get((str(binary), vmlinux, vmcore))
        if known is not None:
            reasons.append(f"crash {version}: {known}")
            continue
        try:
            # _PROBE_TIMEOUT: a session that only starts slowly (crash 8.0.6 on 6.12
            # took over 120 s at load 12) is not a crash that cannot read the dump
            run_crash(vmlinux, vmcore, ["sys"], timeout=_PROBE_TIMEOUT, crash=binary)
        except CrashTimeout as e:
            reasons.append(f"crash {version}: {e}")
            continue
        except CrashError as e:
            _UNREADABLE[(str(binary), vmlinux, vmcore)] = CrashCannotRead(str(e))
            reasons.append(f"crash {version}: {e}")
            continue
        _CHOSEN[(vmlinux, vmcore)] = binary
        return binary
    if not reasons:
        return (f"no crash >= {'.'.join(map(str, MIN_VERSION))} found "
                "(run scripts/build-crash, or set KMEMX_CRASH)")
    return "; ".join(reasons) + _target_hint(vmlinux, find_crashes())


def crash_for(vmlinux: os.PathLike[str] | str, vmcore: os.PathLike[str] | str) -> Path:
    """The first crash of :func:`find_crashes` whose session starts on this
    dump (``sys`` runs), remembered per dump for the test session.

    :raises CrashCannotRead: none does (the message: each one's failure)
    """
    got = _crash_for(str(vmlinux), str(vmcore))
    if isinstance(got, str):
        raise CrashCannotRead(got)
    return got


def find_crash() -> Path | None:
    """A crash binary that is new enough (>= :data:`MIN_VERSION`), or None.

    Tried in order: ``$KMEMX_CRASH``, the build of ``scripts/build-crash``
    (``$KMEMX_TOOLS/crash-8.0.6/crash``), then ``crash`` on PATH (bookworm's
    8.0.2 is rejected by the version check; trixie's 8.0.6 would do).
    """
    candidates = _candidates()
    for path in candidates:
        version = crash_version(path) if path.is_file() else None
        if version is not None and version >= MIN_VERSION:
            return path
    return None


def _elf_machine(vmlinux: str) -> int | None:
    """The ELF ``e_machine`` of ``vmlinux`` (62 x86-64, 183 AArch64), or None."""
    try:
        with open(vmlinux, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    return int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")


def _target_hint(vmlinux: str, binaries: Sequence[Path]) -> str:
    """For an arm64 kernel and no ``--target ARM64`` build among
    ``binaries`` (``$KMEMX_TOOLS/crash-VERSION-arm64/crash``): what to run,
    as the end of the one-line reason; else ""."""
    if _elf_machine(vmlinux) != 183 or any(b.parent.name.endswith("-arm64") for b in binaries):
        return ""
    return " (crash reads one architecture and no ARM64 build is here: " \
        "scripts/build-crash --target ARM64)"


def _tail(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:]) if lines else "(no output)"


def run_crash(vmlinux: os.PathLike[str] | str, vmcore: os.PathLike[str] | str,
              commands: Sequence[str], timeout: float = 120, *,
              crash: os.PathLike[str] | str | None = None,
              env: Mapping[str, str] | None = None) -> str:
    """Run ``crash -s vmlinux vmcore`` in batch mode and return its output.

    ``commands`` are fed on stdin, followed by ``quit``. stdout and stderr are
    merged (crash reports command errors as ``crash: ...`` lines in the output,
    which the caller can look for); ``env`` adds to crash's environment. The
    whole process group is killed after
    ``timeout`` seconds and :class:`CrashTimeout` raised; a non-zero exit (crash
    could not open the dump) raises :class:`CrashError`.
    """
    binary = Path(crash) if crash is not None else find_crash()
    if binary is None:
        raise CrashError(f"no crash >= {'.'.join(map(str, MIN_VERSION))} found "
                         "(run scripts/build-crash, or set KMEMX_CRASH)")
    script = "".join(f"{c}\n" for c in commands) + "quit\n"
    argv = [str(binary), "-s", "--no_crashrc", "--no_scroll", str(vmlinux), str(vmcore)]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace",
                                start_new_session=True,
                                env={**os.environ, **env} if env else None)
    except OSError as e:
        raise CrashError(f"cannot run {binary}: {e}") from None
    try:
        out, _ = proc.communicate(script, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        partial, _ = proc.communicate()
        raise CrashTimeout(
            f"crash did not finish {commands!r} on {vmcore} within {timeout:g}s and was "
            f"killed; last output: {_tail(partial or '')}") from None
    if proc.returncode != 0:
        m = re.search(r"machine type mismatch:\s+crash utility: (\S+)\s+\S+: (\S+)", out)
        why = (f"machine type mismatch: this crash reads {m.group(1)}, the dump is "
               f"{m.group(2)}" if m else _tail(out))
        error = CrashError(f"crash exited with status {proc.returncode} on {vmcore}: {why}")
        error.output = out
        raise error
    return out


def run_crash_commands(vmlinux: os.PathLike[str] | str, vmcore: os.PathLike[str] | str,
                       commands: Sequence[str], timeout: float = 120, *,
                       crash: os.PathLike[str] | str | None = None,
                       env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Like :func:`run_crash` in one crash session, but return each command's own
    output, keyed by the command (crash's ``echo`` writes a separator between them).
    Without ``crash``: the crash of :func:`crash_for` (CrashCannotRead if none)."""
    if crash is None:
        crash = crash_for(vmlinux, vmcore)
    script: list[str] = []
    for i, command in enumerate(commands):
        script += [f"echo {_SEPARATOR.format(i)}", command]
    out = run_crash(vmlinux, vmcore, script, timeout, crash=crash, env=env)
    results: dict[str, str] = {}
    marks = [(i, out.find(_SEPARATOR.format(i) + "\n")) for i in range(len(commands))]
    for i, (_, pos) in enumerate(marks):
        if pos < 0:
            raise CrashError(f"crash output has no separator before {commands[i]!r}: {_tail(out)}")
        start = pos + len(_SEPARATOR.format(i)) + 1
        end = marks[i + 1][1] if i + 1 < len(marks) else len(out)
        results[commands[i]] = out[start:end]
    return results


#: seconds :func:`crash_for` lets a crash take to start its session and run ``sys``:
#: under pytest-timeout's 600 s per test (pyproject.toml), so that a crash too
#: slow to start is recorded once as a reason (functools.cache) instead of the
#: test being killed and the next one probing again (at load 12 crash 8.0.6
#: took over 120 s on the 6.12 ELF dump; the ARM64 build over 600 s on arm64
#: 6.1 beside a whole test run)
_PROBE_TIMEOUT = 420

#: (crash binary, vmlinux, vmcore) -> command -> its output, for the test session
_SESSIONS: dict[tuple[str, str, str], dict[str, str]] = {}
#: (crash binary, vmlinux, vmcore) -> why that crash cannot open that dump
_UNREADABLE: dict[tuple[str, str, str], CrashCannotRead] = {}
#: (vmlinux, vmcore) -> the crash that :func:`crash_outputs` chose for that dump
_CHOSEN: dict[tuple[str, str], Path] = {}


def _sets_context(command: str) -> bool:
    """Whether a crash command line changes the session's current context."""
    return command.split(None, 1)[:1] == ["set"]


def crash_outputs(vmlinux: os.PathLike[str] | str, vmcore: os.PathLike[str] | str,
                  commands: Sequence[str], timeout: float = 300, *,
                  crash: os.PathLike[str] | str | None = None) -> dict[str, str]:
    """Each command's output, from one crash session per dump for the whole test
    run: commands already run on this dump come from the cache, the others run
    together in one new session (crash's start-up, ~7 s, is the cost). crash runs
    with ``TZ=UTC``, so that its DATE does not depend on the machine, and
    ``LC_ALL=C``, so that its gdb prints bytes 0x80-0xff of strings as octal
    escapes whatever the test's locale (a UTF-8 locale decodes valid UTF-8
    as characters), as kmemx does (plugins/lists.py ``_gdb_string``).

    Without ``crash``, the first crash of :func:`find_crashes` whose session
    starts on this dump (8.0.6 on the 5.10-6.12 kernels; a newer build for
    kernels it cannot follow (crash 9.0.2 does not open 7.2.13 either); the
    ``--target ARM64`` builds on arm64 dumps): a build that cannot open the dump is remembered
    and skipped at once in later calls.

    :raises CrashCannotRead: no crash here opens the dump (each one's reason)
    :raises CrashTimeout: the session did not finish within ``timeout`` seconds
    :raises CrashError: the session started but crash failed
    """
    if crash is not None:
        return _crash_outputs(Path(crash), vmlinux, vmcore, commands, timeout)
    binaries = find_crashes()
    if not binaries:
        raise CrashError("no crash found (run scripts/build-crash, or set KMEMX_CRASH)")
    chosen = _CHOSEN.get((str(vmlinux), str(vmcore)))
    if chosen is not None:
        return _crash_outputs(chosen, vmlinux, vmcore, commands, timeout)
    reasons = []
    for binary in binaries:
        try:
            out = _crash_outputs(binary, vmlinux, vmcore, commands, timeout)
        except CrashCannotRead as e:
            version = ".".join(map(str, crash_version(binary) or ()))
            reasons.append(f"crash {version}: {e}")
            continue
        _CHOSEN[(str(vmlinux), str(vmcore))] = binary
        return out
    raise CrashCannotRead("; ".join(reasons) + _target_hint(str(vmlinux), binaries))


def chosen_crash(vmlinux: os.PathLike[str] | str, vmcore: os.PathLike[str] | str
                 ) -> Path | None:
    """The crash :func:`crash_outputs` chose for this dump, None before it ran."""
    return _CHOSEN.get((str(vmlinux), str(vmcore)))


def _crash_outputs(binary: Path, vmlinux: os.PathLike[str] | str,
                   vmcore: os.PathLike[str] | str, commands: Sequence[str],
                   timeout: float) -> dict[str, str]:
    """:func:`crash_outputs` with this crash binary."""
    key = (str(binary), str(vmlinux), str(vmcore))
    if key in _UNREADABLE:
        raise _UNREADABLE[key]
    cache = _SESSIONS.setdefault(key, {})
    todo = list(dict.fromkeys(c for c in commands if c not in cache))
    if any(not _sets_context(c) for c in todo):
        # a command after "set PID" reads that context: the set lines run again
        # in the new session, in their places (another module's session may
        # have run the same "set" line, whose output alone is cached)
        todo = list(dict.fromkeys(c for c in commands if c not in cache or _sets_context(c)))
    if todo:
        try:
            cache.update(run_crash_commands(vmlinux, vmcore, todo, timeout, crash=binary,
                                            env={"TZ": "UTC", "LC_ALL": "C"}))
        except CrashTimeout:
            raise
        except CrashError as e:
            # A session that does not even start (crash 8.0.6 on 7.2: 22 s of
            # CPU, 2-3 min at load 10, to fail in kmem_cache_init()) is
            # remembered, so that each later test on this dump skips at once; a
            # session that dies on one of these commands is not (``sys`` alone
            # still runs).  One that never reached the first command's
            # separator did not start: no second session to find that out.
            if _SEPARATOR.format(0) not in e.output:
                _UNREADABLE[key] = CrashCannotRead(str(e))
                raise _UNREADABLE[key] from None
            try:
                run_crash(vmlinux, vmcore, ["sys"], timeout=120, crash=binary)
            except CrashTimeout:
                pass
            except CrashError:
                _UNREADABLE[key] = CrashCannotRead(str(e))
                raise _UNREADABLE[key] from None
            raise
    version = crash_version(binary) or MIN_VERSION
    return {c: as_crash_806(c, cache[c], version) for c in commands}


# ------------------------------------------------- crash 9.x spelled as 8.0.6

_MAPLE_RANGE = re.compile(r"^(\s*)([0-9a-f]+)(?:-([0-9a-f]+))?: (.*)$")
_MAPLE_INDEX = re.compile(r"^  index: ([0-9a-f]+)  position: (.*)$")


def _maple_contents(text: str, radix: int) -> str:
    """A maple node's `` contents: `` list (``-v``) with its pivots and gaps
    in decimal: the numbers that are not ``%p`` pointers (``0x...``,
    ``(nil)``), but the two metadata bytes between ``|``s of an arange node."""
    if radix == 10:
        return text

    def dec(words: str) -> str:
        return " ".join(w if w.startswith("0x") or w == "(nil)" or not w else str(int(w, 16))
                        for w in words.split(" "))

    parts = text.split("|")
    if len(parts) == 3:  # gaps | meta gap | slots and pivots
        return "|".join((dec(parts[0]), parts[1], dec(parts[2])))
    return dec(text)


def maple_text_as_806(text: str, radix: int) -> str:
    """crash 9.x's ``tree -t maple`` text as crash 8.0.6 prints it.

    crash commit 8510483 ("maple_tree: add support for maple_tree.c output to
    respect the global radix and per-command -x/d flags", first in 9.0.0)
    prints the ranges, pivots, gaps, ``index:`` and the entries in the
    command's radix (``radix``: 16 with ``-x``, else 10): an entry as ``%lu``
    in radix 10 (``0`` for NULL), a value as ``value N [0x...]``.  8.0.6, which
    kmemx follows, prints ranges, pivots, gaps and indices in decimal, an
    entry as ``0x%lx`` (``%lx`` without ``-v``), a value as ``value N (0xN)
    [0x...]`` and zero entries as ``zero (N)``.  The numbers are the same; only
    their spelling differs, which this undoes line by line.
    """
    base = 16 if radix == 16 else 10
    out = []
    for line in text.split("\n"):
        m = _MAPLE_RANGE.match(line)
        if m:
            lo, hi = (str(int(x, base)) if x is not None else None for x in m.group(2, 3))
            rest = m.group(4)
            if rest.startswith("node "):
                head, sep, contents = rest.partition(" contents: ")
                rest = head + sep + _maple_contents(contents, radix) if sep else rest
            elif rest.startswith("value "):
                v, raw = rest[len("value "):].split(" ", 1)
                n = int(v, 0)
                rest = f"value {n} ({n:#x}) {raw}"
            elif rest.startswith("zero ("):
                rest = f"zero ({int(rest[6:-1], 0)})"
            elif not rest.startswith("UNKNOWN"):
                rest = f"{int(rest, 0):#x}"
            out.append(f"{m.group(1)}{lo}{'' if hi is None else '-' + hi}: {rest}")
            continue
        m = _MAPLE_INDEX.match(line)
        if m:
            out.append(f"  index: {int(m.group(1), base)}  position: {m.group(2)}")
            continue
        if base == 10 and re.fullmatch(r"\d+", line):  # an entry without -v
            out.append(f"{int(line):x}")
            continue
        out.append(line)
    return "\n".join(out)


_GDB16_SYMBOL = re.compile(r"(0x[0-9a-f]+) <([\w.]+)(?:\+(\d+))?>")


def without_gdb16_symbols(theirs: list[str], ours: list[str],
                          symbol_address: Callable[[str], int]) -> list[str]:
    """crash 9.x's ``p``/``struct`` lines as 8.0.6 prints them, against
    kmemx's ``ours`` (the same number of lines): gdb 16 prints the symbol a
    ``void *`` points at (``stack = 0xffffffffba800000
    <init_thread_union>``) and the address and symbol of a variable a header
    declares as an incomplete array before its string (``linux_banner = $1
    = 0xffffffffb9bd0e60 <linux_banner> "Linux version..."``); gdb 10 and
    kmemx print neither.  A line of ``theirs`` loses such an annotation only
    where that makes it ``ours``'s line and the annotation names the value
    exactly (``symbol_address(name) + offset``, drgn's symbol); every other
    line stays as crash printed it."""
    if len(theirs) != len(ours):
        return theirs
    out = []
    for t, o in zip(theirs, ours):
        if t != o:
            def drop(m: re.Match[str]) -> str:
                try:
                    exact = symbol_address(m.group(2)) + int(m.group(3) or 0) == int(m.group(1), 16)
                except LookupError:
                    exact = False
                return m.group(1) if exact else m.group(0)

            plain = _GDB16_SYMBOL.sub(drop, t)
            string = re.sub(r'= 0x[0-9a-f]+ "', '= "', plain)
            t = next((x for x in (plain, string) if x == o), t)
        out.append(t)
    return out


def as_crash_806(command: str, text: str, version: tuple[int, int, int]) -> str:
    """``command``'s output ``text`` from crash ``version`` as crash 8.0.6,
    the version kmemx's text follows, spells it: the written exceptions
    for a newer crash's spelling (not its numbers), each with the crash
    commit that changed it.  Only :func:`maple_text_as_806` now."""
    words = command.split()
    if version >= (9, 0, 0) and words[:1] == ["tree"] and "maple" in words:
        return maple_text_as_806(text, 16 if "-x" in words else 10)
    return text


#: crash-arm64 ends a backtrace after a frame of these functions (arm64.c
#: arm64_print_stackframe_entry(): BACKTRACE_COMPLETE_KERNEL), where x86-64
#: crash and drgn go on to the bottom frame (ret_from_fork, __primary_switched)
ARM64_LAST_FRAMES = ("start_kernel", "secondary_start_kernel", "kthread", "kthreadd")


# ---------------------------------------------------------------- parsers

_PS_RE = re.compile(
    r"^(?P<mark>[>*]?)\s*(?P<pid>\d+)\s+(?P<ppid>\d+)\s+(?P<cpu>\d+|-)\s+"
    r"(?P<task>[0-9a-f]+)\s+(?P<st>[A-Z]{2})\s+(?P<mem>[\d.]+)\s+(?P<vsz>\d+)\s+"
    r"(?P<rss>\d+)\s+(?P<comm>.*?)\s*$"
)


def parse_ps(text: str) -> list[dict[str, Any]]:
    """Parse crash's default ``ps`` table.

    Columns: ``PID PPID CPU TASK ST %MEM VSZ RSS COMM``. Each row becomes
    ``{pid, ppid, cpu, task, state, mem, vsz, rss, comm, kthread, active}``:
    ``comm`` is task->comm without the brackets crash puts around kernel threads
    (``kthread`` is True for those), ``active`` is crash's leading ``>`` (the
    task running on its CPU at the time of the dump, or the panic task), and
    ``cpu`` is None when crash prints ``-``. Every thread has a row, and the idle
    task (pid 0, ``swapper/N``) has one row per CPU, so pids are not unique.
    """
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        m = _PS_RE.match(line)
        if not m:
            continue
        comm = m.group("comm")
        kthread = len(comm) >= 2 and comm.startswith("[") and comm.endswith("]")
        rows.append({
            "pid": int(m.group("pid")),
            "ppid": int(m.group("ppid")),
            "cpu": None if m.group("cpu") == "-" else int(m.group("cpu")),
            "task": int(m.group("task"), 16),
            "state": m.group("st"),
            "mem": float(m.group("mem")),
            "vsz": int(m.group("vsz")),
            "rss": int(m.group("rss")),
            "comm": comm[1:-1] if kthread else comm,
            "kthread": kthread,
            "active": m.group("mark") != "",
        })
    return rows


_HEX = re.compile(r"^[0-9a-f]{8,16}$")


def parse_mount(text: str) -> list[dict[str, Any]]:
    """Parse crash's ``mount`` table: ``MOUNT SUPERBLK TYPE DEVNAME DIRNAME``.

    Rows become ``{mount, superblk, type, devname, dirname}`` (the first two
    are addresses); DIRNAME may contain spaces, so it is the rest of the line.
    """
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        parts = line.split(None, 4)
        if len(parts) < 5 or not (_HEX.match(parts[0]) and _HEX.match(parts[1])):
            continue
        rows.append({
            "mount": int(parts[0], 16),
            "superblk": int(parts[1], 16),
            "type": parts[2],
            "devname": parts[3],
            "dirname": parts[4].rstrip(),
        })
    return rows


def parse_mod(text: str) -> list[dict[str, Any]]:
    """Parse crash's ``mod`` table: ``MODULE NAME BASE SIZE OBJECT FILE`` (BASE is
    TEXT_BASE from 6.4 on).

    Rows become ``{module, name, base, size, object_file}``; ``module`` is the
    address of struct module, ``base`` that of the module's core text (None
    for crash versions that print no BASE column), ``object_file`` is the rest
    of the line as printed, e.g. ``(not loaded)  [CONFIG_KALLSYMS]`` when no
    module debuginfo was loaded.
    """
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        parts = line.split(None, 4)
        if len(parts) < 3 or not _HEX.match(parts[0]):
            continue
        if len(parts) >= 4 and _HEX.match(parts[2]) and parts[3].isdigit():
            base: int | None = int(parts[2], 16)
            size, rest = int(parts[3]), (parts[4] if len(parts) > 4 else "")
        elif parts[2].isdigit():
            base, size = None, int(parts[2])
            rest = line.split(None, 3)[3] if len(parts) > 3 else ""
        else:
            continue
        rows.append({
            "module": int(parts[0], 16),
            "name": parts[1],
            "base": base,
            "size": size,
            "object_file": rest.strip(),
        })
    return rows


_SYS_RE = re.compile(r"^\s*([A-Z][A-Z ]*[A-Z]):\s?(.*)$")


def parse_sys(text: str) -> dict[str, str]:
    """Parse crash's ``sys`` (and start-up banner) ``KEY: value`` lines.

    Keys are as crash prints them (``KERNEL``, ``DUMPFILE``, ``CPUS``, ``DATE``,
    ``UPTIME``, ``LOAD AVERAGE``, ``TASKS``, ``NODENAME``, ``RELEASE``,
    ``VERSION``, ``MACHINE``, ``MEMORY``, ``PANIC``); values are stripped but
    otherwise raw (e.g. ``PANIC`` keeps its quotes, ``DUMPFILE`` may end with
    ``[PARTIAL DUMP]``). The first occurrence of a key wins.
    """
    info: dict[str, str] = {}
    for line in text.splitlines():
        m = _SYS_RE.match(line)
        if m and m.group(1) not in info:
            info[m.group(1)] = m.group(2).strip()
    return info


_SIZE_RE = re.compile(r"^(\d+)([kKmM]?)$")


def _ssize(text: str) -> int:
    m = _SIZE_RE.match(text)
    if not m:
        raise ValueError(f"bad slab size {text!r}")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1 << 20}[m.group(2).lower()]


_KMEM_S_RE = re.compile(
    r"^(?P<cache>[0-9a-f]{8,16})\s+(?P<objsize>\d+)\s+(?P<allocated>\d+)\s+(?P<total>\d+)\s+"
    r"(?P<slabs>\d+)\s+(?P<ssize>\d+[kKmM]?)\s+(?P<name>\S.*?)\s*$"
)


def parse_kmem_s(text: str) -> list[dict[str, Any]]:
    """Parse crash's ``kmem -s`` table: ``CACHE OBJSIZE ALLOCATED TOTAL SLABS SSIZE NAME``.

    Rows become ``{cache, objsize, allocated, total, slabs, ssize, name}`` with
    ``ssize`` (slab size, printed as e.g. ``32k``) in bytes. Lines that are not
    table rows (crash's per-cache warnings) are skipped.
    """
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        m = _KMEM_S_RE.match(line)
        if not m:
            continue
        rows.append({
            "cache": int(m.group("cache"), 16),
            "objsize": int(m.group("objsize")),
            "allocated": int(m.group("allocated")),
            "total": int(m.group("total")),
            "slabs": int(m.group("slabs")),
            "ssize": _ssize(m.group("ssize")),
            "name": m.group("name"),
        })
    return rows


_LOG_RE = re.compile(r"^\[\s*(\d+\.\d+)\]\s?(.*)$")


def parse_log(text: str) -> list[tuple[float, str]]:
    """Parse crash's ``log`` output into ``(seconds, text)`` records.

    Continuation lines without a ``[timestamp]`` prefix are appended to the
    previous record's text with a newline; crash indents them by the width of
    the ``[    0.000000] `` prefix, and that indentation is removed.
    """
    records: list[tuple[float, str]] = []
    indent = 0
    for line in text.splitlines():
        m = _LOG_RE.match(line)
        if m:
            records.append((float(m.group(1)), m.group(2)))
            indent = m.start(2)
        elif records and line.strip():
            ts, prev = records[-1]
            body = line[indent:] if line[:indent].strip() == "" else line
            records[-1] = (ts, prev + "\n" + body)
    return records


_FILES_RE = re.compile(
    r"^\s*(?P<fd>\d+)\s+(?P<file>[0-9a-f]{8,16})\s+(?P<dentry>[0-9a-f]{8,16})\s+"
    r"(?P<inode>[0-9a-f]{8,16})\s+(?P<type>[A-Z]+)\s*(?P<path>.*?)\s*$")


def parse_files(text: str) -> list[dict[str, Any]]:
    """Parse the open-file table of crash's ``files PID``:
    ``FD FILE DENTRY INODE TYPE PATH`` (the PID/ROOT/CWD header lines are skipped).
    Rows become ``{fd, file, dentry, inode, type, path}``."""
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        m = _FILES_RE.match(line)
        if m:
            rows.append({"fd": int(m.group("fd")), "file": int(m.group("file"), 16),
                         "dentry": int(m.group("dentry"), 16),
                         "inode": int(m.group("inode"), 16), "type": m.group("type"),
                         "path": m.group("path")})
    return rows


_BT_RE = re.compile(r"^\s*#(?P<n>\d+)\s+\[(?P<sp>[0-9a-f]+)\]\s+(?P<func>\S+)\s+at\s+"
                    r"(?P<pc>[0-9a-f]+)")


def parse_bt(text: str) -> list[dict[str, Any]]:
    """Parse the frames of crash's ``bt``: `` #N [SP] FUNCTION at PC``; register
    dumps and ``[exception RIP: ...]`` lines are skipped. Rows become
    ``{n, sp, func, pc}``."""
    return [{"n": int(m.group("n")), "sp": int(m.group("sp"), 16), "func": m.group("func"),
             "pc": int(m.group("pc"), 16)}
            for m in map(_BT_RE.match, text.splitlines()) if m]


_SYM_RE = re.compile(r"^(?P<addr>[0-9a-f]{8,16}) \((?P<type>.)\) (?P<name>[^\s+]+)"
                     r"(?:\+(?P<off>0x[0-9a-f]+|\d+))?(?: \[(?P<module>[^\]]+)\])?")


_SYM_L_RE = re.compile(r"^(?P<addr>[0-9a-f]{16}) \((?P<type>.)\) (?P<name>.+?)\s*$")


def parse_sym_l(text: str) -> list[dict[str, Any]]:
    """crash's ``sym -l`` lines of the kernel image, before its first
    ``MODULE ... START`` line: ``{address, type, name}``, the name the rest
    of the line (crash 9's demangled Rust names have spaces:
    ``core::option::Option<usize>, ...``)."""
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        if re.match(r"^[0-9a-f]{16} MODULE .*START: ", line):
            break
        m = _SYM_L_RE.match(line)
        if m is None:
            continue
        rows.append({"address": int(m.group("addr"), 16), "type": m.group("type"),
                     "name": m.group("name")})
    return rows


def crash_symbol_names(names: Sequence[str], rust: bool) -> list[str]:
    """Each ELF symbol name as crash's symbol table stores it: its clone
    suffix cut (symbols.c strip_symbol_end(): at the first of ``.isra.``,
    ``.part.``, ``.llvm.`` found, tried in that order:
    ``f.part.0.isra.0`` is ``f.part.0``) and, with ``rust`` (crash 9.0.1
    on, a5942e3 "Enable demangling a mangled Rust support"), a Rust name
    demangled from its first ``_R`` or ``_ZN`` on, what is before kept
    (rust_demangle_symbol(): ``__kstrtab_<kernel::cpumask::CpumaskVar>::new_zero``),
    by libiberty's rust_demangle() as crash (``c++filt -i -s rust``)."""
    out = []
    for name in names:
        for cut in (".isra.", ".part.", ".llvm."):
            if cut in name:
                name = name[:name.index(cut)]
                break
        out.append(name)
    if not rust:
        return out
    from kmemx.demangle import demangle_rust

    at = []
    for name in out:
        found = [i for i in (name.find("_R"), name.find("_ZN")) if i >= 0]
        at.append(found[0] if found else -1)
    todo = [i for i, a in enumerate(at) if a >= 0]
    readable = demangle_rust([out[i][at[i]:] for i in todo])
    for i, d in zip(todo, readable):
        if d is not None:
            out[i] = out[i][:at[i]] + d
    return out


def parse_sym(text: str) -> list[dict[str, Any]]:
    """Parse crash's ``sym`` lines: ``ADDR (T) NAME[+OFF] [MODULE] [FILE: LINE]``.
    Rows become ``{address, type, name, offset, module}`` (offset 0 when none)."""
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        m = _SYM_RE.match(line)
        if m:
            rows.append({"address": int(m.group("addr"), 16), "type": m.group("type"),
                         "name": m.group("name"),
                         "offset": int(m.group("off"), 0) if m.group("off") else 0,
                         "module": m.group("module")})
    return rows


_RD_RE = re.compile(r"^(?P<addr>[0-9a-f]{8,16}):  (?P<words>(?:[0-9a-f]+ )*[0-9a-f]+)"
                    r"(?:   (?P<ascii>.*))?$")


def parse_rd(text: str) -> list[dict[str, Any]]:
    """Parse crash's ``rd`` lines: ``ADDR:  WORD WORD ...   ASCII`` (the ASCII
    column, after three spaces, may begin and end with blanks). Rows become
    ``{address, words: [int], ascii}`` (ascii None when crash printed none)."""
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        m = _RD_RE.match(line.rstrip("\n"))
        if m:
            rows.append({"address": int(m.group("addr"), 16),
                         "words": [int(w, 16) for w in m.group("words").split()],
                         "ascii": m.group("ascii")})
    return rows


_MEMBER_RE = re.compile(r"^\s+(?P<name>[\w.\[\]]+) = (?P<value>.*?),?$")


def parse_struct_members(text: str) -> dict[str, str]:
    """Parse ``struct NAME.m1,m2 ADDR``: ``  m1 = VALUE,`` lines -> {m1: VALUE}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _MEMBER_RE.match(line)
        if m and m.group("name") not in out:
            out[m.group("name")] = m.group("value")
    return out


_OFFSET_RE = re.compile(r"^\s+\[(?P<off>0x[0-9a-f]+|\d+)\]\s+(?P<decl>.*?);?$")


def parse_struct_offsets(text: str) -> list[tuple[int, str]]:
    """Parse ``struct -o NAME``: ``   [OFFSET] TYPE NAME;`` lines -> [(offset,
    member name)], the name being the declaration's last identifier."""
    out: list[tuple[int, str]] = []
    for line in text.splitlines():
        m = _OFFSET_RE.match(line)
        if m:
            names = re.findall(r"[A-Za-z_]\w*", re.sub(r"\[.*?\]|:\s*\d+", "", m.group("decl")))
            if names:
                out.append((int(m.group("off"), 0), names[-1]))
    return out


def parse_struct_size(text: str) -> int | None:
    """The ``SIZE: N`` line that ends crash's ``struct``/``whatis`` of a type."""
    m = re.search(r"^SIZE: (0x[0-9a-f]+|\d+)$", text, re.MULTILINE)
    return int(m.group(1), 0) if m else None


_ADDR_LINE = re.compile(r"^\s*([0-9a-f]{8,16})\s*$")


def parse_addresses(text: str) -> list[int]:
    """The lone-address lines of crash's ``list`` and ``tree`` (an entry each)."""
    return [int(m.group(1), 16) for m in map(_ADDR_LINE.match, text.splitlines()) if m]


def parse_list_members(text: str) -> list[tuple[int, dict[str, str]]]:
    """``list ... -s STRUCT.m1,m2``: each entry's address and its members."""
    out: list[tuple[int, dict[str, str]]] = []
    for line in text.splitlines():
        m = _ADDR_LINE.match(line)
        if m:
            out.append((int(m.group(1), 16), {}))
            continue
        mm = _MEMBER_RE.match(line)
        if mm and out:
            out[-1][1][mm.group("name")] = mm.group("value")
    return out


_KMEM_OBJ_RE = re.compile(r"^\s+(?P<open>\[)?(?P<addr>[0-9a-f]{8,16})\]?\s*"
                          r"(?P<note>\((?:cpu \d+|shared) cache\))?\s*$")


def parse_kmem_address(text: str) -> dict[str, Any] | None:
    """Parse crash's ``kmem ADDR`` for a slab object: the cache row (as in
    ``kmem -s``) and the object under ``FREE / [ALLOCATED]``: ``[ADDR]`` is
    allocated, `` ADDR`` free (``(cpu N cache)``: on a CPU's freelist). Returns
    ``{cache, name, objsize, start, allocated, cpu_cache}`` or None when crash
    found no slab object."""
    caches = parse_kmem_s(text)
    lines = text.splitlines()
    try:
        i = next(n for n, ln in enumerate(lines) if ln.strip() == "FREE / [ALLOCATED]")
    except StopIteration:
        return None
    for ln in lines[i + 1:]:
        m = _KMEM_OBJ_RE.match(ln)
        if m and caches:
            return {"cache": caches[0]["cache"], "name": caches[0]["name"],
                    "objsize": caches[0]["objsize"], "start": int(m.group("addr"), 16),
                    "allocated": m.group("open") is not None,
                    "cpu_cache": m.group("note") is not None}
    return None


_KMEM_I_ROW = re.compile(r"^\s*([A-Z][A-Z ]*?[A-Z])\s+(\d+)\s+(\S+(?: [KMGT]B)?)\s+(.*?)\s*$")


def kmem_i_text(run: Callable[[str], str]) -> str:
    """crash's ``kmem -i`` with its SHARED row, by ``run`` (a command line
    -> crash's output): crash 9.x walks mem_map for SHARED only when asked
    (memory.c dump_kmeminfo(): ``kmem -i=shared``), 8.0.6 always did."""
    text = run("kmem -i")
    if re.search(r"^\s*SHARED ", text, re.M):
        return text
    return run("kmem -i=shared")


def parse_kmem_i(text: str) -> list[dict[str, Any]]:
    """crash's ``kmem -i``: one row per line, ``key`` (``TOTAL MEM``...),
    ``pages``, ``total`` (crash's text, ``455.2 MB``) and ``percentage``
    (``83% of TOTAL MEM`` or ``----``)."""
    rows = []
    for line in text.splitlines():
        m = _KMEM_I_ROW.match(line)
        if m and m.group(1) != "PAGES":
            rows.append({"key": m.group(1), "pages": int(m.group(2)), "total": m.group(3),
                         "percentage": m.group(4)})
    return rows


def parse_vm(text: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """crash's ``vm`` of one task: its MM/PGD/RSS/TOTAL_VM line (``mm``,
    ``pgd`` as ints; ``rss``, ``total_vm`` in KiB) and its VMA rows (``vma``,
    ``start``, ``end``, ``flags`` as ints, ``file`` as text)."""
    mm: dict[str, Any] | None = None
    vmas: list[dict[str, Any]] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.split() == ["MM", "PGD", "RSS", "TOTAL_VM"] and i + 1 < len(lines):
            f = lines[i + 1].split()
            mm = {"mm": int(f[0], 16), "pgd": int(f[1], 16), "rss": int(f[2].rstrip("k")),
                  "total_vm": int(f[3].rstrip("k"))}
        elif mm is not None and re.match(r"^[0-9a-f]{8,16} +[0-9a-f]+ +[0-9a-f]+ +[0-9a-f]+", line):
            f = line.split(None, 4)
            vmas.append({"vma": int(f[0], 16), "start": int(f[1], 16), "end": int(f[2], 16),
                         "flags": int(f[3], 16), "file": f[4].strip() if len(f) > 4 else ""})
    return mm, vmas
