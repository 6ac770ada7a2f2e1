"""crash's ``list`` walks (tools.c do_list(), do_list_no_hash()) on a mock
memory: where each ends, and a loop found by ``-B`` (R. P. Brent's
algorithm) with its length and distance from the start."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from kmemx_plugins.lists import _brent_chain, _chain

from kmemx.errors import KmemxError
from kmemx.helpers.list import ListCycleError
from tests.unit.test_walkers import FakeKernel

A = 0xFFFF888000200000


def node(i: int) -> int:
    return A + 0x40 * i


def chain_of(links: dict[int, int | None], off: int = 0) -> FakeKernel:
    """Entries ``i`` at node(i), their "next" at ``off``: node(links[i]) (0 for None)."""
    return FakeKernel({node(i) + off: (0 if j is None else node(j)) for i, j in links.items()})


WALKS = [_chain, _brent_chain]


def walk(fn: Any, k: FakeKernel, start: int, off: int = 0, end: int | None = None,
         head_format: bool = False) -> list[int]:
    return [(a - A) // 0x40 for a in fn(k, start, off, end, head_format, 1000)]


@pytest.mark.parametrize("fn", WALKS)
def test_ends_where_crash_ends(fn: Any) -> None:
    """NULL; back at START; at -e's END; at the entry itself; at the second
    entry again (crash's cases a-d): the same entries by both algorithms."""
    assert walk(fn, chain_of({0: 1, 1: 2, 2: None}), node(0)) == [0, 1, 2]
    assert walk(fn, chain_of({0: 1, 1: 2, 2: 0}), node(0)) == [0, 1, 2]
    assert walk(fn, chain_of({0: 1, 1: 2, 2: 3, 3: 0}), node(0), end=node(2)) == [0, 1]
    assert walk(fn, chain_of({0: 1, 1: 2, 2: 2}), node(0)) == [0, 1, 2]
    assert walk(fn, chain_of({0: 1, 1: 2, 2: 3, 3: 1}), node(0)) == [0, 1, 2, 3]
    assert walk(fn, chain_of({0: 1, 1: 2, 2: None}, off=0x18), node(0), off=0x18) == [0, 1, 2]


@pytest.mark.parametrize("fn", WALKS)
def test_list_heads_end_only_at_their_end(fn: Any) -> None:
    """A list of list_heads (``-H``, ``-h``) ends at its END or START; a NULL
    link is crash's ``invalid list entry: 0``, a return to the entry itself
    or to the second entry a cycle, after the same entries."""
    assert walk(fn, chain_of({1: 2, 2: 3, 3: 0}), node(1), end=node(0),
                head_format=True) == [1, 2, 3]
    got: list[int] = []
    with pytest.raises(KmemxError, match="invalid list entry: 0"):
        got.extend(walk(fn, chain_of({1: 2, 2: None}), node(1), head_format=True))
    with pytest.raises(ListCycleError):
        for a in fn(chain_of({1: 2, 2: 3, 3: 2}), node(1), 0, node(0), True, 1000):
            got.append((a - A) // 0x40)
    assert got[-3:] == [1, 2, 3]


@pytest.mark.parametrize("tail,loop", [(2, 2), (2, 3), (3, 7), (7, 12), (5, 40)])
def test_brent_finds_the_loop(tail: int, loop: int) -> None:
    """``tail`` (2 or more) entries, then a loop of ``loop`` (2 or more)
    entries, so that no link points back at START, the second entry or
    itself (crash's ends of a list): crash's -B reports the loop's
    length, its distance from START (hex) and the first entry seen twice;
    the hash walk names the same entry.  The entries printed follow the
    links until the loop is detected, which may be once round it or more
    (crash's "slightly different" output: a long loop's entries twice)."""
    n = tail + loop
    links: dict[int, int | None] = {i: i + 1 for i in range(n - 1)}
    links[n - 1] = tail
    k = chain_of(links)
    got: list[int] = []
    with pytest.raises(ListCycleError) as brent:
        for a in _brent_chain(k, node(0), 0, None, False, 1000):
            got.append((a - A) // 0x40)
    assert got[0] == 0 and all(links[a] == b for a, b in zip(got, got[1:]))
    assert set(got) == set(range(n))
    assert f"loop length: {loop};" in str(brent.value)
    assert f"length from start to loop: {tail:x};" in str(brent.value)
    assert brent.value.address == node(tail)
    with pytest.raises(ListCycleError) as hashed:
        list(_chain(k, node(0), 0, None, False, 1000))
    assert hashed.value.address == node(tail)


def test_brent_in_constant_memory_on_a_long_list() -> None:
    """100,000 entries and NULL: every one, in order."""
    k = chain_of({i: (i + 1 if i < 99_999 else None) for i in range(100_000)})
    assert list(itertools.islice(_brent_chain(k, node(0), 0, None, False, 10**6), 3)) == [
        node(0), node(1), node(2)]
    assert sum(1 for _ in _brent_chain(k, node(0), 0, None, False, 10**6)) == 100_000
