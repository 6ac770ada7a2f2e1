"""Device readers on stand-in files (no kernel here has /dev/kmem; /dev/mem is
disabled on the developer machines)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kmemx.errors import LiveAccessError
from kmemx.readers import DevKmemMemory, DevMemMemory
from kmemx.readers.windowed import parse_iomem_ram

IOMEM = """00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-0009ffff : Reserved
000f0000-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-1ffdffff : System RAM
  0a000000-0aa02566 : Kernel code
1ffe0000-1fffffff : Reserved
fd000000-fdffffff : 0000:00:02.0
"""


def test_parse_iomem() -> None:
    assert parse_iomem_ram(IOMEM) == [(0x1000, 0x9FC00), (0x100000, 0x1FFE0000)]
    hidden = IOMEM.replace("00100000-1ffdffff", "00000000-00000000")
    assert (0x100000, 0x1FFE0000) not in parse_iomem_ram(hidden)


def _image(path: Path, size: int) -> bytes:
    data = bytes((i * 7 + (i >> 12)) & 0xFF for i in range(size))
    path.write_bytes(data)
    return data


def test_devmem_windows_on_a_file(tmp_path: Path) -> None:
    dev = tmp_path / "mem"
    data = _image(dev, 4 << 20)
    iomem = tmp_path / "iomem"
    iomem.write_text("00001000-0009fbff : System RAM\n00100000-003fffff : System RAM\n")
    mem = DevMemMemory(path=str(dev), iomem=str(iomem))
    mem.probe()  # a RAM page above 1 MiB maps
    for addr in (0x1000, 0x5123, 0x9E000, 0x100000, 0x2ABCDE, 0x3FF000):
        loc = mem.locate(addr)
        assert loc is not None
        buf, off = loc
        page = addr & ~0xFFF
        assert bytes(buf[off:off + 4096]) == data[page:page + 4096]
    assert mem.locate(0x0) is None  # not System RAM
    assert mem.locate(0xA0000) is None  # the ISA hole
    assert mem.locate(0x400000) is None  # above RAM
    mem.close()


def test_devmem_errors(tmp_path: Path) -> None:
    iomem = tmp_path / "iomem"
    iomem.write_text("00000000-00000000 : System RAM\n")
    with pytest.raises(LiveAccessError, match="hidden without CAP_SYS_ADMIN"):
        DevMemMemory(path="/dev/null", iomem=str(iomem))
    iomem.write_text("00100000-001fffff : System RAM\n")
    with pytest.raises(LiveAccessError, match=r"No such file.*kmemx doctor"):
        DevMemMemory(path=str(tmp_path / "nope"), iomem=str(iomem))


def test_devkmem_on_a_file(tmp_path: Path) -> None:
    """``/dev/kmem`` offsets are virtual; with page_offset=0 a file stands in, and
    the ctypes mmap path (which must also take offsets >= 2^63) is exercised."""
    dev = tmp_path / "kmem"
    data = _image(dev, 2 << 20)
    mem = DevKmemMemory([(0x1000, 0x200000)], page_offset=0, path=str(dev))
    for addr in (0x1000, 0x12345, 0x1FF000):
        loc = mem.locate(addr)
        assert loc is not None
        buf, off = loc
        assert bytes(buf[off:off + 16]) == data[addr & ~0xFFF:(addr & ~0xFFF) + 16]
    mem.close()


def test_devkmem_negative_offset_is_refused_by_a_file(tmp_path: Path) -> None:
    """A regular file has no data at 2^63: mapping fails cleanly (None), as it
    would on a kernel without the page."""
    dev = tmp_path / "kmem"
    _image(dev, 1 << 20)
    mem = DevKmemMemory([(0x1000, 0x100000)], page_offset=0xFFFF888000000000, path=str(dev))
    assert mem.locate(0x1000) is None
    mem.close()


def test_devmem_missing_device_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(LiveAccessError) as e:
        DevKmemMemory([(0, 4096)], 0, path=os.fspath(tmp_path / "kmem"))
    assert "\n" not in str(e.value) and "DEVKMEM" in str(e.value)
