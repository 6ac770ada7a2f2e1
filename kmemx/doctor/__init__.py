"""``kmemx doctor``: which kind of live kernel-memory access works here, and why.

Public API::

    from kmemx.doctor import diagnose, render_text, render_json, main

    report = diagnose("/")            # or diagnose(tree, probe=True)
    print(report.verdict.value)       # "mmap of RAM works", "read-only /dev/mem",
                                      # "/proc/kcore only" or "no live access"
    print(render_text(report))

Every input is read relative to ``root``; see ``docs/live.md`` and
``../shared/docs/devmem.md`` for the kernel facts behind the checks.
"""

from __future__ import annotations

from kmemx.doctor.cli import main
from kmemx.doctor.engine import diagnose
from kmemx.doctor.model import Check, DeviceProbe, Op, Outcome, Report, Status, Target, Verdict
from kmemx.doctor.probe import OsProber, Prober
from kmemx.doctor.render import render_json, render_text

__all__ = [
    "Check",
    "DeviceProbe",
    "Op",
    "OsProber",
    "Outcome",
    "Prober",
    "Report",
    "Status",
    "Target",
    "Verdict",
    "diagnose",
    "main",
    "render_json",
    "render_text",
]
