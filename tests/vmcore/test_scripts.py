"""drgn scripts give byte-identical stdout and the same exit status under
``drgn`` and ``kmemx`` on the real dumps; the time of each run is reported.

The scripts live in tests/scripts/: tasks, lists, slab caches, printk,
files and mappings, stack traces of the panic dump, caught faults, an
uncaught exception and sys.exit() codes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

#: (id, script, arguments, dump variant, expected exit status)
CASES = [
    ("tasks", "tasks.py", [], "elf", 0),
    ("lists", "lists.py", [], "elf", 0),
    ("slab", "slab.py", [], "elf", 0),
    ("printk", "printk.py", [], "elf", 0),
    ("files", "files.py", [], "elf", 0),
    ("stacks", "stacks.py", [], "panic", 0),
    ("printk-panic", "printk.py", [], "panic", 0),
    ("faults", "faults.py", [], "elf", 0),
    ("uncaught", "uncaught.py", [], "elf", 1),
    ("exit-3", "exit_codes.py", ["3", "extra arg"], "elf", 3),
    ("exit-message", "exit_codes.py", ["bye"], "elf", 1),
    ("exit-0", "exit_codes.py", [], "elf", 0),
]

TIMES: dict[str, dict[str, Any]] = {}


def _drgn() -> list[str]:
    exe = shutil.which("drgn")
    return [exe] if exe else [sys.executable, "-m", "drgn"]


def _kmemx() -> list[str]:
    return [sys.executable, "-m", "kmemx"]


def _run(argv: list[str]) -> tuple[subprocess.CompletedProcess[bytes], float]:
    env = dict(os.environ, PYTHONHASHSEED="0", COLUMNS="120")
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, env=env, timeout=300, cwd=SCRIPTS)
    return proc, time.perf_counter() - t0


@pytest.fixture(scope="module", autouse=True)
def timing_table(request: pytest.FixtureRequest) -> Iterator[None]:
    yield None
    if not TIMES:
        return
    capman = request.config.pluginmanager.get_plugin("capturemanager")
    lines = ["", "script timings (wall clock, including startup and debug-info loading):",
             f"{'script':<14} {'dump':<6} {'drgn':>8} {'kmemx':>8}"]
    for name, t in TIMES.items():
        lines.append(f"{name:<14} {t['dump']:<6} {t['drgn']:>7.2f}s {t['kmemx']:>7.2f}s")
    # shown even when pytest captures output
    with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
        print("\n".join(lines), flush=True)


@pytest.mark.parametrize("name,script,args,variant,status", CASES, ids=[c[0] for c in CASES])
def test_same_output_as_drgn(fixture: Fixture, name: str, script: str, args: list[str],
                             variant: str, status: int) -> None:
    if not fixture.has(variant):
        pytest.skip(fixture.skip_reason(variant))
    target = ["-c", str(fixture.core(variant)), "-s", str(fixture.vmlinux)]
    d, dt = _run(_drgn() + target + [script, *args])
    k, kt = _run(_kmemx() + target + [script, *args])
    TIMES[name] = {"drgn": dt, "kmemx": kt, "dump": variant}
    assert d.returncode == status, d.stderr.decode()[-2000:]
    assert k.returncode == d.returncode, k.stderr.decode()[-2000:]
    assert k.stdout == d.stdout
    assert d.stdout, "the script printed nothing"
    if status == 1 and name == "uncaught":
        # both end in the same exception
        assert d.stderr.decode().rstrip().splitlines()[-1] == \
            k.stderr.decode().rstrip().splitlines()[-1]
        assert b"FaultError" in k.stderr
    if name == "exit-message":
        assert k.stderr.decode().rstrip().endswith("bye")
