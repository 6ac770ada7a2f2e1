"""kmemx.helpers.device.for_each_resource() on a mock tree: /proc/iomem's
order (a resource, its children, its next sibling), the depth of each, and
a tree whose links loop reported as a cycle after what was walked."""

from __future__ import annotations

from typing import Any

import pytest

from kmemx.helpers.device import for_each_resource
from kmemx.helpers.list import ListCycleError


class Ptr:
    """A ``struct resource *``: false when NULL, ``deref()`` its target."""

    def __init__(self, tree: dict[int, Res], addr: int) -> None:
        self.tree, self.addr = tree, addr

    def __bool__(self) -> bool:
        return self.addr != 0

    def __int__(self) -> int:
        return self.addr

    def deref(self) -> Res:
        return self.tree[self.addr]


class Res:
    def __init__(self, tree: dict[int, Res], addr: int, child: int, sibling: int) -> None:
        self.address = addr
        self.child, self.sibling = Ptr(tree, child), Ptr(tree, sibling)


def tree_of(links: dict[int, tuple[int, int]]) -> dict[int, Res]:
    """Resource ``a`` with its (first child, next sibling) addresses, 0 for NULL."""
    tree: dict[int, Res] = {}
    for a, (child, sibling) in links.items():
        tree[a] = Res(tree, a, child, sibling)
    return tree


def walk(tree: dict[int, Any], root: int) -> list[tuple[int, int]]:
    return [(depth, r.address) for depth, r in for_each_resource(tree[root])]


def test_iomem_order_and_depth() -> None:
    # 1 ── 2 ── 4
    #  │    └── 5
    #  └── 3 ── 6
    # the root's own sibling (9) is not part of its tree
    tree = tree_of({1: (2, 9), 2: (4, 3), 3: (6, 0), 4: (0, 5), 5: (0, 0), 6: (0, 0),
                    9: (0, 0)})
    assert walk(tree, 1) == [(0, 1), (1, 2), (2, 4), (2, 5), (1, 3), (2, 6)]
    assert walk(tree_of({1: (0, 0)}), 1) == [(0, 1)]


def test_a_resource_that_is_its_own_child_is_a_leaf() -> None:
    """crash's do_resource_list() descends only when ``child != entry``."""
    assert walk(tree_of({1: (2, 0), 2: (2, 3), 3: (0, 0)}), 1) == [(0, 1), (1, 2), (1, 3)]


def test_a_loop_is_a_cycle_error_after_the_resources_walked() -> None:
    tree = tree_of({1: (2, 0), 2: (0, 3), 3: (0, 2)})
    got: list[int] = []
    with pytest.raises(ListCycleError, match="0x2 is reached twice") as e:
        got.extend(r.address for _, r in for_each_resource(tree[1]))
    assert got == [1, 2, 3] and e.value.address == 2
