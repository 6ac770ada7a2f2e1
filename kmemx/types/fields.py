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
from .layout import layout_for, resolve_type, strip
from .view import scalar_size

if TYPE_CHECKING:
    from ..kernel import Kernel

__all__ = ["fields", "member_spec", "raw_reader", "raw_reader_many", "spec_width"]

_FMT = {(1, False): "B", (1, True): "b", (2, False): "H", (2, True): "h", (4, False): "I",
        (4, True): "i", (8, False): "Q", (8, True): "q"}


def fields(k: Kernel, type: Any, members: list[str]) -> Callable[[int], tuple[Any, ...]]:
    """A function reading ``members`` (top-level or flattened anonymous members,
    not bit fields) of ``type`` at an address, as a tuple in that order."""
    key = ("kmemx.types.fields", type if isinstance(type, str) else type.type_name(),
           tuple(members))
    cached: Callable[[int], tuple[Any, ...]] | None = k.prog.cache.get(key)
    if cached is not None:
        return cached
    lay = layout_for(k.prog, resolve_type(k.prog, type))
    specs = []
    for name in members:
        m = lay.member(name)
        specs.append((m.offset, *_item_spec(name, m.type, m.bit_size)))
    order = sorted(range(len(specs)), key=lambda i: specs[i][0])
    fmt = "<"
    pos = start = specs[order[0]][0]
    for i in order:
        off, size, how = specs[i]
        if off < pos:
            raise ValueError("overlapping members")
        if off > pos:
            fmt += f"{off - pos}x"
        fmt += f"{size}s" if how == 2 else _FMT[(size, how == 1)]
        pos = off + size
    unpack = struct.Struct(fmt).unpack_from
    span = pos - start
    strings = [i for i, sp in enumerate(specs) if sp[2] == 2]
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


def member_spec(k: Kernel, type: Any, path: str) -> tuple[int, int, int]:
    """``(offset, size, how)`` of a scalar or ``char[]`` member path of ``type``
    (``"pid"``, ``"thread_info.cpu"``) for :func:`raw_reader`: how is 0 for
    unsigned, 1 for signed, 2 for a char array read as bytes up to its NUL."""
    t = resolve_type(k.prog, type)
    off = 0
    m = None
    for part in path.split("."):
        lay = layout_for(k.prog, strip(t))
        m = lay.member(part)
        off += m.offset
        t = m.type
    assert m is not None
    return (off, *_item_spec(path, t, m.bit_size))


def _item_spec(name: str, t: drgn.Type, bit_size: int | None) -> tuple[int, int]:
    """``(size, how)`` of a member of type ``t`` read in bulk."""
    if bit_size:
        raise TypeError(f"{name} is a bit field")
    s = strip(t)
    if s.kind in (TypeKind.INT, TypeKind.BOOL, TypeKind.ENUM, TypeKind.POINTER):
        signed = bool(s.is_signed) if s.kind == TypeKind.INT else False
        return scalar_size(s), int(signed)
    if s.kind == TypeKind.ARRAY and drgn.sizeof(s.type) == 1 and s.length:
        return int(s.length), 2
    raise TypeError(f"{name}: only scalars and char arrays can be read in bulk")


def spec_width(spec: tuple[tuple[Any, ...], ...]) -> int:
    """How many values :func:`raw_reader` returns for ``spec``."""
    return sum(spec_width(item[3]) if item[2] == 4 else 1 for item in spec)


def raw_reader(k: Kernel, spec: tuple[tuple[Any, ...], ...]
               ) -> Callable[[int], tuple[Any, ...]]:
    """A function reading ``spec``'s items at an address, as a tuple: one C
    call on the fast path, else one read per item (a fault names the item's
    address).  Items are ``(offset, size, how)`` from :func:`member_spec`, or
    ``(offset, 8, 3, subspec)`` to follow a pointer and read ``subspec`` where
    it points (a tuple, or None when the pointer is NULL), or ``(offset, 8, 4,
    subspec)`` for the same values in place (each None when it is NULL), or
    ``(offset, 8, 5, (count_off, counters_off, cpu_offsets))`` for
    ``percpu_counter_sum()`` of the ``struct percpu_counter`` at ``offset``."""
    pages = k._pages
    read_members = _speedups.read_members if _speedups is not None else None

    kread = k.read

    def slow(address: int, spec: tuple[tuple[Any, ...], ...] = spec) -> tuple[Any, ...]:
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
            if how == 2:
                n = raw.find(b"\0")
                out.append(raw if n < 0 else raw[:n])
            elif how == 3:
                ptr = int.from_bytes(raw, "little")
                out.append(slow(ptr, item[3]) if ptr else None)
            elif how == 4:
                ptr = int.from_bytes(raw, "little")
                out.extend(slow(ptr, item[3]) if ptr else (None,) * spec_width(item[3]))
            elif how == 5:  # percpu_counter_sum() of the struct percpu_counter at a
                count_off, counters_off, cpu_offsets = item[3]
                total = int.from_bytes(kread(a + count_off, 8), "little", signed=True)
                counters = int.from_bytes(kread(a + counters_off, 8), "little")
                for cpu_off in cpu_offsets:
                    total += int.from_bytes(kread(counters + cpu_off, 4), "little", signed=True)
                out.append(total)
            else:
                out.append(int.from_bytes(raw, "little", signed=how == 1))
        return tuple(out)

    if read_members is None:
        return slow

    def read(address: int) -> tuple[Any, ...]:
        got: tuple[Any, ...] | None = read_members(pages, address, spec)
        return got if got is not None else slow(address)

    return read


def raw_reader_many(k: Kernel, spec: tuple[tuple[Any, ...], ...]
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
