"""Rows: what table-producing commands yield, carrying typed cells and the object."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .._accel import speedups
from .cells import cell_json

__all__ = ["END_TABLE", "NO_HEADER", "EndTable", "HeaderOnly", "Row", "Table", "TextLine",
           "TextRecord", "cell_rows"]


class _PyRowBase:
    """The pure-Python twin of ``kmemx._speedups.RowBase``."""

    __slots__ = ("cells", "columns", "obj")

    def __init__(self, columns: Sequence[str], cells: Sequence[Any], obj: Any = None) -> None:
        self.columns = columns if columns.__class__ is tuple else tuple(columns)
        self.cells = cells if cells.__class__ is tuple else tuple(cells)
        self.obj = obj


_RowBase: Any = speedups.RowBase if speedups is not None else _PyRowBase


class Row(_RowBase):  # type: ignore[misc]
    """One table row: ``columns`` name the typed ``cells``; ``obj`` is the kernel
    object the row describes (a view), which a pipe passes to the next command.

    ``Row(columns, cells, obj=None)``; columns and cells are kept as tuples."""

    __slots__ = ()
    columns: tuple[str, ...]
    cells: tuple[Any, ...]
    obj: Any

    def __getitem__(self, column: str) -> Any:
        try:
            return self.cells[self.columns.index(column)]
        except ValueError:
            raise KeyError(column) from None

    def get(self, column: str, default: Any = None) -> Any:
        try:
            return self[column]
        except KeyError:
            return default

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: keys are the lower-case column names (``pid``, ``comm``...)."""
        return {c.lower(): cell_json(v) for c, v in zip(self.columns, self.cells)}

    def __repr__(self) -> str:
        return f"Row({dict(zip(self.columns, self.cells))!r})"


def cell_rows(columns: tuple[str, ...], cell: Callable[[Any], Any],
              values: list[Any]) -> list[Row]:
    """One-cell rows, each cell also the row's object: ``[Row(columns, (c,), c)
    for c in map(cell, values)]`` (``slab``'s ADDRESS rows), built in one C
    call when the speedups are there (about half the time for 30k rows)."""
    if speedups is not None:
        rows: list[Row] = speedups.cell_rows(Row, columns, cell, values)
        return rows
    return [Row(columns, (c,), c) for c in map(cell, values)]


class Table:
    """A materialised list of rows with one set of columns."""

    def __init__(self, columns: Sequence[str], rows: Sequence[Row]) -> None:
        self.columns = tuple(columns)
        self.rows = list(rows)

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)


class TextLine(str):
    """A line of free-form command output (``log``, ``rd``, ``bt``, ``task``)."""


class TextRecord(TextLine):
    """Free text in crash's layout (one or more lines) that is data too, for a
    command whose text is not a table (``bt``, ``task``, ``whatis``): the text
    lines print as they are; ``--json`` writes ``data`` instead (a dict is one
    element of the output array, a list of dicts several: ``bt`` gives one per
    frame); a pipe passes ``obj`` (the kernel object described: the task) to
    the next stage, and ``filter`` sees ``data``'s keys before ``obj``'s
    members.  ``TextRecord(text, data, obj=None)``."""

    data: dict[str, Any] | list[dict[str, Any]]
    obj: Any

    def __new__(cls, text: str, data: dict[str, Any] | list[dict[str, Any]],
                obj: Any = None) -> TextRecord:
        self = super().__new__(cls, text)
        self.data = data
        self.obj = obj
        return self


class EndTable:
    """An item that ends the table being printed (its rows are laid out and
    printed, and the next row starts a table with its own header) and prints
    nothing itself; ``--json`` and piped stages never see it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END_TABLE"


#: the one :class:`EndTable` (``repeat`` yields it after each run)
END_TABLE = EndTable()


class NoHeader(EndTable):
    """An :class:`EndTable` after which the next table is printed without its
    header line (crash's ``ps -H``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_HEADER"


#: the one :class:`NoHeader`
NO_HEADER = NoHeader()


class HeaderOnly(EndTable):
    """A table of no rows: its header line alone in text (as crash prints
    ``ps -y IDLE`` with no such task), nothing in ``--json``.
    ``HeaderOnly(columns)``."""

    __slots__ = ("columns",)

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)

    def __repr__(self) -> str:
        return f"HeaderOnly({self.columns!r})"
