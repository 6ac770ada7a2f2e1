"""``/dev/kmem``: kernel virtual memory, for kernels up to 5.12 with DEVKMEM.

The file offset is a kernel virtual address in the direct map, and
``mmap_kmem()`` converts it with ``__pa()`` (drivers/char/mem.c), so only
the direct map and the kernel image can be mapped: vmalloc addresses are no
valid pfn (EIO, "vmalloc is not supported right now"), and module addresses,
above ``__START_KERNEL_map``, go through ``__pa()``'s kernel-image branch to an
unrelated physical page.  ``read_kmem()`` copies the direct map and reads
vmalloc and modules with ``vread()``, without the STRICT_DEVMEM or PAT checks,
but needs an ``lseek``/``read`` pair per read.  Offsets are
at or above 2^63; Python's :mod:`mmap` refuses those, so the mapping is made
with libc's ``mmap`` through ctypes, where ``off_t`` wraps as the kernel's
unsigned ``vm_pgoff`` expects.

``mmap_kmem()`` ends in ``mmap_mem()``, so everything that refuses a
``/dev/mem`` mapping of RAM refuses this one too: STRICT_DEVMEM (EPERM) and,
before 6.16, the x86 PAT check (EINVAL; boot with ``nopat``).  kmemx maps
only the direct map and translates every other address (image, vmalloc,
modules) with the page tables onto it: a slice of a mapping, no system call.  The
unit tests run this reader on a stand-in file with ``page_offset=0``; the
live tier runs it on 5.10 kernels built with ``CONFIG_DEVKMEM=y``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import os

from ..errors import LiveAccessError
from .base import Buffer
from .windowed import WindowedMemory

__all__ = ["DevKmemMemory"]

_MMAP_WHY = {
    "EPERM": " (CONFIG_STRICT_DEVMEM refuses RAM above 1 MiB)",
    "EINVAL": " (the x86 PAT check refuses RAM: boot with nopat)",
    "EIO": " (not a valid page frame: the address is outside the direct map)",
}

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_int64]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_MAP_FAILED = ctypes.c_void_p(-1).value


class DevKmemMemory(WindowedMemory):
    name = "mmap-devkmem"

    def __init__(self, ranges: list[tuple[int, int]], page_offset: int,
                 path: str = "/dev/kmem") -> None:
        super().__init__(ranges)
        self.path = path
        self.page_offset = page_offset
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            hint = " (no DEVKMEM: removed in 5.13)" if e.errno in (errno.ENXIO, errno.ENOENT) else ""
            raise LiveAccessError(f"{path}: {e.strerror}{hint}; run 'kmemx doctor'") from None
        self._maps: list[tuple[int, int]] = []
        #: physical window start -> errno of a failed mmap
        self.errors: dict[int, int] = {}

    def probe(self) -> None:
        """Map one page of RAM above 1 MiB at its direct-map address, or raise
        :class:`LiveAccessError` with the errno (EPERM: STRICT_DEVMEM; EINVAL: the
        x86 PAT check)."""
        for s, e in self._ranges:
            s = max(s, 1 << 20)
            if s < e:
                if self._map(s, 4096, keep=False) is None:
                    code = errno.errorcode.get(self.errors.get(s, 0), "?")
                    raise LiveAccessError(f"{self.path}: mmap of RAM at {self.page_offset + s:#x} "
                                          f"failed with {code}{_MMAP_WHY.get(code, '')}; "
                                          "run 'kmemx doctor'")
                return
        raise LiveAccessError(f"{self.path}: no System RAM above 1 MiB to map")

    def _map(self, start: int, length: int, keep: bool = True) -> Buffer | None:
        off = (self.page_offset + start) & 0xFFFFFFFFFFFFFFFF
        if off >= 1 << 63:
            off -= 1 << 64  # the kernel reads off_t as an unsigned page offset
        addr = _libc.mmap(None, length, mmap.PROT_READ, mmap.MAP_SHARED, self.fd, off)
        if addr is None or addr == _MAP_FAILED:
            self.errors[start] = ctypes.get_errno()
            return None
        if not keep:
            _libc.munmap(addr, length)
            return b""
        self._maps.append((addr, length))
        return memoryview((ctypes.c_char * length).from_address(addr)).cast("B")

    def close(self) -> None:
        self._windows.clear()
        for addr, length in self._maps:
            _libc.munmap(addr, length)
        self._maps.clear()
        os.close(self.fd)
