"""Read the ELF header of ``/proc/kcore``: note names and load segments (checklist D10).

Only the header is read (with pread; kcore has no mmap).  drgn needs the
``VMCOREINFO`` note, present since Linux 4.19; ``KCORE_RAM`` segments carry
``p_paddr`` since 4.11, which gives the direct-map address of a physical page.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable

from kmemx.doctor.sysfs import Tree

__all__ = ["KcoreHeader", "KcoreSegment", "parse_kcore", "read_kcore_header"]

_PT_LOAD = 1
_PT_NOTE = 4
_MAX_PHNUM = 4096
_MAX_NOTES = 1 << 20
_NO_PADDR = 0xFFFFFFFFFFFFFFFF


@dataclass(frozen=True)
class KcoreSegment:
    """A ``PT_LOAD``: virtual address, physical address (None if unset) and size."""

    vaddr: int
    paddr: int | None
    size: int


@dataclass(frozen=True)
class KcoreHeader:
    """What the doctor needs from a kcore header."""

    notes: tuple[str, ...]
    segments: tuple[KcoreSegment, ...]

    @property
    def has_vmcoreinfo(self) -> bool:
        """True when a ``VMCOREINFO`` note is present (Linux 4.19+)."""
        return "VMCOREINFO" in self.notes

    def virtual_address(self, paddr: int) -> int | None:
        """A kernel virtual address mapping ``paddr``, from the largest segment covering it."""
        best: KcoreSegment | None = None
        for seg in self.segments:
            if not seg.paddr:  # unset (-1), or 0 as in every segment before 4.11
                continue
            if seg.paddr <= paddr < seg.paddr + seg.size and (best is None or seg.size > best.size):
                best = seg
        if best is None or not best.paddr:
            return None
        return best.vaddr + (paddr - best.paddr)


def _note_names(blob: bytes, endian: str) -> list[str]:
    names: list[str] = []
    pos = 0
    while pos + 12 <= len(blob):
        namesz, descsz, _type = struct.unpack_from(endian + "III", blob, pos)
        pos += 12
        name = blob[pos : pos + namesz].split(b"\0", 1)[0].decode("ascii", "replace")
        pos += (namesz + 3) & ~3
        pos += (descsz + 3) & ~3
        if namesz == 0 and descsz == 0:
            break
        names.append(name)
    return names


def parse_kcore(head: bytes, read_at: Callable[[int, int], bytes]) -> KcoreHeader:
    """Parse an ELF64 core header; ``read_at(offset, size)`` fetches more bytes.

    Raises ValueError for anything that is not a 64-bit ELF core.
    """
    if len(head) < 64 or head[:4] != b"\x7fELF":
        raise ValueError("not an ELF file")
    if head[4] != 2:
        raise ValueError("not a 64-bit ELF file")
    endian = "<" if head[5] == 1 else ">"
    (phoff,) = struct.unpack_from(endian + "Q", head, 32)
    phentsize, phnum = struct.unpack_from(endian + "HH", head, 54)
    if phentsize < 56 or phnum > _MAX_PHNUM:
        raise ValueError("bad program header table")
    table = read_at(phoff, phentsize * phnum)
    if len(table) < phentsize * phnum:
        raise ValueError("program header table truncated")
    notes: list[str] = []
    segments: list[KcoreSegment] = []
    for i in range(phnum):
        p_type, _flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, _align = struct.unpack_from(
            endian + "IIQQQQQQ", table, i * phentsize
        )
        if p_type == _PT_NOTE and 0 < p_filesz <= _MAX_NOTES:
            notes += _note_names(read_at(p_offset, p_filesz), endian)
        elif p_type == _PT_LOAD:
            paddr = None if p_paddr == _NO_PADDR else p_paddr
            segments.append(KcoreSegment(p_vaddr, paddr, p_memsz))
    return KcoreHeader(tuple(notes), tuple(segments))


class _Reader:
    """Callable ``(offset, size) -> bytes`` over one file of a :class:`Tree`."""

    def __init__(self, tree: Tree, rel: str) -> None:
        self._tree = tree
        self._rel = rel

    def __call__(self, offset: int, size: int) -> bytes:
        got = self._tree.read_at(self._rel, offset, size)
        if got.data is None:
            raise ValueError(f"read failed: {got.error}")
        return got.data


def read_kcore_header(tree: Tree, rel: str = "/proc/kcore") -> tuple[KcoreHeader | None, str]:
    """Open ``rel`` and parse its header: ``(header, "")`` or ``(None, reason)``.

    The reason is an errno name (``ENOENT``, ``EACCES``, ``EPERM``) when the open
    or read failed, ``empty`` when the file reads as nothing (a container's
    masked ``/proc/kcore`` is ``/dev/null``), or a parse error.
    """
    got = tree.read_at(rel, 0, 64)
    if got.data is None:
        return None, got.error
    if not got.data:
        return None, "empty"
    try:
        return parse_kcore(got.data, _Reader(tree, rel)), ""
    except (ValueError, struct.error) as exc:
        return None, f"unparsable: {exc}"
