"""``struct T.member`` without an address against crash 8.0.6, and member
cells without tabs or newlines, on the test bed's ELF dump.

crash prints one top-level member's declaration and offset in a
``struct T { ... }`` block (with or without -o; in hex with -x) and refuses a
member ``T`` does not have (``struct: invalid data structure reference``):
kmemx's text must be crash's, line for line.

Written exceptions: crash 8.0.6 refuses a member path (``se.vruntime``:
invalid data structure reference) and several members ("multiple member
format not supported in this syntax", then the whole structure); kmemx shows
each one's declaration with its offset from the start of ``T``.  Checked
here: a path's offset is crash's offset of its first member plus crash's
offset of the rest in that member's type, and several members' lines are
crash's lines of each member alone.
"""

from __future__ import annotations

from functools import cached_property

import pytest

from kmemx.commands import CommandError
from tests.vmcore.crash_session import CrashSession, crash_session_fixture

pytestmark = pytest.mark.vmcore

SINGLE = ("struct task_struct.pid", "struct -o task_struct.pid", "struct task_struct.se",
          "struct task_struct.tasks", "struct list_head.next", "struct -x task_struct.pid",
          "struct task_struct.comm", "struct -x list_head.prev",
          "struct sched_entity.vruntime")
BAD = ("struct task_struct.nosuch", "struct task_struct.se.nosuch")


class Session(CrashSession):
    @cached_property
    def commands(self) -> dict[str, str]:
        return {line: line for line in SINGLE + BAD}


s = crash_session_fixture(Session)


@pytest.mark.parametrize("line", SINGLE)
def test_member_declaration_equals_crash(s: Session, line: str) -> None:
    theirs = s.crash[line].strip("\n")
    assert theirs.startswith("struct ") and theirs.endswith("}"), theirs
    assert s.text(line) == theirs


@pytest.mark.parametrize("line", BAD)
def test_unknown_member_is_crash_error(s: Session, line: str) -> None:
    theirs = s.crash[line].strip()
    assert theirs == f"struct: invalid data structure reference: {line.split()[-1]}"
    with pytest.raises(CommandError) as e:
        s.text(line)
    assert str(e.value) == theirs


def _offset(text: str) -> int:
    body = text.splitlines()[1].strip()
    return int(body[1:body.index("]")], 0)


def test_member_path_and_several(s: Session) -> None:
    """The written exceptions: a path's offset adds up crash's offsets; several
    members are crash's single-member lines, in the order given."""
    ours = s.text("struct task_struct.se.vruntime")
    assert _offset(ours) == (_offset(s.crash["struct task_struct.se"])
                             + _offset(s.crash["struct sched_entity.vruntime"]))
    assert ours.splitlines()[1].split("] ", 1)[1] == \
        s.crash["struct sched_entity.vruntime"].splitlines()[1].split("] ", 1)[1]
    several = s.text("struct task_struct.pid,se,tasks").splitlines()
    assert several[1:-1] == [s.crash[f"struct task_struct.{m}"].splitlines()[1]
                             for m in ("pid", "se", "tasks")]
    rows = s.json("struct task_struct.pid,se.vruntime")
    assert [r["offset"] for r in rows] == [_offset(s.crash["struct task_struct.pid"]),
                                           _offset(ours)]


def test_member_cells_are_one_line(s: Session) -> None:
    """A nested structure in a --json member cell: one line, no tab (drgn
    indents its format_() with tabs); the text is crash's member lines
    (tests/vmcore/test_crash_text.py compares them with crash's)."""
    line = "struct task_struct.pid,tasks,se.load init_task"
    text = s.text(line)
    assert "\t" not in text and text.splitlines()[:2] == ["  pid = 0,", "  tasks = {"]
    row, = s.json(line)
    assert all("\t" not in str(v) and "\n" not in str(v) for v in row.values())
    assert row["tasks"].startswith("{ .next = (struct list_head *)0x")
