"""Typed table cells: what a command's row holds, rendered by the output layer."""

from __future__ import annotations

from typing import Any

__all__ = ["Address", "Cell", "Hex", "Name", "Percent", "Size", "cell_json", "cell_text"]


class Address(int):
    """A kernel address: ``ffff888003a1c000`` in tables, ``"0x..."`` in JSON."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"{int(self):x}"

    def __repr__(self) -> str:
        return f"Address({int(self):#x})"


class Hex(int):
    """An integer shown in hex (flags, offsets)."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"{int(self):#x}"


class Size(int):
    """A size in bytes; tables show it in KiB like crash and ps (``VSZ``, ``RSS``)."""

    __slots__ = ()

    def __str__(self) -> str:
        return str(int(self) // 1024)


class Percent(float):
    """A percentage, shown with one decimal."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"{float(self):.1f}"


class Name(str):
    """A name (comm, cache, symbol)."""

    __slots__ = ()


Cell = Any


def cell_text(v: Cell) -> str:
    if v is None:
        return "-"
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def cell_json(v: Cell) -> Any:
    if isinstance(v, Address):
        return f"{int(v):#x}"
    if isinstance(v, Size):
        return int(v)
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, Percent):
        return round(float(v), 2)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, (list, tuple)):
        return [cell_json(x) for x in v]
    if isinstance(v, str):
        return str.__str__(v)  # the raw value, not its table decoration
    return str(v)
