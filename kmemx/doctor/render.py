"""Render a :class:`~kmemx.doctor.model.Report` as text for people or JSON for tools."""

from __future__ import annotations

import errno as _errno
import json
import textwrap
from typing import Any

from kmemx.doctor.model import Check, DeviceProbe, Op, Outcome, Report, Status

__all__ = ["render_json", "render_text", "report_dict"]

_WIDTH = 100
_STATUS = {Status.OK: "ok", Status.WARN: "warn", Status.FAIL: "FAIL", Status.UNKNOWN: "unknown"}


def _wrap(text: str, indent: str, first: str = "") -> list[str]:
    return textwrap.wrap(
        text,
        width=_WIDTH,
        initial_indent=first or indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [first.rstrip()]


def _check_lines(check: Check) -> list[str]:
    head = f"  {check.id:<4} {_STATUS[check.status]:<8} {check.name:<19} "
    pad = " " * len(head)
    lines = _wrap(check.detail, pad, head)
    if check.remedy and check.status is not Status.OK:
        lines += _wrap(check.remedy, pad + "     ", pad + "fix: ")
    if check.explain:
        lines += _wrap(check.explain, pad + "     ", pad + "why: ")
    return lines


def _outcome_lines(outcomes: tuple[Outcome, ...]) -> list[str]:
    lines: list[str] = []
    failed_open: set[str] = set()
    for outcome in outcomes:
        if outcome.device in failed_open:
            continue
        label = f"{outcome.device} {outcome.op.value}"
        if outcome.op is not Op.OPEN and outcome.target.value != "-":
            label += f" {outcome.target.value}"
        result = outcome.result()
        source = "" if outcome.source == "predicted" else f" [{outcome.source}]"
        text = f"{result}{source}"
        if outcome.note and outcome.ok:
            text += f" ({outcome.note})"
        elif outcome.ok is not True and outcome.reason:
            text += f": {outcome.reason}"
        if outcome.op is Op.OPEN and outcome.ok is False:
            failed_open.add(outcome.device)
            text += " (so every mmap/read of it fails the same way)"
        lines += _wrap(text, " " * 42, f"  {label:<38}  ")
    return lines


def render_text(report: Report) -> str:
    """The human-readable report."""
    out: list[str] = [
        f"kmemx doctor: Linux {report.release} ({report.arch}), root {report.root}",
        "",
        f"Verdict: {report.verdict.value}",
    ]
    for i, line in enumerate(report.because):
        out += _wrap(line, " " * 11, ("  because  " if i == 0 else " " * 11))
    out.append("  readers  " + (", ".join(report.readers) if report.readers else "none"))
    if report.verdict_as_root is not None:
        out.append(f"  as root  {report.verdict_as_root.value} (predicted)")
    for note in report.notes:
        out += _wrap(note, " " * 11, "  note     ")
    if report.disagreements:
        out += ["", "Probe and prediction disagree (the probe wins):"]
        for line in report.disagreements:
            out += _wrap(line, "    ", "  - ")
    if report.remedies:
        out += ["", "To change (the checks behind the verdict first):"]
        for i, remedy in enumerate(report.remedies, 1):
            out += _wrap(remedy, "     ", f"  {i}. ")
    out += ["", "Checks:"]
    for check in report.checks:
        out += _check_lines(check)
    out += ["", "Access (predicted unless marked [probe] or [observed]):"]
    out += _outcome_lines(report.outcomes)
    if report.not_checked:
        out += ["", "Could not check:"]
        for line in report.not_checked:
            out += _wrap(line, "    ", "  - ")
    return "\n".join(out) + "\n"


def _errno_dict(number: int | None) -> dict[str, Any] | None:
    if number is None:
        return None
    return {"errno": number, "name": "OK" if number == 0 else _errno.errorcode.get(number, "E?")}


def _probe_dict(probe: DeviceProbe) -> dict[str, Any]:
    return {
        "device": probe.device,
        "offset": probe.offset,
        "open": _errno_dict(probe.open),
        "mmap": _errno_dict(probe.mmap),
        "read": _errno_dict(probe.read),
    }


def _outcome_dict(outcome: Outcome) -> dict[str, Any]:
    return {
        "device": outcome.device,
        "op": outcome.op.value,
        "target": outcome.target.value,
        "result": outcome.result(),
        "ok": outcome.ok,
        "errno": outcome.errno or None,
        "errno_name": _errno.errorcode.get(outcome.errno) if outcome.errno else None,
        "cause": outcome.cause or None,
        "reason": outcome.reason,
        "note": outcome.note or None,
        "source": outcome.source,
    }


def report_dict(report: Report) -> dict[str, Any]:
    """The report as plain JSON-ready data."""
    return {
        "root": report.root,
        "release": report.release,
        "arch": report.arch,
        "verdict": report.verdict.value,
        "verdict_code": report.verdict.name,
        "readers": list(report.readers),
        "because": list(report.because),
        "remedies": list(report.remedies),
        "verdict_as_root": report.verdict_as_root.value if report.verdict_as_root else None,
        "notes": list(report.notes),
        "checks": [
            {
                "id": c.id,
                "name": c.name,
                "status": c.status.value,
                "detail": c.detail,
                "remedy": c.remedy or None,
                "explain": c.explain or None,
            }
            for c in report.checks
        ],
        "outcomes": [_outcome_dict(o) for o in report.outcomes],
        "probe": {"ran": report.probed, "results": [_probe_dict(p) for p in report.probes]},
        "disagreements": list(report.disagreements),
        "not_checked": list(report.not_checked),
    }


def render_json(report: Report) -> str:
    """The report as indented JSON."""
    return json.dumps(report_dict(report), indent=2) + "\n"
