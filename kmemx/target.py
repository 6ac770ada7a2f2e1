"""Open a target: a vmcore, the live kernel, or an existing drgn Program.

``open()`` picks the fastest reader that works and puts it underneath drgn
with ``Program.add_memory_segment``, so drgn Objects, helpers and scripts
read through kmemx's mmap too.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import logging
import os
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable

import drgn

from ._accel import segread
from .arch import X86_64Translator, elf_machine, make_translator
from .buildid import elf_build_id, elf_truncated
from .errors import (
    PHYSICAL_MARK,
    CoreFormatError,
    KmemxError,
    KmemxWarning,
    LiveAccessError,
    MismatchError,
    NoVmcoreinfoError,
    TargetError,
    fault,
)
from .kernel import Kernel
from .memory import AddressSpace
from .readers.base import PhysicalMemory, ReadStats, add_memory_segment
from .readers.devkmem import DevKmemMemory
from .readers.devmem import DevMemMemory, lockdown_note
from .readers.drgnreader import DrgnReader
from .readers.elfcore import ElfCore, ElfCoreMemory, Note, parse_elf_core
from .readers.kcore import KcoreMemory, parse_kcore
from .readers.windowed import parse_iomem_ram
from .vmcoreinfo import Vmcoreinfo, kdump_vmcoreinfo

if TYPE_CHECKING:  # the kdump reader (and numpy) is imported only to read a kdump dump
    from .readers.kdump import KdumpFile

__all__ = ["LIVE_READERS", "READERS", "attach", "open", "open_live"]

#: Reader names accepted by ``open(reader=...)``.
READERS = ("mmap-elf", "kdump", "mmap-devkmem", "mmap-devmem", "kcore", "drgn")
#: Readers of the running kernel only, in the order :func:`open_live` tries them.
LIVE_READERS = ("mmap-devkmem", "mmap-devmem", "kcore")

_KDUMP_MAGIC = b"KDUMP   "
_FLAT_MAGIC = b"makedumpfile\0\0\0\0"


def _sniff(path: str) -> str:
    try:
        with builtins_open(path, "rb") as f:
            head = f.read(16)
    except FileNotFoundError:
        raise TargetError(f"{path}: No such file or directory") from None
    except IsADirectoryError:
        raise TargetError(f"{path}: is a directory, not a vmcore") from None
    except OSError as e:
        raise TargetError(f"{path}: {e.strerror}") from None
    if head[:4] == b"\x7fELF":
        return "elf"
    if head[:8] == _KDUMP_MAGIC:
        return "kdump"
    if head[:16] == _FLAT_MAGIC:
        return "flat"
    if not head:
        raise CoreFormatError(f"{path}: empty file, not a vmcore")
    raise CoreFormatError(f"{path}: not an ELF or kdump-compressed vmcore")


builtins_open = open  # ``open`` below is kmemx's


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _set_core_dump(prog: drgn.Program, path: str, vmci: Vmcoreinfo | None) -> None:
    """``prog.set_core_dump(path)``; every failure is a :class:`CoreFormatError`.

    drgn parses the headers, the notes and VMCOREINFO here; it raises
    ValueError, OSError, BadDataError, FaultError, OverflowError, and plain
    Exception for its "other" errors.  When kmemx can see what is damaged in
    the VMCOREINFO note (``vmci``), the message names the line.
    """
    try:
        prog.set_core_dump(path)
    except Exception as e:  # drgn raises Exception itself
        msg = _one_line(e)
        damage = vmci.damage() if vmci is not None else None
        if damage is not None:
            raise CoreFormatError(f"{path}: damaged VMCOREINFO: {damage} ({msg})") from None
        raise CoreFormatError(f"{path}: {msg}") from None


def _check_vmlinux(vmlinux: str, vmci: Vmcoreinfo | None, core: str) -> str | None:
    """Refuse a ``vmlinux`` that cannot be the dump's kernel's before drgn
    reads it: missing, not ELF, a core dump, another build ID.  Returns its
    build ID (None: it has none)."""
    if not os.path.exists(vmlinux):
        raise TargetError(f"{vmlinux}: No such file or directory")
    bid = elf_build_id(vmlinux)
    if bid is None:
        try:
            with builtins_open(vmlinux, "rb") as f:
                head = f.read(18)
        except OSError as e:
            raise TargetError(f"{vmlinux}: {e.strerror or _one_line(e)}") from None
        if head[:4] != b"\x7fELF":
            raise TargetError(f"{vmlinux}: not an ELF file (need vmlinux with debug info)")
        e_type = head[16:18] if head[5:6] == b"\x01" else head[17:15:-1]
        if e_type == b"\x04\x00":  # ET_CORE
            raise TargetError(f"{vmlinux} is a core dump, not a vmlinux (need vmlinux with "
                              "debug info)")
    want = vmci.build_id if vmci else None
    if bid and want and bid != want:
        rel = vmci.osrelease if vmci else "?"
        raise MismatchError(f"{vmlinux} does not match {core}: build ID {bid[:12]}… but the "
                            f"dump's kernel ({rel}) has {want[:12]}…")
    return bid


def _load_debug_info(prog: drgn.Program, vmlinux: str | None, vmci: Vmcoreinfo | None,
                     core: str, damaged: bool = False) -> None:
    """Load the kernel's debug info; every failure is a :class:`TargetError`
    (:class:`MismatchError` when the vmlinux is not the dump's kernel's).
    drgn's messages while it loads are passed on only when it succeeds: a
    failure's one line says what they did (drgn's "no build ID; ignoring"
    and "missing debugging symbols for kernel" before kmemx's "VMLINUX is not
    the vmlinux of ...").  ``damaged``: the dump is truncated or incomplete,
    and kmemx's warning said so; drgn's "can't find kernel modules" (its
    module list lies in the missing memory) is dropped."""
    dropped = (_drgn_notes_dropped("can't find kernel modules") if damaged
               else contextlib.nullcontext())
    try:
        with dropped, _drgn_logs_held():
            _load_debug_info_1(prog, vmlinux, vmci, core)
    except KmemxError:
        raise
    except Exception as e:  # drgn raises Exception itself
        what = vmlinux if vmlinux is not None else "debug info"
        raise TargetError(f"{what}: cannot load the debug info of {core}: "
                          f"{_one_line(e)}") from None


def _load_debug_info_1(prog: drgn.Program, vmlinux: str | None, vmci: Vmcoreinfo | None,
                       core: str) -> None:
    if vmlinux is not None:
        bid = _check_vmlinux(vmlinux, vmci, core)
        try:
            prog.load_debug_info([vmlinux], main=True)
        except drgn.MissingDebugInfoError as e:
            # drgn also says so when only some modules lack debug info: what
            # matters is whether the kernel itself got it
            if _kernel_debug_info_missing(prog, _one_line(e)):
                rel = vmci.osrelease if vmci else "the dump's kernel"
                if elf_truncated(vmlinux):
                    raise TargetError(f"{vmlinux} is truncated: no debug info for {rel} "
                                      f"in {core}") from None
                if bid is not None and vmci is not None and bid == vmci.build_id:
                    raise TargetError(f"{vmlinux} is the vmlinux of {rel} without its debug "
                                      "info (stripped): use the one with debug info (Debian: "
                                      f"/usr/lib/debug/boot/vmlinux-{rel} of linux-image-{rel}"
                                      "-dbg)") from None
                why = " (it has no build ID)" if bid is None else ""
                raise MismatchError(f"{vmlinux} is not the vmlinux of {rel} in {core}"
                                    f"{why}") from None
        return
    try:
        prog.load_debug_info(main=True)
    except drgn.MissingDebugInfoError:
        rel = (vmci.osrelease if vmci else None) or "this kernel"
        raise TargetError(f"no debug info found for {rel}: pass -s/--symbols VMLINUX or install "
                          f"linux-image-{rel}-dbg") from None


def _kernel_debug_info_missing(prog: drgn.Program, msg: str) -> bool:
    """Whether the kernel (drgn's main module) still wants its debug info
    after ``load_debug_info`` raised MissingDebugInfoError with ``msg``."""
    try:
        return bool(prog.main_module().wants_debug_file())
    except (AttributeError, LookupError):  # a drgn without the module API
        return "kernel" in msg or "vmlinux" in msg


def _segment_reader(mm: Any, base: int) -> Callable[[int, int, int, bool], Any]:
    """A drgn segment callback reading ``mm[base + offset:][:count]`` (C when built)."""
    if segread is not None:
        return segread.BufferSegment(mm, base)  # type: ignore[no-any-return]

    def read_fn(address: int, count: int, offset: int, physical: bool) -> Any:
        return mm[base + offset:base + offset + count]
    return read_fn


def _elf_segment_reader(mm: Any, delta: int, paddr: int) -> Callable[[int, int, int, bool], Any]:
    """:func:`_segment_reader` for memory at ``paddr``, which lies at file offset ``paddr + delta``."""
    return _segment_reader(mm, paddr + delta)


def _zero_reader(address: int, count: int, offset: int, physical: bool) -> bytes:
    return bytes(count)


def _fault_reader(phys: PhysicalMemory, pstart: int) -> Callable[[int, int, int, bool], Any]:
    """A segment callback for memory at ``pstart`` that the dump lacks: every
    read is a :class:`drgn.FaultError` with ``phys``'s reason."""
    def read_fn(address: int, count: int, offset: int, physical: bool) -> Any:
        # drgn passes the physical address it translated a virtual read to: say so
        raise fault(address, phys.why_missing(pstart + offset) + PHYSICAL_MARK)
    return read_fn


def _virtual_reader(space: AddressSpace) -> Callable[[int, int, int, bool], Any]:
    """A segment callback for the whole virtual address space: kmemx's page
    table walk (:meth:`AddressSpace.read`), faults with its reason at the
    address drgn asked for."""
    read = space.read

    def read_fn(address: int, count: int, offset: int, physical: bool) -> Any:
        try:
            return read(address, count)
        except drgn.FaultError as e:
            # the fault is at the start of the read, as libkdumpfile's reader
            # gives it; a page table the dump lacks is named
            why = e.message if address <= e.address < address + count else \
                f"{e.message} (page table at {e.address:#x})"
            raise fault(address, why) from None
    return read_fn


def _paged_reader(space: AddressSpace, start: int) -> Callable[[int, int, int, bool], Any]:
    def read_fn(address: int, count: int, offset: int, physical: bool) -> Any:
        return space.read(start + offset, count, True)
    return read_fn


def _install_phys_segments(prog: drgn.Program, phys: PhysicalMemory, space: AddressSpace) -> None:
    """Put kmemx's physical memory underneath drgn."""
    if isinstance(phys, ElfCoreMemory):
        for seg in phys.core.segments:
            if seg.filesz:
                add_memory_segment(prog, seg.paddr, seg.filesz,
                                   _segment_reader(phys.mm, seg.offset), physical=True)
            if seg.memsz > seg.filesz:
                # the tail: zeros (p_memsz > p_filesz), or past the end of a
                # truncated file, where drgn's own reader fails with "short
                # read" (no address): kmemx's fault, with the address
                prog.add_memory_segment(seg.paddr + seg.filesz, seg.memsz - seg.filesz,
                                        _fault_reader(phys, seg.paddr + seg.filesz)
                                        if seg.truncated else _zero_reader, physical=True)
        return
    from .readers.kdump import KdumpMemory  # not on the ELF path: numpy stays unimported

    if isinstance(phys, KdumpMemory):
        for start, end in phys.ranges():
            add_memory_segment(prog, start, end - start, phys.segment_reader(start),
                               physical=True)
        return
    for start, end in phys.ranges():
        prog.add_memory_segment(start, end - start, _paged_reader(space, start), physical=True)


def _linear_runs(space: AddressSpace, vstart: int, vend: int,
                 offset: int) -> list[tuple[int, int]]:
    """Virtual ``(start, end)`` runs of ``[vstart, vend)`` that the page tables
    map to ``v - offset``, from their leaves: exact at 4 KiB granularity
    (firmware-reserved holes in the direct map are split down to 4 KiB pages)."""
    runs: list[tuple[int, int]] = []
    for va, pa, size in space.translator.leaves(vstart, vend):
        if va - pa != offset:
            continue
        if runs and runs[-1][1] == va:
            runs[-1] = (runs[-1][0], va + size)
        else:
            runs.append((va, va + size))
    return runs


def _install_virtual_segments(prog: drgn.Program, phys: PhysicalMemory,
                              space: AddressSpace) -> None:
    """Virtual segments for the direct map, so drgn reads it without walking
    page tables.  Only pages that the page tables map linearly
    (``__va(p) == page_offset_base + p``) and that the dump holds are
    added, so drgn's answers (and faults) stay those of the page tables.

    On a kdump-compressed dump these segments also take drgn's direct-map
    reads away from libkdumpfile (whose catch-all virtual segment would
    otherwise serve them): a later segment overrides an earlier one."""
    # (physical start, physical end, callback for memory starting at a physical address)
    spans: list[tuple[int, int, Callable[[int], Callable[[int, int, int, bool], Any]]]]
    if isinstance(phys, ElfCoreMemory):
        mm = phys.mm
        spans = [(seg.paddr, seg.paddr + seg.filesz,
                  functools.partial(_elf_segment_reader, mm, seg.offset - seg.paddr))
                 for seg in phys.core.segments if seg.filesz]
    else:
        from .readers.kdump import KdumpMemory

        if not isinstance(phys, KdumpMemory):
            return
        spans = [(start, end, phys.segment_reader) for start, end in phys.ranges()]
    if not spans:
        return
    pob = space.translator.linear_offset  # arm64: from VMCOREINFO
    if pob is None:
        try:
            pob = int(prog["page_offset_base"].value_())
        except Exception:  # no debug info, or not readable: drgn walks
            return
    lo = min(a for a, _, _ in spans)
    hi = max(b for _, b, _ in spans)
    try:
        runs = _linear_runs(space, pob + lo, pob + hi, pob)
    except drgn.FaultError:
        # a page table in a damaged or cut part of the dump: no shortcut
        # segments, drgn walks the page tables itself (and faults there)
        return
    for pstart, pend, reader in spans:
        sstart, send = pob + pstart, pob + pend
        i = bisect.bisect_right(runs, (sstart, 1 << 64)) - 1
        i = max(i, 0)
        for vstart, vend in runs[i:]:
            if vstart >= send:
                break
            s, e = max(vstart, sstart), min(vend, send)
            if s < e:
                add_memory_segment(prog, s, e - s, reader(s - pob), physical=False)


def _make_space(phys: PhysicalMemory, vmci: Vmcoreinfo, stats: ReadStats,
                core: str, machine: str | None = None) -> AddressSpace:
    """The kernel's address space over ``phys``, with the page-table walker of
    ``machine`` (the dump header's architecture; VMCOREINFO's when None)."""
    space = AddressSpace(phys, X86_64Translator(0, False, lambda p: None), stats)
    space.translator = make_translator(machine or vmci.machine, vmci, space.read_phys_u64,
                                       space.read_phys_table, core)
    return space


def _vmcoreinfo_from_prog(prog: drgn.Program, source: str = "") -> Vmcoreinfo | None:
    try:
        return Vmcoreinfo(prog["VMCOREINFO"].string_(), source)
    except Exception:  # no VMCOREINFO object, or not readable
        return None


def _elf_kernel(path: str, core: ElfCore, prog: drgn.Program, stats: ReadStats,
                virtual_segments: bool) -> Kernel:
    raw = core.vmcoreinfo
    if raw is None:
        raise NoVmcoreinfoError(f"{path}: no VMCOREINFO note (a QEMU dump needs "
                                "'-device vmcoreinfo' and qemu_fw_cfg in the guest)")
    vmci = Vmcoreinfo(raw, path)
    try:
        phys = ElfCoreMemory(core)
    except (OSError, ValueError) as e:
        raise CoreFormatError(f"{path}: cannot map the dump: {_one_line(e)}") from None
    try:
        machine = elf_machine(core.machine) or f"e_machine {core.machine}"
        space = _make_space(phys, vmci, stats, path, machine)
        try:
            _install_phys_segments(prog, phys, space)
        except (ValueError, OverflowError) as e:
            raise CoreFormatError(f"{path}: bad PT_LOAD segment: {_one_line(e)}") from None
        if virtual_segments:
            _install_virtual_segments(prog, phys, space)
        return Kernel(prog, phys, space, vmci, stats, target=path)
    except BaseException:
        phys.close()
        raise


def open(core: str | os.PathLike[str] | None = None,
         vmlinux: str | os.PathLike[str] | None = None, *,
         reader: str | None = None, debug_info: bool = True,
         virtual_segments: bool = True, page_cache_mib: int | None = None,
         layout_cache: bool = False) -> Kernel:
    """Open a crash dump (ELF or kdump-compressed) or, with no ``core``, the
    live kernel.

    :param core: vmcore path, or None for the running kernel.
    :param vmlinux: vmlinux with DWARF; None searches drgn's standard paths.
    :param reader: force a reader: ``"mmap-elf"``, ``"kdump"`` (kdump-compressed
        and flattened dumps), ``"mmap-devmem"`` or ``"drgn"``.
    :param page_cache_mib: the kdump reader's cache of decompressed pages, in MiB
        (None: its default, :data:`kmemx.readers.kdump.DEFAULT_CACHE_MIB`).
    :param debug_info: load debug info (types and symbols).
    :param layout_cache: with ``vmlinux``, answer type and object lookups
        from the layout cache of its build ID and load the DWARF only when
        something the cache lacks is asked for (:mod:`kmemx.types.layoutcache`).
    :raises TargetError: one-line reason when the target cannot be opened:
        :class:`CoreFormatError` for a damaged dump (headers, notes,
        VMCOREINFO), :class:`NoVmcoreinfoError`, :class:`MismatchError` for
        a vmlinux of another kernel; never another exception type.
    """
    if reader is not None and reader not in READERS:
        raise TargetError(f"unknown reader {reader!r} (choose from {', '.join(READERS)})")
    if core is None:
        return open_live(vmlinux, reader=reader, debug_info=debug_info)
    if reader in LIVE_READERS:
        raise TargetError(f"reader {reader} reads the running kernel, not a dump: drop -c, "
                          "or use mmap-elf, kdump or drgn")
    path = os.fspath(core)
    kind = _sniff(path)
    vml = os.fspath(vmlinux) if vmlinux is not None else None
    elf: ElfCore | None = None
    recovered: bytes | None = None
    damaged = False  # truncated or incomplete: kmemx's warning says so
    if kind == "elf":
        elf = parse_elf_core(path)
        if elf.vmcoreinfo is None:
            recovered = _recover_vmcoreinfo(path, elf, vml)
        if elf.truncated:
            damaged = True
            short = [s for s in elf.segments if s.truncated]
            missing = sum(s.memsz - s.filesz for s in short)  # what the file lacks
            warnings.warn(f"{path} is truncated ({elf.size} bytes): memory past the end of the "
                          f"file reads as a fault ({(missing + (1 << 20) - 1) >> 20} MiB missing, "
                          f"from {len(short)} of {len(elf.segments)} segments)",
                          KmemxWarning, stacklevel=2)
    elif reader not in (None, "drgn", "kdump"):
        raise TargetError(f"{path}: reader {reader} cannot read kdump-compressed dumps; "
                          "use the kdump or drgn reader")
    kdump: KdumpFile | None = None
    if kind in ("kdump", "flat") and reader in (None, "kdump"):
        from .readers.kdump import parse_kdump

        kdump = parse_kdump(path)
        cut = kdump.pages_past_end()
        damaged = bool(cut) or kdump.incomplete
        if cut:
            warnings.warn(f"{path} is truncated: {cut} of its {len(kdump.descs)} pages lie past "
                          "the end of the file and read as faults", KmemxWarning, stacklevel=2)
        if kdump.incomplete:
            warnings.warn(f"{path} is incomplete: makedumpfile did not write every page "
                          "(a full disk?); the missing pages read as faults",
                          KmemxWarning, stacklevel=2)
    try:
        # a recovered VMCOREINFO (no note in the dump) is handed to drgn too
        prog = drgn.Program(vmcoreinfo=recovered) if recovered else drgn.Program()
        vmci = Vmcoreinfo(elf.vmcoreinfo, path) if elf and elf.vmcoreinfo else None
        with _drgn_notes_dropped("flattened format"):  # kmemx reads it natively
            if vmci is None:
                raw = kdump_vmcoreinfo(path)
                _set_core_dump(prog, path, Vmcoreinfo(raw, path) if raw is not None else None)
                vmci = _vmcoreinfo_from_prog(prog, path)
            else:
                _set_core_dump(prog, path, vmci)
        stats = ReadStats()
        # kdump: kmemx's reader goes underneath drgn before drgn reads anything
        # (loading debug info reads the module list), so a damaged or cut page
        # faults with kmemx's reason, not libkdumpfile's
        kk = _kdump_kernel(path, kdump, prog, vmci, stats, page_cache_mib) if kdump else None
        if debug_info and layout_cache and vml is not None:
            from .types.layoutcache import load_debug_info

            load_debug_info(prog, vml, vmci.build_id if vmci else None,
                            lambda: _load_debug_info(prog, vml, vmci, path, damaged),
                            vmci.kaslr_offset if vmci else 0)
        elif debug_info:
            _load_debug_info(prog, vml, vmci, path, damaged)
    except BaseException:
        if kdump is not None:
            kdump.close()
        raise
    if elf is not None and (reader == "mmap-elf" or
                            (reader is None and elf_machine(elf.machine) is not None)):
        k = _elf_kernel(path, elf, prog, stats, virtual_segments)
    elif kk is not None:
        k = kk
        if virtual_segments and kk.space is not None:
            _install_virtual_segments(prog, kk.space.phys, kk.space)
    else:
        k = Kernel(prog, DrgnReader(prog), None, vmci, stats, target=path)
    return k


def _recover_vmcoreinfo(path: str, elf: ElfCore, vmlinux: str | None) -> bytes:
    """An x86-64 ELF dump without a VMCOREINFO note (QEMU's dump-guest-memory
    without ``-device vmcoreinfo``): its VMCOREINFO recovered from the kernel
    image in memory with the vmlinux (:mod:`kmemx.kaslr`), also added to
    ``elf``'s notes, with a warning; else NoVmcoreinfoError."""
    from .kaslr import recover_vmcoreinfo

    lacks = (f"{path}: no VMCOREINFO note (a QEMU dump needs '-device vmcoreinfo' and "
             "qemu_fw_cfg in the guest)")
    if elf_machine(elf.machine) != "x86_64":
        raise NoVmcoreinfoError(f"{lacks}; kmemx recovers it from memory on x86-64 only")
    if vmlinux is None:
        raise NoVmcoreinfoError(f"{lacks}; give the vmlinux (-s) and kmemx recovers it "
                                "from the kernel image in memory")
    if not os.path.exists(vmlinux):
        raise TargetError(f"{vmlinux}: No such file or directory")
    phys = ElfCoreMemory(elf)
    try:
        raw = recover_vmcoreinfo(phys, vmlinux, path)
    finally:
        phys.close()
    vmci = Vmcoreinfo(raw, path)
    elf.notes.append(Note(b"VMCOREINFO", 0, raw))
    warnings.warn(f"{path} has no VMCOREINFO note: recovered from the kernel image in memory "
                  f"(KASLR offset {vmci.kaslr_offset:#x}, "
                  f"phys_base {vmci.phys_base & 0xFFFFFFFFFFFFFFFF:#x}, "
                  f"{5 if vmci.five_level else 4}-level paging); VMCOREINFO's other facts "
                  "come from the vmlinux and memory", KmemxWarning, stacklevel=3)
    return raw


@contextlib.contextmanager
def _drgn_logs_held() -> Iterator[None]:
    """drgn's log messages are held back while the block runs, and passed on
    (in order) only when it returns: an exception drops them."""
    log = logging.getLogger("drgn")
    held: list[logging.LogRecord] = []

    def hold(record: logging.LogRecord) -> bool:
        held.append(record)
        return False

    log.addFilter(hold)
    try:
        yield
    finally:
        log.removeFilter(hold)
    for record in held:
        log.handle(record)


@contextlib.contextmanager
def _drgn_notes_dropped(text: str) -> Iterator[None]:
    """drgn's log messages containing ``text`` are dropped while the block runs."""
    log = logging.getLogger("drgn")

    def keep(record: logging.LogRecord) -> bool:
        return text not in record.getMessage()

    log.addFilter(keep)
    try:
        yield
    finally:
        log.removeFilter(keep)


def _kdump_kernel(path: str, dump: KdumpFile, prog: drgn.Program, vmci: Vmcoreinfo | None,
                  stats: ReadStats, page_cache_mib: int | None) -> Kernel:
    """A kernel over kmemx's kdump reader, its page cache underneath drgn too."""
    if vmci is None:
        dump.close()
        raise NoVmcoreinfoError(f"{path}: no VMCOREINFO in the kdump sub-header")
    from .readers.kdump import DEFAULT_CACHE_MIB, KdumpMemory

    phys = KdumpMemory(dump, DEFAULT_CACHE_MIB if page_cache_mib is None else page_cache_mib)
    space = _make_space(phys, vmci, stats, path, dump.machine or None)
    phys.on_flush(space.pages.clear)
    _install_phys_segments(prog, phys, space)
    # Every virtual read too, before libkdumpfile's catch-all segment serves
    # one: libkdumpfile walks the page tables through its own reads, which on
    # a truncated dump decode garbage descriptors ("unknown compression
    # method") where kmemx faults with the reason.  The direct map is
    # overridden by faster segments afterwards (_install_virtual_segments).
    prog.add_memory_segment(0, (1 << 64) - 1, _virtual_reader(space), physical=False)
    return Kernel(prog, phys, space, vmci, stats, target=path)


def open_live(vmlinux: str | os.PathLike[str] | None = None, *, reader: str | None = None,
              debug_info: bool = True, root: str = "/") -> Kernel:
    """Open the running kernel with the fastest reader that works.

    Tried in order: ``mmap-devkmem`` (``/dev/kmem`` mapped, kernels <= 5.12 with
    DEVKMEM), ``mmap-devmem`` (``/dev/mem`` mapped), ``kcore`` (``/proc/kcore``
    through kmemx's epoch page cache, :mod:`kmemx.readers.kcore`).  drgn's own
    ``/proc/kcore`` reader is used only when asked for (``reader="drgn"``).

    :param vmlinux: vmlinux with DWARF; None searches drgn's standard paths.
    :param reader: one of :data:`LIVE_READERS` or ``"drgn"``: use only that one.
    :param root: where ``/dev``, ``/proc`` and ``/sys`` are (tests).
    :raises LiveAccessError: no reader works (one line: each reader's reason), or the
        forced one does not (its reason).
    :raises TargetError: the debug info cannot be loaded.
    """
    if reader is not None and reader not in (*LIVE_READERS, "drgn"):
        raise TargetError(f"reader {reader} reads dumps, not the running kernel (choose from "
                          f"{', '.join((*LIVE_READERS, 'drgn'))})")
    vml = os.fspath(vmlinux) if vmlinux is not None else None
    base = root.rstrip("/")
    reasons: list[str] = []
    stats = ReadStats()
    tries: list[tuple[str, Callable[[], Kernel]]] = [
        ("mmap-devkmem", lambda: _devkmem_kernel(vml, stats, debug_info, base)),
        ("mmap-devmem", lambda: _devmem_kernel(vml, stats, debug_info, root)),
        ("kcore", lambda: _kcore_kernel(vml, stats, debug_info, base)),
        ("drgn", lambda: _drgn_live_kernel(vml, stats, debug_info, base)),
    ]
    for name, make in tries:
        if reader != name and (reader is not None or name == "drgn"):
            continue
        try:
            return make()
        except LiveAccessError as e:
            if reader is not None:
                why = str(e).replace("; run 'kmemx doctor'", "")
                raise LiveAccessError(f"reader {name} cannot read the running kernel: {why}; "
                                      "run 'kmemx doctor' for why") from None
            reasons.append(str(e).replace("; run 'kmemx doctor'", ""))
    raise LiveAccessError("cannot read the running kernel: " + "; ".join(reasons) +
                          "; run 'kmemx doctor' for why and what to change")


def _kcore_error(e: OSError, base: str) -> LiveAccessError:
    note = lockdown_note(base + "/dev/mem") if isinstance(e, PermissionError) else ""
    return LiveAccessError(f"{base}/proc/kcore: {e.strerror}{note}")


def _drgn_live_kernel(vmlinux: str | None, stats: ReadStats, debug_info: bool,
                      base: str) -> Kernel:
    """drgn's own live reader (``pread`` of ``/proc/kcore`` per read)."""
    try:
        prog = _kcore_prog()
    except OSError as e:
        raise _kcore_error(e, base) from None
    except ValueError as e:
        raise LiveAccessError(f"{base}/proc/kcore: {e}") from None
    vmci = _vmcoreinfo_from_prog(prog)
    if debug_info:
        _load_debug_info(prog, vmlinux, vmci, "the running kernel")
    return Kernel(prog, DrgnReader(prog), None, vmci, stats, target="live")


def _kcore_prog() -> drgn.Program:
    prog = drgn.Program()
    prog.set_kernel()
    return prog


def _live_kernel(phys: PhysicalMemory, raw: bytes, vmlinux: str | None, stats: ReadStats,
                 debug_info: bool, what: str) -> Kernel:
    """A live kernel over ``phys`` (physical memory), kmemx's reader underneath drgn.

    :param raw: the VMCOREINFO text of the running kernel.
    """
    vmci = Vmcoreinfo(raw)
    prog = drgn.Program(drgn.host_platform)
    prog.set_linux_kernel_custom(raw, True)
    space = _make_space(phys, vmci, stats, what)
    if isinstance(phys, KcoreMemory):
        phys.on_flush(space.clear_cache)
    _install_phys_segments(prog, phys, space)
    if debug_info:
        _load_debug_info(prog, vmlinux, vmci, "the running kernel")
    return Kernel(prog, phys, space, vmci, stats, target="live")


def _kcore_kernel(vmlinux: str | None, stats: ReadStats, debug_info: bool,
                  base: str) -> Kernel:
    """``/proc/kcore`` through kmemx's epoch page cache (:class:`KcoreMemory`)."""
    try:
        kc = parse_kcore(f"{base}/proc/kcore")
    except LiveAccessError as e:
        if "Operation not permitted" in str(e):
            raise LiveAccessError(f"{e}{lockdown_note(base + '/dev/mem')}") from None
        raise
    if kc.vmcoreinfo is None:
        kc.close()
        raise LiveAccessError(f"{base}/proc/kcore has no VMCOREINFO note (kernel < 4.19)")
    phys = KcoreMemory(kc)
    try:
        return _live_kernel(phys, kc.vmcoreinfo, vmlinux, stats, debug_info, "/proc/kcore")
    except BaseException:
        phys.close()
        raise


def _sys_vmcoreinfo(phys: PhysicalMemory, base: str, dev: str) -> bytes:
    """The VMCOREINFO note's text, read through ``phys`` at the physical address that
    ``/sys/kernel/vmcoreinfo`` gives."""
    try:
        with builtins_open(f"{base}/sys/kernel/vmcoreinfo") as f:
            addr_s, size_s = f.read().split()
    except OSError as e:
        raise LiveAccessError(f"/sys/kernel/vmcoreinfo: {e.strerror}") from None
    vaddr, vsize = int(addr_s, 16), int(size_s, 16)
    tmp = AddressSpace(phys, X86_64Translator(0, False, lambda p: None), ReadStats())
    try:
        raw = tmp.read(vaddr, vsize, physical=True)
    except drgn.FaultError:
        raise LiveAccessError(f"{dev}: cannot read VMCOREINFO at {vaddr:#x}") from None
    # The note: 12-byte header, "VMCOREINFO\0" padded to 12, then the text.
    return raw[24:].split(b"\0", 1)[0]


def _devmem_kernel(vmlinux: str | None, stats: ReadStats, debug_info: bool,
                   root: str) -> Kernel:
    base = root.rstrip("/")
    phys = DevMemMemory(path=f"{base}/dev/mem", iomem=f"{base}/proc/iomem")
    return _mapped_kernel(phys, base, "/dev/mem", vmlinux, stats, debug_info)


def _mapped_kernel(phys: DevMemMemory | DevKmemMemory, base: str, dev: str,
                   vmlinux: str | None, stats: ReadStats, debug_info: bool) -> Kernel:
    """The live kernel over ``dev``'s mapping ``phys``, probed first, its
    VMCOREINFO read through it; the mapping is closed when that fails."""
    try:
        phys.probe()
        raw = _sys_vmcoreinfo(phys, base, dev)
        return _live_kernel(phys, raw, vmlinux, stats, debug_info, dev)
    except BaseException:
        phys.close()
        raise


def _page_offset(base: str) -> int:
    """``page_offset_base`` of the running kernel: the direct map's delta in
    ``/proc/kcore``'s RAM segments.

    :raises LiveAccessError: ``/proc/kcore`` cannot be read.
    """
    try:
        kc = parse_kcore(f"{base}/proc/kcore")
    except (LiveAccessError, CoreFormatError) as e:
        raise LiveAccessError(f"/dev/kmem: the direct map's base is read from {e}") from None
    kc.close()
    return kc.page_offset


def _devkmem_kernel(vmlinux: str | None, stats: ReadStats, debug_info: bool,
                    base: str) -> Kernel:
    """``/dev/kmem`` mapped over the direct map (System RAM at ``page_offset_base``)."""
    if not os.path.exists(f"{base}/dev/kmem"):
        raise LiveAccessError(f"{base}/dev/kmem: No such file or directory (no CONFIG_DEVKMEM; "
                              "removed in 5.13)")
    try:
        with builtins_open(f"{base}/proc/iomem") as f:
            ranges = parse_iomem_ram(f.read())
    except OSError as e:
        raise LiveAccessError(f"{base}/proc/iomem: {e.strerror}") from None
    if not ranges:
        raise LiveAccessError(f"{base}/proc/iomem shows no System RAM addresses "
                              "(they are hidden without CAP_SYS_ADMIN)")
    phys = DevKmemMemory(ranges, _page_offset(base), path=f"{base}/dev/kmem")
    return _mapped_kernel(phys, base, "/dev/kmem", vmlinux, stats, debug_info)


def attach(prog: drgn.Program, *, reader: str | None = None) -> Kernel:
    """Wrap an existing :class:`drgn.Program`; an ELF vmcore gets the mmap reader."""
    stats = ReadStats()
    path = prog.core_dump_path
    if path and reader in (None, "mmap-elf") and _sniff(path) == "elf":
        core = parse_elf_core(path)
        if core.vmcoreinfo is not None and elf_machine(core.machine) is not None:
            return _elf_kernel(path, core, prog, stats, virtual_segments=True)
    return Kernel(prog, DrgnReader(prog), None, _vmcoreinfo_from_prog(prog), stats,
                  target=path or "program")
