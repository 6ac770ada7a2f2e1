"""kmemx._segread's readers registered with libdrgn as C callbacks
(``kmemx.readers.base.add_memory_segment``): drgn reads the same bytes and
raises the same faults as through the Python registration."""

from __future__ import annotations

import mmap
import os
import tempfile

import drgn
import pytest

from kmemx._accel import segread
from kmemx.readers.base import add_memory_segment

pytestmark = pytest.mark.skipif(segread is None, reason="kmemx._segread is not built")

PLATFORM = drgn.Platform(drgn.Architecture.X86_64, drgn.PlatformFlags.IS_64_BIT
                         | drgn.PlatformFlags.IS_LITTLE_ENDIAN)


def _programs() -> tuple[drgn.Program, drgn.Program]:
    return drgn.Program(PLATFORM), drgn.Program(PLATFORM)


def test_install_reaches_this_drgn() -> None:
    prog = drgn.Program(PLATFORM)
    seg = segread.PageSegment({}, 0, lambda *a: b"")
    prog.add_memory_segment(0, 4096, seg, True)
    assert segread.install(prog, 0, 4096, seg, True) is True
    with pytest.raises(TypeError):
        segread.install(prog, 0, 4096, lambda *a: b"", True)


def test_page_segment_native_equals_python() -> None:
    pages = {5: os.urandom(4096), 6: os.urandom(4096), 9: os.urandom(4096)}
    excluded = {7}
    calls: list[tuple[int, int, int, bool]] = []

    def slow(address: int, count: int, offset: int, physical: bool) -> bytes:
        calls.append((address, count, offset, physical))
        p = 0x5000 + offset
        out = b""
        while len(out) < count:
            pfn = (p + len(out)) >> 12
            if pfn in excluded:
                raise drgn.FaultError(f"page {pfn} excluded from the dump", address)
            if pfn == 10:
                raise ValueError("bad page descriptor")
            if pfn not in pages:  # first touch: "decompressed" now
                pages[pfn] = bytes([pfn]) * 4096
            page = pages[pfn]
            at = (p + len(out)) & 0xFFF
            out += page[at:at + count - len(out)]
        return out

    native, python = _programs()
    vbase = 0xFFFF888000005000
    for prog, physical in ((native, True), (native, False)):
        add_memory_segment(prog, 0x5000 if physical else vbase, 0x6000,
                           segread.PageSegment(pages, 0x5000, slow), physical)
    python.add_memory_segment(0x5000, 0x6000, segread.PageSegment(pages, 0x5000, slow), True)
    for addr, n in [(0x5010, 8), (0x5FF8, 16), (0x5000, 0x2000), (0x6FFF, 1), (0x9000, 4096),
                    (0x8000, 8)]:  # 0x8000: not cached, the slow path fills it
        want = python.read(addr, n, True)
        assert native.read(addr, n, True) == want
        assert native.read(vbase + addr - 0x5000, n) == want
    calls.clear()
    assert native.read(0x5100, 8, True) == pages[5][0x100:0x108]
    assert not calls  # a cached page: no Python call
    for prog in (native, python):
        with pytest.raises(drgn.FaultError) as e:
            prog.read(0x7008, 8, True)
        assert e.value.address == 0x7008 and "excluded" in e.value.message
    with pytest.raises(drgn.FaultError) as e:
        native.read(vbase + 0x2FFC, 8)  # spans into the excluded page: faults at the start
    assert e.value.address == vbase + 0x2FFC
    with pytest.raises(Exception, match="bad page descriptor"):
        native.read(0xA000, 8, True)
    # the cache emptied in place (a flush): the memo must not serve the old pages
    pages.clear()
    assert native.read(0x5010, 8, True) == bytes([5]) * 8


def test_buffer_segment_native_equals_slicing() -> None:
    data = os.urandom(3 * 4096)
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.flush()
        mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        prog = drgn.Program(PLATFORM)
        add_memory_segment(prog, 0x100000, 3 * 4096 - 100, segread.BufferSegment(mm, 100),
                           True)
        for off, n in [(0, 8), (4000, 200), (0, 3 * 4096 - 100)]:
            assert prog.read(0x100000 + off, n, True) == data[100 + off:100 + off + n]
        mm.close()  # no buffer export is held between reads
        with pytest.raises(Exception, match="closed"):
            prog.read(0x100000, 8, True)
