"""The /proc/kcore reader on a synthetic kcore: headers, the epoch page cache,
read-ahead, faults, and open_live picking it in a fake root.

The file is laid out like fs/proc/kcore.c writes it: an ELF core whose notes
hold VMCOREINFO, a KCORE_TEXT PT_LOAD (``p_paddr = __pa_symbol``), KCORE_RAM
PT_LOADs (``p_paddr = __pa(p_vaddr)``) and a KCORE_VMALLOC one (``p_paddr = -1``).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import drgn
import pytest

import kmemx
from kmemx.errors import LiveAccessError, TargetError
from kmemx.memory import AddressSpace
from kmemx.readers.base import ReadStats
from kmemx.readers.kcore import KcoreMemory, parse_kcore

POB = 0xFFFF888000000000
KTEXT = 0xFFFFFFFF80000000  # __START_KERNEL_map
VMALLOC = 0xFFFFC90000000000
RAM = 4 << 20  # 4 MiB of "physical memory": 0..4 MiB, one KCORE_RAM segment each 2 MiB
PGD, PUD, PMD, PTE = 0x1000, 0x2000, 0x3000, 0x4000
VPAGE = 0x200000 + 0x5000  # the physical page behind the vmalloc address
NO_PADDR = 0xFFFFFFFFFFFFFFFF


def _note(name: bytes, ntype: int, desc: bytes) -> bytes:
    pad = lambda b: b + bytes(-len(b) % 4)  # noqa: E731
    return struct.pack("<III", len(name) + 1, len(desc), ntype) + pad(name + b"\0") + pad(desc)


def _memory() -> bytearray:
    mem = bytearray(RAM)
    for pa in range(0, RAM, 4096):  # every page says where it is
        struct.pack_into("<QQ", mem, pa + 8, pa, 0x4B434F5245)
    # page tables: the direct map (1 GiB leaf at POB) and one 4 KiB vmalloc page
    struct.pack_into("<Q", mem, PGD + ((POB >> 39) & 511) * 8, PUD | 3)
    struct.pack_into("<Q", mem, PUD + ((POB >> 30) & 511) * 8, 0 | 0x83)
    struct.pack_into("<Q", mem, PGD + ((VMALLOC >> 39) & 511) * 8, 0x6000 | 3)
    struct.pack_into("<Q", mem, 0x6000 + ((VMALLOC >> 30) & 511) * 8, PMD | 3)
    struct.pack_into("<Q", mem, PMD + ((VMALLOC >> 21) & 511) * 8, PTE | 3)
    struct.pack_into("<Q", mem, PTE + ((VMALLOC >> 12) & 511) * 8, VPAGE | 3)
    return mem


def make_kcore(path: Path, mem: bytes) -> bytes:
    vmcoreinfo = (b"OSRELEASE=6.1.0-kcore-test\nPAGESIZE=4096\n"
                  b"SYMBOL(swapper_pg_dir)=%x\nNUMBER(phys_base)=0\nKERNELOFFSET=0\n"
                  b"NUMBER(pgtable_l5_enabled)=0\n" % (KTEXT + PGD))
    notes = _note(b"CORE", 1, bytes(336)) + _note(b"VMCOREINFO", 0, vmcoreinfo)
    # (vaddr, paddr, size): text, two RAM segments, vmalloc
    loads = [(KTEXT + 0x200000, 0x200000, 0x100000), (POB, 0, 2 << 20),
             (POB + (2 << 20), 2 << 20, 2 << 20), (VMALLOC, NO_PADDR, 1 << 20)]
    phnum = 1 + len(loads)
    data_off = 64 + 56 * phnum
    head = bytearray(struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), 4, 62,
                                 1, 0, 64, 0, 0, 64, 56, phnum, 64, 0, 0))
    head += struct.pack("<IIQQQQQQ", 4, 0, data_off, 0, 0, len(notes), 0, 4)
    off = data_off + len(notes) + 4096
    body = bytearray()
    for vaddr, paddr, size in loads:
        head += struct.pack("<IIQQQQQQ", 1, 7, off, vaddr, paddr, size, size, 4096)
        off += size
    out = bytearray(head + notes)
    out += bytes(data_off + len(notes) + 4096 - len(out))
    for vaddr, paddr, size in loads:
        if paddr == NO_PADDR:
            body = bytearray(size)
            body[:4096] = mem[VPAGE:VPAGE + 4096]
        elif vaddr >= KTEXT:
            body = bytearray(mem[paddr:paddr + size])
        else:
            body = bytearray(mem[paddr:paddr + size])
        out += body
    path.write_bytes(out)
    return bytes(out)


def _seg_offset(path: Path, paddr: int) -> int:
    kc = parse_kcore(str(path))
    try:
        for s in kc.segments:
            if s.paddr <= paddr < s.paddr + s.size:
                return s.offset + paddr - s.paddr
    finally:
        kc.close()
    raise AssertionError(f"{paddr:#x} not in a RAM segment")


@pytest.fixture()
def kcore(tmp_path: Path) -> Path:
    p = tmp_path / "kcore"
    make_kcore(p, _memory())
    return p


def test_parse_kcore(kcore: Path) -> None:
    kc = parse_kcore(str(kcore))
    try:
        assert kc.page_offset == POB
        # RAM segments only: not the text (another delta), not vmalloc (no paddr)
        assert [(s.paddr, s.size) for s in kc.segments] == [(0, 2 << 20), (2 << 20, 2 << 20)]
        assert kc.vmcoreinfo is not None and b"OSRELEASE=6.1.0-kcore-test" in kc.vmcoreinfo
    finally:
        kc.close()


def test_parse_kcore_errors(tmp_path: Path) -> None:
    with pytest.raises(LiveAccessError, match="No such file"):
        parse_kcore(str(tmp_path / "missing"))
    (tmp_path / "junk").write_bytes(b"not an elf file at all" * 10)
    with pytest.raises(kmemx.errors.CoreFormatError, match="not a 64-bit"):
        parse_kcore(str(tmp_path / "junk"))


def test_pages_readahead_and_epochs(kcore: Path) -> None:
    mem = KcoreMemory(parse_kcore(str(kcore)), readahead=16)
    try:
        buf, off = mem.locate(0x10000 + 123) or (b"", 0)
        assert struct.unpack_from("<Q", buf, off + 8)[0] == 0x10000
        assert (mem.preads, mem.pages_read) == (1, 1)  # a lone miss: one page
        # sequential misses double the read: 2, 4, 8, 16, then 16 at most
        for pa in range(0x11000, 0x40000, 4096):
            b, o = mem.locate(pa) or (b"", 0)
            assert struct.unpack_from("<Q", b, o + 8)[0] == pa
        assert (mem.preads, mem.pages_read) == (7, 63)  # 1 + 2 + 4 + 8 + 16 + 16 + 16
        # a random miss starts over with one page; read-ahead stops at the segment's end
        mem.locate(0x100000)
        assert mem.pages_read == 64
        mem.locate((2 << 20) - 2 * 4096)
        mem.locate((2 << 20) - 4096)
        assert mem.pages_read == 66 and mem.locate(2 << 20) is not None
        # the kernel changes the page: the epoch still sees what it read
        with open(kcore, "r+b") as f:
            f.seek(_seg_offset(kcore, 0x10000) + 8)
            f.write(struct.pack("<Q", 0xDEAD))
        b, o = mem.locate(0x10000) or (b"", 0)
        assert struct.unpack_from("<Q", b, o + 8)[0] == 0x10000
        flushed: list[int] = []
        mem.on_flush(lambda: flushed.append(1))
        mem.new_epoch()
        assert flushed == [1] and mem.epochs == 1
        b, o = mem.locate(0x10000) or (b"", 0)
        assert struct.unpack_from("<Q", b, o + 8)[0] == 0xDEAD
        # outside the RAM segments: no page, and why
        assert mem.locate(RAM) is None
        assert "not in /proc/kcore" in mem.why_missing(RAM)
    finally:
        mem.close()


def test_cache_bound_flushes(kcore: Path) -> None:
    mem = KcoreMemory(parse_kcore(str(kcore)), readahead=4, max_pages=8)
    try:
        for pa in range(0, 64 * 4096 * 2, 4096 * 2):
            assert mem.locate(pa) is not None
            assert len(mem.pages) <= 8
        assert mem.flushes >= 7
    finally:
        mem.close()


def test_fault_is_drgn_fault_error_with_the_address(kcore: Path) -> None:
    mem = KcoreMemory(parse_kcore(str(kcore)))
    space = AddressSpace(mem, kmemx.target.X86_64Translator(PGD, False, lambda p: None),
                         ReadStats())
    space.translator._read = space.read_phys_u64  # type: ignore[attr-defined]
    space.translator._read_table = space.read_phys_table  # type: ignore[attr-defined]
    try:
        assert struct.unpack("<Q", space.read(POB + 0x3000 + 8, 8))[0] == 0x3000
        assert struct.unpack("<Q", space.read(VMALLOC + 8, 8))[0] == VPAGE
        with pytest.raises(drgn.FaultError) as e:
            space.read(POB + RAM + 0x10, 8, physical=False)
        assert e.value.address == POB + RAM + 0x10
        with pytest.raises(drgn.FaultError) as e2:
            space.read(RAM + 8, 8, physical=True)
        assert e2.value.address == RAM + 8
    finally:
        mem.close()


def _root(tmp_path: Path, kcore_bytes: bytes | None) -> Path:
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "dev").mkdir()
    (root / "sys/kernel").mkdir(parents=True)
    if kcore_bytes is not None:
        (root / "proc/kcore").write_bytes(kcore_bytes)
    (root / "proc/iomem").write_text(f"00001000-{RAM - 1:08x} : System RAM\n")
    return root


def test_open_live_picks_kcore_and_commands_start_epochs(tmp_path: Path) -> None:
    mem = _memory()
    root = _root(tmp_path, make_kcore(tmp_path / "k", mem))
    k = kmemx.open_live(root=str(root), debug_info=False)
    try:
        assert k.reader.name == "kcore"
        assert k.read_u64(POB + 0x7008) == 0x7000
        assert k.read_u64(VMALLOC + 8) == VPAGE
        # drgn reads through the same cache
        assert int.from_bytes(k.prog.read(POB + 0x7008, 8), "little") == 0x7000
        # the live kernel changes: this epoch keeps its view, the next sees the change
        with open(root / "proc/kcore", "r+b") as f:
            f.seek(_seg_offset(root / "proc/kcore", 0x7000) + 8)
            f.write(struct.pack("<Q", 0xBEEF))
        assert k.read_u64(POB + 0x7008) == 0x7000
        k.new_epoch()
        assert k.read_u64(POB + 0x7008) == 0xBEEF
        assert int.from_bytes(k.prog.read(POB + 0x7008, 8), "little") == 0xBEEF
        # kmemx's reader faults at the virtual address; Kernel.read then asks drgn,
        # whose page-table walk (over the same cache) names the physical address
        assert k.space is not None
        with pytest.raises(drgn.FaultError) as e:
            k.space.read(POB + RAM + 8, 8)
        assert e.value.address == POB + RAM + 8
        with pytest.raises(drgn.FaultError) as e:
            k.read_u64(POB + RAM + 8)
        assert e.value.address in (POB + RAM + 8, RAM + 8)
        # every command is one epoch
        from kmemx.commands import execute
        assert isinstance(k.reader, KcoreMemory)
        before = k.reader.epochs
        list(execute(k, "help"))
        assert k.reader.epochs == before + 1 and not k.reader.pages
    finally:
        k.close()


def test_open_live_reasons_and_forced_readers(tmp_path: Path) -> None:
    root = _root(tmp_path, None)
    with pytest.raises(LiveAccessError) as e:
        kmemx.open_live(root=str(root), debug_info=False)
    msg = str(e.value)
    assert "\n" not in msg
    assert "/dev/kmem: No such file or directory (no CONFIG_DEVKMEM" in msg
    assert "/dev/mem: No such file or directory" in msg
    assert "/proc/kcore: No such file or directory" in msg
    with pytest.raises(LiveAccessError, match=r"^reader mmap-devkmem cannot read the running "
                       r"kernel: .*/dev/kmem: No such file"):
        kmemx.open_live(root=str(root), reader="mmap-devkmem", debug_info=False)
    with pytest.raises(LiveAccessError, match=r"^reader kcore cannot read the running kernel"):
        kmemx.open_live(root=str(root), reader="kcore", debug_info=False)
    with pytest.raises(TargetError, match="reads dumps, not the running kernel"):
        kmemx.open_live(root=str(root), reader="mmap-elf", debug_info=False)
    # a kcore without VMCOREINFO (< 4.19)
    data = bytearray(make_kcore(tmp_path / "k", _memory()))
    i = data.find(b"VMCOREINFO")
    data[i:i + 10] = b"XMCOREINFO"
    (root / "proc/kcore").write_bytes(bytes(data))
    with pytest.raises(LiveAccessError, match="no VMCOREINFO note"):
        kmemx.open_live(root=str(root), reader="kcore", debug_info=False)


def test_live_readers_refuse_dumps(tmp_path: Path) -> None:
    p = tmp_path / "vmcore"
    make_kcore(p, _memory())
    for reader in ("kcore", "mmap-devkmem", "mmap-devmem"):
        with pytest.raises(TargetError, match="reads the running kernel, not a dump"):
            kmemx.open(str(p), reader=reader, debug_info=False)
    assert os.path.exists(p)
