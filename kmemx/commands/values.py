"""A drgn object's value as JSON data: what ``p``, ``task`` and ``struct``
give under ``--json`` (the one rule for all three).

Integers, enums and pointers are numbers (a pointer's value, not a
``"0x..."`` string: it is a value, not a table's address column); ``bool``
is ``true``/``false``; floating types are numbers; arrays of ``char``,
``signed char`` or ``unsigned char`` are strings (up to the first NUL,
kernel bytes decoded as :func:`kmemx.commands.cells.kernel_str` does) and a
lone one a one-character string, but through a byte typedef (``u8``,
``__s8``) they are numbers and lists; structures and unions are objects keyed by member
name (the members of an anonymous struct or union merged into their
parent's, as C reaches them); other arrays are lists; a function is its
address.  A member that cannot be read is ``null``.
"""

from __future__ import annotations

from typing import Any

import drgn

from .cells import kernel_str

__all__ = ["OBJECT_JSON_CODE", "object_json"]

_CHAR_NAMES = frozenset(("char", "signed char", "unsigned char"))


def _is_char(t: drgn.Type) -> bool:
    """``char``, ``signed char`` or ``unsigned char`` named as such (a byte
    typedef, ``u8`` or ``__s8``, is a number)."""
    t = t.unqualified()
    return t.kind == drgn.TypeKind.INT and t.name in _CHAR_NAMES


def object_json(obj: drgn.Object, limit: int = 1 << 16) -> Any:
    """The JSON value of ``obj`` (any drgn object) by the rules above.

    :param obj: a drgn object, a reference or a value.
    :param limit: the most array elements given (a longer array is cut there).
    :raises drgn.FaultError: ``obj`` itself (not one of its members) cannot
        be read.
    """
    t = obj.type_
    while t.kind == drgn.TypeKind.TYPEDEF:
        t = t.type
    kind = t.kind
    if kind in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION, drgn.TypeKind.CLASS):
        out: dict[str, Any] = {}
        _members(obj, t, out)
        return out
    if kind == drgn.TypeKind.ARRAY:
        if _is_char(t.type):
            return kernel_str(obj.string_())
        n = t.length or 0
        items = []
        for i in range(min(n, limit)):
            try:
                items.append(object_json(obj[i], limit))
            except drgn.FaultError:
                items.append(None)
        return items
    if kind == drgn.TypeKind.FUNCTION:
        return int(obj.address_) if obj.address_ is not None else None
    if kind == drgn.TypeKind.VOID:
        return None
    value = obj.value_()
    if kind == drgn.TypeKind.BOOL:
        return bool(value)
    if kind == drgn.TypeKind.INT and _is_char(obj.type_):
        return kernel_str(bytes([int(value) & 0xFF]))
    return value


def _members(obj: drgn.Object, t: drgn.Type, out: dict[str, Any]) -> None:
    for m in t.members or ():
        if m.name is None:  # an anonymous struct or union: drgn finds its members by name
            inner = m.type
            while inner.kind == drgn.TypeKind.TYPEDEF:
                inner = inner.type
            _members(obj, inner, out)
            continue
        try:
            out[m.name] = object_json(obj.member_(m.name))
        except drgn.FaultError:
            out[m.name] = None


#: :func:`object_json` as drgn code, for the ``--drgn`` scripts of the commands
#: whose ``--json`` uses it (``to_json(obj)``; needs ``from drgn import
#: FaultError, TypeKind``)
OBJECT_JSON_CODE = '''\
CHARS = ("char", "signed char", "unsigned char")


def is_char(t):  # char, signed char, unsigned char by that name (u8 is a number)
    t = t.unqualified()
    return t.kind == TypeKind.INT and t.name in CHARS


def to_json(obj):  # a drgn object as the commands' --json gives it
    t = obj.type_
    while t.kind == TypeKind.TYPEDEF:
        t = t.type
    if t.kind in (TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS):
        out = {}
        members_json(obj, t, out)
        return out
    if t.kind == TypeKind.ARRAY:
        if is_char(t.type):
            return obj.string_().decode("utf-8", "surrogateescape")
        items = []
        for i in range(min(t.length or 0, 1 << 16)):
            try:
                items.append(to_json(obj[i]))
            except FaultError:
                items.append(None)
        return items
    if t.kind == TypeKind.FUNCTION:
        return obj.address_
    if t.kind == TypeKind.VOID:
        return None
    value = obj.value_()
    if t.kind == TypeKind.BOOL:
        return bool(value)
    if t.kind == TypeKind.INT and is_char(obj.type_):
        return bytes([value & 0xFF]).decode("utf-8", "surrogateescape")
    return value


def members_json(obj, t, out):  # an anonymous struct or union's members are the parent's
    for m in t.members or ():
        if m.name is None:
            inner = m.type
            while inner.kind == TypeKind.TYPEDEF:
                inner = inner.type
            members_json(obj, inner, out)
            continue
        try:
            out[m.name] = to_json(obj.member_(m.name))
        except FaultError:
            out[m.name] = None
'''
