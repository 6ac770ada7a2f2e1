"""Trees walked as crash's ``tree`` walks them, with each entry's position:
red-black trees node, then its left subtree, then its right (pre-order; the
in-order walk is :mod:`kmemx.helpers.rbtree`), ``root/l/r``; XArrays by
index, ``root/3/42`` (slot offsets)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import KmemxError
from ..kernel import Kernel
from ._common import MAX_ENTRIES, address_of
from .list import ListCycleError

__all__ = ["rbtree_inorder_for_each_position", "rbtree_preorder_for_each",
           "xa_for_each_position"]

# struct rb_node { unsigned long __rb_parent_color; rb_right; rb_left; }
_RIGHT, _LEFT = 8, 16


def rbtree_preorder_for_each(node: Any, k: Kernel | None = None,
                             limit: int = MAX_ENTRIES) -> Iterator[tuple[int, str]]:
    """``(node address, position)`` of each ``struct rb_node`` under ``node``
    (a ``struct rb_node *``; 0: an empty tree), the node before its left
    subtree before its right one, as crash's rbtree_iteration() visits them
    (lib/rbtree.c has no pre-order walker; ``position`` is crash's
    ``root/l/r``: the right child of the root's left child).  An explicit
    stack, so a corrupt tree cannot recurse deeply; a node seen twice raises
    :class:`ListCycleError`, more than ``limit`` nodes
    :class:`~kmemx.errors.KmemxError`, an unreadable one
    :class:`drgn.FaultError`."""
    k, first = address_of(node, k)
    stack: list[tuple[int, str]] = [(first, "root")] if first else []
    seen: set[int] = set()
    while stack:
        n, pos = stack.pop()
        if n in seen:
            raise ListCycleError(f"rbtree cycle at node {n:#x}", n)
        seen.add(n)
        if len(seen) > limit:
            raise KmemxError(f"rbtree larger than {limit} nodes; stopping")
        yield n, pos
        right = k.read_u64(n + _RIGHT)
        left = k.read_u64(n + _LEFT)
        if right:
            stack.append((right, pos + "/r"))
        if left:
            stack.append((left, pos + "/l"))


def rbtree_inorder_for_each_position(node: Any, k: Kernel | None = None,
                                     limit: int = MAX_ENTRIES) -> Iterator[tuple[int, str]]:
    """``(node address, position)`` of each ``struct rb_node`` under ``node``
    (``struct rb_node *``) in order (crash's ``tree -l``), positions as
    :func:`rbtree_preorder_for_each` gives them.  Same errors."""
    k, first = address_of(node, k)
    stack: list[tuple[int, str]] = []
    seen: set[int] = set()
    cur, pos = first, "root"
    while stack or cur:
        while cur:
            if cur in seen:
                raise ListCycleError(f"rbtree cycle at node {cur:#x}", cur)
            seen.add(cur)
            if len(seen) > limit:
                raise KmemxError(f"rbtree larger than {limit} nodes; stopping")
            stack.append((cur, pos))
            cur, pos = k.read_u64(cur + _LEFT), pos + "/l"
        cur, pos = stack.pop()
        yield cur, pos
        cur, pos = k.read_u64(cur + _RIGHT), pos + "/r"


def xa_for_each_position(xa: Any, k: Kernel | None = None,
                         limit: int = MAX_ENTRIES) -> Iterator[tuple[int, int, str]]:
    """``(index, entry, position)`` of each present entry of ``xa``
    (``struct xarray *``, a radix tree since 4.20), by index, as
    include/linux/xarray.h's ``xa_for_each()`` finds them; ``position`` is
    crash's ``tree -p``: ``root`` then the slot offset in each ``struct
    xa_node`` on the way down (``root/3/42``), ``root`` alone for an entry
    kept in ``xa_head``.  Value entries are yielded as they are (bit 0 set).
    Raises :class:`ListCycleError` for a node seen twice,
    :class:`~kmemx.errors.KmemxError` past ``limit`` entries,
    :class:`drgn.FaultError` for an unreadable node."""
    from ..types.layout import layout_for, resolve_type

    k, a = address_of(xa, k)
    prog = k.prog
    head = k.read_u64(a + layout_for(prog, resolve_type(prog, "struct xarray"))
                      .offsetof("xa_head"))
    if not head:
        return
    if not (head & 3 == 2 and head > 4096):  # xa_is_node(): else the only entry
        yield 0, head, "root"
        return
    node_layout = layout_for(prog, resolve_type(prog, "struct xa_node"))
    shift_off, slots_off = node_layout.offsetof("shift"), node_layout.offsetof("slots")
    seen: set[int] = set()
    count = 0

    def walk(node: int, base: int, pos: str) -> Iterator[tuple[int, int, str]]:
        # at most 11 levels of 64 slots cover 64-bit indices: recursion is bounded
        nonlocal count
        if node in seen:
            raise ListCycleError(f"xarray node {node:#x} visited twice", node)
        seen.add(node)
        shift = k.read_u8(node + shift_off)
        raw = k.read(node + slots_off, 8 * 64)
        for i in range(64):
            e = int.from_bytes(raw[8 * i:8 * i + 8], "little")
            if not e:
                continue
            index = base + (i << shift)
            if e & 3 == 2:  # internal: a node below, else a sibling/retry entry
                if e > 4096 and shift:
                    yield from walk(e - 2, index, f"{pos}/{i}")
                continue
            count += 1
            if count > limit:
                raise KmemxError(f"xarray larger than {limit} entries; stopping")
            yield index, e, f"{pos}/{i}"

    yield from walk(head - 2, 0, "root")
