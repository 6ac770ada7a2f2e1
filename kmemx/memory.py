"""The kernel's virtual address space over an mmap-backed physical memory.

``pages`` maps a virtual page number to ``(buffer, offset)`` of the page's
first byte, so the hot paths (``read_u64``, view field reads) are one dict
lookup and one ``struct.unpack_from`` on the mmap, with no system call.
"""

from __future__ import annotations

import struct

from .arch import Translator
from .errors import fault
from .readers.base import Buffer, PhysicalMemory, ReadStats

__all__ = ["AddressSpace"]

PAGE = 4096
_U64 = struct.Struct("<Q").unpack_from
#: Drop the page cache when it grows past this many pages (16 GiB touched).
MAX_CACHED_PAGES = 1 << 22


class AddressSpace:
    """Virtual and physical reads over ``phys`` with ``translator``."""

    def __init__(self, phys: PhysicalMemory, translator: Translator,
                 stats: ReadStats) -> None:
        self.phys = phys
        self.translator: Translator = translator
        self.stats = stats
        self.pages: dict[int, tuple[Buffer, int]] = {}

    # -- page lookup ---------------------------------------------------------
    def page(self, vaddr: int) -> tuple[Buffer, int]:
        """``(buffer, offset)`` of the page holding ``vaddr``; FaultError if unmapped."""
        vpn = vaddr >> 12
        entry = self.pages.get(vpn)
        if entry is not None:
            return entry
        paddr = self.translator.translate(vaddr & 0xFFFFFFFFFFFFF000)
        loc = self.phys.locate(paddr) if paddr is not None else None
        if loc is None:
            self.stats.faults += 1
            if paddr is not None:
                raise fault(vaddr, self.phys.why_missing(paddr))
            raise fault(vaddr, self.unmapped_why())
        self.stats.translations += 1
        if len(self.pages) >= MAX_CACHED_PAGES:
            self.pages.clear()
        self.pages[vpn] = loc
        return loc

    def unmapped_why(self) -> str:
        """Why the last translation found nothing, in drgn's words where drgn
        has them: the address is not mapped, or a page table of its walk is
        not in the dump (with the reason the dump gives for that page)."""
        missing = getattr(self.translator, "missing", None)
        if missing is None:
            return "address is not mapped"
        return (f"its page table at physical address {missing & ~0xFFF:#x} is not in the "
                f"dump: {self.phys.why_missing(missing)}")

    def phys_page(self, paddr: int) -> tuple[Buffer, int]:
        loc = self.phys.locate(paddr)
        if loc is None:
            self.stats.faults += 1
            raise fault(paddr, self.phys.why_missing(paddr))
        return loc

    def read_phys_u64(self, paddr: int) -> int | None:
        """Page-table entry reader for the translator."""
        loc = self.phys.locate(paddr)
        if loc is None:
            return None
        buf, off = loc
        v: int = _U64(buf, off + (paddr & 0xFFF))[0]
        return v

    def read_phys_table(self, paddr: int) -> bytes | None:
        """The 4 KiB page at ``paddr`` (a page table), or None if it is not in the target."""
        loc = self.phys.locate(paddr)
        if loc is None:
            return None
        buf, off = loc
        return bytes(buf[off:off + PAGE])

    # -- bulk reads -------------------------------------------------------------
    def read(self, addr: int, size: int, physical: bool = False) -> bytes:
        """``size`` bytes at ``addr``; FaultError names the first unreadable byte."""
        if size < 0:
            raise ValueError("negative size")
        addr &= 0xFFFFFFFFFFFFFFFF
        lookup = self.phys_page if physical else self.page
        off = addr & 0xFFF
        if off + size <= PAGE:
            buf, base = lookup(addr)
            return bytes(buf[base + off:base + off + size])
        # Copy runs of pages that are contiguous in one buffer with one slice
        # (physically contiguous memory is contiguous in an ELF dump).
        out = bytearray()
        pos = addr
        end = addr + size
        while pos < end:
            buf, base = lookup(pos)
            start = base + (pos & 0xFFF)
            n = min(PAGE - (pos & 0xFFF), end - pos)
            pos += n
            while pos < end:
                nbuf, nbase = lookup(pos)
                if nbuf is not buf or nbase != start + n:
                    break
                m = min(PAGE, end - pos)
                n += m
                pos += m
            out += buf[start:start + n]
        return bytes(out)

    def clear_cache(self) -> None:
        self.pages.clear()
        self.translator.clear()
