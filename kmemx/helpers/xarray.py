"""XArrays, radix trees (an XArray since 4.20) and IDRs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..kernel import Kernel
from ..types.layout import layout_for, resolve_type
from ._common import address_of
from .list import ListCycleError

__all__ = ["idr_for_each", "radix_tree_for_each", "xa_for_each"]

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


def xa_for_each(xa: Any, k: Kernel | None = None) -> Iterator[tuple[int, int]]:
    """``(index, entry)`` for each present entry of ``xa`` (``struct xarray *``).

    Entries are raw words: pointers, or value entries with bit 0 set
    (``xa_to_value(e) == e >> 1``).
    """
    k, a = address_of(xa, k)
    xa_head_off = layout_for(k.prog, resolve_type(k.prog, "struct xarray")).offsetof("xa_head")
    head = k.read_u64(a + xa_head_off)
    if not head:
        return
    if not (_is_internal(head) and head > 4096):
        yield 0, head
        return
    shift_off, slots_off = _node_offsets(k)
    seen: set[int] = set()

    def walk(node: int, base: int) -> Iterator[tuple[int, int]]:
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
                    yield from walk(e - 2, idx)
                # else: sibling, retry or zero entry
                continue
            yield idx, e

    yield from walk(head - 2, 0)


def radix_tree_for_each(root: Any, k: Kernel | None = None) -> Iterator[tuple[int, int]]:
    """``(index, entry)`` of a ``struct radix_tree_root *`` (an XArray since 4.20)."""
    return xa_for_each(root, k)


def idr_for_each(idr: Any, k: Kernel | None = None) -> Iterator[tuple[int, int]]:
    """``(id, pointer)`` of each entry of a ``struct idr *``."""
    k, a = address_of(idr, k)
    lay = layout_for(k.prog, resolve_type(k.prog, "struct idr"))
    base = k.read_u32(a + lay.offsetof("idr_base"))
    for index, entry in xa_for_each(a + lay.offsetof("idr_rt"), k):
        yield index + base, entry
