"""The live tier's pytest hooks.

* The tier boots QEMU guests for several minutes (and may build a kernel the
  first time), so it runs only when asked: ``-m live`` (``scripts/live-test``
  does this) or ``KMEMX_LIVE=1``.  Otherwise its tests are deselected, and
  pytest's summary counts them.
* At the end, every guest boot is listed with its accelerator and timings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.live.guest import COMPLETED

__all__ = ["pytest_collection_modifyitems", "pytest_terminal_summary"]

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if os.environ.get("KMEMX_LIVE") == "1" or "live" in (config.option.markexpr or ""):
        return
    live = [it for it in items if _HERE in Path(str(it.fspath)).resolve().parents]
    if live:
        ids = {id(it) for it in live}
        keep = [it for it in items if id(it) not in ids]
        config.hook.pytest_deselected(items=live)
        items[:] = keep


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not COMPLETED:
        return
    tr = terminalreporter
    tr.section("live guests: timings (seconds)")
    for run in COMPLETED:
        parts = ", ".join(f"{k} {v:.1f}" for k, v in run.timings().items()
                          if k not in ("boot", "total"))
        tr.write_line(f"{run.workdir.name}: {run.accel}, {run.uname[2]}, "
                      f"cmdline '{run.cmdline}': boot {run.boot_secs:.1f}, {parts}; "
                      f"total {run.wall_secs:.1f} wall")
