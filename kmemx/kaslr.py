"""VMCOREINFO recovered from memory, for an x86-64 dump that lacks the note.

QEMU's ``dump-guest-memory`` writes the guest's VMCOREINFO note only when the
guest ran with ``-device vmcoreinfo`` and its ``qemu_fw_cfg`` driver; without
it drgn refuses the dump, while crash finds the KASLR offset itself
(kaslr_helper.c: ``calc_kaslr_offset()``, from the IDT of QEMU's CPU state).
kmemx finds what drgn needs from the vmlinux and the kernel image in the
dump's memory, without the CPU state:

1. where the image lies in physical memory: ``linux_banner`` (the text of
   ``/proc/version``, in ``.rodata``) is searched for at the one offset within
   each 2 MiB that the image's alignment allows (x86-64 loads and randomizes
   the kernel at ``MIN_KERNEL_ALIGN``, 2 MiB, arch/x86/include/asm/boot.h);
2. the virtual KASLR offset: the boot code relocates every absolute pointer
   of the image by it (arch/x86/boot/compressed/misc.c,
   ``handle_relocations()``), so the pointers of ``.data`` read in memory
   minus their link-time values in the vmlinux are that offset, except where
   the kernel has written since (lists, counters): the most common difference
   wins;
3. ``phys_base`` from the two (``__pa_symbol()``), and 4- or 5-level paging
   from which walk of ``init_top_pgt`` maps the image where it was found.

Every answer is checked by translating image addresses back through the
page tables; a vmlinux of another kernel has no banner in the dump and is
refused.  arm64 dumps need ``kimage_voffset`` and ``PHYS_OFFSET``, which the
image does not hold in a findable place: not recovered.
"""

from __future__ import annotations

import collections

import drgn
import numpy as np

from .arch.x86_64 import START_KERNEL_MAP, X86_64Translator
from .buildid import elf_build_id, elf_read, elf_symbol_values
from .errors import NoVmcoreinfoError
from .memory import AddressSpace
from .readers.base import PhysicalMemory, ReadStats
from .symbols import vmlinux_struct_size

__all__ = ["KERNEL_ALIGN", "recover_vmcoreinfo"]

#: MIN_KERNEL_ALIGN on x86-64 (PMD_SIZE): both KASLR offsets are multiples of it
KERNEL_ALIGN = 0x200000
_PAGE = 4096
_MASK64 = (1 << 64) - 1
#: how much of .data to compare (the relocated pointers near its start suffice)
_DATA_WINDOW = 1 << 20
#: agreeing pointers needed to accept an offset
_MIN_VOTES = 16


def _read(space: AddressSpace, paddr: int, size: int) -> bytes | None:
    """``size`` bytes of physical memory at ``paddr``, or None if a page is missing."""
    try:
        return space.read(paddr, size, physical=True)
    except drgn.FaultError:
        return None


def _find_banner(space: AddressSpace, banner: bytes, link_phys: int) -> list[int]:
    """Physical addresses where ``banner`` lies at its image offset modulo the
    kernel's alignment."""
    found = []
    skew = link_phys % KERNEL_ALIGN
    for start, end in space.phys.ranges():
        base = start - start % KERNEL_ALIGN
        for b in range(base, end, KERNEL_ALIGN):
            p = b + skew
            if start <= p and p + len(banner) <= end and _read(space, p, len(banner)) == banner:
                found.append(p)
    return found


def _virtual_offset(space: AddressSpace, vmlinux: str, image_phys: int,
                    syms: dict[str, int]) -> int | None:
    """The KASLR offset: the most common (memory - file) difference of the
    ``.data`` words whose link-time value points into the image."""
    start, end = syms["_sdata"], min(syms["_edata"], syms["_sdata"] + _DATA_WINDOW)
    size = (end - start) & ~7
    link = elf_read(vmlinux, start, size)
    mem = _read(space, image_phys + (start - syms["_text"]), size)
    if link is None or mem is None:
        return None
    f = np.frombuffer(link, dtype="<u8")
    m = np.frombuffer(mem, dtype="<u8")
    inside = (f >= np.uint64(syms["_text"])) & (f < np.uint64(syms["_end"]))
    delta = (m[inside] - f[inside]) & np.uint64(_MASK64)  # wraps, as the CPU's add does
    # KERNEL_IMAGE_SIZE (1 GiB) bounds the offset; it is a multiple of the alignment
    ok = (delta < np.uint64(1 << 30)) & (delta % np.uint64(KERNEL_ALIGN) == 0)
    votes = collections.Counter(int(d) for d in delta[ok])
    if not votes:
        return None
    best, n = votes.most_common(1)[0]
    return best if n >= _MIN_VOTES and n * 2 > sum(votes.values()) else None


#: arch/x86/include/asm/sparsemem.h: SECTION_SIZE_BITS, and MAX_PHYSMEM_BITS
#: with 5- and 4-level paging
_SECTION_SIZE_BITS = 27
_MAX_PHYSMEM_BITS = {True: 52, False: 46}


def _sparsemem_lines(vmlinux: str, five_level: bool) -> list[str]:
    """SPARSEMEM's keys (kernel/crash_core.c writes them): drgn finds
    ``vmemmap`` by scanning ``LENGTH(mem_section)`` (NR_SECTION_ROOTS) roots.
    ``NR_SECTION_ROOTS = 2^(MAX_PHYSMEM_BITS - SECTION_SIZE_BITS) /
    (PAGE_SIZE / sizeof(struct mem_section))`` (SPARSEMEM_EXTREME,
    include/linux/mmzone.h), the struct's size from the vmlinux's BTF; []
    without it."""
    size = vmlinux_struct_size(vmlinux, "mem_section")
    if not size or _PAGE % size:
        return []
    bits = _MAX_PHYSMEM_BITS[five_level]
    roots = (1 << (bits - _SECTION_SIZE_BITS)) // (_PAGE // size)
    return [f"LENGTH(mem_section)={roots}", f"SIZE(mem_section)={size}",
            f"NUMBER(SECTION_SIZE_BITS)={_SECTION_SIZE_BITS}", f"NUMBER(MAX_PHYSMEM_BITS)={bits}"]


def recover_vmcoreinfo(phys: PhysicalMemory, vmlinux: str, source: str = "") -> bytes:
    """VMCOREINFO text for an x86-64 dump without the note: ``OSRELEASE``,
    ``BUILD-ID``, ``PAGESIZE``, ``SYMBOL(swapper_pg_dir)``, ``NUMBER(phys_base)``,
    ``NUMBER(pgtable_l5_enabled)``, ``KERNELOFFSET`` and SPARSEMEM's
    ``LENGTH(mem_section)`` and sizes, the keys drgn and kmemx need to
    translate addresses and find ``vmemmap`` (arch/x86/kernel/crash_core_64.c
    and kernel/crash_core.c write them in a kernel that has the note).

    :param phys: the dump's physical memory.
    :param vmlinux: path of the kernel's vmlinux (its symbols and ``.data``).
    :param source: the dump's name, for messages.
    :raises NoVmcoreinfoError: with the reason when the image cannot be found
        (another kernel's vmlinux, the image missing from the dump).
    """
    where = f"{source}: " if source else ""
    need = ("linux_banner", "init_top_pgt", "_text", "_end", "_sdata", "_edata")
    syms = elf_symbol_values(vmlinux, (*need, "_stext"))
    missing = [n for n in need if n not in syms]
    if missing:
        raise NoVmcoreinfoError(f"{where}no VMCOREINFO note, and {vmlinux} lacks the symbols "
                                f"to find the kernel in memory ({', '.join(missing)})")
    head = elf_read(vmlinux, syms["linux_banner"], 512) or b""
    banner = head.split(b"\0", 1)[0]
    if not banner.startswith(b"Linux version "):
        raise NoVmcoreinfoError(f"{where}no VMCOREINFO note, and {vmlinux}'s linux_banner "
                                "is not readable")
    # physical reads only: the translator is never asked
    space = AddressSpace(phys, X86_64Translator(0, False, lambda p: None), ReadStats())
    found = _find_banner(space, banner, syms["linux_banner"] - START_KERNEL_MAP)
    if not found:
        raise NoVmcoreinfoError(f"{where}no VMCOREINFO note, and {vmlinux}'s banner "
                                f"({banner[:60].decode('ascii', 'replace')}...) is nowhere in "
                                "the dump's memory: is it this kernel's vmlinux?")
    for banner_phys in found:
        image_phys = banner_phys - (syms["linux_banner"] - syms["_text"])
        offset = _virtual_offset(space, vmlinux, image_phys, syms)
        if offset is None:
            continue
        phys_base = (banner_phys - (syms["linux_banner"] + offset - START_KERNEL_MAP)) & _MASK64
        pgd = X86_64Translator.pa_symbol(syms["init_top_pgt"] + offset, phys_base)
        for five in (False, True):
            walker = X86_64Translator(pgd, five, space.read_phys_u64)
            if (walker.translate(syms["linux_banner"] + offset) == banner_phys
                    and walker.translate(syms["init_top_pgt"] + offset) == pgd):
                release = banner.split()[2].decode("ascii", "replace")
                lines = [f"OSRELEASE={release}"]
                bid = elf_build_id(vmlinux)
                if bid:
                    lines.append(f"BUILD-ID={bid}")
                lines += [f"PAGESIZE={_PAGE}",
                          f"SYMBOL(swapper_pg_dir)={syms['init_top_pgt'] + offset:x}",
                          f"SYMBOL(init_top_pgt)={syms['init_top_pgt'] + offset:x}",
                          # VMCOREINFO_NUMBER prints it signed (%ld)
                          f"NUMBER(phys_base)={phys_base - (1 << 64) if phys_base >> 63 else phys_base}",
                          f"NUMBER(pgtable_l5_enabled)={int(five)}",
                          f"KERNELOFFSET={offset:x}"]
                if "_stext" in syms:
                    lines.append(f"SYMBOL(_stext)={syms['_stext'] + offset:x}")
                lines += _sparsemem_lines(vmlinux, five)
                return ("\n".join(lines) + "\n").encode()
    raise NoVmcoreinfoError(f"{where}no VMCOREINFO note, and the kernel image found in memory "
                            f"(banner at physical {found[0]:#x}) does not map consistently: "
                            "the KASLR offset cannot be recovered")
