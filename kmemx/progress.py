"""Progress on the terminal for work over a second (tqdm), for the command line.

Shown only when standard error is a terminal, and never mixed into a
command's output: bars go to stderr and disappear when done.  Commands report
progress through ``Context.progress``; long single calls (loading debug info)
get a spinner that a thread refreshes.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["DELAY", "CommandProgress", "enabled", "spinner"]

#: seconds of work before a bar appears
DELAY = 1.0


def enabled() -> bool:
    """Whether progress may be shown: stderr is a terminal and KMEMX_PROGRESS
    is not 0."""
    if os.environ.get("KMEMX_PROGRESS", "1") == "0":
        return False
    try:
        return os.isatty(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return False


@contextmanager
def spinner(what: str) -> Iterator[None]:
    """The elapsed time on stderr while the block runs, after :data:`DELAY`."""
    if not enabled():
        yield
        return
    stop = threading.Event()

    def tick() -> None:
        if stop.wait(DELAY):
            return
        from tqdm import tqdm

        bar = tqdm(desc=what, bar_format="{desc}: {elapsed}", leave=False, file=sys.stderr)
        while not stop.wait(0.2):
            bar.refresh()
        bar.close()

    t = threading.Thread(target=tick, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


class CommandProgress:
    """``Context.progress`` for a one-shot command: a tqdm bar per ``what``,
    shown once that work has taken :data:`DELAY`."""

    def __init__(self) -> None:
        self.on = enabled()
        self._bars: dict[str, Any] = {}
        self._started: dict[str, float] = {}

    def __call__(self, what: str, done: int, total: int = 0) -> None:
        if not self.on:
            return
        bar = self._bars.get(what)
        if bar is None:
            start = self._started.setdefault(what, time.monotonic())
            if time.monotonic() - start < DELAY:
                return
            from tqdm import tqdm

            bar = self._bars[what] = tqdm(desc=what, total=total or None, leave=False,
                                          file=sys.stderr, unit="")
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
        self._started.clear()
