"""The empirical probe (checklist D9): one read-only mmap and one read of a RAM page.

Strictly read-only: ``open(O_RDONLY)`` (never ``O_SYNC``), ``mmap(PROT_READ,
MAP_SHARED)`` of one page, ``munmap`` at once, then an 8-byte read at the same
offset.  Nothing is ever written.  The :class:`Prober` protocol lets tests
inject the errno each step would get, without root.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from typing import Protocol

from kmemx.doctor import kversion as kv
from kmemx.doctor.facts import Facts
from kmemx.doctor.iomem import PAGE_SIZE, addresses_hidden, pick_probe_page
from kmemx.doctor.model import DeviceProbe, Op, Outcome, Target
from kmemx.doctor.predict import KMEM, MEM
from kmemx.doctor.state import State
from kmemx.doctor.sysfs import Tree

__all__ = [
    "LEGACY_DIRECT_MAP",
    "OsProber",
    "Prober",
    "interpret",
    "probe_offsets",
    "run_probes",
]

#: x86_64 direct-map base before CONFIG_RANDOMIZE_MEMORY (4.8) and 5-level paging.
LEGACY_DIRECT_MAP = 0xFFFF880000000000

_PROT_READ = 0x1
_MAP_SHARED = 0x01
_MAP_FAILED = (1 << (8 * ctypes.sizeof(ctypes.c_void_p))) - 1


class Prober(Protocol):
    """Something that can probe one device; tests pass fakes."""

    def probe(self, device: str, path: str, offset: int | None) -> DeviceProbe:
        """Open ``path`` read-only; if ``offset`` is given, mmap and read one page there."""
        ...


def _signed(offset: int) -> int:
    """Kernel virtual addresses >= 2**63 are negative as ``off_t``."""
    return offset - (1 << 64) if offset >= 1 << 63 else offset


class OsProber:
    """The real prober: system calls on the actual device files."""

    def __init__(self) -> None:
        self._libc: ctypes.CDLL | None = None

    def _mmap_errno(self, fd: int, offset: int) -> int:
        libc = self._libc_handle()
        # mmap64 takes a 64-bit off_t everywhere (mmap's off_t is 32-bit on some 32-bit ABIs).
        mmap = getattr(libc, "mmap64", libc.mmap)
        mmap.restype = ctypes.c_void_p
        mmap.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int64,
        ]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        ctypes.set_errno(0)
        addr = mmap(None, PAGE_SIZE, _PROT_READ, _MAP_SHARED, fd, _signed(offset))
        if addr is None or addr == _MAP_FAILED:
            return ctypes.get_errno() or errno.EINVAL
        libc.munmap(addr, PAGE_SIZE)
        return 0

    def _libc_handle(self) -> ctypes.CDLL:
        if self._libc is None:
            self._libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return self._libc

    def _lseek_errno(self, fd: int, offset: int) -> int:
        """lseek(2) to ``offset`` through libc: the errno, or 0.

        Not ``os.lseek``: a position >= 2**63 comes back negative as ``off_t``, which
        CPython takes for a failure and raises SystemError with no errno set (seen
        on /proc/self/mem, which has FMODE_UNSIGNED_OFFSET like /dev/kmem).
        """
        libc = self._libc_handle()
        lseek = getattr(libc, "lseek64", libc.lseek)
        lseek.restype = ctypes.c_int64
        lseek.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int]
        ctypes.set_errno(0)
        if lseek(fd, _signed(offset), os.SEEK_SET) == -1:
            return ctypes.get_errno() or errno.EINVAL
        return 0

    def _read_errno(self, fd: int, offset: int) -> int:
        try:
            if offset < 1 << 63:
                os.pread(fd, 8, offset)
            else:  # pread(2) rejects negative positions outright; lseek honours FMODE_UNSIGNED_OFFSET
                err = self._lseek_errno(fd, offset)
                if err:
                    return err
                os.read(fd, 8)
        except OSError as exc:
            return exc.errno or errno.EIO
        return 0

    def probe(self, device: str, path: str, offset: int | None) -> DeviceProbe:
        """Open read-only, then mmap one page and read 8 bytes at ``offset``."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            return DeviceProbe(device, offset, exc.errno or errno.EIO)
        try:
            if offset is None:
                return DeviceProbe(device, None, 0)
            return DeviceProbe(
                device, offset, 0, self._mmap_errno(fd, offset), self._read_errno(fd, offset)
            )
        finally:
            os.close(fd)


def probe_offsets(facts: Facts) -> tuple[int | None, int | None]:
    """Physical page for /dev/mem and the matching direct-map address for /dev/kmem."""
    if facts.iomem is None or addresses_hidden(list(facts.iomem)):
        return None, None
    phys = pick_probe_page(list(facts.iomem))
    if phys is None:
        return None, None
    virt: int | None = None
    if facts.kcore_header is not None:
        virt = facts.kcore_header.virtual_address(phys)
    if virt is None:
        randomized = facts.config.enabled("RANDOMIZE_MEMORY") if facts.config is not None else None
        old = facts.version is not None and facts.version < kv.RANDOMIZE_MEMORY
        if old or randomized is False:
            virt = LEGACY_DIRECT_MAP + phys
    return phys, virt


def run_probes(tree: Tree, facts: Facts, prober: Prober) -> tuple[DeviceProbe, ...]:
    """Probe /dev/mem, and /dev/kmem when its node exists."""
    phys, virt = probe_offsets(facts)
    results = [prober.probe(MEM, tree.path(MEM), phys)]
    if facts.kmem_node.present:
        results.append(prober.probe(KMEM, tree.path(KMEM), virt))
    return tuple(results)


_OPEN_CAUSES = {
    errno.ENOENT: ("node", "node missing"),
    errno.ENXIO: ("node", "driver not built (CONFIG_DEVMEM/DEVKMEM off, or kmem on 5.13+)"),
    errno.EACCES: ("privileges", "permission denied (DAC or an LSM)"),
}
_MMAP_CAUSES = {
    errno.EPERM: ("strict-devmem", "STRICT_DEVMEM refused the RAM page"),
    errno.EINVAL: ("pat", "the PAT check refused mmap of RAM"),
    errno.EAGAIN: ("pat", "memtype conflict or remap failure"),
    errno.EIO: ("devkmem-node", "pfn not valid for /dev/kmem"),
    errno.EACCES: ("privileges", "permission denied"),
}
_READ_CAUSES = {
    errno.EPERM: ("strict-devmem", "STRICT_DEVMEM refused the RAM page"),
    errno.EFAULT: ("iomem", "beyond the end of RAM or a fault"),
    errno.EINVAL: ("kernel-version", "offset >= 2^63 rejected (negative loff_t)"),
}


def _eperm_open(state: State) -> tuple[str, str]:
    if state.lockdown.value in ("integrity", "confidentiality"):
        return "lockdown", f"kernel lockdown ({state.lockdown.value})"
    if state.rawio.value is False:
        return "privileges", "no CAP_SYS_RAWIO in the initial user namespace"
    if state.devcg_mem.value is False:
        return "container", "device cgroup denial"
    if state.confidential.value:
        return "confidential-guest", "confidential guest"
    return "lockdown", "lockdown, missing CAP_SYS_RAWIO or a device cgroup"


def _outcome(device: str, op: Op, number: int, state: State) -> Outcome:
    target = Target.NONE if op is Op.OPEN else Target.RAM
    if number == 0:
        return Outcome(device, op, target, True, 0, "", "probe succeeded", source="probe")
    table = {Op.OPEN: _OPEN_CAUSES, Op.MMAP: _MMAP_CAUSES, Op.READ: _READ_CAUSES}[op]
    if op is Op.OPEN and number == errno.EPERM:
        cause, why = _eperm_open(state)
    else:
        cause, why = table.get(number, ("probe", os.strerror(number)))
    if cause == "node":
        cause = "devmem-node" if device == MEM else "devkmem-node"
    return Outcome(device, op, target, False, number, cause, f"probe: {why}", source="probe")


def interpret(result: DeviceProbe, state: State) -> list[Outcome]:
    """Turn one device's probe result into outcomes (open, and mmap/read of RAM if tried)."""
    outcomes = [_outcome(result.device, Op.OPEN, result.open, state)]
    if result.mmap is not None:
        outcomes.append(_outcome(result.device, Op.MMAP, result.mmap, state))
    if result.read is not None:
        outcomes.append(_outcome(result.device, Op.READ, result.read, state))
    return outcomes
