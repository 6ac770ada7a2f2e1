"""Read several members of a struct in one ``struct.unpack_from``.

``fields(k, "struct task_struct", ["pid", "tgid", "comm"])`` compiles one
:class:`struct.Struct` covering the members' span (pad bytes between them),
and returns a function ``read(address) -> tuple``.  When the span lies in one
contiguous run of the mmap (always for slab objects in a dump: physically
contiguous memory is contiguous in the file) the whole tuple is one unpack;
otherwise it falls back to one read of the span.

Scalars decode as ints, ``char[]`` members as ``bytes`` up to the first NUL,
pointers as ints (addresses).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Callable

import drgn
from drgn import TypeKind

from .._accel import speedups as _speedups
from . import spec as sp
from .layout import layout_for, resolve_type, strip, type_key

if TYPE_CHECKING:
    from ..kernel import Kernel

__all__ = ["fields", "member_spec", "raw_reader", "raw_reader_many", "spec_width"]

_FMT = {(1, False): "B", (1, True): "b", (2, False): "H", (2, True): "h", (4, False): "I",
        (4, True): "i", (8, False): "Q", (8, True): "q"}


def fields(k: Kernel, type: Any, members: list[str]) -> Callable[[int], tuple[Any, ...]]:
    """A function reading ``members`` (top-level or flattened anonymous members,
    not bit fields) of ``type`` at an address, as a tuple in that order."""
    key = ("kmemx.types.fields", type if isinstance(type, str) else type_key(k.prog, type),
           tuple(members))
    cached: Callable[[int], tuple[Any, ...]] | None = k.prog.cache.get(key)
    if cached is not None:
        return cached
    lay = layout_for(k.prog, resolve_type(k.prog, type))
    specs = [_item_spec(m.name, m.offset, m.type, m.bit_size)
             for m in (lay.member(name) for name in members)]
    order = sorted(range(len(specs)), key=lambda i: specs[i][0])
    fmt = "<"
    pos = start = specs[order[0]][0]
    for i in order:
        off, size, how = specs[i]
        if off < pos:
            raise ValueError("overlapping members")
        if off > pos:
            fmt += f"{off - pos}x"
        fmt += f"{size}s" if how == sp.STRING else _FMT[(size, how == sp.SIGNED)]
        pos = off + size
    unpack = struct.Struct(fmt).unpack_from
    span = pos - start
    strings = [i for i, item in enumerate(specs) if item[2] == sp.STRING]
    inverse = [order.index(i) for i in range(len(specs))]
    pages = k._pages
    identity = inverse == list(range(len(specs)))
    # the C fast path reads each member where it is (no span, no page crossing)
    cspec = tuple(specs)
    read_members = _speedups.read_members if _speedups is not None else None

    def read(address: int) -> tuple[Any, ...]:
        if read_members is not None:
            got: tuple[Any, ...] | None = read_members(pages, address, cspec)
            if got is not None:
                return got
        a = address + start
        p = pages.get(a >> 12)
        o = a & 4095
        if p is not None and o + span <= 4096:
            vals = unpack(p[0], p[1] + o)
        else:
            e = pages.get((a + span - 1) >> 12)
            if (p is not None and e is not None and e[0] is p[0]
                    and e[1] - p[1] == (((a + span - 1) >> 12) - (a >> 12)) << 12):
                vals = unpack(p[0], p[1] + o)
            else:
                vals = unpack(k.read(a, span), 0)
        if not identity:
            vals = tuple(vals[j] for j in inverse)
        if strings:
            lst = list(vals)
            for i in strings:
                v = lst[i]
                n = v.find(b"\0")
                lst[i] = v if n < 0 else v[:n]
            vals = tuple(lst)
        out: tuple[Any, ...] = vals
        return out

    k.prog.cache[key] = read
    return read


def member_spec(k: Kernel, type: Any, path: str) -> sp.Item:
    """The :mod:`~kmemx.types.spec` item of a scalar or ``char[]`` member path
    of ``type`` (``"pid"``, ``"thread_info.cpu"``) for :func:`raw_reader`:
    :func:`~kmemx.types.spec.unsigned` or :func:`~kmemx.types.spec.signed`
    (by :func:`~kmemx.types.spec.scalar_kind`, as a view reads it), or
    :func:`~kmemx.types.spec.string` for a char array."""
    t = resolve_type(k.prog, type)
    off = 0
    m = None
    for part in path.split("."):
        lay = layout_for(k.prog, strip(t))
        m = lay.member(part)
        off += m.offset
        t = m.type
    assert m is not None
    return _item_spec(path, off, t, m.bit_size)


def _item_spec(name: str, off: int, t: drgn.Type, bit_size: int | None) -> sp.Item:
    """The spec item of a member of type ``t`` at ``off`` read in bulk."""
    if bit_size:
        raise TypeError(f"{name} is a bit field")
    s = strip(t)
    if s.kind in (TypeKind.INT, TypeKind.BOOL, TypeKind.ENUM, TypeKind.POINTER):
        return sp.integer(off, *sp.scalar_kind(s))
    if s.kind == TypeKind.ARRAY and drgn.sizeof(s.type) == 1 and s.length:
        return sp.string(off, int(s.length))
    raise TypeError(f"{name}: only scalars and char arrays can be read in bulk")


def spec_width(spec: sp.Spec) -> int:
    """How many values :func:`raw_reader` returns for ``spec``."""
    return sp.width(spec)


def raw_reader(k: Kernel, spec: sp.Spec) -> Callable[[int], tuple[Any, ...]]:
    """A function reading ``spec``'s items (:mod:`kmemx.types.spec`) at an
    address, as a tuple: one C call on the fast path, else one read per item
    (a fault names the item's address)."""
    pages = k._pages
    read_members = _speedups.read_members if _speedups is not None else None

    kread = k.read

    def slow(address: int, spec: sp.Spec = spec) -> tuple[Any, ...]:
        # the pure-Python twin of read_members() in kmemx/_speedups.c
        out: list[Any] = []
        for item in spec:
            off, size, how = item[:3]
            a = address + off
            p = pages.get(a >> 12)
            o = a & 4095
            if p is not None and o + size <= 4096:
                start = p[1] + o
                raw = bytes(p[0][start:start + size])
            else:
                raw = kread(a, size)
            if how == sp.STRING:
                n = raw.find(b"\0")
                out.append(raw if n < 0 else raw[:n])
            elif how == sp.FOLLOW:
                ptr = int.from_bytes(raw, "little")
                out.append(slow(ptr, item[3]) if ptr else None)
            elif how == sp.FOLLOW_INLINE:
                ptr = int.from_bytes(raw, "little")
                out.extend(slow(ptr, item[3]) if ptr else (None,) * sp.width(item[3]))
            elif how == sp.S64_PLUS_S32S:
                ptr_off, offsets = item[3]
                total = int.from_bytes(raw, "little", signed=True)
                base = int.from_bytes(kread(address + ptr_off, 8), "little")
                for o32 in offsets:
                    total += int.from_bytes(kread(base + o32, 4), "little", signed=True)
                out.append(total)
            else:
                out.append(int.from_bytes(raw, "little", signed=how == sp.SIGNED))
        return tuple(out)

    if read_members is None:
        return slow

    def read(address: int) -> tuple[Any, ...]:
        got: tuple[Any, ...] | None = read_members(pages, address, spec)
        return got if got is not None else slow(address)

    return read


def raw_reader_many(k: Kernel, spec: sp.Spec
                    ) -> Callable[[list[int]], list[tuple[Any, ...] | None]]:
    """A function reading ``spec`` (see :func:`raw_reader`) at many addresses
    in one call: independent reads whose cache misses overlap.  An entry is
    None where the fast path does not apply (always, without the C module):
    read that one with :func:`raw_reader`, where a fault belongs to it."""
    pages = k._pages
    many = _speedups.read_members_many if _speedups is not None else None
    if many is None:
        return lambda addrs: [None] * len(addrs)

    def read(addrs: list[int]) -> list[tuple[Any, ...] | None]:
        got: list[tuple[Any, ...] | None] = many(pages, addrs, spec)
        return got

    return read
