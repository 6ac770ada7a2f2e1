"""Doubly linked lists (``list_head``), ``hlist`` and ``llist``."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from .._accel import speedups as _speedups
from ..errors import KmemxError, fault
from ..kernel import Kernel
from ..types.view import View
from ._common import MAX_ENTRIES, address_of, entry_class

__all__ = [
    "ListCycleError",
    "hlist_for_each_entry",
    "list_count",
    "list_for_each",
    "list_for_each_entry",
    "list_for_each_entry_reverse",
    "list_for_each_prev",
    "llist_for_each_entry",
]

_U64 = struct.Struct("<Q").unpack_from


class ListCycleError(KmemxError):
    """A list loops back on itself without reaching its head."""

    def __init__(self, message: str, address: int) -> None:
        super().__init__(message)
        self.address = address


#: the most nodes a dump's list walk reads before passing them on (a live
#: kernel's: 8, so a caller that pauses between entries gets none freed meanwhile)
DUMP_BATCH = 1 << 16
#: the most nodes passed on at a time
YIELD_BATCH = 512


def _walk_batches(k: Kernel, head: int, first: int | None, link_off: int,
                  stop_at_null: bool, limit: int) -> Iterator[list[int]]:
    """Node addresses from ``first``, following the pointer at ``node +
    link_off``, until ``head`` (or NULL when ``stop_at_null``), in batches.

    The inner loop has no generator switch and no per-node set operation:
    cycles are caught once per batch with a C-level ``set.update``, and only
    then, on a corrupt list, is the first repeated node located exactly, so
    no node is ever yielded twice.  On a dump a batch is up to 65,536 nodes
    and a walk that reaches its end within the first batch needs no set at
    all: a dump reads the same each time, so a node met twice would repeat
    the whole walk after it, which then could never reach the head."""
    pages = k._pages
    unpack = _U64
    if first is None:  # read lazily, so a bad head faults while iterating
        first = k.read_u64(head + link_off)
    seen: set[int] = set()
    node = first
    n = 0
    # On a live kernel, read ahead only a few nodes: a caller that pauses
    # between entries should not get entries that were freed meanwhile.
    live = getattr(k, "is_live", False)
    step = 8 if live else DUMP_BATCH
    walk_links = _speedups.walk_links if _speedups is not None else None
    while True:
        batch: list[int] = []
        append = batch.append
        end = min(n + step, limit)
        m = n
        err: Exception | None = None
        while node != head and m < end:
            if walk_links is not None:
                # the C loop takes every node whose link is on the fast path
                node = walk_links(pages, node, head, link_off, end - m, batch)
                m = n + len(batch)
                if node == head or m >= end:
                    break
            append(node)
            m += 1
            a = node + link_off
            p = pages.get(a >> 12)
            if p is None or (a & 4095) > 4088:
                if node == 0:
                    batch.pop()
                    m -= 1
                    if stop_at_null:
                        node = head
                        break
                    last = batch[-1] if batch else (n and _nth(k, first, link_off, n - 1))
                    err = fault(0, f"list node {last or head:#x} has a NULL pointer")
                    break
                try:
                    node = k.read_u64(a)
                except Exception as e:
                    err = e
                    break
            else:
                node = unpack(p[0], p[1] + (a & 4095))[0]
        # a whole walk from the first node to the head (or NULL) in one batch
        # met no node twice: the nodes after a repeat would cycle without
        # the head (a dump's memory reads the same each time; not so live)
        if n or node != head or err is not None or live:
            seen.update(batch)
            if len(seen) != m:
                yield from _first_repeat(k, first, link_off, n, batch)
        # passed on 512 at a time: the views a caller makes of a batch live
        # together, and tens of thousands at once keep the cyclic GC busy
        for i in range(0, len(batch), YIELD_BATCH):
            yield batch if len(batch) <= YIELD_BATCH else batch[i:i + YIELD_BATCH]
        n = m
        if err is not None:
            raise err
        if node == head:
            return
        if n >= limit:
            raise KmemxError(f"list longer than {limit} entries; stopping")


def _nth(k: Kernel, first: int, link_off: int, i: int) -> int:
    node = first
    for _ in range(i):
        node = k.read_u64(node + link_off)
    return node


def _first_repeat(k: Kernel, first: int, link_off: int, done: int,
                  batch: list[int]) -> Iterator[list[int]]:
    """A batch repeats a node: yield the batch up to the repeat, then raise.

    Rebuilds the set of the ``done`` nodes already yielded by walking the
    list again; this runs only for corrupt lists."""
    prior: set[int] = set()
    node = first
    for _ in range(done):
        prior.add(node)
        node = k.read_u64(node + link_off)
    for i, x in enumerate(batch):
        if x in prior:
            if i:
                yield batch[:i]
            raise ListCycleError(f"list cycle: node {x:#x} (after {done + i} entries) was "
                                 "already visited", x)
        prior.add(x)
    raise AssertionError("no repeated node")  # pragma: no cover


def _walk(k: Kernel, head: int, first: int | None, link_off: int, stop_at_null: bool,
          limit: int) -> Iterator[int]:
    for batch in _walk_batches(k, head, first, link_off, stop_at_null, limit):
        yield from batch


def _entries(k: Kernel, cls: type[View], off: int, batches: Iterator[list[int]]) -> Iterator[View]:
    if _speedups is not None:
        make_views = _speedups.make_views
        for batch in batches:
            yield from make_views(cls, k, batch, off)
        return
    for batch in batches:
        for node in batch:
            yield cls(k, node - off)


def list_for_each(head: Any, k: Kernel | None = None, limit: int = MAX_ENTRIES) -> Iterator[int]:
    """Addresses of the ``struct list_head`` nodes of the list at ``head``
    (``struct list_head *``), like ``list_for_each()``."""
    k, h = address_of(head, k)
    return _walk(k, h, None, 0, False, limit)


def list_for_each_prev(head: Any, k: Kernel | None = None,
                       limit: int = MAX_ENTRIES) -> Iterator[int]:
    """Addresses of the ``struct list_head`` nodes of the list at ``head``
    (``struct list_head *``) from the last, following ``prev``, like
    ``list_for_each_prev()`` (include/linux/list.h).

    :raises drgn.FaultError: a node that cannot be read
    :raises ListCycleError: a node met twice before the head
    """
    k, h = address_of(head, k)
    return _walk(k, h, None, 8, False, limit)


def list_for_each_entry(type: Any, head: Any, member: str, k: Kernel | None = None,
                        limit: int = MAX_ENTRIES) -> Iterator[View]:
    """Views of ``type`` linked through ``member`` in the list at ``head``.

    :param type: entry type, e.g. ``"struct task_struct"``.
    :param head: ``struct list_head *`` (view, drgn Object or address with ``k``).
    :param member: name of the entries' ``struct list_head`` member.
    """
    k, h = address_of(head, k)
    cls, off = entry_class(k, type, member)
    return _entries(k, cls, off, _walk_batches(k, h, None, 0, False, limit))


def list_for_each_entry_reverse(type: Any, head: Any, member: str, k: Kernel | None = None,
                                limit: int = MAX_ENTRIES) -> Iterator[View]:
    """Like :func:`list_for_each_entry`, following ``prev`` pointers."""
    k, h = address_of(head, k)
    cls, off = entry_class(k, type, member)
    return _entries(k, cls, off, _walk_batches(k, h, None, 8, False, limit))


def hlist_for_each_entry(type: Any, head: Any, member: str, k: Kernel | None = None,
                         limit: int = MAX_ENTRIES) -> Iterator[View]:
    """Entries of the ``struct hlist_head *`` at ``head``, linked by the
    ``struct hlist_node`` ``member``."""
    k, h = address_of(head, k)
    cls, off = entry_class(k, type, member)
    return _entries(k, cls, off, _walk_batches(k, -1, k.read_u64(h), 0, True, limit))


def llist_for_each_entry(type: Any, node: Any, member: str, k: Kernel | None = None,
                         limit: int = MAX_ENTRIES) -> Iterator[View]:
    """Entries of a lock-less list from its first ``struct llist_node *``
    (``head->first``), linked by the ``struct llist_node`` ``member``."""
    k, first = address_of(node, k)
    cls, off = entry_class(k, type, member)
    return _entries(k, cls, off, _walk_batches(k, -1, first, 0, True, limit))


def list_count(head: Any, k: Kernel | None = None, limit: int = MAX_ENTRIES) -> int:
    """Number of entries in a list (``list_count_nodes()``)."""
    return sum(1 for _ in list_for_each(head, k, limit))
