"""The optional C module: its fast paths agree with the pure-Python ones and
hand every case they do not take (cache miss, page crossing, bad input) back."""

from __future__ import annotations

import mmap
import struct
from typing import Any

import pytest

speedups = pytest.importorskip("kmemx._speedups")

BASE = 0xFFFF888000100000


def pages_with(words: dict[int, int], buf_type: str = "bytearray") -> dict[int, Any]:
    """A page cache over one buffer: each 4 KiB page at its index in the buffer."""
    vpns = sorted({a >> 12 for a in words})
    raw = bytearray(4096 * len(vpns))
    for a, v in words.items():
        struct.pack_into("<Q", raw, vpns.index(a >> 12) * 4096 + (a & 4095), v)
    buf: Any = raw
    if buf_type == "mmap":
        buf = mmap.mmap(-1, len(raw))
        buf[:] = raw
    elif buf_type == "memoryview":
        buf = memoryview(raw)
    elif buf_type == "bytes":
        buf = bytes(raw)
    return {vpn: (buf, i * 4096) for i, vpn in enumerate(vpns)}


MISS = object()


def reader(pages: dict[int, Any], size: int) -> Any:
    """A UIntReader whose slow path answers MISS: what the C side left to Python."""
    return speedups.UIntReader(pages, size, lambda addr: MISS)


@pytest.mark.parametrize("buf_type", ["bytearray", "bytes", "memoryview", "mmap"])
def test_uint_reader_every_buffer_kind(buf_type: str) -> None:
    pages = pages_with({BASE + 8: 0x1122334455667788, BASE + 0x5000: 7}, buf_type)
    assert reader(pages, 8)(BASE + 8) == 0x1122334455667788
    assert reader(pages, 4)(BASE + 8) == 0x55667788
    assert reader(pages, 2)(BASE + 9) == 0x6677
    assert reader(pages, 1)(BASE + 15) == 0x11
    assert reader(pages, 8)(BASE + 0x5000) == 7


def test_uint_reader_leaves_misses_to_python() -> None:
    pages = pages_with({BASE: 1})
    assert reader(pages, 8)(BASE + 0x1000) is MISS  # page not cached
    assert reader(pages, 8)(BASE + 4092) is MISS  # crosses the page
    assert reader(pages, 8)(-8) is MISS  # not an address: the slow path decides
    pages[BASE >> 12] = (bytearray(16), 0)  # buffer shorter than the page
    assert reader(pages, 8)(BASE + 64) is MISS
    with pytest.raises(ValueError):
        speedups.UIntReader(pages, 3, int)


def test_walk_links_stops_at_head_count_and_miss() -> None:
    nodes = [BASE + 0x100 * i for i in range(6)]
    words = {nodes[i]: nodes[(i + 1) % 6] for i in range(6)}
    pages = pages_with(words)
    out: list[int] = []
    assert speedups.walk_links(pages, nodes[1], nodes[0], 0, 100, out) == nodes[0]
    assert out == nodes[1:]
    out = []
    assert speedups.walk_links(pages, nodes[1], nodes[0], 0, 2, out) == nodes[3]
    assert out == nodes[1:3]
    # a node whose link is not cached is not appended: Python takes it from there
    words[nodes[3]] = BASE + 0x10000
    pages = pages_with(words)
    out = []
    assert speedups.walk_links(pages, nodes[1], nodes[0], 0, 100, out) == BASE + 0x10000
    assert out == nodes[1:4]
    # hlists pass head=-1: never matched, NULL is a miss
    out = []
    assert speedups.walk_links(pages_with({BASE: 0}), BASE, -1, 0, 100, out) == 0
    assert out == [BASE]


def test_make_views_and_viewbase() -> None:
    class V(speedups.ViewBase):  # type: ignore[misc]
        __slots__ = ()

    k = object()
    vs = speedups.make_views(V, k, [BASE + 0x30, 0x10], 0x20)
    assert [v._a for v in vs] == [BASE + 0x10, -0x10]  # as Python computes node - off
    assert all(type(v) is V and v._k is k for v in vs)
    assert V(k, 5)._a == 5
    with pytest.raises(TypeError):
        V(k)
    with pytest.raises(TypeError):
        V(k, "x")
    with pytest.raises(AttributeError):
        V(k, 5)._a = 6  # type: ignore[misc]


def test_field_descriptor_kinds_and_fallback() -> None:
    words = {BASE: 0xFFFFFFFE, BASE + 8: BASE + 0x40, BASE + 0xFF8: 0}
    pages = pages_with(words)
    calls: list[Any] = []

    def fallback(view: Any) -> Any:
        calls.append(view)
        return "slow"

    class V(speedups.ViewBase):  # type: ignore[misc]
        __slots__ = ()

    V.u32 = speedups.Field("u32", 0, 4, False, speedups.K_INT, pages, None, None, fallback)
    V.s32 = speedups.Field("s32", 0, 4, True, speedups.K_INT, pages, None, None, fallback)
    V.s16 = speedups.Field("s16", 0, 2, True, speedups.K_INT, pages, None, None, fallback)
    V.flag = speedups.Field("flag", 0, 1, False, speedups.K_BOOL, pages, None, None, fallback)
    V.next = speedups.Field("next", 8, 8, False, speedups.K_VIEW, pages, V, None, fallback)
    V.wrapped = speedups.Field("wrapped", 8, 8, False, speedups.K_CALL, pages, hex, None,
                               fallback)
    V.pair = speedups.Field("pair", 0, 1, False, speedups.K_ENUM, pages, lambda v, t: (v, t),
                            "T", fallback)
    V.edge = speedups.Field("edge", 0xFFC, 8, False, speedups.K_INT, pages, None, None,
                            fallback)
    k = object()
    v = V(k, BASE)
    assert v.u32 == 0xFFFFFFFE and v.s32 == -2 and v.s16 == -2 and v.flag is True
    assert type(v.next) is V and v.next._a == BASE + 0x40 and v.next._k is k
    assert v.wrapped == hex(BASE + 0x40) and v.pair == (0xFE, "T")
    assert calls == []
    assert v.edge == "slow" and calls == [v]  # crosses the page: the Python getter
    assert V(k, BASE + 0x1000).u32 == "slow"  # not cached
    assert V.u32.fget is fallback and V.u32.name == "u32"
    with pytest.raises(AttributeError):
        v.u32 = 1
    with pytest.raises(ValueError):
        speedups.Field("x", 0, 3, False, speedups.K_INT, pages, None, None, fallback)
    with pytest.raises(TypeError):
        speedups.Field("x", 0, 8, False, speedups.K_VIEW, pages, int, None, fallback)


def test_row_base() -> None:
    import gc
    import weakref

    from kmemx.commands.rows import Row

    r = Row(["PID", "COMM"], [1, "init"])
    assert r.columns == ("PID", "COMM") and r.cells == (1, "init") and r.obj is None
    assert Row(("A",), (2,), obj="x").obj == "x" and Row(("A",), (2,), "y").obj == "y"
    assert r["COMM"] == "init" and r.as_dict() == {"pid": 1, "comm": "init"}
    with pytest.raises(TypeError):
        Row(("A",))

    class Holder:
        pass

    h = Holder()
    cyc = Row(("A",), (1,), h)
    h.row = cyc  # type: ignore[attr-defined]
    ref = weakref.ref(h)
    del h, cyc
    gc.collect()
    assert ref() is None  # the collector sees through rows


def test_cycles_through_views_and_arrays_are_collected() -> None:
    """prog.cache -> view -> kernel -> prog: the collector must see the view's edge."""
    import gc
    import weakref

    class V(speedups.ViewBase):  # type: ignore[misc]
        __slots__ = ()

    class A(speedups.ArrayBase):  # type: ignore[misc]
        __slots__ = ()

    class Spec:
        nbytes = 16

    class K:
        _pages: dict[int, Any] = {}

    k = K()
    k.cache = [V(k, 1), A(k, 2, Spec())]  # type: ignore[attr-defined]
    ref = weakref.ref(k)
    del k
    gc.collect()
    assert ref() is None


def test_freed_views_are_reused_as_any_view_class() -> None:
    """Views kept on the C freelist come back as the class asked for, with
    its reference counted once: the classes' and the kernel's refcounts are
    where they started after thousands of views of two classes, and a class
    with a ``__dict__`` (a bigger block) is never given a kept one."""
    import gc
    import sys

    class V(speedups.ViewBase):  # type: ignore[misc]
        __slots__ = ()

    class W(speedups.ViewBase):  # type: ignore[misc]
        __slots__ = ()

    class D(speedups.ViewBase):  # type: ignore[misc]
        pass

    k = object()
    gc.collect()
    before = sys.getrefcount(V), sys.getrefcount(W), sys.getrefcount(D), sys.getrefcount(k)
    for _ in range(3):
        vs = speedups.make_views(V, k, list(range(BASE, BASE + 1000 * 64, 64)), 0)
        assert [type(v) for v in vs] == [V] * 1000
        del vs
        ws = [W(k, i) for i in range(1000)]
        assert all(type(w) is W and w._a == i and w._k is k for i, w in enumerate(ws))
        del ws
        ds = [D(k, i) for i in range(300)]
        for i, d in enumerate(ds):
            d.extra = i  # its own dict: a block of another size
        assert [d.extra for d in ds] == list(range(300))
        del ds, d
    gc.collect()
    assert (sys.getrefcount(V), sys.getrefcount(W), sys.getrefcount(D),
            sys.getrefcount(k)) == before


def test_freed_arrays_are_reused_as_any_array_class() -> None:
    """The same for arrays (``task.comm``): a kept block comes back as the
    class asked for, its spec and kernel referenced once."""
    import gc
    import sys

    class A(speedups.ArrayBase):  # type: ignore[misc]
        __slots__ = ()

    class B(speedups.ArrayBase):  # type: ignore[misc]
        __slots__ = ()

    class Spec:
        nbytes = 16

    class K:
        _pages = pages_with({BASE: int.from_bytes(b"kmx-w00\0", "little")}, "bytes")

    k, spec = K(), Spec()
    gc.collect()
    before = sys.getrefcount(A), sys.getrefcount(B), sys.getrefcount(k), sys.getrefcount(spec)
    for _ in range(3):
        arrays = [A(k, BASE, spec) for _ in range(500)] + [B(k, BASE, spec) for _ in range(500)]
        assert [type(a) for a in arrays] == [A] * 500 + [B] * 500
        assert {a.string() for a in arrays} == {b"kmx-w00"}
        assert all(a._k is k and a._spec is spec and a._a == BASE for a in arrays)
        del arrays
    gc.collect()
    assert (sys.getrefcount(A), sys.getrefcount(B), sys.getrefcount(k),
            sys.getrefcount(spec)) == before
