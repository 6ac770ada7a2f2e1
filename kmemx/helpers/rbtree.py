"""Red-black trees (``struct rb_root``), in order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import KmemxError
from ..kernel import Kernel
from ..types.view import View
from ._common import MAX_ENTRIES, address_of, entry_class
from .list import ListCycleError

__all__ = ["rb_first", "rb_next", "rbtree_inorder_for_each", "rbtree_inorder_for_each_entry"]

# struct rb_node { unsigned long __rb_parent_color; rb_right; rb_left; }
_RIGHT, _LEFT = 8, 16


def rb_first(root: Any, k: Kernel | None = None) -> int:
    """Address of the leftmost node of the ``struct rb_root *``, or 0."""
    k, r = address_of(root, k)
    node = k.read_u64(r)
    if not node:
        return 0
    while True:
        left = k.read_u64(node + _LEFT)
        if not left:
            return node
        node = left


def rb_next(node: int, k: Kernel) -> int:
    """In-order successor of the ``struct rb_node`` at ``node``, or 0."""
    right = k.read_u64(node + _RIGHT)
    if right:
        node = right
        while True:
            left = k.read_u64(node + _LEFT)
            if not left:
                return node
            node = left
    while True:
        parent = k.read_u64(node) & ~3
        if not parent or k.read_u64(parent + _RIGHT) != node:
            return parent
        node = parent


def rbtree_inorder_for_each(root: Any, k: Kernel | None = None,
                            limit: int = MAX_ENTRIES) -> Iterator[int]:
    """Addresses of the ``struct rb_node``s of ``root`` (``struct rb_root *``) in order.

    Walks with an explicit stack from the root, so it needs no parent
    pointers and a corrupt tree cannot make it loop.
    """
    k, r = address_of(root, k)
    stack: list[int] = []
    seen: set[int] = set()
    node = k.read_u64(r)
    n = 0
    while stack or node:
        while node:
            if node in seen:
                raise ListCycleError(f"rbtree cycle at node {node:#x}", node)
            seen.add(node)
            stack.append(node)
            node = k.read_u64(node + _LEFT)
        node = stack.pop()
        if n >= limit:
            raise KmemxError(f"rbtree larger than {limit} nodes; stopping")
        yield node
        n += 1
        node = k.read_u64(node + _RIGHT)


def rbtree_inorder_for_each_entry(type: Any, root: Any, member: str, k: Kernel | None = None,
                                  limit: int = MAX_ENTRIES) -> Iterator[View]:
    """Entries of ``type`` linked by the ``struct rb_node`` ``member``, in order."""
    k, r = address_of(root, k)
    cls, off = entry_class(k, type, member)
    for node in rbtree_inorder_for_each(r, k, limit):
        yield cls(k, node - off)
