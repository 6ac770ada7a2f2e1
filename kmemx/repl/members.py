"""Attribute completion from type information, without reading memory.

``resolve_chain("init_task.mm", namespace)`` looks ``init_task`` up in the
namespace (a dict lookup) and then follows ``.mm`` through the *types*:
``struct task_struct`` has a member ``mm`` of type ``struct mm_struct *``,
so the members offered after ``init_task.mm.`` are those of ``struct
mm_struct``.  No pointer is dereferenced, no call is made (``k.object(...)``
is never evaluated) and no property runs: plain Python objects are walked
with :func:`inspect.getattr_static`, and only module and class attributes and
instance data are followed.  ``prog["name"]`` is allowed: it is drgn's
symbol-table lookup of a global, which reads no memory.
"""

from __future__ import annotations

import builtins
import inspect
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import drgn
from drgn import TypeKind

from .._accel import speedups

__all__ = ["Resolved", "attribute_names", "parse_chain", "resolve_chain"]

#: compiled view members (C descriptors) count as properties: reading them runs code
_PROPERTIES: tuple[type, ...] = (property,) + ((speedups.Field,) if speedups else ())
_DESCRIPTORS: tuple[type, ...] = (staticmethod, classmethod, *_PROPERTIES)

_COMPOUND = (TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS)
_STEP = re.compile(r"""\.([A-Za-z_]\w*)|\[\s*(?:(-?\d+)|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\]""")
_NAME = re.compile(r"[A-Za-z_]\w*")

Step = tuple[str, Any]  # ("attr", name) or ("index", int) or ("key", str)


def parse_chain(expr: str) -> list[Step] | None:
    """``a.b[0]["x"]`` -> ``[("attr", "a"), ("attr", "b"), ("index", 0), ("key", "x")]``;
    None if ``expr`` is anything but a name followed by attributes and
    literal subscripts."""
    expr = expr.strip()
    m = _NAME.match(expr)
    if not m:
        return None
    steps: list[Step] = [("attr", m.group())]
    pos = m.end()
    while pos < len(expr):
        s = _STEP.match(expr, pos)
        if not s:
            return None
        if s.group(1) is not None:
            steps.append(("attr", s.group(1)))
        elif s.group(2) is not None:
            steps.append(("index", int(s.group(2))))
        else:
            key = s.group(3) if s.group(3) is not None else s.group(4)
            steps.append(("key", key))
        pos = s.end()
    return steps


@dataclass
class Resolved:
    """Where a chain ends: a Python object, or a kernel type.

    ``family`` says which methods go with a kernel type: ``"drgn"`` for
    :class:`drgn.Object` (``value_()``, ``address_of_()``...) or ``"view"``
    for kmemx views (``address``, ``to_drgn()``...).
    """

    obj: Any = None
    type: drgn.Type | None = None
    prog: drgn.Program | None = None
    family: str = "python"


def _strip(t: drgn.Type) -> drgn.Type:
    while t.kind == TypeKind.TYPEDEF:
        t = t.type
    return t


def _kernel_type(obj: Any) -> Resolved | None:
    """The type of a drgn Object or kmemx view, from its attributes (no reads)."""
    if isinstance(obj, drgn.Object):
        return Resolved(type=obj.type_, prog=obj.prog_, family="drgn")
    from ..types.view import ArrayView, PointerView, View

    if isinstance(obj, View):
        lay = type(obj)._layout
        t = lay.type
        if type(obj)._is_pointer:
            t = lay.prog.pointer_type(t)
        return Resolved(type=t, prog=lay.prog, family="view")
    if isinstance(obj, (PointerView, ArrayView)):
        prog = obj._k.prog
        if isinstance(obj, PointerView):
            return Resolved(type=prog.pointer_type(obj._target), prog=prog, family="view")
        return Resolved(type=prog.array_type(obj._elem, obj._len), prog=prog, family="view")
    return None


def _compound_of(t: drgn.Type) -> drgn.Type | None:
    """The struct/union a value of type ``t`` gives members of (through one pointer)."""
    s = _strip(t)
    if s.kind == TypeKind.POINTER:
        s = _strip(s.type)
    return s if s.kind in _COMPOUND else None


def _member_type(prog: drgn.Program, t: drgn.Type, name: str) -> drgn.Type | None:
    s = _compound_of(t)
    if s is None:
        return None
    from ..types.layout import layout_for

    m = layout_for(prog, s).members.get(name)
    return m.type if m is not None else None


def _element_type(t: drgn.Type) -> drgn.Type | None:
    s = _strip(t)
    if s.kind in (TypeKind.ARRAY, TypeKind.POINTER):
        return s.type
    return None


def _static_attr(obj: Any, name: str) -> Any:
    """``obj.name`` when that runs no code: module/class attributes and instance
    data.  Raises LookupError for properties and other descriptors."""
    if isinstance(obj, (types.ModuleType, type)):
        try:
            value = inspect.getattr_static(obj, name)
        except AttributeError:
            raise LookupError(name) from None
        if isinstance(value, _DESCRIPTORS):
            raise LookupError(name)
        return value
    try:
        value = inspect.getattr_static(obj, name)
    except AttributeError:
        raise LookupError(name) from None
    # instance data comes back as itself; descriptors (properties, slots,
    # functions) would run code or give a bound method
    if hasattr(type(value), "__get__") and not isinstance(value, (types.ModuleType, type)):
        in_dict = name in getattr(obj, "__dict__", {})
        if not in_dict:
            raise LookupError(name)
    return value


def resolve_chain(steps: list[Step], namespace: Mapping[str, Any]) -> Resolved | None:
    """Follow a parsed chain without reading kernel memory; None when it cannot."""
    kind, first = steps[0]
    if first in namespace:
        cur = Resolved(obj=namespace[first])
    elif hasattr(builtins, first):
        cur = Resolved(obj=getattr(builtins, first))
    else:
        return None
    for kind, value in steps[1:]:
        if cur.type is None:
            kt = _kernel_type(cur.obj)
            if kt is not None:
                cur = kt
        if cur.type is not None:
            assert cur.prog is not None
            if kind == "attr":
                nt = _member_type(cur.prog, cur.type, value)
            elif kind == "index":
                nt = _element_type(cur.type)
            else:
                nt = None
            if nt is None:
                return None
            cur = Resolved(type=nt, prog=cur.prog, family=cur.family)
            continue
        obj = cur.obj
        if kind == "key" and isinstance(obj, drgn.Program):
            try:
                o = obj.object(value)  # symbol lookup; a reference object, nothing read
            except (LookupError, ValueError):
                return None
            cur = Resolved(type=o.type_, prog=obj, family="drgn")
            continue
        if kind == "attr":
            try:
                cur = Resolved(obj=_static_attr(obj, value))
            except LookupError:
                return None
            continue
        if isinstance(obj, (list, tuple, dict, str)):
            try:
                cur = Resolved(obj=obj[value])
            except (LookupError, TypeError):
                return None
            continue
        return None
    if cur.type is None:
        kt = _kernel_type(cur.obj)
        if kt is not None:
            cur = kt
    return cur


_DRGN_METHODS: list[str] | None = None


def _public(names: list[str]) -> list[str]:
    return [n for n in names if not n.startswith("_")]


def _view_methods(t: drgn.Type) -> list[str]:
    from ..types.view import ArrayView, PointerView, View

    s = _strip(t)
    if s.kind in _COMPOUND or (s.kind == TypeKind.POINTER and _compound_of(s) is not None):
        return _public(dir(View))
    if s.kind == TypeKind.POINTER:
        return _public(dir(PointerView))
    if s.kind == TypeKind.ARRAY:
        return _public(dir(ArrayView))
    return []


def attribute_names(res: Resolved) -> list[tuple[str, str]]:
    """``(name, meta)`` pairs after ``expr.``: struct members with their type
    names first, then methods; plain ``dir()`` for Python objects."""
    global _DRGN_METHODS
    if res.type is not None:
        assert res.prog is not None
        out: list[tuple[str, str]] = []
        s = _compound_of(res.type)
        if s is not None:
            from ..types.layout import layout_for

            for name, m in layout_for(res.prog, s).members.items():
                out.append((name, m.type.type_name()))
        if res.family == "drgn":
            if _DRGN_METHODS is None:
                _DRGN_METHODS = [n for n in dir(drgn.Object) if not n.startswith("__")]
            out.extend((n, "drgn.Object") for n in _DRGN_METHODS)
        else:
            out.extend((n, "view") for n in _view_methods(res.type))
        return out
    try:
        names = dir(res.obj)
    except Exception:
        return []
    out = []
    for n in names:
        try:
            value = inspect.getattr_static(res.obj, n)
        except AttributeError:
            out.append((n, ""))
            continue
        meta = "module" if isinstance(value, types.ModuleType) else (
            "class" if isinstance(value, type) else (
                "property" if isinstance(value, _PROPERTIES) else (
                    "function" if callable(value) else type(value).__name__)))
        out.append((n, meta))
    return out
