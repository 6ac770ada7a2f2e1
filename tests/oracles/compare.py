"""Column-by-column comparison of kmemx's tables with an oracle's (crash, drgn, /proc).

A comparison takes two tables (rows as dicts), a key that pairs their rows and
the columns that both print, each with how to read it from either side::

    cmp = compare_tables("ps", "crash", ours, theirs, key=lambda r: r["task"],
                         columns=[Column("PID", "pid"), Column("RSS", lambda r: r["rss"] // 1024, "rss")],
                         allowances=PS_ALLOWANCES)
    cmp.check()          # AssertionError with a compact diff when anything differs

Every cell must be equal, unless a written :class:`Allowance` (command, column,
reason, predicate) says why this cell may differ; the predicate sees both rows
and must hold for the cell, so an allowance excuses only the difference its
reason describes, never the whole column. Rows that one side has and the other
lacks are failures too (``missing``: the oracle has them, kmemx not;
``extra``: kmemx has them, the oracle not), unless ``allow_missing`` /
``allow_extra`` (again predicates with a reason) excuse them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = ["Allowance", "Column", "Comparison", "Diff", "RowAllowance", "compare_tables",
           "index_rows"]

Getter = Union[str, Callable[[Mapping[str, Any]], Any]]


def _get(getter: Getter, row: Mapping[str, Any]) -> Any:
    return row[getter] if isinstance(getter, str) else getter(row)


@dataclass(frozen=True)
class Column:
    """A column both sides print: its name (crash's header), how to read it from
    kmemx's row (``ours``) and from the oracle's (``theirs``; default: same)."""

    name: str
    ours: Getter
    theirs: Getter | None = None

    def read_ours(self, row: Mapping[str, Any]) -> Any:
        return _get(self.ours, row)

    def read_theirs(self, row: Mapping[str, Any]) -> Any:
        return _get(self.theirs if self.theirs is not None else self.ours, row)


@dataclass(frozen=True)
class Diff:
    """One cell that differs: the row key, the column, both values and both rows."""

    command: str
    oracle: str
    key: Hashable
    column: str
    ours: Any
    theirs: Any
    our_row: Mapping[str, Any] = field(repr=False, compare=False)
    their_row: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Allowance:
    """A written exception: ``column`` of ``command`` may differ from ``oracle``
    where ``applies(diff)`` holds, for ``reason``. ``column`` "*" is not allowed:
    an exception names the column it excuses."""

    command: str
    column: str
    reason: str
    applies: Callable[[Diff], bool]
    oracle: str = "crash"

    def __post_init__(self) -> None:
        if not self.column or self.column == "*":
            raise ValueError("an Allowance names one column")
        if not self.reason.strip():
            raise ValueError("an Allowance needs a reason")

    def excuses(self, d: Diff) -> bool:
        if (d.command, d.column, d.oracle) != (self.command, self.column, self.oracle):
            return False
        try:
            return bool(self.applies(d))
        except (KeyError, TypeError, ValueError, ArithmeticError):
            return False  # a predicate that cannot judge the cell does not excuse it


@dataclass(frozen=True)
class RowAllowance:
    """A written exception for a row that only one side has: ``side`` is
    "missing" (the oracle has it, kmemx not) or "extra" (kmemx has it)."""

    command: str
    side: str
    reason: str
    applies: Callable[[Mapping[str, Any]], bool]
    oracle: str = "crash"

    def excuses(self, command: str, oracle: str, side: str, row: Mapping[str, Any]) -> bool:
        if (command, oracle, side) != (self.command, self.oracle, self.side):
            return False
        try:
            return bool(self.applies(row))
        except (KeyError, TypeError, ValueError, ArithmeticError):
            return False


def index_rows(rows: Iterable[Mapping[str, Any]], key: Getter,
               what: str) -> dict[Hashable, Mapping[str, Any]]:
    """Rows by key; a key that appears twice is an error (the pairing would be a guess)."""
    out: dict[Hashable, Mapping[str, Any]] = {}
    for r in rows:
        k = _get(key, r)
        if k in out:
            raise AssertionError(f"{what}: key {k!r} appears twice: {dict(out[k])} and {dict(r)}")
        out[k] = r
    return out


@dataclass
class Comparison:
    """The outcome of :func:`compare_tables`."""

    command: str
    oracle: str
    label: str
    columns: tuple[str, ...]
    rows: int = 0
    diffs: list[Diff] = field(default_factory=list)
    excused: list[tuple[Diff, Allowance]] = field(default_factory=list)
    missing: list[tuple[Hashable, Mapping[str, Any]]] = field(default_factory=list)
    extra: list[tuple[Hashable, Mapping[str, Any]]] = field(default_factory=list)
    excused_rows: list[tuple[str, Hashable, RowAllowance]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.diffs or self.missing or self.extra)

    def differing_columns(self) -> list[str]:
        return sorted({d.column for d in self.diffs}, key=self.columns.index)

    def summary(self) -> str:
        return (f"{self.command} vs {self.oracle}{f' ({self.label})' if self.label else ''}: "
                f"{self.rows} rows paired, columns {' '.join(self.columns)}; "
                f"{len(self.diffs)} cells differ"
                f"{' in ' + ' '.join(self.differing_columns()) if self.diffs else ''}, "
                f"{len(self.missing)} rows missing from kmemx, {len(self.extra)} extra in kmemx, "
                f"{len(self.excused)} cells excused")

    def render(self, n: int = 8) -> str:
        """A compact diff: the summary, then the first ``n`` differing rows of each
        column with both values, then the first ``n`` missing and extra rows."""
        lines = [self.summary()]
        for col in self.differing_columns():
            ds = [d for d in self.diffs if d.column == col]
            lines.append(f"  {col}: {len(ds)} rows differ (kmemx | {self.oracle})")
            for d in ds[:n]:
                lines.append(f"    {_fmt_key(d.key)}: {_fmt_val(d.ours)} | {_fmt_val(d.theirs)}")
            if len(ds) > n:
                lines.append(f"    ... {len(ds) - n} more")
        for what, rows in (("missing from kmemx", self.missing), ("extra in kmemx", self.extra)):
            if rows:
                lines.append(f"  rows {what}: {len(rows)}")
                for k, r in rows[:n]:
                    lines.append(f"    {_fmt_key(k)}: {_fmt_row(r)}")
                if len(rows) > n:
                    lines.append(f"    ... {len(rows) - n} more")
        return "\n".join(lines)

    def check(self, n: int = 8) -> None:
        """Raise AssertionError with :meth:`render` unless every cell agrees (or is excused)."""
        if not self.ok:
            raise AssertionError(self.render(n))


def _fmt_key(k: Hashable) -> str:
    if isinstance(k, int) and k > 1 << 32:
        return f"{k:x}"
    if isinstance(k, tuple):
        return "/".join(_fmt_key(x) for x in k)
    return str(k)


def _fmt_val(v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and v > 1 << 32:
        return f"{v:x}"
    return repr(v)


def _fmt_row(r: Mapping[str, Any], width: int = 140) -> str:
    text = " ".join(f"{k}={v:x}" if isinstance(v, int) and not isinstance(v, bool)
                    and v > 1 << 32 else f"{k}={v!r}" for k, v in r.items())
    return text if len(text) <= width else text[:width - 3] + "..."


def compare_tables(command: str, oracle: str, ours: Iterable[Mapping[str, Any]],
                   theirs: Iterable[Mapping[str, Any]], *, key: Getter,
                   columns: Sequence[Column], their_key: Getter | None = None,
                   allowances: Sequence[Allowance] = (),
                   row_allowances: Sequence[RowAllowance] = (),
                   label: str = "") -> Comparison:
    """Pair the rows of kmemx (``ours``) and of ``oracle`` (``theirs``) by key and
    compare every given column of every paired row."""
    mine = index_rows(ours, key, f"{command} (kmemx)")
    other = index_rows(theirs, their_key if their_key is not None else key,
                       f"{command} ({oracle})")
    cmp = Comparison(command, oracle, label, tuple(c.name for c in columns))
    for k, their_row in other.items():
        our_row = mine.get(k)
        if our_row is None:
            ra = next((a for a in row_allowances
                       if a.excuses(command, oracle, "missing", their_row)), None)
            if ra:
                cmp.excused_rows.append(("missing", k, ra))
            else:
                cmp.missing.append((k, their_row))
            continue
        cmp.rows += 1
        for c in columns:
            a, b = c.read_ours(our_row), c.read_theirs(their_row)
            if a == b:
                continue
            d = Diff(command, oracle, k, c.name, a, b, our_row, their_row)
            allowance = next((x for x in allowances if x.excuses(d)), None)
            if allowance:
                cmp.excused.append((d, allowance))
            else:
                cmp.diffs.append(d)
    for k, our_row in mine.items():
        if k in other:
            continue
        ra = next((a for a in row_allowances if a.excuses(command, oracle, "extra", our_row)),
                  None)
        if ra:
            cmp.excused_rows.append(("extra", k, ra))
        else:
            cmp.extra.append((k, our_row))
    return cmp
