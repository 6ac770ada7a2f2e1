"""Architecture support: virtual-to-physical translation.

The architecture comes from the dump, never from the host: the ELF header's
``e_machine``, the kdump header's utsname machine, else what VMCOREINFO
describes (:attr:`kmemx.vmcoreinfo.Vmcoreinfo.machine`).
"""

from __future__ import annotations

from typing import Callable, Iterator, Protocol

import drgn

from ..errors import CoreFormatError, NoVmcoreinfoError, TargetError
from ..vmcoreinfo import Vmcoreinfo
from . import aarch64, x86_64
from .aarch64 import Aarch64Translator, linear_map_offset, runtime_va_bits
from .x86_64 import X86_64Translator

__all__ = [
    "ELF_MACHINES",
    "MACHINES",
    "TIF_SIGPENDING",
    "Aarch64Translator",
    "Translator",
    "X86_64Translator",
    "aarch64_va_bits",
    "elf_machine",
    "is_aarch64",
    "is_x86_64",
    "make_translator",
    "prog_machine",
]

#: ELF ``e_machine`` values (elf.h) of the architectures kmemx translates
ELF_MACHINES = {62: "x86_64", 183: "aarch64"}  # EM_X86_64, EM_AARCH64
#: the architectures kmemx translates, as ``uname -m`` names them
MACHINES = tuple(ELF_MACHINES.values())
#: ``TIF_SIGPENDING`` of each architecture (``thread_info.flags`` bit), by
#: :data:`MACHINES` name (drgn's ``Architecture`` name in lower case)
TIF_SIGPENDING = {"x86_64": x86_64.TIF_SIGPENDING, "aarch64": aarch64.TIF_SIGPENDING}


class Translator(Protocol):
    """What :class:`~kmemx.memory.AddressSpace` and the target code use of a
    translator."""

    pgd_phys: int
    walks: int
    #: ``__va(p) - p`` of the direct (linear) map when the dump's headers
    #: give it, else None (x86-64 keeps it in ``page_offset_base``)
    linear_offset: int | None
    #: after translate() returned None: the physical address of the
    #: page-table entry its walk could not read (the dump lacks that page),
    #: or None when the address is not mapped
    missing: int | None

    def translate(self, vaddr: int) -> int | None: ...

    def leaves(self, start: int, end: int) -> Iterator[tuple[int, int, int]]: ...

    def clear(self) -> None: ...


def elf_machine(e_machine: int) -> str | None:
    """``"x86_64"`` or ``"aarch64"`` for an ELF ``e_machine``, None for another."""
    return ELF_MACHINES.get(e_machine)


def prog_machine(prog: drgn.Program) -> str | None:
    """The architecture of ``prog``'s kernel as :data:`MACHINES` names it
    (``"x86_64"``, ``"aarch64"``), from drgn's platform (which the dump's
    headers set), or None for another architecture or no platform.  The one
    place commands and helpers ask "which architecture is this dump"."""
    platform = prog.platform
    if platform is None:
        return None
    if platform.arch == drgn.Architecture.X86_64:
        return "x86_64"
    if platform.arch == drgn.Architecture.AARCH64:
        return "aarch64"
    return None


def is_aarch64(prog: drgn.Program) -> bool:
    """Whether ``prog`` is an arm64 kernel (:func:`prog_machine`)."""
    return prog_machine(prog) == "aarch64"


def is_x86_64(prog: drgn.Program) -> bool:
    """Whether ``prog`` is an x86-64 kernel (:func:`prog_machine`)."""
    return prog_machine(prog) == "x86_64"


def aarch64_va_bits(prog: drgn.Program) -> int:
    """The run-time size in bits of an arm64 kernel's address spaces
    (``vabits_actual``, :func:`kmemx.arch.aarch64.runtime_va_bits`) from the
    kernel's own VMCOREINFO note (``VMCOREINFO``, the object drgn finds),
    cached in ``prog.cache["kmemx.arch.va_bits"]``.

    :raises LookupError: the kernel has no VMCOREINFO or it has no
        ``NUMBER(VA_BITS)``.
    """
    bits = prog.cache.get("kmemx.arch.va_bits")
    if bits is None:
        note = prog["VMCOREINFO"]
        vmci = Vmcoreinfo(note.string_())
        if vmci.va_bits is None:
            raise LookupError("VMCOREINFO has no NUMBER(VA_BITS)")
        page_shift = vmci.page_size.bit_length() - 1
        bits = runtime_va_bits(vmci.va_bits, vmci.tcr_el1_t1sz, page_shift)
        prog.cache["kmemx.arch.va_bits"] = bits
    return int(bits)


def make_translator(machine: str, vmci: Vmcoreinfo,
                    read_phys_u64: Callable[[int], int | None],
                    read_phys_table: Callable[[int], bytes | None],
                    core: str = "") -> Translator:
    """The translator of ``machine``'s kernel page tables, set up from VMCOREINFO.

    :param machine: ``"x86_64"`` or ``"aarch64"`` (from the dump's header).
    :param read_phys_u64: reads a ``u64`` page-table entry at a physical
        address, or returns None when the dump lacks it.
    :param read_phys_table: reads the 4 KiB page at a physical address.
    :param core: the dump, for error messages.
    :raises TargetError: an architecture kmemx does not translate.
    :raises NoVmcoreinfoError: VMCOREINFO has no ``SYMBOL(swapper_pg_dir)``.
    :raises CoreFormatError: an arm64 VMCOREINFO lacks ``NUMBER(VA_BITS)``
        or ``NUMBER(kimage_voffset)``, or holds impossible values.
    """
    where = f"{core}: " if core else ""
    pgd = vmci.symbol("swapper_pg_dir")
    if pgd is None:
        raise NoVmcoreinfoError(f"{where}VMCOREINFO has no SYMBOL(swapper_pg_dir)")
    if machine == "x86_64":
        return X86_64Translator(X86_64Translator.pa_symbol(pgd, vmci.phys_base),
                                vmci.five_level, read_phys_u64, read_phys_table)
    if machine == "aarch64":
        return _aarch64(vmci, pgd, read_phys_u64, read_phys_table, where)
    raise TargetError(f"{where}cannot translate addresses of a {machine} kernel "
                      f"(kmemx knows {', '.join(MACHINES)}); use --reader drgn")


def _aarch64(vmci: Vmcoreinfo, pgd: int, read_phys_u64: Callable[[int], int | None],
             read_phys_table: Callable[[int], bytes | None], where: str) -> Aarch64Translator:
    """arm64: the run-time VA size is ``64 - TCR_EL1_T1SZ`` with 4/16 KiB
    pages when VMCOREINFO has it, else ``VA_BITS`` (drgn's rule,
    libdrgn/arch_aarch64.c); ``swapper_pg_dir`` is at ``__pa_symbol()``."""
    va_bits = vmci.va_bits
    voff = vmci.kimage_voffset
    if va_bits is None or voff is None:
        raise CoreFormatError(f"{where}VMCOREINFO of an arm64 kernel has no "
                              "NUMBER(VA_BITS) or NUMBER(kimage_voffset)")
    page_size = vmci.page_size
    page_shift = page_size.bit_length() - 1
    if page_size not in (4096, 16384, 65536):
        raise CoreFormatError(f"{where}arm64 page size {page_size} (kmemx knows 4, 16 "
                              "and 64 KiB)")
    t1sz = vmci.tcr_el1_t1sz
    runtime_bits = runtime_va_bits(va_bits, t1sz, page_shift)
    if not page_shift < runtime_bits <= 52 or not page_shift < va_bits <= 52:
        raise CoreFormatError(f"{where}damaged VMCOREINFO: VA_BITS={va_bits}, "
                              f"TCR_EL1_T1SZ={t1sz}")
    phys_offset = vmci.phys_offset
    offset = (linear_map_offset(va_bits, phys_offset, pgd)
              if phys_offset is not None else None)
    return Aarch64Translator(Aarch64Translator.pa_symbol(pgd, voff), runtime_bits,
                             read_phys_u64, read_phys_table, page_shift=page_shift,
                             linear_offset=offset)
