"""The kdump-compressed reader on small dumps written here the way makedumpfile
writes them (diskdump_mod.h): plain and flattened, raw and zlib/LZO pages,
excluded pages, a bounded page cache, damaged headers."""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

import drgn
import pytest

from kmemx.errors import CoreFormatError
from kmemx.readers.kdump import (
    DUMP_DH_COMPRESSED_INCOMPLETE,
    DUMP_DH_COMPRESSED_ZLIB,
    KdumpMemory,
    dump_level_text,
    parse_kdump,
)

PAGE = 4096
MAX_MAPNR = 100
VMCOREINFO = b"OSRELEASE=6.1.0-test\nPAGESIZE=4096\n"


def _pages() -> dict[int, bytes]:
    rng = random.Random(7)
    out = {}
    for pfn in range(MAX_MAPNR):
        kind = pfn % 3
        if kind == 0:  # compressible
            out[pfn] = bytes([pfn]) * 2048 + bytes(range(256)) * 8
        else:  # random: stored raw
            out[pfn] = rng.randbytes(PAGE)
    return out


def write_kdump(path: Path, pages: dict[int, bytes], dumped: set[int], *, level: int = 31,
                status: int = DUMP_DH_COMPRESSED_ZLIB, version: int = 6,
                in_map: set[int] | None = None) -> bytes:
    """A kdump-compressed file; returns its bytes."""
    in_map = set(range(MAX_MAPNR)) if in_map is None else in_map
    bitmap_blocks = 2
    hdr = bytearray(PAGE)
    struct.pack_into("<8si", hdr, 0, b"KDUMP   ", version)
    uts = b"Linux".ljust(65, b"\0") + b"node".ljust(65, b"\0") + b"6.1.0-test".ljust(65, b"\0")
    hdr[12:12 + len(uts)] = uts
    struct.pack_into("<iiiIIIIIIi", hdr, 424, status, PAGE, 1, bitmap_blocks, MAX_MAPNR,
                     0, 0, 0, 0, 1)
    sub = bytearray(PAGE)
    vmci_off = PAGE + 200
    struct.pack_into("<QiiQQQQ", sub, 0, 0x1000000, level, 0, 0, 0, vmci_off, len(VMCOREINFO))
    struct.pack_into("<QQQ", sub, 80, 0, 0, MAX_MAPNR)  # start/end/max_mapnr_64 (v6)
    sub[200:200 + len(VMCOREINFO)] = VMCOREINFO
    bm1, bm2 = bytearray(PAGE), bytearray(PAGE)
    for pfn in in_map:
        bm1[pfn // 8] |= 1 << (pfn % 8)
    for pfn in dumped:
        bm2[pfn // 8] |= 1 << (pfn % 8)
    order = sorted(dumped)
    data_off = (1 + 1 + bitmap_blocks) * PAGE + 24 * len(order)
    descs, blobs = bytearray(), bytearray()
    for pfn in order:
        raw = pages[pfn]
        z = zlib.compress(raw)
        blob, flags = (z, DUMP_DH_COMPRESSED_ZLIB) if len(z) < PAGE else (raw, 0)
        descs += struct.pack("<qIIQ", data_off + len(blobs), len(blob), flags, 0)
        blobs += blob
    out = bytes(hdr + sub + bm1 + bm2 + descs + blobs)
    path.write_bytes(out)
    return out


def flatten(data: bytes, path: Path, chunk: int = 5000) -> None:
    """makedumpfile -F: a 4 KiB header, then (offset, size) big-endian records."""
    head = bytearray(4096)
    head[:16] = b"makedumpfile\0\0\0\0"
    struct.pack_into(">qq", head, 16, 1, 1)
    out = bytearray(head)
    offsets = list(range(0, len(data), chunk))
    random.Random(3).shuffle(offsets)  # records need not come in order
    for off in offsets:
        piece = data[off:off + chunk]
        out += struct.pack(">qq", off, len(piece)) + piece
    out += struct.pack(">qq", -1, -1)
    path.write_bytes(bytes(out))


@pytest.fixture
def dump(tmp_path: Path) -> tuple[Path, dict[int, bytes], set[int]]:
    pages = _pages()
    dumped = {p for p in range(MAX_MAPNR) if p % 7}
    path = tmp_path / "vmcore.kdump"
    write_kdump(path, pages, dumped, in_map=set(range(90)))
    return path, pages, dumped


@pytest.mark.parametrize("flat", [False, True])
def test_pages_read_back(dump: tuple[Path, dict[int, bytes], set[int]], tmp_path: Path,
                         flat: bool) -> None:
    path, pages, dumped = dump
    if flat:
        flatten(path.read_bytes(), tmp_path / "flat")
        path = tmp_path / "flat"
    d = parse_kdump(str(path))
    assert (d.flattened, d.max_mapnr, d.dump_level, d.release) == (flat, MAX_MAPNR, 31,
                                                                   "6.1.0-test")
    assert d.vmcoreinfo == VMCOREINFO and not d.incomplete
    m = KdumpMemory(d)
    assert m.name == ("kdump-flat" if flat else "kdump")
    for pfn in range(MAX_MAPNR + 5):
        loc = m.locate(pfn * PAGE + 123)
        if pfn in dumped:
            assert loc is not None
            buf, off = loc
            assert bytes(buf[off:off + PAGE]) == pages[pfn], pfn
        else:
            assert loc is None
            why = m.why_missing(pfn * PAGE)
            if pfn < 90:
                assert "excluded from the dump by makedumpfile" in why and "dump level 31" in why
            else:
                assert why == "not in the dump's memory map"
    assert m.ranges() == [(0, 90 * PAGE)]
    m.close()


def test_cache_is_bounded_and_flushes(dump: tuple[Path, dict[int, bytes], set[int]]) -> None:
    path, pages, dumped = dump
    m = KdumpMemory(parse_kdump(str(path)), cache_mib=0)  # the floor: 16 pages
    flushed: list[int] = []
    m.on_flush(lambda: flushed.append(len(m.pages)))
    for pfn in sorted(dumped):
        loc = m.locate(pfn * PAGE)
        assert loc is not None and bytes(loc[0][:PAGE]) == pages[pfn]
        assert len(m.pages) <= 16
    assert flushed and m.flushes == len(flushed)
    assert m.decompressed == len(dumped)


def test_truncated_file_faults_at_the_page(dump: tuple[Path, dict[int, bytes], set[int]],
                                           tmp_path: Path) -> None:
    path, _pages, dumped = dump
    data = path.read_bytes()
    short = tmp_path / "short.kdump"
    short.write_bytes(data[:len(data) - 3 * PAGE])
    d = parse_kdump(str(short))
    assert parse_kdump(str(path)).pages_past_end() == 0 and d.pages_past_end() > 0
    m = KdumpMemory(d)
    last = max(dumped)
    with pytest.raises(drgn.FaultError) as e:
        m.locate(last * PAGE)
    assert e.value.address == last * PAGE and "truncated" in str(e.value)
    first = min(dumped)
    assert m.locate(first * PAGE) is not None


def test_bad_compressed_data_faults(dump: tuple[Path, dict[int, bytes], set[int]]) -> None:
    path, _pages, dumped = dump
    data = bytearray(path.read_bytes())
    d = parse_kdump(str(path))
    i, pfn = next((i, pfn) for i, pfn in enumerate(sorted(dumped))
                  if d.descs[i]["flags"] == DUMP_DH_COMPRESSED_ZLIB)
    off = int(d.descs[i]["offset"])
    d.close()
    data[off:off + 8] = b"garbage!"
    path.write_bytes(bytes(data))
    m = KdumpMemory(parse_kdump(str(path)))
    with pytest.raises(drgn.FaultError, match="does not decompress") as e:
        m.locate(pfn * PAGE)
    assert e.value.address == pfn * PAGE


@pytest.mark.parametrize("field,offset,value,match", [
    ("signature", 0, b"KDUMP!!!", "bad signature"),
    ("block size", 428, struct.pack("<i", 512), "block size"),
    ("bitmap blocks", 436, struct.pack("<I", 0), "damaged kdump header"),
    ("max_mapnr", 4096 + 96, struct.pack("<Q", 1 << 50), "max_mapnr"),
    ("vmcoreinfo", 4096 + 32, struct.pack("<Q", 1 << 40), "VMCOREINFO"),
])
def test_damaged_headers(dump: tuple[Path, dict[int, bytes], set[int]], field: str,
                         offset: int, value: bytes, match: str) -> None:
    path, _pages, _dumped = dump
    data = bytearray(path.read_bytes())
    data[offset:offset + len(value)] = value
    path.write_bytes(bytes(data))
    with pytest.raises(CoreFormatError, match=match):
        parse_kdump(str(path))


def test_truncated_headers(dump: tuple[Path, dict[int, bytes], set[int]]) -> None:
    path, _pages, _dumped = dump
    data = path.read_bytes()
    for n in (0, 100, 4096 + 10, 2 * 4096 + 100, 4 * 4096 + 50):
        path.write_bytes(data[:n])
        with pytest.raises(CoreFormatError):
            parse_kdump(str(path))


def test_incomplete_flag(tmp_path: Path) -> None:
    pages = _pages()
    path = tmp_path / "inc.kdump"
    write_kdump(path, pages, {1, 2}, status=DUMP_DH_COMPRESSED_ZLIB |
                DUMP_DH_COMPRESSED_INCOMPLETE)
    assert parse_kdump(str(path)).incomplete


def test_dump_level_text() -> None:
    assert dump_level_text(0) == "dump level 0"
    assert dump_level_text(17) == "dump level 17 excludes zero pages, free pages"
