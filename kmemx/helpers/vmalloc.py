"""vmalloc areas over views."""

from __future__ import annotations

from collections.abc import Iterator

import drgn

from ..kernel import Kernel
from ..types.view import View
from .rbtree import rbtree_inorder_for_each_entry

__all__ = ["for_each_vmap_area"]


def for_each_vmap_area(k: Kernel) -> Iterator[View]:
    """Every busy ``struct vmap_area *``, in address order within each tree.

    6.9 (d093602919ad, "mm: vmalloc: remove global vmap_area_root rb-tree")
    split the areas into per-node busy trees; before, one ``vmap_area_root``.
    """
    prog = k.prog
    try:
        nodes = prog["vmap_nodes"]
    except KeyError:
        yield from rbtree_inorder_for_each_entry("struct vmap_area",
                                                 k.object("vmap_area_root"), "rb_node")
        return
    try:
        base = int(nodes.value_())
        n = int(prog["nr_vmap_nodes"].value_())
    except drgn.ObjectAbsentError:
        # !SMP kernels: GCC may drop the variables' locations; one node, "single"
        base = int(prog.variable("single", "mm/vmalloc.c").address_)
        n = 1
    size = k.sizeof("struct vmap_node")
    busy_root = k.offsetof("struct vmap_node", "busy.root")
    for i in range(n):
        yield from rbtree_inorder_for_each_entry("struct vmap_area", base + i * size + busy_root,
                                                 "rb_node", k=k)
