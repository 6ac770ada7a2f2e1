"""A new user's first minutes: ``./scripts/demo`` in a real terminal (tmux),
with the test bed's dump cached: the first-pass summary, a command, and a
Tab completion on the screen."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.fixtures.builder import _tools_dir
from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore

ROOT = Path(__file__).resolve().parents[2]


def _screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-J", "-S", "-200", "-t", session],
                          capture_output=True, text=True, check=True).stdout


def _wait_for(session: str, text: str, timeout: float = 120.0) -> str:
    end = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < end:
        screen = _screen(session)
        if text in screen:
            return screen
        time.sleep(0.3)
    raise AssertionError(f"{text!r} never appeared; the screen:\n{screen}")


def _keys(session: str, *keys: str) -> None:
    subprocess.run(["tmux", "send-keys", "-t", session, *keys], check=True)


def test_demo_first_screen(fixture: Fixture, tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/setup --test installs it)")
    session = f"kmx-demo-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "KMEMX_KERNEL": fixture.package, "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "KMEMX_FIXTURES": str(fixture.root.parent), "TERM": "xterm",
           # the makedumpfile builds the fixture was made with: under another HOME
           # the builder would find only the system's and retry the variants it
           # skipped (7.2.13's -d 31 and flattened dumps: 2+ minutes, no prompt)
           "KMEMX_TOOLS": str(_tools_dir())}
    env.pop("TMUX", None)
    cmd = f"cd {ROOT} && ./scripts/demo; echo DEMO-EXIT-$?; sleep 600"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "50",
                    "bash", "-c", cmd], env=env, check=True)
    try:
        screen = _wait_for(session, "\n>>>", 180)
        # the summary: crash's sys and the panicking task's stack
        assert "kmemx> sys" in screen and "PANIC" in screen and "sysrq triggered crash" in screen
        assert "kmemx> bt" in screen and "kmx-crasher" in screen and "sysrq_handle_crash" in screen
        _keys(session, "%ps kmx-main", "Enter")
        screen = _wait_for(session, "RSS  COMM")  # ps's header: its output, not the echo
        screen = _wait_for(session, "  kmx-main")
        assert "PID" in screen
        # Tab completes a kernel symbol
        _keys(session, "prog['init_ta", "Tab")
        screen = _wait_for(session, "init_task")
        _keys(session, "C-u", "exit()", "Enter")
        _wait_for(session, "DEMO-EXIT-0")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
