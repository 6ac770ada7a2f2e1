"""Searches over every named type of the kernel by size and by the types
of their members (crash's ``whatis -r`` and ``whatis -m``).

The types are the kernel's BTF (:mod:`.btf`), every definition of a name
(a name two files define differently has a row for each size).  A type
drgn cannot find by its name, one declared inside a function, is left
out, as gdb's global and static blocks leave it out of crash's search and
as ``whatis NAME`` cannot show it.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import drgn

from .btf import (
    BTF_KIND_ARRAY,
    BTF_KIND_INT,
    BTF_KIND_PTR,
    BTF_KIND_STRUCT,
    BTF_KIND_TYPEDEF,
    BTF_KIND_UNION,
    Btf,
    BtfError,
    kernel_btf,
    named_types,
)

__all__ = ["TypeMatch", "btf_type_contains", "types_by_size_and_member"]


class TypeMatch(NamedTuple):
    """One type a search found: its size in bytes, its name as crash
    prints it (a tag without ``struct``), and its kind: ``struct``,
    ``union``, ``enum``, ``typedef`` or ``base``."""

    size: int
    name: str
    kind: str


def btf_type_contains(btf: Btf, type_id: int, member: str, _depth: int = 0) -> bool:
    """Whether structure or union ``type_id`` of ``btf`` has a member whose
    type, under one array and then one pointer, has a name containing
    ``member`` (``mm_struct`` finds ``struct mm_struct *mm``, ``atomic``
    finds ``atomic_t``), also searching the members of embedded structures
    (not of unions, nor through a typedef): crash's lookup_struct_contents()
    in its gdb patch.  BTF stores a many-dimensional array as one, so a
    ``struct list_head lists[4][2]`` is searched too, where crash's gdb sees
    an array of arrays and stops.

    :raises kmemx.types.btf.BtfError: a type id BTF does not have, or
        structures nested more than 64 deep (a structure cannot hold itself).
    """
    if _depth > 64:
        raise BtfError(f"BTF structures nested more than 64 deep at type {type_id}")
    for field in btf.type(type_id).members:
        field = btf.strip(field)
        t = btf.type(field)
        if t.kind == BTF_KIND_ARRAY:
            field = btf.strip(t.members[0])
            t = btf.type(field)
        if t.kind == BTF_KIND_STRUCT and btf_type_contains(btf, field, member, _depth + 1):
            return True
        if t.kind == BTF_KIND_PTR:
            field = btf.strip(t.size_or_type)
        name = btf.name_of(field)
        if name and member in name:
            return True
    return False


def _findable(prog: drgn.Program, keyword: str, name: str) -> bool:
    """Whether drgn finds a type by ``keyword name`` (cached per program in
    ``prog.cache["kmemx.types.search.findable"]``).  A base type drgn does
    not name (``__int128``, ``__int128 unsigned``, gcc's ``ssizetype``) is
    findable: gdb lists it."""
    cache = prog.cache.setdefault("kmemx.types.search.findable", {})
    key = (keyword, name)
    found = cache.get(key)
    if found is None:
        try:
            prog.type(f"{keyword} {name}" if keyword else name)
            found = True
        except (LookupError, SyntaxError):
            found = False
        cache[key] = found
    return bool(found)


def types_by_size_and_member(prog: drgn.Program, lowest: int = 0, highest: int = 0,
                             member: str | None = None) -> Iterator[TypeMatch]:
    """The kernel's named types (base types, structures, unions, enums,
    typedefs) of ``lowest`` to ``highest`` bytes (any size when ``highest``
    is 0) and, given ``member``, the structures and unions
    :func:`btf_type_contains` finds it in; in size then name order, each
    name, kind and size once.  Mirrors crash's request_types() (symbols.c).

    :raises kmemx.types.btf.BtfError: the kernel has no BTF to list its
        types from, or it is damaged.
    :raises drgn.FaultError: the BTF section cannot be read.
    """
    btf = kernel_btf(prog)
    found: dict[tuple[str, str, int], TypeMatch] = {}
    for keyword, type_id in named_types(btf):
        t = btf.types[type_id]
        size = btf.size(type_id)
        if highest and not lowest <= size <= highest:
            continue
        if member is not None and not (t.kind in (BTF_KIND_STRUCT, BTF_KIND_UNION)
                                       and btf_type_contains(btf, type_id, member)):
            continue
        kind = keyword or ("typedef" if t.kind == BTF_KIND_TYPEDEF else "base")
        key = (kind, t.name, size)
        if key in found or (t.kind != BTF_KIND_INT and not _findable(prog, keyword, t.name)):
            continue
        found[key] = TypeMatch(size, t.name, kind)
    yield from sorted(found.values(), key=lambda match: (match.size, match.name, match.kind))
