"""Struct layouts, computed once per type from drgn's ``Type`` and cached per
program in ``prog.cache["kmemx.types.layouts"]``.

A :class:`Layout` flattens anonymous struct/union members (``task_struct``
is full of them) so every reachable member name maps to one
:class:`Member`: its byte offset, bit-field position and decoded kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import drgn
from drgn import TypeKind

from ..errors import UnknownNameError
from ..symbols import did_you_mean

__all__ = ["Layout", "Member", "UnknownMemberError", "UnknownTypeError", "layout_for",
           "resolve_type", "strip", "type_key"]


class UnknownMemberError(UnknownNameError, AttributeError):
    """An unknown struct member (also an AttributeError, so ``hasattr`` works).

    The "did you mean" part is computed only when the message is shown, so
    probing for a member that a kernel version lacks stays cheap."""

    def __init__(self, type_name: str, name: str, choices: list[str]) -> None:
        super().__init__(type_name, name)
        self.type_name, self.member_name, self._choices = type_name, name, choices

    def __str__(self) -> str:
        return (f"{self.type_name} has no member '{self.member_name}'"
                + did_you_mean(self.member_name, self._choices))


class UnknownTypeError(UnknownNameError):
    """An unknown type name.  As for members, the "did you mean" part (which
    reads every type name of the program's BTF) is computed only when the
    message is shown: probing for a type a kernel version lacks
    (``struct kmem_cache_cpu`` since 7.0) stays cheap."""

    def __init__(self, type_name: str, prog: drgn.Program | None = None) -> None:
        super().__init__(type_name)
        self.type_name, self._prog = type_name, prog

    def __str__(self) -> str:
        tag, _, bare = self.type_name.partition(" ")
        hint = ""
        if self._prog is not None and tag in ("struct", "union", "enum") and bare:
            hint = did_you_mean(bare, _type_names(self._prog, tag), prefix=f"{tag} ")
        return f"unknown type '{self.type_name}'{hint}"


_COMPOUND = (TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS)


def strip(t: drgn.Type) -> drgn.Type:
    """Drop typedefs and qualifiers."""
    while t.kind == TypeKind.TYPEDEF:
        t = t.type
    return t.unqualified()


def resolve_type(prog: drgn.Program, type: Any) -> drgn.Type:
    """A :class:`drgn.Type` from a name (``"struct task_struct"``) or a Type."""
    if isinstance(type, drgn.Type):
        return type
    if not isinstance(type, str):
        raise TypeError(f"expected a type name or drgn.Type, not {type!r}")
    cache: dict[str, drgn.Type] = prog.cache.setdefault("kmemx.types.by_name", {})
    t = cache.get(type)
    if t is not None:
        return t
    try:
        t = prog.type(type)
        cache[type] = t
        return t
    except LookupError:
        pass
    raise UnknownTypeError(type, prog) from None


def _type_names(prog: drgn.Program, tag: str) -> list[str]:
    """Names of the struct/union/enum types, from drgn's symbol-free type index
    where available; cached per program."""
    key = f"kmemx.types.names.{tag}"
    cached = prog.cache.get(key)
    if cached is None:
        cached = []
        try:
            from ..symbols import type_names

            cached = type_names(prog, tag)
        except Exception:
            cached = []
        prog.cache[key] = cached
    return list(cached)


@dataclass(frozen=True)
class Member:
    """One member reachable by name from a struct, with its absolute offset."""

    name: str
    offset: int  # byte offset from the start of the outer struct
    type: drgn.Type  # the member's declared type (typedefs kept)
    bit_offset: int  # bit offset within the byte at ``offset`` (bit fields)
    bit_size: int  # 0 unless a bit field


class Layout:
    """The flattened members of one struct/union type."""

    def __init__(self, prog: drgn.Program, type: drgn.Type) -> None:
        self.prog = prog
        self.type = type
        self.size = int(type.size or 0)
        self.name = type.type_name()
        self.members: dict[str, Member] = {}
        #: compiled View.fields() readers by member names (per program, like the layout)
        self.field_readers: dict[tuple[str, ...], Callable[[int], tuple[Any, ...]]] = {}
        self._add(strip(type), 0)

    def _add(self, t: drgn.Type, base_bits: int) -> None:
        for m in t.members or ():
            bits = base_bits + m.bit_offset
            if m.name is None:
                inner = strip(m.type)
                if inner.kind in _COMPOUND:
                    self._add(inner, bits)
                continue
            if m.name in self.members:
                continue
            self.members[m.name] = Member(m.name, bits // 8, m.type, bits % 8,
                                          m.bit_field_size or 0)

    def member(self, name: str) -> Member:
        try:
            return self.members[name]
        except KeyError:
            raise UnknownMemberError(self.name, name, list(self.members)) from None

    def offsetof(self, path: str) -> int:
        """Byte offset of a member path like ``"se.vruntime"`` or ``"a[3].b"``."""
        m = self.members.get(path)
        if m is not None:
            return m.offset
        try:
            return int(drgn.offsetof(self.type, path))
        except LookupError:
            first = path.split(".", 1)[0].split("[", 1)[0]
            self.member(first)  # raises with suggestions
            raise UnknownMemberError(self.name, path, []) from None


def type_key(prog: drgn.Program, type: drgn.Type) -> Any:
    """What identifies ``type`` in kmemx's per-program caches: the one rule
    for every cache keyed by a type (layouts, value readers, array specs,
    numpy dtypes, field readers).

    A type's name is unique unless it names an anonymous struct, union or
    enum somewhere: ``union <anonymous>`` (5.10's ``struct file`` has
    ``union { struct llist_node fu_llist; struct rcu_head fu_rcuhead; }
    f_u``), ``struct <anonymous> *``, ``union <anonymous> [2]`` are each
    the name of many different types.  Those are keyed by drgn's
    underlying type pointer (``_ptr``: a new :class:`drgn.Type` object on
    each lookup, the same pointer for the same type), and the type is kept
    alive in the cache so the pointer is never reused for another.
    Qualifiers do not change how a value is read and are not part of the
    key."""
    name = type.type_name()
    if "<anonymous>" not in name:
        return name
    ptr = getattr(type, "_ptr", None)
    keep: dict[Any, drgn.Type] = prog.cache.setdefault("kmemx.types.keepalive", {})
    # without drgn's pointer, the object's id (kept alive, so never reused)
    key = ("anonymous", name, ptr if ptr is not None else id(type))
    keep.setdefault(key, type)
    return key


def layout_for(prog: drgn.Program, type: drgn.Type) -> Layout:
    """The cached :class:`Layout` of a struct/union ``type``."""
    cache: dict[Any, Layout] = prog.cache.setdefault("kmemx.types.layouts", {})
    t = strip(type)
    key = type_key(prog, t)
    lay = cache.get(key)
    if lay is None:
        if t.kind not in _COMPOUND:
            raise TypeError(f"{t.type_name()} is not a struct or union")
        lay = Layout(prog, t)
        cache[key] = lay
    return lay
