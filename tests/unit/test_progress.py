"""Progress bars: only on a terminal, only after DELAY, gone when done."""

from __future__ import annotations

import io
import sys
import time

import pytest

from kmemx import progress


def test_off_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    assert not progress.enabled()
    p = progress.CommandProgress()
    monkeypatch.setattr(progress, "DELAY", 0.0)
    p("scanning", 5, 10)
    p.close()
    with progress.spinner("loading"):
        time.sleep(0.05)
    assert err.getvalue() == ""


def test_bar_after_delay_then_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(progress, "enabled", lambda: True)
    p = progress.CommandProgress()
    p("scanning", 1, 10)  # before DELAY: nothing
    assert err.getvalue() == ""
    monkeypatch.setattr(progress, "DELAY", 0.0)
    p("walking", 3, 10)
    p("walking", 7, 10)
    p.close()
    text = err.getvalue()
    assert "walking" in text and "/10" in text
    # closed: the line is blanked and the cursor back at its start
    assert text.endswith("\r") and text.rsplit("\r", 2)[1].strip() == ""


def test_disabled_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMEMX_PROGRESS", "0")
    assert not progress.enabled()
