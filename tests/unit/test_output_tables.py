"""The output layer's table items: NO_HEADER (a table without its header
line, crash's ``ps -H``) and HeaderOnly (a table of no rows: the header
alone, as crash prints ``ps -y IDLE`` with no such task)."""

from __future__ import annotations

from kmemx.commands.output import render
from kmemx.commands.pipeline import _items
from kmemx.commands.rows import END_TABLE, NO_HEADER, HeaderOnly, Row

COLS = ("PID", "COMM")


def test_no_header_drops_the_next_tables_header_only() -> None:
    rows = [Row(COLS, (1, "init")), Row(COLS, (22, "kworker"))]
    # the columns keep the header's widths, as crash's do without it
    assert list(render([NO_HEADER, *rows])) == ["  1  init", " 22  kworker"]
    assert list(render([NO_HEADER, rows[0], END_TABLE, rows[1]])) == [
        "  1  init", "PID  COMM", " 22  kworker"]
    assert list(render([NO_HEADER, *rows], as_json=True)) == [
        '[\n {\n  "pid": 1,\n  "comm": "init"\n },\n {\n  "pid": 22,\n  "comm": "kworker"\n }\n]']


def test_header_only_prints_the_header_alone() -> None:
    assert list(render([HeaderOnly(COLS)])) == ["PID  COMM"]
    assert list(render([NO_HEADER, HeaderOnly(COLS)])) == []
    assert list(render([HeaderOnly(COLS)], as_json=True)) == ["[]"]


def test_pipes_never_see_table_items() -> None:
    row = Row(COLS, (1, "init"))
    assert list(_items([NO_HEADER, row, HeaderOnly(COLS), END_TABLE])) == [row]
