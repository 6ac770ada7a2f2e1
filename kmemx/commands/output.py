"""The output layer: turns what commands yield into text or JSON.

Commands never print; the CLI and the REPL call :func:`render`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from .cells import Address, Size, cell_json, cell_text
from .rows import NO_HEADER, EndTable, HeaderOnly, Row, TextLine, TextRecord

__all__ = ["render", "render_json", "render_table", "surrogate_safe"]


def _align_right(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, (bool, Address))


def render_table(columns: tuple[str, ...], rows: list[Row],
                 header: bool = True) -> Iterator[str]:
    """A crash-style table: header (unless ``header`` is false), then one
    line per row."""
    texts = [[cell_text(c) for c in r.cells] for r in rows]
    widths = [len(c) for c in columns]
    for t in texts:
        for i, s in enumerate(t):
            widths[i] = max(widths[i], len(s))
    def numeric(i: int) -> bool:
        vals = [r.cells[i] for r in rows[:50] if r.cells[i] is not None]
        return bool(vals) and all(_align_right(v) or isinstance(v, Size) for v in vals)

    right = [numeric(i) for i in range(len(columns))]
    last = len(columns) - 1

    def fmt(vals: list[str], header: bool = False) -> str:
        out = []
        for i, s in enumerate(vals):
            if i == last and not right[i]:
                out.append(s)
            else:
                out.append(s.rjust(widths[i]) if right[i] else s.ljust(widths[i]))
        return "  ".join(out).rstrip()

    if header:
        yield fmt(list(columns), True)
    for t in texts:
        yield fmt(t)


def render_json(items: Iterable[Any]) -> str:
    """A JSON array: rows as objects keyed by lower-case column names."""
    out: list[Any] = []
    for it in items:
        if isinstance(it, EndTable):
            continue
        if isinstance(it, Row):
            out.append(it.as_dict())
        elif isinstance(it, TextRecord):
            data = cell_json(it.data)
            if isinstance(data, list):
                out.extend(data)
            else:
                out.append(data)
        elif isinstance(it, TextLine):
            out.append(str(it))
        elif hasattr(it, "address") and hasattr(it, "type"):
            out.append({"address": f"{int(it.address):#x}", "type": it.type.type_name()})
        else:
            out.append(str(it))
    # ASCII: a kernel byte that is not UTF-8 (a lone surrogate, see
    # kmemx.commands.cells) is written as a \udcXX escape, which json.loads
    # reads back as the same string
    return json.dumps(out, indent=1, ensure_ascii=True)


def surrogate_safe(stream: IO[str]) -> IO[str]:
    """``stream``, set up to write kmemx text losslessly: each lone surrogate
    U+DC80..U+DCFF (a kernel byte that is not UTF-8, see
    :func:`kmemx.commands.cells.kernel_str`) is written as the byte it stands
    for (``errors="surrogateescape"``), so a comm or path with such bytes
    reaches a file or pipe unchanged instead of raising UnicodeEncodeError.
    Streams other than :class:`io.TextIOWrapper` are returned as they are."""
    if isinstance(stream, io.TextIOWrapper) and stream.errors not in (
            "surrogateescape", "surrogatepass", "backslashreplace"):
        stream.reconfigure(errors="surrogateescape")
    return stream


def render(items: Iterable[Any], as_json: bool = False) -> Iterator[str]:
    """Lines of output for a command's items.

    Consecutive rows with the same columns form one table; text lines pass
    through; kernel objects are pretty-printed as drgn does.
    """
    if as_json:
        yield render_json(items)
        return
    pending: list[Row] = []
    header = True  # False after NO_HEADER, for the next table
    for it in items:
        if isinstance(it, Row):
            if pending and pending[0].columns != it.columns:
                yield from render_table(pending[0].columns, pending, header)
                pending, header = [], True
            pending.append(it)
            continue
        if pending:
            yield from render_table(pending[0].columns, pending, header)
            pending, header = [], True
        if isinstance(it, HeaderOnly):
            if header:
                yield from render_table(it.columns, [])
            header = True
            continue
        if isinstance(it, EndTable):
            header = it is not NO_HEADER
            continue
        if isinstance(it, str):
            yield from it.splitlines() or [""]
        else:
            yield from str(it).splitlines()
    if pending:
        yield from render_table(pending[0].columns, pending, header)
