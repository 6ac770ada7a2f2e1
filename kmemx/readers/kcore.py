"""``/proc/kcore``: the running kernel as an ELF core, read with ``pread`` into a page cache.

``/proc/kcore`` cannot be mapped (its ``mmap`` fails with EIO), so every read
is a system call that copies from the kernel.  drgn's live reader issues one
``pread`` per read; this reader keeps the pages it read in a cache that lives
for one *epoch*, one command (a one-shot ``kmemx -k CMD``, a REPL ``%``
line; :meth:`kmemx.Kernel.new_epoch` starts the next one), and reads ahead
when the misses are sequential: a miss on the page after the previous miss
doubles the next read (up to :attr:`KcoreMemory.readahead` pages, 64 KiB by
default), any other miss reads one page.  A walk over a struct array
(``task_struct`` slabs, ``struct page``) then costs one system call per 16
pages, and random reads are not slowed by copies nobody asked for (each page
costs ``/proc/kcore`` a bounds check and a copy: measured under TCG, a
64 KiB ``pread`` took about 17 times as long as an 8-byte one).

Consistency: within an epoch each page is read from the kernel once, so two
reads of the same page always agree (a task's ``pid`` and ``comm`` read
twice give the same answer, a list walk never sees a pointer change under
it on a page already read).  Pages are read at different moments, so two
*different* pages may come from different instants: a walk during fork/exit
can still meet a freed object on a page first read after the free; the
walkers report it (``kmemx: warning: ...``) as on any live reader.  The next
epoch forgets every page, and the page-table translations that point into
them, so a new command sees the kernel as it is now.

Only the direct map is read through ``/proc/kcore``'s ``KCORE_RAM`` segments
(``p_paddr = __pa(p_vaddr)``, fs/proc/kcore.c ``elf_kcore_store_hdr``); other
virtual addresses (vmalloc, modules, the kernel image) are translated with the
page tables into physical pages of those segments, as drgn's kcore reader
does for physical reads.  A page outside them, or one the kernel refuses
to copy, is a :class:`drgn.FaultError` at its address.
"""

from __future__ import annotations

import bisect
import errno
import os
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import CoreFormatError, LiveAccessError
from .base import Buffer, PhysicalMemory

__all__ = ["DEFAULT_READAHEAD", "KcoreFile", "KcoreMemory", "KcoreSegment", "parse_kcore"]

PAGE = 4096
_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
PT_LOAD, PT_NOTE = 1, 4
ET_CORE = 4
_NO_PADDR = 0xFFFFFFFFFFFFFFFF
#: pages one cache miss reads (64 KiB)
DEFAULT_READAHEAD = 16
#: pages kept before the cache is emptied mid-epoch (256 MiB)
DEFAULT_MAX_PAGES = 1 << 16


@dataclass(frozen=True)
class KcoreSegment:
    """One ``KCORE_RAM`` PT_LOAD of ``/proc/kcore``: physical ``[paddr, paddr + size)``
    is at file offset ``offset`` and virtual address ``vaddr``."""

    paddr: int
    vaddr: int
    offset: int
    size: int


@dataclass
class KcoreFile:
    """The parsed headers of ``/proc/kcore`` (or of a file laid out like it)."""

    path: str
    fd: int
    segments: list[KcoreSegment]
    vmcoreinfo: bytes | None
    #: ``page_offset_base``: the direct map's virtual - physical delta
    page_offset: int

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _notes(data: bytes) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, _ntype = struct.unpack_from("<III", data, pos)
        name_off = pos + 12
        desc_off = name_off + ((namesz + 3) & ~3)
        if desc_off + descsz > len(data):
            break
        out.setdefault(data[name_off:name_off + namesz].rstrip(b"\0"),
                       data[desc_off:desc_off + descsz])
        pos = desc_off + ((descsz + 3) & ~3)
    return out


def parse_kcore(path: str = "/proc/kcore") -> KcoreFile:
    """Open ``path`` and parse its ELF header, program headers and notes.

    :param path: ``/proc/kcore``, or a file with its layout (tests).
    :returns: the segments whose ``p_paddr`` is the direct map's ``__pa(p_vaddr)``
        (the most common ``p_vaddr - p_paddr``; the kernel text's segment has
        another delta and is left to the page tables), and the VMCOREINFO note
        (in kcore since 4.19, 23e85ab03f89).
    :raises LiveAccessError: the file cannot be opened (errno text; EPERM names lockdown).
    :raises CoreFormatError: the headers are not those of an x86-64 ELF core.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise LiveAccessError(f"{path}: {e.strerror}") from None
    try:
        try:
            head = os.pread(fd, _EHDR.size, 0)
        except OSError as e:
            raise LiveAccessError(f"{path}: {e.strerror}") from None
        if len(head) < _EHDR.size or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            raise CoreFormatError(f"{path}: not a 64-bit little-endian ELF core")
        (_ident, etype, _machine, _ver, _entry, phoff, _shoff, _flags, _ehsize, phentsize,
         phnum, *_rest) = _EHDR.unpack(head)
        if etype != ET_CORE or phentsize != _PHDR.size or not 0 < phnum < 1 << 16:
            raise CoreFormatError(f"{path}: bad ELF core header (e_type {etype}, "
                                  f"e_phentsize {phentsize}, e_phnum {phnum})")
        raw = os.pread(fd, phnum * phentsize, phoff)
        if len(raw) < phnum * phentsize:
            raise CoreFormatError(f"{path}: program header table is cut short")
        loads: list[KcoreSegment] = []
        notes: dict[bytes, bytes] = {}
        for i in range(phnum):
            ptype, _pf, off, vaddr, paddr, filesz, _memsz, _al = _PHDR.unpack_from(raw, i * 56)
            if ptype == PT_NOTE and filesz < 1 << 24:
                notes.update(_notes(os.pread(fd, filesz, off)))
            elif ptype == PT_LOAD and paddr != _NO_PADDR and filesz:
                loads.append(KcoreSegment(paddr, vaddr, off, filesz))
    except BaseException:
        os.close(fd)
        raise
    deltas = Counter((s.vaddr - s.paddr) & _NO_PADDR for s in loads)
    if not deltas:
        os.close(fd)
        raise CoreFormatError(f"{path}: no PT_LOAD segment with a physical address")
    pob = max(deltas, key=lambda d: sum(s.size for s in loads if (s.vaddr - s.paddr) & _NO_PADDR
                                        == d))
    ram = sorted((s for s in loads if (s.vaddr - s.paddr) & _NO_PADDR == pob),
                 key=lambda s: s.paddr)
    return KcoreFile(path, fd, ram, notes.get(b"VMCOREINFO"), pob)


class KcoreMemory(PhysicalMemory):
    """Physical memory of ``/proc/kcore`` through an epoch page cache with read-ahead.

    :param kcore: the parsed file (closed by :meth:`close`).
    :param readahead: the most pages one miss reads (within its segment), ``>= 1``; sequential
        misses double the read up to it, others read one page.
    :param max_pages: pages kept before the cache is emptied within an epoch.
    """

    name = "kcore"

    def __init__(self, kcore: KcoreFile, readahead: int = DEFAULT_READAHEAD,
                 max_pages: int = DEFAULT_MAX_PAGES) -> None:
        self.kcore = kcore
        self.readahead = max(1, readahead)
        self.max_pages = max(self.readahead, max_pages)
        self.pages: dict[int, bytes] = {}
        #: the pfn after the last page read, and the current read-ahead in pages
        self._next = -1
        self._window = 1
        self._flush: list[Callable[[], None]] = []
        self._segs = kcore.segments
        self._starts = [s.paddr for s in self._segs]
        #: pfn -> errno of a page the kernel refused to copy in this epoch
        self._errors: dict[int, int] = {}
        #: ``pread`` calls, pages read, epochs started, and mid-epoch flushes
        self.preads = 0
        self.pages_read = 0
        self.epochs = 0
        self.flushes = 0

    def on_flush(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` whenever the page cache is emptied (translation caches that point
        into it)."""
        self._flush.append(fn)

    def new_epoch(self) -> None:
        """Forget every cached page: the next reads see the kernel as it is now."""
        self.epochs += 1
        self._empty()

    def _empty(self) -> None:
        self.pages.clear()
        self._errors.clear()
        for fn in self._flush:
            fn()

    def ranges(self) -> list[tuple[int, int]]:
        return [(s.paddr, s.paddr + s.size) for s in self._segs]

    def _segment(self, paddr: int) -> KcoreSegment | None:
        i = bisect.bisect_right(self._starts, paddr) - 1
        if i < 0:
            return None
        s = self._segs[i]
        return s if paddr < s.paddr + s.size else None

    def locate(self, paddr: int) -> tuple[Buffer, int] | None:
        pfn = paddr >> 12
        page = self.pages.get(pfn)
        if page is not None:
            return page, 0
        seg = self._segment(pfn << 12)
        if seg is None or pfn in self._errors:
            return None
        if len(self.pages) + self.readahead > self.max_pages:
            self.flushes += 1
            self._empty()
        first = pfn << 12
        self._window = min(self._window * 2, self.readahead) if pfn == self._next else 1
        end = min(seg.paddr + seg.size, first + self._window * PAGE)
        # read ahead only over pages not cached yet
        n = 1
        while first + n * PAGE < end and (pfn + n) not in self.pages:
            n += 1
        data = self._pread(seg, first, n)
        if data is None and n > 1:
            data = self._pread(seg, first, 1)
            n = 1
        if data is None:
            return None
        pages = self.pages
        for j in range(n):
            pages[pfn + j] = data[j * PAGE:(j + 1) * PAGE]
        self.pages_read += n
        self._next = pfn + n
        return pages[pfn], 0

    def _pread(self, seg: KcoreSegment, paddr: int, npages: int) -> bytes | None:
        self.preads += 1
        try:
            data = os.pread(self.kcore.fd, npages * PAGE, seg.offset + paddr - seg.paddr)
        except OSError as e:
            if npages == 1:
                self._errors[paddr >> 12] = e.errno or errno.EIO
            return None
        if len(data) < npages * PAGE:
            if npages == 1:
                self._errors[paddr >> 12] = errno.EIO
            return None
        return data

    def why_missing(self, paddr: int) -> str:
        code = self._errors.get(paddr >> 12)
        if code is not None:
            return f"/proc/kcore: read failed with {errno.errorcode.get(code, code)}"
        return "not in /proc/kcore's RAM segments"

    def close(self) -> None:
        self.pages.clear()
        self.kcore.close()
