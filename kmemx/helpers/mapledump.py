"""A maple tree node by node, as the kernel's ``mt_dump()`` (lib/maple_tree.c,
CONFIG_DEBUG_MAPLE_TREE) and crash's ``tree -t maple -v`` show it: each
node's range, address, type, parent and raw contents, each leaf entry's
range and value.  A pure generator over drgn objects; it never prints.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import drgn

from .list import ListCycleError

__all__ = ["MapleDumpEntry", "MapleDumpNode", "MapleDumpTree", "mt_dump", "mt_dump_node"]

#: include/linux/maple_tree.h: enum maple_type
MAPLE_DENSE, MAPLE_LEAF_64, MAPLE_RANGE_64, MAPLE_ARANGE_64 = range(4)
#: include/linux/maple_tree.h
MAPLE_NODE_MASK = 255
MAPLE_NODE_TYPE_SHIFT = 3
MAPLE_NODE_TYPE_MASK = 0x0F
MAPLE_RESERVED_RANGE = 4096
MT_FLAGS_HEIGHT_OFFSET = 0x02
MT_FLAGS_HEIGHT_MASK = 0x7C
_ULONG_MAX = (1 << 64) - 1


@dataclass(frozen=True)
class MapleDumpTree:
    """The ``struct maple_tree``: its address, ``ma_flags``, height and root."""

    address: int
    flags: int
    height: int
    root: int


@dataclass(frozen=True)
class MapleDumpNode:
    """A node covering ``first``..``last`` at ``depth``: its address, type
    (enum maple_type), parent, and for range nodes their slots and pivots
    (arange nodes their gaps and metadata end and gap too)."""

    depth: int
    first: int
    last: int
    address: int
    type: int
    parent: int
    slots: tuple[int, ...]
    pivots: tuple[int, ...]
    gaps: tuple[int, ...]
    meta: tuple[int, int] | None


@dataclass(frozen=True)
class MapleDumpEntry:
    """A leaf slot covering ``first``..``last`` at ``depth``: its entry
    (a pointer, an XArray value or internal entry, or 0), its ``slot`` in
    its node and the ``path`` of slots from the root to that node
    (``root/3/1``; ``""`` for an entry held in the root itself)."""

    depth: int
    first: int
    last: int
    entry: int
    slot: int = 0
    path: str = ""


def _mt_slots(prog: drgn.Program) -> list[int]:
    """lib/maple_tree.c's ``mt_slots[]``, else the slot arrays' lengths."""
    try:
        return [int(prog["mt_slots"][i]) for i in range(4)]
    except (KeyError, LookupError):
        node = prog.type("struct maple_node")

        def length(type_name: str) -> int:
            return prog.type(type_name).member("slot").type.length or 0

        return [node.member("slot").type.length or 0, length("struct maple_range_64"),
                length("struct maple_range_64"), length("struct maple_arange_64")]


def mt_dump(tree: drgn.Object) -> Iterator[MapleDumpTree | MapleDumpNode | MapleDumpEntry]:
    """The tree (``struct maple_tree *``), then each node and each leaf
    entry in ``mt_dump()``'s order (a node before its children, slots in
    order); a range stops at the first pivot equal to the node's maximum
    or, past the first slot, at a zero pivot.

    :raises drgn.FaultError: a node cannot be read
    :raises ListCycleError: a node reached twice (a damaged tree)
    """
    flags = int(tree.ma_flags.value_())
    root = int(tree.ma_root.value_())
    yield MapleDumpTree(int(tree.value_()), flags,
                        (flags & MT_FLAGS_HEIGHT_MASK) >> MT_FLAGS_HEIGHT_OFFSET, root)
    if not (root & 3 == 2 and root > MAPLE_RESERVED_RANGE):  # xa_is_node()
        yield MapleDumpEntry(0, 0, 0, root)
        return
    yield from _mt_walk(tree.prog_, root, "root")


def mt_dump_node(prog: drgn.Program,
                 enode: int) -> Iterator[MapleDumpNode | MapleDumpEntry]:
    """Each node and leaf entry from the encoded maple node ``enode`` (a
    ``struct maple_enode *``: the node's address with its type in the low
    bits) down, as :func:`mt_dump` gives them, with the range ``0`` to the
    type's maximum and paths from ``direct``: crash's ``tree -t maple -N``
    (its do_maple_tree_traverse() with ``is_root`` false).

    :raises drgn.FaultError: a node cannot be read
    :raises ListCycleError: a node reached twice (a damaged tree)
    """
    yield from _mt_walk(prog, enode, "direct")


def _mt_walk(prog: drgn.Program, top: int,
             top_path: str) -> Iterator[MapleDumpNode | MapleDumpEntry]:
    """mt_dump()'s walk from the encoded node ``top``."""
    slots_of = _mt_slots(prog)
    mt_max = [slots_of[MAPLE_DENSE], _ULONG_MAX, _ULONG_MAX, _ULONG_MAX]
    # an explicit stack of (encoded node, first, last, depth, path)
    stack = [(top, 0, mt_max[(top >> MAPLE_NODE_TYPE_SHIFT) & MAPLE_NODE_TYPE_MASK], 0,
              top_path)]
    seen: set[int] = set()
    while stack:
        enode, first, last, depth, path = stack.pop()
        kind = (enode >> MAPLE_NODE_TYPE_SHIFT) & MAPLE_NODE_TYPE_MASK
        addr = enode & ~MAPLE_NODE_MASK
        if addr in seen:
            raise ListCycleError(f"maple node {addr:#x} visited twice", addr)
        seen.add(addr)
        node = drgn.Object(prog, "struct maple_node", address=addr)
        parent = int(node.parent.value_())
        if kind == MAPLE_DENSE:
            slots = tuple(int(node.slot[i].value_()) for i in range(slots_of[MAPLE_DENSE]))
            yield MapleDumpNode(depth, first, last, addr, kind, parent, slots, (), (), None)
            for i, entry in enumerate(slots):
                yield MapleDumpEntry(depth, first + i, first + i, entry, i, path)
            continue
        if kind not in (MAPLE_LEAF_64, MAPLE_RANGE_64, MAPLE_ARANGE_64):
            yield MapleDumpNode(depth, first, last, addr, kind, parent, (), (), (), None)
            continue
        arange = kind == MAPLE_ARANGE_64
        body = node.ma64 if arange else node.mr64
        n = slots_of[kind]
        slots = tuple(int(body.slot[i].value_()) for i in range(n))
        pivots = tuple(int(body.pivot[i].value_()) for i in range(n - 1))
        gaps: tuple[int, ...] = ()
        meta = None
        if arange:
            gaps = tuple(int(body.gap[i].value_()) for i in range(n))
            meta = (int(body.meta.end.value_()), int(body.meta.gap.value_()))
        yield MapleDumpNode(depth, first, last, addr, kind, parent, slots, pivots, gaps, meta)
        leaf = kind < MAPLE_RANGE_64
        children = []
        lo = first
        for i in range(n):
            hi = last
            if i < n - 1:
                hi = pivots[i]
            elif not slots[i] and (arange or last != mt_max[kind]):
                break
            if hi == 0 and i > 0:
                break
            if leaf:
                yield MapleDumpEntry(depth + 1, lo, hi, slots[i], i, path)
            elif slots[i]:
                children.append((slots[i], lo, hi, depth + 1, f"{path}/{i}"))
            if hi >= last:
                break
            lo = hi + 1
        stack.extend(reversed(children))
