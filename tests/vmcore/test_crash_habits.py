"""crash's habits in kmemx, against crash 8.0.6 on the same dumps: the current
context (``set``), shell pipes and redirection, and the options of the
commands kmemx has (issue #15).

Env: ``KMEMX_KERNEL`` picks the fixture, ``KMEMX_CRASH`` a crash binary.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import kmemx
from kmemx.commands import CommandError, execute
from tests.fixtures.fixture import Fixture
from tests.oracles import crash as C

pytestmark = pytest.mark.vmcore


@functools.lru_cache(maxsize=None)
def _open(core: str, vmlinux: str) -> Any:
    return kmemx.open(core, vmlinux)


def kernel(fixture: Fixture, variant: str) -> Any:
    if not fixture.has(variant):
        pytest.skip(f"{variant}: {fixture.skip_reason(variant)}")
    return _open(str(fixture.core(variant)), str(fixture.vmlinux))


def run(k: Any, line: str) -> list[str]:
    return [x for x in execute(k, line) if not x.startswith("kmemx: warning:")]


def crash(fixture: Fixture, variant: str, commands: list[str]) -> dict[str, str]:
    if C.find_crash() is None:
        pytest.skip("no crash >= 8.0.4 (scripts/build-crash)")
    return C.crash_outputs(fixture.vmlinux, fixture.core(variant), commands)


def crash_lines(text: str) -> list[str]:
    return [ln.rstrip() for ln in text.splitlines() if ln.strip()]


# -- the current context -------------------------------------------------------------------

SET_LINES = ["set", "set 2", "set -c 1", "set 1"]


@pytest.mark.parametrize("variant", ["elf", "panic"])
def test_set_equals_crash(fixture: Fixture, variant: str) -> None:
    """Each ``set`` line as crash prints it (PID, COMMAND, TASK with ``(1 of
    N)`` and THREAD_INFO, CPU, STATE with crash's bit names and (ACTIVE),
    (PANIC) or (SYSRQ)), in one session where each set changes the context."""
    k = kernel(fixture, variant)
    theirs = crash(fixture, variant, SET_LINES + ["set -p"])
    try:
        for line in SET_LINES:
            ours = [x.rstrip() for x in run(k, line)]
            assert ours == crash_lines(theirs[line]), line
        if variant == "panic":
            assert [x.rstrip() for x in run(k, "set -p")] == crash_lines(theirs["set -p"])
        else:
            assert "no panic task" in theirs["set -p"]
            with pytest.raises(CommandError, match="no panic task"):
                run(k, "set -p")
    finally:
        k.prog.cache.pop("kmemx.commands.context.current_task", None)


def test_context_is_what_task_commands_default_to(fixture: Fixture) -> None:
    """bt, task, files and vm without a task show the current context: the
    panic task first (the manifest's kmx-crasher), then what set chose."""
    k = kernel(fixture, "panic")
    try:
        assert 'COMMAND: "kmx-crasher"' in run(k, "bt")[0]
        run(k, "set 1")
        for cmd in ("bt", "task -m pid", "files", "vm"):
            assert run(k, cmd)[0].startswith("PID: 1 "), cmd
        assert run(k, "bt") == run(k, "bt 1")
        assert run(k, "files") == run(k, "files 1")
        assert run(k, "vm") == run(k, "vm 1")
        run(k, "set -p")
        assert 'COMMAND: "kmx-crasher"' in run(k, "bt")[0]
    finally:
        k.prog.cache.pop("kmemx.commands.context.current_task", None)


# -- shell pipes and redirection ------------------------------------------------------------

def test_shell_pipe_and_object_pipe(fixture: Fixture) -> None:
    """``| grep`` (no kmemx command) goes to /bin/sh; ``| filter`` passes objects;
    both give the same tasks."""
    k = kernel(fixture, "elf")
    shell = run(k, "ps | grep kmx-w | wc -l")
    ours = run(k, "ps | filter comm~kmx-w | count")
    assert int(shell[0]) == int(ours[1]) > 0
    assert run(k, "ps ! head -3") == run(k, "ps")[:3]


def test_redirect(fixture: Fixture, tmp_path: Path) -> None:
    k = kernel(fixture, "elf")
    out = tmp_path / "ps.txt"
    assert run(k, f"ps -k > {out}") == []
    assert out.read_text().splitlines() == run(k, "ps -k")
    assert run(k, f"ps -u >> {out}") == []
    assert out.read_text().splitlines() == run(k, "ps -k") + run(k, "ps -u")
    assert run(k, f"ps -G --json > {out}") == []
    assert json.loads(out.read_text()) == json.loads("\n".join(run(k, "ps -G --json")))
    with pytest.raises(CommandError, match="cannot write"):
        list(execute(k, f"ps > {tmp_path}/no/such/dir"))


def test_cli_redirect_and_pipe(fixture: Fixture, tmp_path: Path) -> None:
    """The one-shot CLI: a quoted line, and '>' / '|' as separate arguments."""
    out = tmp_path / "mod.txt"
    base = [sys.executable, "-m", "kmemx", "-q", "-c", str(fixture.core("elf")), "-s",
            str(fixture.vmlinux)]
    p = subprocess.run([*base, "mod", ">", str(out)], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout == "", p.stderr
    first = out.read_text().splitlines()
    assert first[0].split()[:2] == ["MODULE", "NAME"] and len(first) > 1
    p = subprocess.run([*base, f"mod | grep -c {first[1].split()[1]}"], capture_output=True,
                       text=True)
    assert p.returncode == 0 and int(p.stdout) >= 1, p.stderr
    p = subprocess.run([*base, "ps > /no/such/dir/x"], capture_output=True, text=True)
    assert p.returncode == 1 and re.fullmatch(r"kmemx: error: cannot write .*\n", p.stderr)
