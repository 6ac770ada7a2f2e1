"""``/dev/kmem`` in live mode without a DEVKMEM kernel: ``open_live`` on a fake root
whose ``/dev/kmem`` is a stand-in file, and doctor's probe of offsets >= 2^63.

The stand-in holds physical memory at file offset = physical address, so the
direct map's base (read from ``/proc/kcore`` on a real kernel) is patched to 0;
everything else (VMCOREINFO from ``/sys/kernel/vmcoreinfo``, the page tables,
the reader order, the forced reader's one-line reason) is the real code.  The
live tier (``tests/live``, section 5) runs the same paths on 5.10 kernels built
with ``CONFIG_DEVKMEM=y``.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import kmemx
import kmemx.target
from kmemx.doctor.probe import OsProber
from kmemx.errors import LiveAccessError
from kmemx.readers import DevKmemMemory
from tests.unit.test_kcore import KTEXT, PGD, POB, RAM, VMALLOC, VPAGE, _memory, _note, make_kcore

NOTE_PA = 0x300100  # where the fake kernel's VMCOREINFO note lives


def _vmcoreinfo_text() -> bytes:
    return (b"OSRELEASE=6.1.0-kcore-test\nPAGESIZE=4096\n"
            b"SYMBOL(swapper_pg_dir)=%x\nNUMBER(phys_base)=0\nKERNELOFFSET=0\n"
            b"NUMBER(pgtable_l5_enabled)=0\n" % (KTEXT + PGD))


def _root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kmem: str = "file") -> Path:
    """A fake root: /proc/kcore and /proc/iomem, /sys/kernel/vmcoreinfo, and a
    /dev/kmem that is the memory itself (``kmem="file"``) or a FIFO (no mmap)."""
    mem = _memory()
    note = _note(b"VMCOREINFO", 0, _vmcoreinfo_text())
    mem[NOTE_PA:NOTE_PA + len(note)] = note
    root = tmp_path / "root"
    for d in ("proc", "dev", "sys/kernel"):
        (root / d).mkdir(parents=True)
    make_kcore(root / "proc/kcore", mem)
    (root / "proc/iomem").write_text(f"00001000-{RAM - 1:08x} : System RAM\n")
    (root / "sys/kernel/vmcoreinfo").write_text(f"{NOTE_PA:x} {len(note):x}\n")
    if kmem == "file":
        (root / "dev/kmem").write_bytes(bytes(mem))
    else:
        os.mkfifo(root / "dev/kmem")
    # a stand-in file has no data at 2^63: its offsets are physical addresses
    monkeypatch.setattr(kmemx.target, "_page_offset", lambda base: 0)
    return root


def test_open_live_picks_mmap_devkmem_first(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """With /dev/kmem mappable it comes before /dev/mem and /proc/kcore; the direct
    map is read through the mapping, vmalloc through the page tables onto it."""
    root = _root(tmp_path, monkeypatch)
    k = kmemx.open_live(root=str(root), debug_info=False)
    try:
        assert k.reader.name == "mmap-devkmem"
        assert isinstance(k.reader, DevKmemMemory)
        assert k.read_u64(POB + 0x7008) == 0x7000
        assert k.read_u64(VMALLOC + 8) == VPAGE
        assert int.from_bytes(k.prog.read(POB + 0x9008, 8), "little") == 0x9000
        assert not k.reader.errors
    finally:
        k.close()


def test_unmappable_devkmem_falls_back_with_reason(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """/dev/kmem that cannot be mapped: open_live goes on to /proc/kcore, and forcing
    mmap-devkmem fails in one line naming the mmap's errno."""
    root = _root(tmp_path, monkeypatch, kmem="fifo")
    fd = os.open(root / "dev/kmem", os.O_RDWR | os.O_NONBLOCK)  # keeps the FIFO openable
    try:
        k = kmemx.open_live(root=str(root), debug_info=False)
        try:
            assert k.reader.name == "kcore"
        finally:
            k.close()
        with pytest.raises(LiveAccessError) as e:
            kmemx.open_live(root=str(root), reader="mmap-devkmem", debug_info=False)
    finally:
        os.close(fd)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("reader mmap-devkmem cannot read the running kernel: ")
    assert "mmap of RAM at 0x100000 failed with ENODEV" in msg
    assert msg.endswith("run 'kmemx doctor' for why")


def test_devkmem_probe_is_one_line_with_the_errno(tmp_path: Path) -> None:
    """probe() maps one page of RAM above 1 MiB at its direct-map address and names
    the errno; it adds a cause only for the errnos mmap_kmem/mmap_mem give for RAM
    (EPERM: STRICT_DEVMEM, EINVAL: PAT, EIO: not a valid pfn).  A regular file
    refuses an offset >= 2^63 with EOVERFLOW, which is none of them."""
    dev = tmp_path / "kmem"
    dev.write_bytes(bytes(4 << 20))
    mem = DevKmemMemory([(0x1000, 4 << 20)], page_offset=POB, path=str(dev))
    try:
        with pytest.raises(LiveAccessError) as e:
            mem.probe()
    finally:
        mem.close()
    assert str(e.value) == (f"{dev}: mmap of RAM at {POB + (1 << 20):#x} failed with "
                            "EOVERFLOW; run 'kmemx doctor'")


def test_doctor_probe_reads_offsets_above_2_63() -> None:
    """doctor's read probe of /dev/kmem seeks to a kernel address (>= 2^63) through
    libc: os.lseek raises SystemError there (the position comes back negative).
    /proc/self/mem has /dev/kmem's FMODE_UNSIGNED_OFFSET: the seek succeeds and
    the read of an unmapped address gets EIO."""
    prober = OsProber()
    fd = os.open("/proc/self/mem", os.O_RDONLY)
    try:
        addr = POB + 0x1000
        assert prober._lseek_errno(fd, addr) == 0
        assert prober._read_errno(fd, addr) == errno.EIO
    finally:
        os.close(fd)
    res = prober.probe("/dev/kmem", "/proc/self/mem", POB + 0x1000)
    assert (res.open, res.read) == (0, errno.EIO)
    # a regular file refuses the position: the errno, not an exception
    res = prober.probe("/dev/kmem", os.devnull, POB + 0x1000)
    assert res.open == 0 and isinstance(res.read, int)
