"""Parsers of crash 8.0.6's output for the commands of kmemx's crash-command
plugins (dis, net, runq, timer, sig, ...), next to :mod:`tests.oracles.crash`
(which runs the crash sessions).  Each returns plain dicts with ints for
numbers and addresses, so the tests compare values, not spellings."""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "parse_dis",
    "parse_dis_lines",
    "parse_sym_location",
]

_DIS = re.compile(r"^0x([0-9a-f]+)(?: <([^>]*)>)?:\t(.*)$")
_LOC = re.compile(r"^(.*?)(?:\+(-?(?:0x[0-9a-f]+|\d+)))?$")
_TARGET = re.compile(r"^(\S+(?: \S+)?)\s+(0x[0-9a-f]+) <([^>]*)>(.*)$")
_COMMENT = re.compile(r"^(.*# 0x[0-9a-f]+) <([^>]*)>(.*)$")
_SRC = re.compile(r"^(\S+): (\d+)$")


def parse_sym_location(text: str | None) -> tuple[str, int] | None:
    """``schedule+23`` / ``schedule+0x17`` / ``schedule`` -> (name, offset)."""
    if not text:
        return None
    m = _LOC.match(text)
    assert m is not None
    off = m.group(2)
    return m.group(1), (int(off, 0) if off else 0)


def parse_dis(text: str) -> list[dict[str, Any]]:
    """crash's ``dis`` lines: ``address`` (int), ``location`` (name, offset) or
    None, ``text`` (the instruction as printed, with the ``<sym>`` after a
    branch target and after gdb's ``# 0x...`` comment removed), ``target``
    (int) and ``target_location`` when the operand is a named address,
    ``rip_location`` the name in the comment, ``source`` ((file, line) from the ``FILE:
    LINE`` line above it, with ``-l``)."""
    rows: list[dict[str, Any]] = []
    source: tuple[str, int] | None = None
    for line in text.splitlines():
        m = _DIS.match(line)
        if m is None:
            s = _SRC.match(line.strip())
            if s:
                source = (s.group(1), int(s.group(2)))
            continue
        insn = m.group(3).rstrip()
        row: dict[str, Any] = {"address": int(m.group(1), 16),
                               "location": parse_sym_location(m.group(2)),
                               "text": insn, "target": None, "target_location": None,
                               "rip_location": None, "source": source}
        c = _COMMENT.match(insn)
        if c:
            insn = row["text"] = c.group(1) + c.group(3)
            row["rip_location"] = parse_sym_location(c.group(2))
        t = _TARGET.match(insn)
        if t and "#" not in t.group(1):
            row["text"] = f"{t.group(1)} {t.group(2)}{t.group(4)}".rstrip()
            row["target"] = int(t.group(2), 16)
            row["target_location"] = parse_sym_location(t.group(3))
        rows.append(row)
    return rows


def parse_dis_lines(text: str) -> list[tuple[str, int]]:
    """The ``FILE: LINE`` lines of ``dis -l``, in order."""
    out = []
    for line in text.splitlines():
        s = _SRC.match(line.strip())
        if s:
            out.append((s.group(1), int(s.group(2))))
    return out
