"""The ``crash`` utility as an independent oracle for kmemx's vmcore tests.

crash (https://crash-utility.github.io) is a separate implementation of kernel
dump analysis (its own ELF/kdump readers, page-table walks and struct layouts
via an embedded gdb), so agreement between crash, kmemx and the guest's own
/proc snapshot (the fixture's manifest.json) is strong evidence.

bookworm's crash 8.0.2 misreads the test bed's kernels, so a crash >= 8.0.4 is
required; ``scripts/build-crash`` builds 8.0.6 from Debian trixie's source
package. crash can hang rather than fail, so :func:`run_crash` always runs it
under a hard timeout.

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
from typing import Any, Mapping, Sequence

__all__ = [
    "MIN_VERSION",
    "CrashError",
    "CrashTimeout",
    "crash_outputs",
    "crash_version",
    "default_tools_dir",
    "find_crash",
    "parse_kmem_s",
    "parse_log",
    "parse_mod",
    "parse_mount",
    "parse_ps",
    "parse_sys",
    "run_crash",
    "run_crash_commands",
]

#: Oldest crash that reads the test bed's kernels (8.0.4 fixed the ``struct pid``
#: flex-array change backported to 6.1.y, without which ``ps`` shows 2 tasks).
MIN_VERSION = (8, 0, 4)
#: The version that ``scripts/build-crash`` builds.
BUILT_VERSION = "8.0.6"

_VERSION_RE = re.compile(r"^crash (\d+)\.(\d+)\.(\d+)", re.MULTILINE)
_SEPARATOR = "@@KMEMX-CRASH-ORACLE-{}@@"


class CrashError(RuntimeError):
    """crash failed: it exited non-zero, or could not be started."""


class CrashTimeout(CrashError):
    """crash did not finish within the timeout and was killed."""


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


def find_crash() -> Path | None:
    """A crash binary that is new enough (>= :data:`MIN_VERSION`), or None.

    Tried in order: ``$KMEMX_CRASH``, the build of ``scripts/build-crash``
    (``$KMEMX_TOOLS/crash-8.0.6/crash``), then ``crash`` on PATH (bookworm's
    8.0.2 is rejected by the version check; trixie's 8.0.6 would do).
    """
    candidates: list[Path] = []
    env = os.environ.get("KMEMX_CRASH")
    if env:
        candidates.append(Path(env))
    candidates.append(default_tools_dir() / f"crash-{BUILT_VERSION}" / "crash")
    on_path = shutil.which("crash")
    if on_path:
        candidates.append(Path(on_path))
    for path in candidates:
        version = crash_version(path) if path.is_file() else None
        if version is not None and version >= MIN_VERSION:
            return path
    return None


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
        raise CrashError(f"crash exited with status {proc.returncode} on {vmcore}: {_tail(out)}")
    return out


def run_crash_commands(vmlinux: os.PathLike[str] | str, vmcore: os.PathLike[str] | str,
                       commands: Sequence[str], timeout: float = 120, *,
                       crash: os.PathLike[str] | str | None = None,
                       env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Like :func:`run_crash` in one crash session, but return each command's own
    output, keyed by the command (crash's ``echo`` writes a separator between them)."""
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


#: (crash binary, vmlinux, vmcore) -> command -> its output, for the test session
_SESSIONS: dict[tuple[str, str, str], dict[str, str]] = {}


def crash_outputs(vmlinux: os.PathLike[str] | str, vmcore: os.PathLike[str] | str,
                  commands: Sequence[str], timeout: float = 300, *,
                  crash: os.PathLike[str] | str | None = None) -> dict[str, str]:
    """Each command's output, from one crash session per dump for the whole test
    run: commands already run on this dump come from the cache, the others run
    together in one new session (crash's start-up, ~7 s, is the cost). crash runs
    with ``TZ=UTC``, so that its DATE does not depend on the machine."""
    binary = Path(crash) if crash is not None else find_crash()
    if binary is None:
        raise CrashError("no crash found (run scripts/build-crash, or set KMEMX_CRASH)")
    cache = _SESSIONS.setdefault((str(binary), str(vmlinux), str(vmcore)), {})
    todo = list(dict.fromkeys(c for c in commands if c not in cache))
    if todo:
        cache.update(run_crash_commands(vmlinux, vmcore, todo, timeout, crash=binary,
                                        env={"TZ": "UTC"}))
    return {c: cache[c] for c in commands}


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
    """Parse crash's ``mod`` table: ``MODULE NAME BASE SIZE OBJECT FILE``.

    Rows become ``{module, name, base, size, object_file}``; ``module`` is the
    address of struct module, ``base`` that of the module's core text (None
    for crash versions that print no BASE column), ``object_file`` is e.g.
    ``(not loaded)  [CONFIG_KALLSYMS]`` when no module debuginfo was loaded.
    """
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or not _HEX.match(parts[0]):
            continue
        if len(parts) >= 4 and _HEX.match(parts[2]) and parts[3].isdigit():
            base: int | None = int(parts[2], 16)
            size, rest = int(parts[3]), parts[4:]
        elif parts[2].isdigit():
            base, size, rest = None, int(parts[2]), parts[3:]
        else:
            continue
        rows.append({
            "module": int(parts[0], 16),
            "name": parts[1],
            "base": base,
            "size": size,
            "object_file": " ".join(rest),
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
    previous record's text with a newline.
    """
    records: list[tuple[float, str]] = []
    for line in text.splitlines():
        m = _LOG_RE.match(line)
        if m:
            records.append((float(m.group(1)), m.group(2)))
        elif records and line.strip():
            ts, prev = records[-1]
            records[-1] = (ts, prev + "\n" + line)
    return records
