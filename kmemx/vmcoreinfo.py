"""Parse VMCOREINFO, the kernel's self-description in every dump."""

from __future__ import annotations

import os
import struct

from .errors import CoreFormatError

__all__ = ["Vmcoreinfo", "kdump_damage", "kdump_vmcoreinfo"]

#: drgn keeps OSRELEASE in a char[65] (struct new_utsname's release)
_OSRELEASE_MAX = 64
_DIGITS = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


def _base(key: str) -> int | None:
    """The base the kernel prints ``key``'s value in (kernel/vmcore_info.c):
    SYMBOL() and KERNELOFFSET in hex without 0x, SIZE()/OFFSET()/LENGTH() in
    decimal, NUMBER() in decimal or 0x-hex; 0 is strtoull()'s "C syntax"."""
    if key.startswith("SYMBOL(") or key == "KERNELOFFSET":
        return 16
    if key.startswith(("SIZE(", "OFFSET(", "LENGTH(")):
        return 10
    if key.startswith("NUMBER(") or key == "PAGESIZE":
        return 0
    return None


def _c_int(text: str, base: int) -> int | None:
    """``text`` as drgn reads it (``strtoull(text, &end, base)`` that must end
    at the end of the line), or None when drgn calls it invalid."""
    neg = text.startswith("-")
    t = text[1:] if neg else text
    if base in (0, 16) and t[:2] in ("0x", "0X"):
        t, base = t[2:], 16
    elif base == 0:
        base = 8 if t.startswith("0") and len(t) > 1 else 10
    if not t or len(t) > 22 or any(c not in _DIGITS[base] for c in t):
        return None
    v = int(t, base)
    if v >= 1 << 64:
        return None  # ERANGE: "number in VMCOREINFO is too large"
    return -v if neg else v


class Vmcoreinfo:
    """``KEY=VALUE`` lines, with typed accessors for the usual keys.

    :param raw: the note's text.
    :param source: the dump it came from, for error messages.

    The accessors of numbers raise :class:`~kmemx.errors.CoreFormatError`
    naming the damaged line when a value is not a number.
    """

    def __init__(self, raw: bytes, source: str = "") -> None:
        self.raw = raw
        self.source = source
        self.fields: dict[str, str] = {}
        for line in raw.decode("ascii", "replace").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                self.fields[key] = value

    def _damaged(self, what: str) -> CoreFormatError:
        where = f"{self.source}: " if self.source else ""
        return CoreFormatError(f"{where}damaged VMCOREINFO: {what}")

    def _int(self, key: str, base: int) -> int | None:
        v = self.fields.get(key)
        if v is None:
            return None
        n = _c_int(v, base)
        if n is None:
            raise self._damaged(f"{key}={v[:40]!r} is not a number")
        return n

    def damage(self) -> str | None:
        """What is wrong with the note, as drgn and kmemx read it, or None.

        The first line whose number does not parse, or a missing or invalid
        OSRELEASE, PAGESIZE or SYMBOL(swapper_pg_dir) (the keys drgn requires).
        """
        for key, value in self.fields.items():
            base = _base(key)
            if base is not None and _c_int(value, base) is None:
                return f"{key}={value[:40]!r} is not a number"
        rel = self.fields.get("OSRELEASE")
        if not rel:
            return "no OSRELEASE"
        if len(rel) > _OSRELEASE_MAX:
            return f"OSRELEASE is {len(rel)} bytes long (at most {_OSRELEASE_MAX})"
        if not _c_int(self.fields.get("PAGESIZE", "0"), 0):
            return "no PAGESIZE"
        if not _c_int(self.fields.get("SYMBOL(swapper_pg_dir)", "0"), 16):
            return "no SYMBOL(swapper_pg_dir)"
        return None

    def get(self, key: str) -> str | None:
        return self.fields.get(key)

    def number(self, name: str) -> int | None:
        """``NUMBER(name)``; :raises CoreFormatError: if it is not a number."""
        return self._int(f"NUMBER({name})", 0)

    def symbol(self, name: str) -> int | None:
        """``SYMBOL(name)``; :raises CoreFormatError: if it is not a number."""
        return self._int(f"SYMBOL({name})", 16)

    @property
    def osrelease(self) -> str | None:
        return self.fields.get("OSRELEASE")

    @property
    def build_id(self) -> str | None:
        return self.fields.get("BUILD-ID")

    @property
    def kaslr_offset(self) -> int:
        return self._int("KERNELOFFSET", 16) or 0

    @property
    def phys_base(self) -> int:
        return (self.number("phys_base") or 0) & 0xFFFFFFFFFFFFFFFF

    @property
    def five_level(self) -> bool:
        return bool(self.number("pgtable_l5_enabled"))

    @property
    def page_size(self) -> int:
        """``PAGESIZE`` in bytes (4096 when absent)."""
        return self._int("PAGESIZE", 0) or 4096

    # -- arm64 (arch/arm64/kernel/vmcore_info.c; crash_core.c before it was renamed) -------
    @property
    def va_bits(self) -> int | None:
        """``NUMBER(VA_BITS)``: the configured size of an arm64 kernel's VAs
        (kernel commit 20a166243328, v4.12)."""
        return self.number("VA_BITS")

    @property
    def kimage_voffset(self) -> int | None:
        """``NUMBER(kimage_voffset)``: kernel-image virtual minus physical
        address on arm64, unsigned 64-bit (commit 20a166243328, v4.12)."""
        v = self.number("kimage_voffset")
        return None if v is None else v & 0xFFFFFFFFFFFFFFFF

    @property
    def phys_offset(self) -> int | None:
        """``NUMBER(PHYS_OFFSET)``: arm64's ``memstart_addr``, the physical
        address the linear map starts from."""
        v = self.number("PHYS_OFFSET")
        return None if v is None else v & 0xFFFFFFFFFFFFFFFF

    @property
    def tcr_el1_t1sz(self) -> int | None:
        """``NUMBER(TCR_EL1_T1SZ)``: 64 minus the run-time size of an arm64
        kernel's VAs (commit bbdbc11804ff, v5.9)."""
        return self.number("TCR_EL1_T1SZ")

    @property
    def kernel_pac_mask(self) -> int:
        """``NUMBER(KERNELPACMASK)``: the pointer-authentication bits of a
        signed arm64 kernel return address, 0 without pointer authentication
        (drgn masks them out of saved LRs when it unwinds)."""
        return (self.number("KERNELPACMASK") or 0) & 0xFFFFFFFFFFFFFFFF

    @property
    def machine(self) -> str:
        """The architecture VMCOREINFO describes, as ``uname -m`` names it:
        ``"aarch64"`` when it has arm64's ``NUMBER(kimage_voffset)``, else
        ``"x86_64"``.  A dump's own header (ELF ``e_machine``, the kdump
        header's utsname) says it first; this is the fallback."""
        if "NUMBER(kimage_voffset)" in self.fields:
            return "aarch64"
        return "x86_64"


# -- VMCOREINFO in kdump-compressed headers -------------------------------------------
# kmemx reads kdump-compressed dumps through drgn (libkdumpfile); this only finds
# the VMCOREINFO text in the headers, so that a dump drgn refuses can be explained
# by the line that is damaged.  makedumpfile's diskdump_mod.h: struct
# disk_dump_header (signature "KDUMP   ", header_version at 8, block_size at 428),
# then at block_size struct kdump_sub_header with offset_vmcoreinfo at 32 and
# size_vmcoreinfo at 40 (header version 3 and later).

_KDUMP_SIGNATURE = b"KDUMP   "
_I32 = struct.Struct("<i")
_BLOCK_SIZE_AT = 428
_VMCOREINFO_AT = 32
_OFF_SIZE = struct.Struct("<qQ")
#: sanity bounds: VMCOREINFO is a few KiB (the kernel's buffer is one page)
_MAX_VMCOREINFO = 1 << 20
_MAX_BLOCK_SIZE = 1 << 24


_HEADER = struct.Struct("<iiI")  # block_size, sub_hdr_size, bitmap_blocks at 428
#: struct kdump_sub_header: (offset, size) pairs and the header version that has them
_SUB_REGIONS = ((32, 3, "VMCOREINFO"), (48, 4, "ELF notes"), (64, 5, "erase info"))


def kdump_damage(path: str) -> str | None:
    """What makes the kdump-compressed dump ``path`` unreadable before a page
    is read, or None: the blocks of the header, sub-header and bitmaps, or a
    region the sub-header points to (VMCOREINFO, notes, erase info), lying
    past the end of the file.  libkdumpfile maps these and dies of SIGBUS
    on a file cut short, so kmemx checks them before drgn opens the file."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(_BLOCK_SIZE_AT + _HEADER.size)
            if len(head) < _BLOCK_SIZE_AT + _HEADER.size or head[:8] != _KDUMP_SIGNATURE:
                return None  # drgn says what is wrong with the header itself
            version = _I32.unpack_from(head, 8)[0]
            block, sub_blocks, bitmap_blocks = _HEADER.unpack_from(head, _BLOCK_SIZE_AT)
            if not 0 < block <= _MAX_BLOCK_SIZE or sub_blocks < 0:
                return f"damaged kdump header: block_size {block}, sub_hdr_size {sub_blocks}"
            end = block * (1 + sub_blocks + bitmap_blocks)
            if end > size:
                return (f"truncated kdump-compressed dump: its headers and bitmaps end at "
                        f"byte {end} but the file has {size} bytes")
            f.seek(block)
            sub = f.read(80)
    except OSError:
        return None
    for at, since, what in _SUB_REGIONS:
        if version < since or at + _OFF_SIZE.size > len(sub):
            continue
        off, n = _OFF_SIZE.unpack_from(sub, at)
        if n and (off < 0 or off + n > size):
            return (f"truncated or damaged kdump-compressed dump: its {what} "
                    f"({n} bytes at offset {off}) lie past the end of the file ({size} bytes)")
        if what == "ELF notes" and n:
            try:
                with open(path, "rb") as f:
                    f.seek(off)
                    notes = f.read(min(n, _MAX_NOTES))
            except OSError:
                return None
            # struct new_utsname after signature[8] and header_version: machine is the 5th
            machine = head[12 + 65 * 4:12 + 65 * 5].split(b"\0", 1)[0].decode("ascii", "replace")
            bad = _bad_note(notes, machine)
            if bad is not None:
                return f"damaged ELF notes in the kdump header: {bad}"
    return None


#: sanity bound on the notes of a kdump header (one NT_PRSTATUS per cpu)
_MAX_NOTES = 1 << 26
_NHDR = struct.Struct("<III")
#: sizeof(struct elf_prstatus) on x86-64, and of QEMUCPUState's version and size
_PRSTATUS_SIZE = 336
#: sizeof(struct elf_prstatus) per utsname machine: 112 bytes before pr_reg,
#: then elf_gregset_t (x86-64: 27 registers, arm64: 34) and pr_fpvalid, padded
_PRSTATUS_SIZES = {"x86_64": _PRSTATUS_SIZE, "aarch64": 392}
_QEMU_HEAD = struct.Struct("<II")


def _bad_note(data: bytes, machine: str = "x86_64") -> str | None:
    """What is wrong with the ELF notes ``data`` that libkdumpfile would read
    past a note's end, or None.  It trusts a QEMU note to hold its
    QEMUCPUState header and reads NT_PRSTATUS as a whole struct elf_prstatus
    (a note shorter than those overruns its heap buffer)."""
    pos = 0
    while pos + _NHDR.size <= len(data):
        namesz, descsz, ntype = _NHDR.unpack_from(data, pos)
        desc = pos + _NHDR.size + ((namesz + 3) & ~3)
        if desc + descsz > len(data):
            return f"note at {pos} ({namesz}+{descsz} bytes) overruns the notes"
        name = data[pos + _NHDR.size:pos + _NHDR.size + namesz].rstrip(b"\0")
        if name == b"QEMU" and (descsz < _QEMU_HEAD.size or
                                _QEMU_HEAD.unpack_from(data, desc)[1] > descsz):
            return f"QEMU note at {pos} is too short ({descsz} bytes)"
        if name == b"CORE" and ntype == 1 and \
                descsz < _PRSTATUS_SIZES.get(machine, _PRSTATUS_SIZE):
            return f"NT_PRSTATUS note at {pos} is too short ({descsz} bytes)"
        pos = desc + ((descsz + 3) & ~3)
    return None


def kdump_vmcoreinfo(path: str) -> bytes | None:
    """The VMCOREINFO text in the headers of the kdump-compressed dump
    ``path``, or None when they hold none (an old header version, damaged
    offsets, not a kdump file).

    Called before drgn opens the dump, it first checks the file with
    :func:`kdump_damage`, and the text for what crashes libkdumpfile.

    :raises CoreFormatError: naming ``path`` and what lies past its end or
        the damaged VMCOREINFO line.
    """
    damage = kdump_damage(path)
    if damage is not None:
        raise CoreFormatError(f"{path}: {damage}")
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, _BLOCK_SIZE_AT + 4, 0)
        if len(head) < _BLOCK_SIZE_AT + 4 or head[:8] != _KDUMP_SIGNATURE:
            return None
        if _I32.unpack_from(head, 8)[0] < 3:
            return None
        block = _I32.unpack_from(head, _BLOCK_SIZE_AT)[0]
        if not 0 < block <= _MAX_BLOCK_SIZE:
            return None
        sub = os.pread(fd, _OFF_SIZE.size, block + _VMCOREINFO_AT)
        if len(sub) < _OFF_SIZE.size:
            return None
        off, n = _OFF_SIZE.unpack(sub)
        if off <= 0 or not 0 < n <= _MAX_VMCOREINFO or off + n > size:
            return None
        data = os.pread(fd, n, off)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) != n:
        return None
    # libkdumpfile (libkdumpfile.so.12 in drgn's wheel) corrupts its heap or
    # dies of SIGSEGV on these instead of failing: a key with an empty first
    # component (".x=1") when it files the line under its attribute tree, and
    # a PAGESIZE it refuses (its error path frees what it still uses)
    for line in data.split(b"\n"):
        if line.startswith(b"."):
            raise CoreFormatError(f"{path}: damaged VMCOREINFO: line {line[:40]!r} has no key")
        if line.startswith(b"PAGESIZE="):
            text = line[9:49].decode("ascii", "replace")
            v = _c_int(text, 0)
            if v is None:
                raise CoreFormatError(f"{path}: damaged VMCOREINFO: PAGESIZE={text!r} is not "
                                      "a number")
            if v <= 0 or v & (v - 1):
                raise CoreFormatError(f"{path}: damaged VMCOREINFO: PAGESIZE={text} is not a "
                                      "power of two")
    return data
