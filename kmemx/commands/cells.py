"""Typed table cells: what a command's row holds, rendered by the output layer.

Kernel byte strings (a comm, a symbol or slab cache name, a path) are not
always UTF-8.  The one rule for them: :func:`kernel_str` decodes them as
UTF-8 with Python's ``surrogateescape`` (PEP 383), so each byte that is not
UTF-8 becomes a lone surrogate U+DC80..U+DCFF and nothing is lost.  Text
output writes those back as the original bytes (see
:func:`kmemx.commands.output.surrogate_safe`); JSON output, which is ASCII,
writes them as ``\\udcXX`` escapes, which ``json.loads`` turns back into the
same string (and :func:`kernel_bytes` into the same bytes).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Absent", "Address", "Cell", "CrashSize", "Hex", "HexRange", "Name", "Percent", "Size", "cell_json",
           "cell_text", "crash_centre", "crash_size_text", "kernel_bytes", "kernel_str"]


def kernel_str(b: bytes) -> str:
    """Kernel bytes (``char comm[16]``, a ``const char *`` name...) as ``str``,
    losslessly: UTF-8, and each other byte as the lone surrogate that
    ``surrogateescape`` gives it.  Never raises."""
    return b.decode("utf-8", "surrogateescape")


def crash_centre(text: str, width: int, right: bool) -> str:
    """crash's mkstring(CENTER|RJUST or CENTER|LJUST) (tools.c): ``text``
    centred in ``width`` columns, the odd blank on the left (``right``) or
    on the right; a longer text as it is."""
    extra = width - len(text)
    if extra <= 0:
        return text
    left = extra // 2 + (extra % 2 if right else 0)
    return " " * left + text + " " * (extra - left)


def kernel_bytes(s: str) -> bytes:
    """The kernel bytes of a string made by :func:`kernel_str` (the inverse)."""
    return s.encode("utf-8", "surrogateescape")


class Absent(str):
    """A value the dump does not hold, printed as crash marks it (``--``:
    ``ps -s``'s stack pointer of a task running on a CPU); null in JSON."""

    __slots__ = ()


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


class HexRange(tuple[int, int]):
    """An inclusive range ``START-END`` in hex, zero-padded to ``digits``
    (crash's ``dev -i`` RANGE: ``0000-0cf7``, ``00100000-1ffdffff``); JSON:
    ``[start, end]``.  ``HexRange(start, end, digits)``."""

    digits: int

    def __new__(cls, start: int, end: int, digits: int = 0) -> HexRange:
        self = super().__new__(cls, (start, end))
        self.digits = digits
        return self

    def __str__(self) -> str:
        return f"{self[0]:0{self.digits}x}-{self[1]:0{self.digits}x}"


class Size(int):
    """A size in bytes; tables show it in KiB like crash and ps (``VSZ``, ``RSS``)."""

    __slots__ = ()

    def __str__(self) -> str:
        return str(int(self) // 1024)


def crash_size_text(n: int) -> str:
    """``n`` bytes as crash's pages_to_size() prints them: ``455.2 MB``,
    ``74 MB`` (a ``.0`` dropped), ``1.5 GB``, ``12 KB``, ``0``."""
    if n == 0:
        return "0"
    if n >= 1 << 30:
        text = f"{n / (1 << 30):.1f} GB"
    elif n >= 1 << 20:
        text = f"{n / (1 << 20):.1f} MB"
    else:
        return f"{n >> 10} KB"
    return text.replace(".0 ", " ")


class CrashSize(int):
    """A size in bytes shown as crash shows sizes (``455.2 MB``); JSON: bytes."""

    __slots__ = ()

    def __str__(self) -> str:
        return crash_size_text(int(self))


class Percent(float):
    """A percentage, shown with one decimal."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"{float(self):.1f}"


class Name(str):
    """A name (comm, cache, symbol); from kernel bytes: ``Name(kernel_str(b))``."""

    __slots__ = ()


Cell = Any


def cell_text(v: Cell) -> str:
    if v is None:
        return "-"
    if isinstance(v, bytes):
        return kernel_str(v)
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def cell_json(v: Cell) -> Any:
    if isinstance(v, Absent):
        return None
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
        return kernel_str(v)
    if isinstance(v, (list, tuple)):
        return [cell_json(x) for x in v]
    if isinstance(v, dict):
        return {str(k): cell_json(x) for k, x in v.items()}
    if isinstance(v, str):
        return str.__str__(v)  # the raw value, not its table decoration
    return str(v)
