"""XArrays, radix trees (an XArray since 4.20) and IDRs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import KmemxError
from ..kernel import Kernel
from ..types.layout import layout_for, resolve_type
from ._common import MAX_ENTRIES, address_of
from .list import ListCycleError

__all__ = ["idr_for_each", "idr_for_each_position", "radix_tree_for_each", "xa_for_each",
           "xa_for_each_position", "xa_node_for_each_position"]

_CHUNK = 64


def _is_internal(e: int) -> bool:
    return e & 3 == 2


def _node_offsets(k: Kernel) -> tuple[int, int]:
    cached: tuple[int, int] | None = k.prog.cache.get("kmemx.helpers.xa_node")
    if cached is None:
        lay = layout_for(k.prog, resolve_type(k.prog, "struct xa_node"))
        cached = (lay.offsetof("shift"), lay.offsetof("slots"))
        k.prog.cache["kmemx.helpers.xa_node"] = cached
    return cached


def _xa_walk(k: Kernel, node: int, positions: bool,
             limit: int) -> Iterator[tuple[int, int, str]]:
    """``(index, entry, position)`` below ``struct xa_node`` ``node``, by
    index from 0 at ``node``; ``position`` is crash's ``root/3/42`` ('' when
    ``positions`` is false).  The one walk of xa_for_each() and the rest."""
    shift_off, slots_off = _node_offsets(k)
    seen: set[int] = set()
    count = 0

    def walk(node: int, base: int, pos: str) -> Iterator[tuple[int, int, str]]:
        # at most 11 levels of 64 slots cover 64-bit indices: recursion is bounded
        nonlocal count
        if node in seen:
            raise ListCycleError(f"xarray node {node:#x} visited twice", node)
        seen.add(node)
        shift = k.read_u8(node + shift_off)
        raw = k.read(node + slots_off, 8 * _CHUNK)
        for i in range(_CHUNK):
            e = int.from_bytes(raw[8 * i:8 * i + 8], "little")
            if not e:
                continue
            idx = base + (i << shift)
            if _is_internal(e):
                if e > 4096 and shift:
                    yield from walk(e - 2, idx, f"{pos}/{i}" if positions else "")
                # else: sibling, retry or zero entry
                continue
            count += 1
            if count > limit:
                raise KmemxError(f"xarray larger than {limit} entries; stopping")
            yield idx, e, f"{pos}/{i}" if positions else ""

    yield from walk(node, 0, "root" if positions else "")


def _xa_entries(k: Kernel, xa: int, positions: bool,
                limit: int) -> Iterator[tuple[int, int, str]]:
    """:func:`_xa_walk` of the ``struct xarray`` at address ``xa``: nothing
    for an empty one, its one entry (index 0, ``root``) when ``xa_head`` is
    not a node (xa_is_node())."""
    xa_head_off = layout_for(k.prog, resolve_type(k.prog, "struct xarray")).offsetof("xa_head")
    head = k.read_u64(xa + xa_head_off)
    if not head:
        return
    if not (_is_internal(head) and head > 4096):
        yield 0, head, "root" if positions else ""
        return
    yield from _xa_walk(k, head - 2, positions, limit)


def xa_for_each_position(xa: Any, k: Kernel | None = None,
                         limit: int = MAX_ENTRIES) -> Iterator[tuple[int, int, str]]:
    """``(index, entry, position)`` of each present entry of ``xa``
    (``struct xarray *``, a radix tree since 4.20), by index, as
    include/linux/xarray.h's ``xa_for_each()`` finds them; ``position`` is
    crash's ``tree -p``: ``root`` then the slot offset in each ``struct
    xa_node`` on the way down (``root/3/42``), ``root`` alone for an entry
    kept in ``xa_head``.  Value entries are yielded as they are (bit 0 set).

    :raises ListCycleError: a node seen twice.
    :raises KmemxError: more than ``limit`` entries.
    :raises drgn.FaultError: a node cannot be read.
    """
    k, a = address_of(xa, k)
    yield from _xa_entries(k, a, True, limit)


def xa_node_for_each_position(node: int, k: Kernel,
                              limit: int = MAX_ENTRIES) -> Iterator[tuple[int, int, str]]:
    """``(index, entry, position)`` of each present entry below ``node``
    (``struct xa_node *``, or the internal entry pointing at it), as crash's
    ``tree -t xarray -N`` walks one: indices from 0 at that node,
    positions from ``root`` at it (crash's do_xarray_traverse() with
    ``is_root`` false).

    :raises ListCycleError: a node seen twice.
    :raises KmemxError: more than ``limit`` entries.
    :raises drgn.FaultError: a node cannot be read.
    """
    if _is_internal(node):  # an xa_mk_node() pointer: the node under its tag
        node &= ~3
    yield from _xa_walk(k, node, True, limit)


def xa_for_each(xa: Any, k: Kernel | None = None) -> Iterator[tuple[int, int]]:
    """``(index, entry)`` for each present entry of ``xa`` (``struct xarray *``),
    as include/linux/xarray.h's ``xa_for_each()``.

    Entries are raw words: pointers, or value entries with bit 0 set
    (``xa_to_value(e) == e >> 1``).

    :raises ListCycleError: a node seen twice.
    :raises drgn.FaultError: a node cannot be read.
    """
    k, a = address_of(xa, k)
    for index, entry, _ in _xa_entries(k, a, False, MAX_ENTRIES):
        yield index, entry


def radix_tree_for_each(root: Any, k: Kernel | None = None) -> Iterator[tuple[int, int]]:
    """``(index, entry)`` of a ``struct radix_tree_root *`` (an XArray since 4.20)."""
    return xa_for_each(root, k)


def idr_for_each(idr: Any, k: Kernel | None = None) -> Iterator[tuple[int, int]]:
    """``(id, pointer)`` of each entry of a ``struct idr *``
    (include/linux/idr.h's ``idr_for_each_entry()``: the tree's index plus
    ``idr_base``)."""
    for index, entry, _ in idr_for_each_position(idr, k):
        yield index, entry


def idr_for_each_position(idr: Any, k: Kernel | None = None,
                          limit: int = MAX_ENTRIES) -> Iterator[tuple[int, int, str]]:
    """``(id, pointer, position)`` of each entry of a ``struct idr *``:
    :func:`xa_for_each_position` of its ``idr_rt``, the ids offset by
    ``idr_base``."""
    k, a = address_of(idr, k)
    lay = layout_for(k.prog, resolve_type(k.prog, "struct idr"))
    base = k.read_u32(a + lay.offsetof("idr_base"))
    for index, entry, pos in xa_for_each_position(a + lay.offsetof("idr_rt"), k, limit):
        yield index + base, entry, pos
