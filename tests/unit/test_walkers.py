"""Corrupt lists on a mock memory: cycles, NULLs and wild pointers never hang."""

from __future__ import annotations

import struct
from typing import Any

import drgn
import pytest

import kmemx.helpers.list as list_mod
from kmemx.helpers.list import ListCycleError, list_for_each
from kmemx.helpers.rbtree import rbtree_inorder_for_each


@pytest.fixture(autouse=True, params=["c", "python"])
def walker_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every walker test runs on the C fast path and on the pure-Python one."""
    if request.param == "python":
        monkeypatch.setattr(list_mod, "_speedups", None)
    elif list_mod._speedups is None:
        pytest.skip("kmemx._speedups is not built")
    return str(request.param)


class FakeKernel:
    """Just enough of Kernel for address-level walkers: 4 KiB pages in a dict."""

    def __init__(self, words: dict[int, int]) -> None:
        self._pages: dict[int, tuple[Any, int]] = {}
        for addr, val in words.items():
            page = addr >> 12
            buf, _ = self._pages.setdefault(page, (bytearray(4096), 0))
            struct.pack_into("<Q", buf, addr & 4095, val)

    def read_u64(self, addr: int) -> int:
        p = self._pages.get(addr >> 12)
        if p is None:
            raise drgn.FaultError("could not read memory", addr)
        v: int = struct.unpack_from("<Q", p[0], p[1] + (addr & 4095))[0]
        return v


BASE = 0xFFFF888000100000


def ring(n: int, **patch: int) -> dict[int, int]:
    """A circular list: head at BASE, nodes at BASE + 0x100 * i."""
    nodes = [BASE + 0x100 * i for i in range(n + 1)]
    words = {nodes[i]: nodes[(i + 1) % len(nodes)] for i in range(len(nodes))}
    for k, v in patch.items():
        words[int(k[1:], 16)] = v
    return words


def test_good_list() -> None:
    k = FakeKernel(ring(5000))
    nodes = list(list_for_each(BASE, k))  # type: ignore[arg-type]
    assert len(nodes) == 5000 and nodes[0] == BASE + 0x100


def test_cycle_is_detected() -> None:
    words = ring(1000)
    words[BASE + 0x100 * 600] = BASE + 0x100 * 300  # loops back, never reaches head
    k = FakeKernel(words)
    got: list[int] = []
    with pytest.raises(ListCycleError) as e:
        for n in list_for_each(BASE, k):  # type: ignore[arg-type]
            got.append(n)
    assert len(got) == 600 and len(set(got)) == 600  # every node once, then the error
    assert e.value.address == BASE + 0x100 * 300


@pytest.mark.parametrize("read_ahead", [list_mod.DUMP_BATCH, 1000])
def test_cycle_after_many_nodes(read_ahead: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A repeat far down the list, inside the first read-ahead (the walk
    does not reach the head) or in a later one: every node before the repeat
    once, in order, then the error naming the first repeated node."""
    monkeypatch.setattr(list_mod, "DUMP_BATCH", read_ahead)
    words = ring(3000)
    words[BASE + 0x100 * 2500] = BASE + 0x100 * 300
    k = FakeKernel(words)
    got: list[int] = []
    with pytest.raises(ListCycleError) as e:
        for batch in list_mod._walk_batches(k, BASE, None, 0, False, 1 << 20):  # type: ignore[arg-type]
            got += batch
    assert got == [BASE + 0x100 * i for i in range(1, 2501)]
    assert e.value.address == BASE + 0x100 * 300


def test_long_list_in_small_batches_and_live() -> None:
    """A good list longer than a yield batch comes whole, in order; a live
    kernel's walk (read ahead 8 nodes) gives the same nodes."""
    k = FakeKernel(ring(5000))
    batches = list(list_mod._walk_batches(k, BASE, None, 0, False, 1 << 20))  # type: ignore[arg-type]
    assert [n for b in batches for n in b] == [BASE + 0x100 * i for i in range(1, 5001)]
    assert max(map(len, batches)) <= list_mod.YIELD_BATCH
    k.is_live = True  # type: ignore[attr-defined]
    assert list(list_for_each(BASE, k)) == [BASE + 0x100 * i for i in range(1, 5001)]  # type: ignore[arg-type]


def test_null_pointer() -> None:
    words = ring(100)
    words[BASE + 0x100 * 40] = 0
    k = FakeKernel(words)
    got: list[int] = []
    with pytest.raises(drgn.FaultError) as e:
        for n in list_for_each(BASE, k):  # type: ignore[arg-type]
            got.append(n)
    assert len(got) == 40 and e.value.address == 0
    assert f"{BASE + 0x100 * 40:#x}" in str(e.value)


def test_pointer_into_unmapped_memory() -> None:
    words = ring(100)
    bad = 0xFFFFC90000ABC000
    words[BASE + 0x100 * 70] = bad
    k = FakeKernel(words)
    got: list[int] = []
    with pytest.raises(drgn.FaultError) as e:
        for n in list_for_each(BASE, k):  # type: ignore[arg-type]
            got.append(n)
    assert got[-1] == bad and len(got) == 71 and e.value.address == bad


def test_length_bound() -> None:
    k = FakeKernel(ring(3000))
    from kmemx.errors import KmemxError

    with pytest.raises(KmemxError, match="longer than 1000"):
        list(list_for_each(BASE, k, limit=1000))  # type: ignore[arg-type]


def test_rbtree_cycle() -> None:
    root = BASE
    a, b = BASE + 0x100, BASE + 0x200
    # root->rb_node = a; a.left = b; b.left = a  (a cycle)
    k = FakeKernel({root: a, a + 16: b, b + 16: a, a + 8: 0, b + 8: 0})
    with pytest.raises(ListCycleError):
        list(rbtree_inorder_for_each(root, k))  # type: ignore[arg-type]
