"""Trees walked as crash's ``tree`` walks them, with each entry's position:
red-black trees node, then its left subtree, then its right (pre-order; the
in-order walk is :mod:`kmemx.helpers.rbtree`), ``root/l/r``.  XArrays'
positions (``root/3/42``) come from :mod:`kmemx.helpers.xarray`'s one walk."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import KmemxError
from ..kernel import Kernel
from ._common import MAX_ENTRIES, address_of
from .list import ListCycleError

__all__ = ["rbtree_inorder_for_each_position", "rbtree_preorder_for_each"]

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
