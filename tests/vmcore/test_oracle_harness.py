"""The comparison machinery of the oracle harness (no fixture needed)."""

from __future__ import annotations

import pytest

from tests.oracles.compare import Allowance, Column, RowAllowance, compare_tables

COLS = [Column("PID", "pid"), Column("RSS", lambda r: r["rss"] // 1024, "rss"),
        Column("COMM", "comm")]


def _ours() -> list[dict[str, object]]:
    return [{"task": 1, "pid": 1, "rss": 4096, "comm": "init"},
            {"task": 2, "pid": 2, "rss": 0, "comm": "kthreadd"},
            {"task": 3, "pid": 3, "rss": 8192, "comm": "kmx-w000"}]


def _theirs() -> list[dict[str, object]]:
    return [{"task": 1, "pid": 1, "rss": 4, "comm": "init"},
            {"task": 2, "pid": 2, "rss": 0, "comm": "kthreadd"},
            {"task": 3, "pid": 3, "rss": 12, "comm": "kmx-w000"}]


def test_equal_tables_pass() -> None:
    ours = _ours()
    ours[2]["rss"] = 12 * 1024
    cmp = compare_tables("ps", "crash", ours, _theirs(), key="task", columns=COLS)
    assert cmp.ok and cmp.rows == 3
    cmp.check()


def test_diff_names_row_column_and_both_values() -> None:
    cmp = compare_tables("ps", "crash", _ours(), _theirs(), key="task", columns=COLS)
    assert not cmp.ok
    assert [(d.key, d.column, d.ours, d.theirs) for d in cmp.diffs] == [(3, "RSS", 8, 12)]
    with pytest.raises(AssertionError) as e:
        cmp.check()
    text = str(e.value)
    assert "1 cells differ in RSS" in text and "3: 8 | 12" in text


def test_missing_and_extra_rows_fail() -> None:
    ours = [*_ours()[:2], {"task": 9, "pid": 9, "rss": 0, "comm": "x"}]
    cmp = compare_tables("ps", "crash", ours, _theirs(), key="task", columns=COLS)
    assert [k for k, _ in cmp.missing] == [3] and [k for k, _ in cmp.extra] == [9]
    assert "rows missing from kmemx: 1" in cmp.render()


def test_duplicate_keys_are_an_error() -> None:
    with pytest.raises(AssertionError, match="appears twice"):
        compare_tables("ps", "crash", _ours() + _ours()[:1], _theirs(), key="task",
                       columns=COLS)


def test_allowance_excuses_only_where_its_predicate_holds() -> None:
    """An allowance for RSS that holds for differences of up to 4 KiB excuses
    task 3 (4 KiB apart) but not a row 40 KiB apart, nor another column."""
    small = Allowance("ps", "RSS", "test: small drift", lambda d: abs(d.ours - d.theirs) <= 4)
    cmp = compare_tables("ps", "crash", _ours(), _theirs(), key="task", columns=COLS,
                         allowances=[small])
    assert cmp.ok and [d.key for d, _ in cmp.excused] == [3]
    theirs = _theirs()
    theirs[2]["rss"] = 48
    theirs[1]["comm"] = "other"
    cmp = compare_tables("ps", "crash", _ours(), theirs, key="task", columns=COLS,
                         allowances=[small])
    assert sorted((d.key, d.column) for d in cmp.diffs) == [(2, "COMM"), (3, "RSS")]


def test_allowance_is_for_one_command_column_and_oracle() -> None:
    always = Allowance("ps", "RSS", "test", lambda d: True, oracle="drgn")
    cmp = compare_tables("ps", "crash", _ours(), _theirs(), key="task", columns=COLS,
                         allowances=[always])
    assert not cmp.ok  # the allowance is for drgn, this is crash
    with pytest.raises(ValueError):
        Allowance("ps", "*", "everything", lambda d: True)
    with pytest.raises(ValueError):
        Allowance("ps", "RSS", " ", lambda d: True)


def test_a_predicate_that_cannot_judge_does_not_excuse() -> None:
    broken = Allowance("ps", "RSS", "test", lambda d: d.our_row["no such column"])
    cmp = compare_tables("ps", "crash", _ours(), _theirs(), key="task", columns=COLS,
                         allowances=[broken])
    assert not cmp.ok


def test_row_allowance() -> None:
    ours = _ours()[:2]
    ra = RowAllowance("ps", "missing", "test: kmemx omits pid 3", lambda r: r["pid"] == 3)
    cmp = compare_tables("ps", "crash", ours, _theirs(), key="task", columns=COLS,
                         row_allowances=[ra])
    assert cmp.ok and cmp.excused_rows == [("missing", 3, ra)]
    ra_extra = RowAllowance("ps", "extra", "test", lambda r: r["pid"] == 3)
    cmp = compare_tables("ps", "crash", ours, _theirs(), key="task", columns=COLS,
                         row_allowances=[ra_extra])
    assert not cmp.ok  # an "extra" allowance does not excuse a missing row
