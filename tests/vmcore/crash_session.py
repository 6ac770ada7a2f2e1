"""One crash oracle session per test module: kmemx opened on the test bed's
ELF dump beside crash 8.0.6's output of every command the module compares.

A module subclasses :class:`CrashSession`, gives ``commands`` (a key for
each crash command line) and the dump addresses those need, and makes its
``s`` fixture with :func:`crash_session_fixture`.  crash runs once for the
module, all the commands in one session (tests.oracles.crash).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

import pytest

import kmemx
from kmemx.commands import execute
from tests.fixtures.fixture import Fixture
from tests.oracles import crash as C

__all__ = ["CrashSession", "crash_session_fixture", "hex_or_none"]


class CrashSession:
    """kmemx on the fixture's ELF dump and crash's output of ``commands``."""

    #: seconds crash may take for all the module's commands
    crash_timeout = 600

    def __init__(self, fixture: Fixture) -> None:
        self.fixture = fixture
        self.core = fixture.core("elf")

    @cached_property
    def k(self) -> kmemx.Kernel:
        return kmemx.open(self.core, self.fixture.vmlinux)

    @cached_property
    def commands(self) -> dict[str, str]:
        """Key → crash command line; the subclass says which."""
        raise NotImplementedError

    @cached_property
    def worker(self) -> Any:
        """The test bed's first worker process, ``kmx-w000`` (a ``struct
        task_struct *``, drgn's)."""
        from drgn.helpers.linux.pid import for_each_task

        return next(t for t in for_each_task(self.k.prog)
                    if t.comm.string_() == b"kmx-w000" and t.pid == t.tgid)

    @cached_property
    def crash(self) -> dict[str, str]:
        """Key → crash's output of that command (skips the module when crash
        cannot read the dump)."""
        out = self.crash_outputs(list(self.commands.values()))
        return {key: out[cmd] for key, cmd in self.commands.items()}

    @cached_property
    def crash_version(self) -> tuple[int, int, int]:
        """The version of the crash that reads this dump (skips the module
        when none does)."""
        self.crash_outputs(["sys"])
        binary = C.chosen_crash(self.fixture.vmlinux, self.core)
        return (C.crash_version(binary) if binary else None) or C.MIN_VERSION

    def gdb10_text(self, theirs: list[str], ours: list[str]) -> list[str]:
        """crash's lines ``theirs`` as crash 8.0.6's gdb 10 prints them:
        :func:`tests.oracles.crash.without_gdb16_symbols` for crash 9.x."""
        if self.crash_version < (9, 0, 0):
            return theirs
        return C.without_gdb16_symbols(theirs, ours, lambda n: self.k.prog.symbol(n).address)

    def symbols_present(self, names: tuple[str, ...]) -> list[str]:
        """Those of ``names`` this kernel has a symbol for, in order."""
        have = []
        for name in names:
            try:
                self.k.prog.symbol(name)
            except LookupError:
                continue
            have.append(name)
        return have

    def crash_outputs(self, lines: list[str]) -> dict[str, str]:
        """crash's output of each command line, from one crash session."""
        try:
            return C.crash_outputs(self.fixture.vmlinux, self.core, lines,
                                   timeout=self.crash_timeout)
        except C.CrashError as e:
            pytest.skip(f"crash: {e}")

    def drgn_output(self, line: str) -> str:
        """``line --drgn``'s script run by plain drgn (kmemx's plugin off)."""
        import os
        import subprocess
        import tempfile

        code = "\n".join(execute(self.k, f"{line} --drgn")) + "\n"
        with tempfile.NamedTemporaryFile("w", suffix=".py") as f:
            f.write(code)
            f.flush()
            proc = subprocess.run(["drgn", "-q", "-c", str(self.core), "-s",
                                   str(self.fixture.vmlinux), f.name], capture_output=True,
                                  text=True, env=dict(os.environ, DRGN_DISABLE_PLUGINS="*"))
        assert proc.returncode == 0, (line, proc.stderr[-2000:])
        return proc.stdout

    def json(self, line: str, k: kmemx.Kernel | None = None) -> list[Any]:
        """The rows of kmemx's ``--json`` output of ``line`` (its warning
        lines left out)."""
        rows: list[Any] = json.loads("\n".join(
            x for x in execute(k or self.k, line, as_json=True)
            if not x.startswith("kmemx: warning: ")))
        return rows

    def text(self, line: str, k: kmemx.Kernel | None = None) -> str:
        """kmemx's text output of ``line``."""
        return "\n".join(execute(k or self.k, line))


S = TypeVar("S", bound=CrashSession)


def crash_session_fixture(cls: type[S]) -> Callable[[Fixture], S]:
    """A module-scoped ``s`` fixture that builds ``cls`` on the test bed's
    fixture, or skips when no crash >= 8.0.4 was built."""

    @pytest.fixture(scope="module")
    def s(fixture: Fixture) -> S:
        if C.find_crash() is None:
            pytest.skip("no crash >= 8.0.4 (scripts/build-crash)")
        return cls(fixture)

    return s  # type: ignore[no-any-return]


def hex_or_none(v: str | None) -> int | None:
    """A hex cell of crash's or kmemx's output as an int (None stays None)."""
    return None if v is None else int(v, 16)
