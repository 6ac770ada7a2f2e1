"""kmemx._segread's C segment callbacks return what their pure-Python twins do."""

from __future__ import annotations

import mmap
import os
import tempfile

import drgn
import pytest

from kmemx._accel import segread
from kmemx.target import _segment_reader

pytestmark = pytest.mark.skipif(segread is None, reason="kmemx._segread is not built")


def _python_buffer_reader(mm: object, base: int):  # the twin kmemx uses without the C module
    def read_fn(address: int, count: int, offset: int, physical: bool) -> object:
        return mm[base + offset:base + offset + count]  # type: ignore[index]
    return read_fn


def test_buffer_segment_equals_slicing_of_an_mmap() -> None:
    data = os.urandom(3 * 4096)
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.flush()
        mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        c = _segment_reader(mm, 100)
        assert isinstance(c, segread.BufferSegment)
        py = _python_buffer_reader(mm, 100)
        for offset, count in [(0, 8), (4000, 200), (0, 3 * 4096 - 100), (5, 0)]:
            assert bytes(c(0xFFFF0000 + offset, count, offset, False)) == py(0, count, offset,
                                                                             False)
        with pytest.raises(ValueError, match="past the end"):
            c(0, 16, 3 * 4096 - 100 - 8, False)
        del c
        mm.close()  # no buffer export is held between calls


def test_page_segment_hits_the_cache_and_falls_back_otherwise() -> None:
    pages = {5: bytes(range(256)) * 16}
    slow_calls: list[tuple[int, int, int, bool]] = []

    def slow_at(pstart: int):
        def slow(address: int, count: int, offset: int, physical: bool) -> bytes:
            slow_calls.append((address, count, offset, physical))
            p = pstart + offset
            if p >> 12 not in pages or p % 4096 + count > 4096:
                raise drgn.FaultError("not cached", address)
            return pages[p >> 12][p % 4096:p % 4096 + count]
        return slow

    seg = segread.PageSegment(pages, 0x5000, slow_at(0x5000))
    assert seg(0xFFFF888000005010, 8, 0x10, False) == pages[5][0x10:0x18]
    assert seg(0x5FF8, 8, 0xFF8, True) == pages[5][0xFF8:]
    assert not slow_calls
    with pytest.raises(drgn.FaultError) as e:
        seg(0xFFFF888000005FFC, 8, 0xFFC, False)  # crosses into pfn 6
    assert e.value.address == 0xFFFF888000005FFC
    assert slow_calls == [(0xFFFF888000005FFC, 8, 0xFFC, False)]
    pages.clear()  # the cache is emptied in place on flush: the callback sees it
    with pytest.raises(drgn.FaultError):
        segread.PageSegment(pages, 0x6000, slow_at(0x6000))(0x6000, 8, 0, True)
    with pytest.raises(TypeError):
        seg(1, 2, 3)
