"""AArch64 virtual-to-physical translation by walking the kernel page tables.

Every kernel virtual address (the linear map, the kernel image, vmalloc and
task stacks, vmemmap, modules, fixmap, per-cpu) is translated by walking
``swapper_pg_dir``, the TTBR1 table, as drgn's walker does
(libdrgn/arch_aarch64.c, ``linux_kernel_pgtable_iterator_next_aarch64``):

* the size of the kernel half is ``64 - TCR_EL1_T1SZ`` bits when VMCOREINFO
  has ``NUMBER(TCR_EL1_T1SZ)`` (kernel commit bbdbc11804ff, v5.9) and the
  granule is 4 or 16 KiB, else ``NUMBER(VA_BITS)`` (commit 20a166243328,
  v4.12).  A kernel built for 52-bit VAs that runs with 48 (no FEAT_LPA2)
  folds a level at run time (commit 0dd4f60a2c76, v6.9), so the run-time size
  decides the number of levels;
* an address below the kernel half is not mapped by ``swapper_pg_dir``;
* descriptor bits [1:0]: ``0b11`` is a table (a page at the last level),
  ``0b01`` above the last level is a block (1 GiB or 2 MiB with 4 KiB
  pages), anything else is invalid;
* output address bits [47:PAGE_SHIFT] come from the descriptor; with 52-bit
  VAs and 4/16 KiB pages (FEAT_LPA2, commit 352b0395b505, v6.9) bits
  [49:48] are descriptor bits [49:48] and bits [51:50] descriptor bits
  [9:8]; with 64 KiB pages bits [51:48] are descriptor bits [15:12];
* ``__pa_symbol(x) = x - kimage_voffset`` (arch/arm64/include/asm/memory.h),
  so the walk starts at a physical address and never recurses.

The contiguous bit, access flag and permission bits do not change the
translation and are ignored.  Blocks are cached at their own size, so the
linear map costs one walk per block.
"""

from __future__ import annotations

from typing import Callable, Iterator

from .tables import read_table

__all__ = ["PTE_FLAG_NAMES", "TIF_SIGPENDING", "Aarch64Translator", "descriptor_phys",
           "kernel_exception_frames", "linear_map_offset", "page_offset", "pgtable_walk",
           "phys_to_virt", "pte_flag_names", "ptrauth_strip_kernel_insn_pac", "runtime_va_bits",
           "swp_offset", "swp_type", "uvtop"]

_MASK64 = 0xFFFFFFFFFFFFFFFF
_VALID_TABLE = 0b11
_VALID_BLOCK = 0b01

#: the bit of ``thread_info.flags`` that says a signal is pending
#: (arch/arm64/include/asm/thread_info.h since the port, v3.7; crash's
#: defs.h for ARM64 has the same 0).  Not x86-64's 2
TIF_SIGPENDING = 0


def ptrauth_strip_kernel_insn_pac(value: int, mask: int,
                                  is_kernel_text: Callable[[int], bool]) -> int:
    """A saved arm64 return address without its pointer-authentication code.

    :param value: a 64-bit word read from a stack (``unsigned long``), e.g. the
        LR of a frame record or ``pt_regs->regs[30]``.
    :param mask: ``NUMBER(KERNELPACMASK)`` (``ptrauth_kernel_pac_mask()``,
        ``GENMASK_ULL(54, vabits_actual)`` plus the tag bits); 0 when the
        kernel signs nothing.
    :param is_kernel_text: whether an address lies in the kernel's (or a
        module's) text.
    :returns: ``value | mask`` when that is kernel text and ``value`` is not
        already it, else ``value`` unchanged.  No errors.

    Mirrors the kernel's ``ptrauth_strip_kernel_insn_pac()``
    (arch/arm64/include/asm/pointer_auth.h: a kernel address has every PAC
    bit set once stripped; ``ptrauth_strip_insn_pac()`` before v6.4) with
    crash's guard (arm64.c: ``if (is_kernel_text(val |
    CONFIG_ARM64_KERNELPACMASK)) val |= CONFIG_ARM64_KERNELPACMASK``), so a
    data word that only looks signed is left alone.  drgn's unwinder
    strips the same bits from saved LRs (``aarch64_insn_pac_mask``).
    """
    if not mask or value & mask == mask:
        return value
    stripped = (value | mask) & _MASK64
    return stripped if is_kernel_text(stripped) else value


#: PSTATE (arch/arm64/include/uapi/asm/ptrace.h): PSR_MODE32_BIT, PSR_MODE_MASK
#: and the exception levels crash's eframe search takes as kernel mode
#: (PSR_MODE_EL1t, _EL1h, _EL2t, _EL2h)
_PSR_MODE32_BIT = 0x10
_PSR_MODE_MASK = 0xF
_KERNEL_MODES = (0x4, 0x5, 0x8, 0x9)


def kernel_exception_frames(stack: bytes, base: int, regs_size: int, where: dict[str, int],
                            is_kernel_text: Callable[[int], bool],
                            pac_mask: int = 0) -> Iterator[int]:
    """The addresses on a kernel stack where a ``struct pt_regs`` saved by an
    exception taken in kernel mode may lie, lowest first, by crash's test
    (arm64.c ``arm64_eframe_search()`` and
    ``arm64_is_kernel_exception_frame()``, ``bt -e``): every byte address
    from the stack's base up to ``regs_size`` bytes below its top where the
    saved SP and x29 are inside the stack, PSTATE has no bit set above bit
    31 nor PSR_MODE32_BIT and its mode is EL1t, EL1h, EL2t or EL2h, the PC
    is kernel text, and the LR is kernel text once its pointer-authentication
    bits are set (``| pac_mask``).

    :param stack: the stack's bytes (``THREAD_SIZE`` of them) from ``base``.
    :param regs_size: ``sizeof(struct pt_regs)``.
    :param where: byte offsets in ``struct pt_regs`` of ``x29``
        (``regs[29]``), ``x30`` (``regs[30]``), ``sp``, ``pc`` and
        ``pstate``, each a multiple of 8.
    :param is_kernel_text: whether an address is kernel (or module) text.
    :param pac_mask: ``NUMBER(KERNELPACMASK)``, 0 when the kernel signs
        nothing.  No errors.
    """
    import numpy as np

    top = base + len(stack)
    last = len(stack) - regs_size  # crash: ptr < stacktop - SIZE(pt_regs)
    hits: list[int] = []
    for residue in range(8):
        count = (len(stack) - residue) // 8
        if last <= residue or count <= 0:
            continue
        words = np.frombuffer(stack, dtype="<u8", count=count, offset=residue)
        n = (last - residue + 7) // 8  # pt_regs at residue + 8 * i, i < n
        fields = {k: words[v // 8:v // 8 + n] for k, v in where.items()}
        if any(len(f) < n for f in fields.values()):
            n = min(len(f) for f in fields.values())
            fields = {k: f[:n] for k, f in fields.items()}
        pstate = fields["pstate"]
        ok = ((fields["sp"] >= base) & (fields["sp"] < top)
              & (fields["x29"] >= base) & (fields["x29"] < top)
              & ((pstate & np.uint64(0xFFFFFFFF00000000 | _PSR_MODE32_BIT)) == 0)
              & np.isin(pstate & np.uint64(_PSR_MODE_MASK), _KERNEL_MODES))
        for i in np.flatnonzero(ok):
            if (is_kernel_text(int(fields["pc"][i]))
                    and is_kernel_text((int(fields["x30"][i]) | pac_mask) & _MASK64)):
                hits.append(base + residue + 8 * int(i))
    yield from sorted(hits)


def page_offset(va_bits: int, kimage_vaddr: int) -> int:
    """``PAGE_OFFSET``, the start of the linear map (``unsigned long``).

    :param va_bits: ``NUMBER(VA_BITS)``, the configured (not run-time) size.
    :param kimage_vaddr: any kernel-image address (``SYMBOL(swapper_pg_dir)``).

    Mirrors arch/arm64/include/asm/memory.h: ``-(1 << VA_BITS)`` since kernel
    commit 14c127c957c1 ("arm64: mm: Flip kernel VA space", v5.4), where the
    image lies in the kernel half's top half; ``-(1 << (VA_BITS - 1))``
    before it, where the image lay below ``PAGE_OFFSET``.  Which layout a dump
    has is read from where its image lies, the newest layout first.  No errors.
    """
    if kimage_vaddr < (-(1 << (va_bits - 1))) & _MASK64:
        return (-(1 << (va_bits - 1))) & _MASK64  # before 14c127c957c1
    return (-(1 << va_bits)) & _MASK64


#: the descriptor bits crash's arm64_translate_pte() names, in its order
#: (arch/arm64/include/asm/pgtable-hwdef.h, pgtable-prot.h): a name is shown
#: when any bit of its mask is set (SHARED is SH[1:0]); PROT_NONE is bit 58,
#: the software bit of kernels 5.19 and later (crash 8.0.6's value for them).
#: Not exact on the newest layouts, which no crash here reads (7.2.13): with
#: FEAT_LPA2 (52-bit VAs, 4/16 KiB pages, commit 352b0395b505, v6.9) bits
#: [9:8] are output-address bits, and bit 58 is PTE_UFFD_WP once PROT_NONE
#: became PTE_PRESENT_INVALID (v6.10)
PTE_FLAG_NAMES = ((1 << 0, "VALID"), (1 << 58, "PROT_NONE"), (1 << 6, "USER"),
                  (1 << 7, "RDONLY"), (3 << 8, "SHARED"), (1 << 10, "AF"), (1 << 11, "NG"),
                  (1 << 53, "PXN"), (1 << 54, "UXN"), (1 << 55, "DIRTY"),
                  (1 << 56, "SPECIAL"))


def pte_flag_names(value: int) -> list[str]:
    """The names of the bits of :data:`PTE_FLAG_NAMES` set in a descriptor
    (``pte_t``, ``pmd_t``... value), in crash's order.  No errors."""
    return [name for mask, name in PTE_FLAG_NAMES if value & mask]


def runtime_va_bits(va_bits: int, tcr_el1_t1sz: int | None, page_shift: int) -> int:
    """The size of the kernel half in bits at run time (``vabits_actual``).

    :param va_bits: ``NUMBER(VA_BITS)``, the configured size.
    :param tcr_el1_t1sz: ``NUMBER(TCR_EL1_T1SZ)`` (kernel commit bbdbc11804ff,
        v5.9), or None/0 when VMCOREINFO lacks it.
    :param page_shift: 12, 14 or 16.

    ``64 - TCR_EL1_T1SZ`` with 4 or 16 KiB pages when known, else
    ``VA_BITS`` (drgn's rule, libdrgn/arch_aarch64.c).  No errors.
    """
    return va_bits if page_shift == 16 or not tcr_el1_t1sz else 64 - tcr_el1_t1sz


def pgtable_walk(pgd_phys: int, vaddr: int, va_bits: int,
                 read_u64: Callable[[int], int], page_shift: int = 12,
                 ) -> Iterator[tuple[str, int, int]]:
    """The descriptors that translate ``vaddr`` (``unsigned long``) from the
    top-level table at physical ``pgd_phys``, as ``(level, physical address
    of the descriptor, value)``: ``pgd_offset()``, ``p4d_offset()``,
    ``pud_offset()``, ``pmd_offset()``, ``pte_offset_kernel()``
    (arch/arm64/include/asm/pgtable.h) for the levels ``va_bits`` (the
    run-time size, :func:`runtime_va_bits`) and the granule need: 3 levels
    for 39-bit VAs, 4 for 48, 5 for 52 with 4 KiB pages (FEAT_LPA2, kernel
    commit 352b0395b505, v6.9); the folded ones are not listed.  Stops after
    an invalid descriptor (bits [1:0] not 0b11, or 0b01 above the last level:
    a block, which ends the walk as it does in crash's arm64_vtop_*()).

    :param read_u64: reads a ``u64`` at a physical address; what it raises
        (:class:`drgn.FaultError` for a table not in the dump) goes through.
    """
    bits = page_shift - 3
    levels = (va_bits - page_shift + bits - 1) // bits
    names = {5: ("PGD", "P4D", "PUD", "PMD", "PTE"), 4: ("PGD", "PUD", "PMD", "PTE"),
             3: ("PGD", "PMD", "PTE"), 2: ("PGD", "PTE")}[levels]
    table, shift = pgd_phys, page_shift + bits * (levels - 1)
    entries = 1 << ((va_bits - page_shift - 1) % bits + 1)
    for name in names:
        addr = table + ((vaddr >> shift) & (entries - 1)) * 8
        value = read_u64(addr)
        yield name, addr, value
        if shift == page_shift or value & 3 != _VALID_TABLE:
            return
        table = descriptor_phys(value, va_bits, page_shift)
        shift, entries = shift - bits, 1 << bits


def uvtop(pgd_phys: int, vaddr: int, va_bits: int, read_u64: Callable[[int], int],
          page_shift: int = 12) -> tuple[int | None, int]:
    """``(physical address or None, entry)`` of the user address ``vaddr``
    (``unsigned long``) through the user page tables whose top level is at
    physical ``pgd_phys`` (``mm->pgd``), by crash's rule for arm64 (arm64.c
    ``arm64_uvtop()``, ``arm64_vtop_4level_4k()`` and its 3-level and 16/64
    KiB twins), the oracle ``vm -p`` is compared with:

    * a block (descriptor bits [1:0] ``0b01`` above the last level) maps
      the address inside it;
    * a page is mapped when its descriptor has ``PTE_VALID`` (bit 0).  The
      kernel's ``pte_present()`` also counts ``PTE_PROT_NONE`` pages; crash
      does not, and neither does this;
    * otherwise the entry is the last-level descriptor's value (a swap or
      migration entry when non-zero, :func:`swp_type`), or 0 when the walk
      stopped above the last level.

    :param va_bits: the run-time size of the address space
        (:func:`runtime_va_bits`); the user half has as many levels.
    :param read_u64: reads a ``u64`` at a physical address; what it raises
        (:class:`drgn.FaultError` for a table not in the dump) goes through.
    """
    walk = list(pgtable_walk(pgd_phys, vaddr, va_bits, read_u64, page_shift))
    _, _, value = walk[-1]
    bits = page_shift - 3
    levels = (va_bits - page_shift + bits - 1) // bits
    shift = page_shift + bits * (levels - len(walk))
    if shift == page_shift:
        if value & 1:
            return descriptor_phys(value, va_bits, page_shift) | (vaddr & ((1 << shift) - 1)), value
        return None, value
    if value & 3 == _VALID_BLOCK:
        mask = (1 << shift) - 1
        return (descriptor_phys(value, va_bits, page_shift) & ~mask) | (vaddr & mask), value
    return None, 0


#: arch/arm64/include/asm/pgtable.h: __SWP_TYPE_SHIFT, __SWP_TYPE_BITS,
#: __SWP_OFFSET_BITS since kernel commit 570ef363509b ("arm64/pgtable:
#: support __HAVE_ARCH_PTE_SWP_EXCLUSIVE", v5.19; 2, 6 and 50 before it).
#: These are macros: nothing in DWARF tells the layouts apart, and crash
#: 8.0.6 picks the same values for kernels 5.19 and later (arm64.c)
_SWP_TYPE_SHIFT, _SWP_TYPE_BITS, _SWP_OFFSET_BITS = 3, 5, 50


def swp_type(pte: int) -> int:
    """``__swp_type(__pte_to_swp_entry(pte))`` of a not-present arm64 PTE
    (``pte_t`` value): the swap device's index in ``swap_info[]``.  No errors."""
    return (pte >> _SWP_TYPE_SHIFT) & ((1 << _SWP_TYPE_BITS) - 1)


def swp_offset(pte: int) -> int:
    """``__swp_offset(__pte_to_swp_entry(pte))``: the page's slot in the swap
    device (arch/arm64/include/asm/pgtable.h, see :func:`swp_type`).  No errors."""
    return (pte >> (_SWP_TYPE_SHIFT + _SWP_TYPE_BITS)) & ((1 << _SWP_OFFSET_BITS) - 1)


def descriptor_phys(value: int, va_bits: int, page_shift: int = 12) -> int:
    """The output address of a descriptor (``__pte_to_phys()``,
    arch/arm64/include/asm/pgtable.h), of the layout ``va_bits`` and the
    granule imply (see :class:`Aarch64Translator`).  No errors."""
    return Aarch64Translator(0, va_bits, lambda _: None, page_shift=page_shift)._out(value)


def phys_to_virt(paddr: int, phys_offset: int, page_offset_: int,
                 physvirt_offset: int | None = None) -> int:
    """``__phys_to_virt(paddr)``, the linear-map address of a physical address
    (``phys_addr_t`` to ``unsigned long``), for any ``paddr``: one below
    ``PHYS_OFFSET`` (no RAM there) too, as crash's ``ptov`` prints it.

    :param phys_offset: ``PHYS_OFFSET`` (``memstart_addr``), bytes.
    :param page_offset_: ``PAGE_OFFSET`` (:func:`page_offset`; ``__va()`` of
        ``PHYS_OFFSET``).
    :param physvirt_offset: the kernel's ``physvirt_offset`` variable, where it
        has one.  No errors.

    Mirrors arch/arm64/include/asm/memory.h: ``(x - PHYS_OFFSET) |
    PAGE_OFFSET``, which kernel commit 7bc1a0f9e176 ("arm64: mm: use single
    quantity to represent the PA to VA translation", v5.11) restored; from
    v5.4 to it, ``x - physvirt_offset``.  The two differ below
    ``PHYS_OFFSET``, where the OR keeps the top bits set (crash's
    arm64_PTOV() has both forms); an addition (drgn's ``phys_to_virt()``,
    :func:`linear_map_offset`) wraps into the half below ``PAGE_OFFSET``.
    """
    if physvirt_offset is not None:  # v5.4 .. 7bc1a0f9e176
        return (paddr - physvirt_offset) & _MASK64
    return ((paddr - phys_offset) & _MASK64) | page_offset_


def linear_map_offset(va_bits: int, phys_offset: int, kimage_vaddr: int) -> int:
    """``__va(p) - p`` for the linear map, as an unsigned 64-bit offset.

    :param va_bits: ``NUMBER(VA_BITS)``, the configured (not run-time) size.
    :param phys_offset: ``NUMBER(PHYS_OFFSET)`` (``memstart_addr``), bytes.
    :param kimage_vaddr: any kernel-image address (``SYMBOL(swapper_pg_dir)``).

    Mirrors ``__phys_to_virt(x) = (x - PHYS_OFFSET) | PAGE_OFFSET``.  Since
    kernel commit 14c127c957c1 ("arm64: mm: Flip kernel VA space", v5.4)
    ``PAGE_OFFSET`` is ``-(1 << VA_BITS)`` (the linear map is the bottom of
    the kernel half and the image lies in its top half); before it,
    ``PAGE_OFFSET`` was ``-(1 << (VA_BITS - 1))`` and the image lay below it.
    Which layout a dump has is read from where its image lies, the newest
    layout first.  A 52-bit kernel running with 48-bit VAs moves
    ``memstart_addr`` instead of ``PAGE_OFFSET`` (``arm64_memblock_init()``),
    which ``NUMBER(PHYS_OFFSET)`` already holds.
    """
    return (page_offset(va_bits, kimage_vaddr) - phys_offset) & _MASK64


class Aarch64Translator:
    """Walks AArch64 stage-1 kernel page tables (``swapper_pg_dir``).

    :param pgd_phys: physical address of ``swapper_pg_dir``.
    :param va_bits: run-time size of the kernel half in bits (``64 -
        TCR_EL1_T1SZ``, else ``VA_BITS``); 36..52.
    :param read_phys_u64: reads a descriptor at a physical address (``u64``),
        or returns None when the page is not in the target.
    :param read_phys_table: if given, reads one whole 4 KiB page at a
        physical address (``bytes``, or None) for :meth:`leaves`.
    :param page_shift: 12, 14 or 16 (4, 16 or 64 KiB granule).
    :param linear_offset: ``__va(p) - p`` of the linear map, if known.
    :raises ValueError: an unsupported granule or VA size.
    """

    def __init__(self, pgd_phys: int, va_bits: int,
                 read_phys_u64: Callable[[int], int | None],
                 read_phys_table: Callable[[int], bytes | None] | None = None, *,
                 page_shift: int = 12, linear_offset: int | None = None) -> None:
        if page_shift not in (12, 14, 16):
            raise ValueError(f"unsupported AArch64 page size {1 << page_shift}")
        if not page_shift < va_bits <= 52:
            raise ValueError(f"invalid AArch64 virtual address size {va_bits} bits")
        self.pgd_phys = pgd_phys
        self.va_bits = va_bits
        self.page_shift = page_shift
        self.linear_offset = linear_offset
        self._read = read_phys_u64
        self._read_table = read_phys_table
        #: the page-table entry the last walk could not read (not in the
        #: target), or None: the last None of translate() was "not mapped"
        self.missing: int | None = None
        bits = page_shift - 3  # index bits per level
        self._bits = bits
        self.levels = (va_bits - page_shift + bits - 1) // bits
        self._top_entries = 1 << ((va_bits - page_shift - 1) % bits + 1)
        self._top_shift = page_shift + bits * (self.levels - 1)
        #: lowest address of the kernel (TTBR1) half
        self.va_min = (_MASK64 << va_bits) & _MASK64
        self._pa_low = 0x0000FFFFFFFFFFFF & ~((1 << page_shift) - 1)
        if page_shift == 16:
            self._pa_high, self._pa_shift = 0xF000, 36
        elif va_bits == 52:
            self._pa_low |= 0x0003000000000000
            self._pa_high, self._pa_shift = 0x300, 42
        else:
            self._pa_high, self._pa_shift = 0, 0
        # blocks one and two levels above the pages (1 GiB / 2 MiB with 4 KiB pages)
        self._big_shift = page_shift + 2 * bits
        self._small_shift = page_shift + bits
        self._big: dict[int, int] = {}    # vaddr >> big_shift -> physical base
        self._small: dict[int, int] = {}  # vaddr >> small_shift -> physical base
        #: vaddr >> small_shift -> physical address of the last-level table that
        #: maps it: a linear map of pages (rodata=full maps it at page
        #: granularity, arch/arm64/mm/pageattr.c) then costs one descriptor
        #: read per page, not ``levels``
        self._ptes: dict[int, int] = {}
        self.walks = 0

    @staticmethod
    def pa_symbol(vaddr: int, kimage_voffset: int) -> int:
        """``__pa_symbol()``: physical address of a kernel-image address
        (``vaddr - kimage_voffset``, arch/arm64/include/asm/memory.h)."""
        return (vaddr - kimage_voffset) & _MASK64

    def _out(self, e: int) -> int:
        """The output address of descriptor ``e``."""
        return (e & self._pa_low) | ((e & self._pa_high) << self._pa_shift)

    def translate(self, vaddr: int) -> int | None:
        """Physical address of ``vaddr``, or None when it is not mapped."""
        base = self._big.get(vaddr >> self._big_shift)
        if base is not None:
            return base | (vaddr & ((1 << self._big_shift) - 1))
        base = self._small.get(vaddr >> self._small_shift)
        if base is not None:
            return base | (vaddr & ((1 << self._small_shift) - 1))
        return self._walk(vaddr)

    def _walk(self, vaddr: int) -> int | None:
        self.walks += 1
        self.missing = None
        if vaddr < self.va_min or vaddr > _MASK64:
            return None  # the TTBR0 half, or not an address
        last = self.page_shift
        table = self._ptes.get(vaddr >> self._small_shift)
        if table is not None:
            entry = table + ((vaddr >> last) & ((1 << self._bits) - 1)) * 8
            e = self._read(entry)
            if e is None:
                self.missing = entry
                return None
            if e & 3 != _VALID_TABLE:
                return None
            return self._out(e) | (vaddr & ((1 << last) - 1))
        table = self.pgd_phys
        shift = self._top_shift
        entries = self._top_entries
        while True:
            entry = table + ((vaddr >> shift) & (entries - 1)) * 8
            e = self._read(entry)
            if e is None:
                self.missing = entry
                return None
            kind = e & 3
            if shift == last:
                if kind != _VALID_TABLE:
                    return None
                return self._out(e) | (vaddr & ((1 << last) - 1))
            if kind == _VALID_BLOCK:
                # a block at any level above the pages, as drgn's walker reads it
                mask = (1 << shift) - 1
                base = self._out(e) & ~mask
                if shift == self._big_shift:
                    self._big[vaddr >> shift] = base
                elif shift == self._small_shift:
                    self._small[vaddr >> shift] = base
                return base | (vaddr & mask)
            if kind != _VALID_TABLE:
                return None
            table = self._out(e)
            shift -= self._bits
            entries = 1 << self._bits
            if shift == last:
                self._ptes[vaddr >> self._small_shift] = table

    def _table(self, paddr: int, n: int) -> tuple[int, ...] | None:
        """The ``n`` descriptors of the table at ``paddr``, or None if it is
        not in the target."""
        return read_table(paddr, n, self._read, self._read_table)

    def leaves(self, start: int, end: int) -> Iterator[tuple[int, int, int]]:
        """The valid leaves (blocks and pages) that overlap ``[start, end)``,
        in address order, as ``(vaddr, paddr, size)`` clipped to the range.

        A block comes as one entry; consecutive pages of one table that map
        consecutive physical pages come as one entry too.  An address is
        covered exactly when :meth:`translate` maps it.  A table that is not
        in the target maps nothing (drgn faults there too).  Only the kernel
        half (``va_min`` and up) is mapped.
        """
        s, e = max(start, self.va_min), min(end, 1 << 64)
        if s < e:
            yield from self._leaves(self.pgd_phys, self._top_shift, self._top_entries,
                                    s, e, self.va_min)

    def _leaves(self, table: int, shift: int, n: int, start: int, end: int,
                base: int) -> Iterator[tuple[int, int, int]]:
        """Leaves of ``table`` (``n`` entries), whose entry ``i`` maps ``1 <<
        shift`` bytes at ``base + (i << shift)``, overlapping ``[start, end)``."""
        entries = self._table(table, n)
        if entries is None:
            return
        first = (start - base) >> shift
        last = min(n - 1, (end - 1 - base) >> shift)
        if shift == self.page_shift:
            for va, pa, size in self._page_runs(entries, first, last, base):
                s, t = max(start, va), min(end, va + size)
                yield s, pa + (s - va), t - s
            return
        size = 1 << shift
        for i in range(first, last + 1):
            d = entries[i]
            kind = d & 3
            va = base + (i << shift)
            s, t = max(start, va), min(end, va + size)
            if kind == _VALID_BLOCK:
                yield s, (self._out(d) & ~(size - 1)) + (s - va), t - s
            elif kind == _VALID_TABLE:
                yield from self._leaves(self._out(d), shift - self._bits, 1 << self._bits,
                                        s, t, va)

    def _page_runs(self, entries: tuple[int, ...], first: int, last: int,
                   base: int) -> Iterator[tuple[int, int, int]]:
        """Runs of valid page descriptors ``first..last`` that map consecutive pages."""
        page = 1 << self.page_shift
        run_i = -1  # index of the run's first page
        run_pa = nxt = 0
        for i in range(first, last + 1):
            d = entries[i]
            if d & 3 == _VALID_TABLE:
                pa = self._out(d)
                if run_i >= 0 and pa == nxt:
                    nxt += page
                    continue
                if run_i >= 0:
                    yield base + (run_i << self.page_shift), run_pa, nxt - run_pa
                run_i, run_pa, nxt = i, pa, pa + page
            elif run_i >= 0:
                yield base + (run_i << self.page_shift), run_pa, nxt - run_pa
                run_i = -1
        if run_i >= 0:
            yield base + (run_i << self.page_shift), run_pa, nxt - run_pa

    def clear(self) -> None:
        """Forget the cached blocks."""
        self._big.clear()
        self._small.clear()
        self._ptes.clear()
