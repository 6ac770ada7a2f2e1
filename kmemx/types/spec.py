"""Bulk-read specs: what :func:`kmemx.types.fields.raw_reader` (and the C
loop behind it, ``kmemx._speedups.read_members``) reads at an address.

This module is the one place of the ABI between Python and C.  A spec is a
tuple of items; an item is ``(offset, size, kind)`` or ``(offset, size,
kind, extra)``, offsets relative to the address being read.  Build items
with the constructors below, never as literal tuples:

========================  =====================================================
``unsigned(off, size)``   an unsigned int of 1, 2, 4 or 8 bytes
``signed(off, size)``     a signed (two's complement) int
``string(off, size)``     a ``char[size]``: bytes up to the first NUL
``follow(off, sub)``      a pointer at ``off``: the tuple ``sub`` reads where
                          it points (None when NULL)
``follow_inline(off,      the same with ``sub``'s values in place in the
sub)``                    result (each None when NULL)
``s64_plus_s32s(off,      the s64 at ``off`` plus the s32 at ``p + o`` for
ptr_off, offsets)``       each ``o`` in ``offsets``, ``p`` the pointer at
                          ``ptr_off``: plain arithmetic, no kernel knowledge
                          (the kernel meaning, e.g. ``percpu_counter_sum()``,
                          is its caller's: :mod:`kmemx.helpers.mm`)
========================  =====================================================

The C module defines the same kind numbers (``SPEC_*``); importing this
module checks that the built extension agrees.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import drgn
from drgn import TypeKind

from .._accel import speedups

__all__ = ["FOLLOW", "FOLLOW_INLINE", "KINDS", "S64_PLUS_S32S", "SIGNED", "STRING", "UNSIGNED",
           "Item", "Spec", "follow", "follow_inline", "integer", "s64_plus_s32s", "scalar_kind",
           "signed", "string", "unsigned", "width"]

#: kind numbers, shared with ``kmemx/_speedups.c`` (``enum spec_kind``)
UNSIGNED = 0
SIGNED = 1
STRING = 2
FOLLOW = 3
FOLLOW_INLINE = 4
S64_PLUS_S32S = 5
KINDS = {"UNSIGNED": UNSIGNED, "SIGNED": SIGNED, "STRING": STRING, "FOLLOW": FOLLOW,
         "FOLLOW_INLINE": FOLLOW_INLINE, "S64_PLUS_S32S": S64_PLUS_S32S}

Item = tuple[Any, ...]
Spec = tuple[Item, ...]

if speedups is not None:
    _c = {name: getattr(speedups, "SPEC_" + name, None) for name in KINDS}
    if _c != KINDS:
        raise ImportError(f"kmemx._speedups is out of date (spec kinds {_c}, expected {KINDS}):"
                          " rebuild it (pip install -e .) or set KMEMX_NO_SPEEDUPS=1")


def scalar_kind(s: drgn.Type) -> tuple[int, bool]:
    """``(size, signed)`` of how an integer-like type is stored: an int as
    declared, a bool unsigned, an enum as its compatible type (an
    incomplete enum: 4 bytes, unsigned), a pointer as an unsigned address.
    ``s`` is stripped of typedefs and qualifiers.  The one rule every
    reader uses (views, :func:`~kmemx.types.fields.member_spec`, numpy
    dtypes)."""
    kind = s.kind
    if kind == TypeKind.INT:
        return int(s.size or 8), bool(s.is_signed)
    if kind == TypeKind.ENUM:
        c = s.type
        return (int(c.size), bool(c.is_signed)) if c is not None else (4, False)
    if kind in (TypeKind.BOOL, TypeKind.POINTER):
        return int(s.size or 8), False
    raise TypeError(f"{s.type_name()} is not an integer, bool, enum or pointer")


def unsigned(off: int, size: int) -> Item:
    return (off, size, UNSIGNED)


def signed(off: int, size: int) -> Item:
    return (off, size, SIGNED)


def integer(off: int, size: int, is_signed: bool) -> Item:
    return (off, size, SIGNED if is_signed else UNSIGNED)


def string(off: int, size: int) -> Item:
    return (off, size, STRING)


def follow(off: int, sub: Spec) -> Item:
    return (off, 8, FOLLOW, tuple(sub))


def follow_inline(off: int, sub: Spec) -> Item:
    return (off, 8, FOLLOW_INLINE, tuple(sub))


def s64_plus_s32s(off: int, ptr_off: int, offsets: Iterable[int]) -> Item:
    return (off, 8, S64_PLUS_S32S, (ptr_off, tuple(offsets)))


def width(spec: Spec) -> int:
    """How many values ``spec`` reads (a :func:`follow_inline` item stands
    for its subspec's)."""
    return sum(width(item[3]) if item[2] == FOLLOW_INLINE else 1 for item in spec)
