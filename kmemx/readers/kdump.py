"""kdump-compressed vmcores (``makedumpfile -c/-l/-p/-z``), plain or flattened.

The file is mapped once.  Its headers (``struct disk_dump_header`` and
``struct kdump_sub_header``, makedumpfile's ``diskdump_mod.h``), the two
bitmaps and the page descriptors are parsed with numpy without copying: the
second bitmap says which pages were dumped, and a page's descriptor is the
rank of its bit in that bitmap (a popcount prefix per 64-bit word gives the
rank in O(1)).  A page is decompressed on first touch, by zlib, the LZO
library (``liblzo2``, through ctypes) or cramjam (snappy, zstd), into a
bounded page cache that the fast paths read like mmap pages.

The flattened format (``makedumpfile -F``, what goes over ssh) is a stream
of ``(offset, size)`` records of the file it would have written; an index of
the records, built once, maps reads to the stream, so no reassembly step
(``makedumpfile -R``) is needed.

Pages the dump does not hold fault: those makedumpfile excluded (the fault
says so, with the dump level) and those outside the dumped memory map.
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import mmap
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._accel import segread
from ..errors import CoreFormatError, fault
from .base import Buffer, PhysicalMemory, open_dump

__all__ = [
    "DEFAULT_CACHE_MIB",
    "KdumpFile",
    "KdumpMemory",
    "dump_level_text",
    "parse_kdump",
]

PAGE = 4096
KDUMP_SIGNATURE = b"KDUMP   "
FLAT_SIGNATURE = b"makedumpfile\0\0\0\0"
#: makedumpfile's flattened header block (MAX_SIZE_MDF_HEADER)
FLAT_HEADER_SIZE = 4096
#: page descriptor and header flags (diskdump_mod.h)
DUMP_DH_COMPRESSED_ZLIB = 0x1
DUMP_DH_COMPRESSED_LZO = 0x2
DUMP_DH_COMPRESSED_SNAPPY = 0x4
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8
DUMP_DH_EXCLUDED_VMEMMAP = 0x10
DUMP_DH_COMPRESSED_ZSTD = 0x20
_COMPRESSED = (DUMP_DH_COMPRESSED_ZLIB | DUMP_DH_COMPRESSED_LZO | DUMP_DH_COMPRESSED_SNAPPY |
               DUMP_DH_COMPRESSED_ZSTD)
#: page cache default: 256 MiB of decompressed pages
DEFAULT_CACHE_MIB = 256

# struct disk_dump_header on 64-bit: signature[8], header_version, utsname
# (6 x 65 bytes), struct timeval (aligned to 8, at 408), then the counters
_HDR = struct.Struct("<8si390s6x16siiiIIIIIIi")
# struct kdump_sub_header: phys_base, dump_level, split, start_pfn, end_pfn,
# offset/size of vmcoreinfo, note, eraseinfo, then (v6) the 64-bit pfns
_SUB = struct.Struct("<QiiQQQQQQQQ")
_SUB64 = struct.Struct("<QQQ")
_DESC = np.dtype([("offset", "<i8"), ("size", "<u4"), ("flags", "<u4"), ("page_flags", "<u8")])

_DUMP_LEVEL_BITS = ((1, "zero pages"), (2, "non-private cache pages"),
                    (4, "private cache pages"), (8, "user pages"), (16, "free pages"))


def dump_level_text(level: int) -> str:
    """``"dump level 31 excludes zero pages, ..."``: what makedumpfile's ``-d`` left out."""
    parts = [name for bit, name in _DUMP_LEVEL_BITS if level & bit]
    return f"dump level {level}" + (f" excludes {', '.join(parts)}" if parts else "")


# -- the file's bytes: plain or flattened -----------------------------------------------------

def _close(mm: mmap.mmap | bytes) -> None:
    """Unmap ``mm`` now, or when the last array viewing it goes away."""
    if isinstance(mm, mmap.mmap):
        try:
            mm.close()
        except BufferError:  # numpy arrays still view it: the GC unmaps it
            pass


class _Plain:
    """A kdump file read through one mmap."""

    def __init__(self, fd: int, size: int) -> None:
        self.size = size
        self.mm: mmap.mmap | bytes = mmap.mmap(fd, 0, prot=mmap.PROT_READ) if size else b""

    def view(self, offset: int, size: int) -> Buffer:
        """The bytes at ``offset``; shorter at the end of the file."""
        return memoryview(self.mm)[offset:offset + size]

    def close(self) -> None:
        _close(self.mm)


class _Flat:
    """A flattened dump: records of ``(offset, size)`` big-endian headers, each
    followed by its bytes, indexed by the offset they had in the file."""

    _REC = struct.Struct(">qq")

    def __init__(self, fd: int, size: int) -> None:
        self.mm = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
        recs: list[tuple[int, int, int]] = []  # (offset, size, position in the stream)
        pos = FLAT_HEADER_SIZE
        end = 0
        while pos + 16 <= size:
            off, n = self._REC.unpack_from(self.mm, pos)
            pos += 16
            if off < 0 or n < 0:
                break  # END_FLAG_FLAT_HEADER
            if pos + n > size:
                n = size - pos  # a truncated stream: what is there reads
            recs.append((off, n, pos))
            pos += n
            end = max(end, off + n)
        recs.sort()
        self._recs = recs
        self._starts = [r[0] for r in recs]
        self.size = end

    def view(self, offset: int, size: int) -> Buffer:
        """The bytes at ``offset`` of the file the stream describes."""
        i = bisect.bisect_right(self._starts, offset) - 1
        if i >= 0:
            off, n, pos = self._recs[i]
            if offset + size <= off + n:  # one record holds it all: no copy
                return memoryview(self.mm)[pos + offset - off:pos + offset - off + size]
        out = bytearray()
        cur = offset
        end = offset + size
        i = max(i, 0)
        while cur < end and i < len(self._recs):
            off, n, pos = self._recs[i]
            if off + n <= cur:
                i += 1
                continue
            if off > cur:
                break  # a gap: the file had no bytes there
            take = min(end, off + n) - cur
            out += self.mm[pos + cur - off:pos + cur - off + take]
            cur += take
            i += 1
        return bytes(out)

    def close(self) -> None:
        _close(self.mm)


# -- decompressors ------------------------------------------------------------------------

def _lzo() -> Callable[[bytes, int], bytes]:
    name = ctypes.util.find_library("lzo2") or "liblzo2.so.2"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        raise CoreFormatError("LZO-compressed pages need the LZO library (Debian: apt-get "
                              "install liblzo2-2)") from None
    fn = lib.lzo1x_decompress_safe
    fn.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                   ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p]

    def decompress(data: bytes, size: int) -> bytes:
        out = ctypes.create_string_buffer(size)
        n = ctypes.c_size_t(size)
        if fn(data, len(data), out, ctypes.byref(n), None) != 0 or n.value != size:
            raise ValueError("bad LZO data")
        return out.raw
    return decompress


def _cramjam(kind: str) -> Callable[[bytes, int], bytes]:
    try:
        import cramjam
    except ImportError:
        raise CoreFormatError(f"{kind}-compressed pages need the cramjam package "
                              "(pip install cramjam)") from None
    fn = cramjam.snappy.decompress_raw if kind == "snappy" else cramjam.zstd.decompress

    def decompress(data: bytes, size: int) -> bytes:
        return bytes(fn(data))
    return decompress


def _zlib(data: bytes, size: int) -> bytes:
    return zlib.decompress(data)


_DECOMPRESSORS: dict[int, Callable[[], Callable[[bytes, int], bytes]]] = {
    DUMP_DH_COMPRESSED_ZLIB: lambda: _zlib,
    DUMP_DH_COMPRESSED_LZO: _lzo,
    DUMP_DH_COMPRESSED_SNAPPY: lambda: _cramjam("snappy"),
    DUMP_DH_COMPRESSED_ZSTD: lambda: _cramjam("zstd"),
}


# -- headers ----------------------------------------------------------------------------------

@dataclass
class KdumpFile:
    """A parsed kdump-compressed dump (no page is read)."""

    path: str
    flattened: bool
    header_version: int
    release: str
    status: int
    block_size: int
    max_mapnr: int
    phys_base: int
    dump_level: int
    #: utsname machine of the dumped kernel (``"x86_64"``, ``"aarch64"``)
    machine: str
    vmcoreinfo: bytes | None
    #: bitmap1: pfns in the dumped memory map; bitmap2: pfns with a page in the file
    bitmap1: np.ndarray[Any, Any]
    bitmap2: np.ndarray[Any, Any]
    #: per 64-bit word of bitmap2, the number of set bits before it
    rank: np.ndarray[Any, Any]
    descs: np.ndarray[Any, Any]
    source: Any

    @property
    def incomplete(self) -> bool:
        """makedumpfile stopped before writing every page (a full disk...)."""
        return bool(self.status & DUMP_DH_COMPRESSED_INCOMPLETE)

    def pages_past_end(self) -> int:
        """How many dumped pages' data lie (partly) past the end of the file."""
        if not len(self.descs):
            return 0
        ends = self.descs["offset"] + self.descs["size"].astype(np.int64)
        return int(np.count_nonzero(ends > self.source.size))

    def close(self) -> None:
        empty = np.zeros(0, dtype=np.uint64)
        self.bitmap1 = self.bitmap2 = self.rank = empty
        self.descs = np.zeros(0, dtype=_DESC)
        self.source.close()


def parse_kdump(path: str) -> KdumpFile:
    """Parse a kdump-compressed (or flattened) dump's headers.

    :raises CoreFormatError: a damaged or truncated header, bitmap or page
        descriptor table, named in the message
    """
    fd, size = open_dump(path)
    try:
        head = os.pread(fd, 16, 0)
        flattened = head == FLAT_SIGNATURE
        src: Any = _Flat(fd, size) if flattened else _Plain(fd, size)
    finally:
        os.close(fd)
    try:
        return _parse(path, src, flattened)
    except BaseException:
        src.close()
        raise


def _parse(path: str, src: Any, flattened: bool) -> KdumpFile:
    def bad(what: str) -> CoreFormatError:
        return CoreFormatError(f"{path}: {what}")

    raw = bytes(src.view(0, _HDR.size))
    if len(raw) < _HDR.size:
        raise bad("truncated kdump header")
    (sig, version, uts, _tv, status, block_size, sub_hdr_size, bitmap_blocks, max_mapnr,
     _total_ram, _device, _written, _cur_cpu, _nr_cpus) = _HDR.unpack(raw)
    if sig != KDUMP_SIGNATURE:
        raise bad("not a kdump-compressed dump (bad signature)")
    if block_size != PAGE:
        raise bad(f"kdump block size {block_size} (only {PAGE}-byte pages are supported)")
    if not 0 < version < 64 or sub_hdr_size < 0 or bitmap_blocks <= 0:
        raise bad(f"damaged kdump header (version {version}, sub-header "
                  f"{sub_hdr_size} blocks, bitmap {bitmap_blocks} blocks)")
    release = uts[65 * 2:65 * 3].split(b"\0", 1)[0].decode("ascii", "replace")
    # struct new_utsname: sysname, nodename, release, version, machine, domainname
    machine = uts[65 * 4:65 * 5].split(b"\0", 1)[0].decode("ascii", "replace")
    sub = bytes(src.view(block_size, _SUB.size + _SUB64.size))
    if len(sub) < _SUB.size:
        raise bad("truncated kdump sub-header")
    (phys_base, dump_level, _split, _start, _end, off_vmci, size_vmci, *_rest) = \
        _SUB.unpack_from(sub)
    if version >= 6 and len(sub) >= _SUB.size + _SUB64.size:
        max_mapnr = _SUB64.unpack_from(sub, _SUB.size)[2]  # max_mapnr_64
    vmcoreinfo = None
    if size_vmci:
        if not 0 < off_vmci < src.size or size_vmci > 1 << 20:
            raise bad("damaged kdump sub-header (VMCOREINFO offset or size)")
        vmcoreinfo = bytes(src.view(off_vmci, size_vmci))
    bm_off = (1 + sub_hdr_size) * block_size
    bm_len = bitmap_blocks * block_size
    half = bm_len // 2
    if max_mapnr <= 0 or max_mapnr > half * 8 or max_mapnr > 1 << 40:
        raise bad(f"damaged kdump header (max_mapnr {max_mapnr} for a bitmap of "
                  f"{half * 8} bits)")
    bitmaps = src.view(bm_off, bm_len)
    if len(bitmaps) < bm_len:
        raise bad("truncated kdump bitmaps")
    words = (max_mapnr + 63) // 64
    bitmap1 = np.frombuffer(bitmaps, dtype="<u8", count=words)
    bitmap2 = np.frombuffer(bitmaps, dtype="<u8", count=words, offset=half)
    if max_mapnr % 64:  # bits past max_mapnr are not pages
        mask = np.uint64((1 << (max_mapnr % 64)) - 1)
        bitmap1 = bitmap1.copy()
        bitmap2 = bitmap2.copy()
        bitmap1[-1] &= mask
        bitmap2[-1] &= mask
    counts = _popcount(bitmap2)
    rank = np.zeros(words, dtype=np.uint64)
    np.cumsum(counts[:-1], out=rank[1:])
    ndesc = int(counts.sum())
    desc_off = bm_off + bm_len
    table = src.view(desc_off, ndesc * _DESC.itemsize)
    if len(table) < ndesc * _DESC.itemsize:
        raise bad(f"truncated kdump page descriptors ({len(table) // _DESC.itemsize} of "
                  f"{ndesc})")
    descs = np.frombuffer(table, dtype=_DESC, count=ndesc)
    return KdumpFile(path, flattened, version, release, status, block_size, max_mapnr,
                     phys_base, dump_level, machine, vmcoreinfo, bitmap1, bitmap2, rank, descs, src)


def _popcount(words: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Set bits of each uint64."""
    b = words.view(np.uint8).reshape(-1, 8)
    out: np.ndarray[Any, Any] = np.unpackbits(b, axis=1).sum(axis=1, dtype=np.uint64)
    return out


# -- memory ----------------------------------------------------------------------------------

class KdumpMemory(PhysicalMemory):
    """Physical memory of a kdump-compressed dump through a page cache.

    ``cache_mib`` bounds the decompressed pages kept (default
    :data:`DEFAULT_CACHE_MIB`); when it is full the cache is emptied, and so
    is every page table registered with :meth:`on_flush` (kmemx's virtual page
    cache, whose entries point into it).  A page whose data is damaged (past
    the end of a truncated file, bad compressed data) raises
    :class:`drgn.FaultError` at its address."""

    def __init__(self, dump: KdumpFile, cache_mib: int = DEFAULT_CACHE_MIB) -> None:
        self.dump = dump
        self.name = "kdump-flat" if dump.flattened else "kdump"
        self.max_pages = max(16, cache_mib * (1 << 20) // PAGE)
        self.pages: dict[int, bytes] = {}
        self._flush: list[Callable[[], None]] = []
        self._decompress: dict[int, Callable[[bytes, int], bytes]] = {}
        self._words1 = dump.bitmap1
        self._words2 = dump.bitmap2
        self._rank = dump.rank
        self._descs = dump.descs
        #: pages decompressed, and times the cache was emptied
        self.decompressed = 0
        self.flushes = 0

    def on_flush(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` whenever the page cache is emptied."""
        self._flush.append(fn)

    def ranges(self) -> list[tuple[int, int]]:
        """Runs of pfns in the dumped memory map (bitmap1), as physical ranges."""
        bits = np.unpackbits(self._words1.view(np.uint8), bitorder="little")
        bits = bits[:self.dump.max_mapnr].astype(np.int8)
        edges = np.flatnonzero(np.diff(np.concatenate(([0], bits, [0]))))
        return [(int(a) * PAGE, int(b) * PAGE) for a, b in zip(edges[::2], edges[1::2])]

    def _index(self, pfn: int) -> int | None:
        """The page descriptor of ``pfn``, or None when the page is not in the file."""
        if pfn >= self.dump.max_mapnr:
            return None
        word = int(self._words2[pfn >> 6])
        bit = pfn & 63
        if not (word >> bit) & 1:
            return None
        return int(self._rank[pfn >> 6]) + (word & ((1 << bit) - 1)).bit_count()

    def locate(self, paddr: int) -> tuple[Buffer, int] | None:
        pfn = paddr >> 12
        page = self.pages.get(pfn)
        if page is not None:
            return page, 0
        i = self._index(pfn)
        if i is None:
            return None
        page = self._load(pfn, i)
        if len(self.pages) >= self.max_pages:
            self.pages.clear()
            self.flushes += 1
            for fn in self._flush:
                fn()
        self.pages[pfn] = page
        return page, 0

    def _load(self, pfn: int, i: int) -> bytes:
        off, size, flags, _pf = self._descs[i].item()
        data = self.dump.source.view(off, size) if off >= 0 else b""
        if len(data) < size or off < 0:
            raise fault(pfn << 12, "page data lies past the end of the file (truncated dump)")
        self.decompressed += 1
        kind = flags & _COMPRESSED
        if not kind:
            if size != PAGE:
                raise fault(pfn << 12, f"bad page descriptor (size {size}, not compressed)")
            return bytes(data)
        fn = self._decompress.get(kind)
        if fn is None:
            make = _DECOMPRESSORS.get(kind)
            if make is None:
                raise fault(pfn << 12, f"unknown compression flags {flags:#x}")
            fn = self._decompress[kind] = make()
        try:
            out = fn(bytes(data), PAGE)
        except Exception as e:  # zlib.error, ValueError, cramjam's DecompressionError
            raise fault(pfn << 12, f"page data does not decompress ({e})") from None
        if len(out) != PAGE:
            raise fault(pfn << 12, f"page data decompresses to {len(out)} bytes")
        return out

    def segment_reader(self, pstart: int) -> Callable[[int, int, int, bool], bytes]:
        """A callback for :meth:`drgn.Program.add_memory_segment` over memory
        that starts at physical address ``pstart`` (a physical segment, or a
        virtual run that the page tables map linearly onto it).

        A read inside one page is a dict lookup and a slice; a page not yet
        decompressed goes through :meth:`locate`.  A page the dump lacks
        raises :class:`drgn.FaultError` at the address drgn asked for (virtual
        for a virtual segment; the start of a read that spans pages, as
        drgn's libkdumpfile reader does), with :meth:`why_missing`'s reason.
        """
        pages = self.pages  # emptied in place on flush, never replaced
        locate = self.locate

        def read_fn(address: int, count: int, offset: int, physical: bool) -> bytes:
            p = pstart + offset
            off = p & 0xFFF
            if off + count <= PAGE:
                page = pages.get(p >> 12)
                if page is not None:
                    return page[off:off + count]
                loc = locate(p)
                if loc is None:
                    raise fault(address, self.why_missing(p))
                return bytes(loc[0][off:off + count])
            out = bytearray()
            q, end = p, p + count
            while q < end:
                loc = locate(q)
                if loc is None:  # drgn's kdump reader faults at the read's start too
                    raise fault(address, self.why_missing(q))
                n = min(PAGE - (q & 0xFFF), end - q)
                out += loc[0][q & 0xFFF:(q & 0xFFF) + n]
                q += n
            return bytes(out)
        if segread is not None:
            return segread.PageSegment(pages, pstart, read_fn)  # type: ignore[no-any-return]
        return read_fn

    def why_missing(self, paddr: int) -> str:
        """Why the page holding ``paddr`` is not in the dump, for a fault message."""
        pfn = paddr >> 12
        if pfn < self.dump.max_mapnr and (int(self._words1[pfn >> 6]) >> (pfn & 63)) & 1:
            return (f"page excluded from the dump by makedumpfile "
                    f"({dump_level_text(self.dump.dump_level)})")
        return "not in the dump's memory map"

    def close(self) -> None:
        self.pages.clear()
        self.dump.close()
