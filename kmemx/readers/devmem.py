"""``/dev/mem``: physical memory of the running kernel, mmap'ed read-only.

Opened ``O_RDONLY`` and mapped ``PROT_READ``/``MAP_SHARED``; never
``O_SYNC``, which would map RAM uncached and alias the kernel's write-back
direct map.  Only "System RAM" ranges are mapped, in windows on demand.

Since 5.8 the kernel revokes ``/dev/mem`` mappings of a range a driver
claims; touching a revoked mapping raises SIGBUS, which Python cannot turn
into an exception.  System RAM is claimed only by memory hot-unplug
(virtio-mem, dax/kmem), so kmemx maps only System RAM and reads other
physical ranges through drgn.
"""

from __future__ import annotations

import errno
import mmap
import os

from ..errors import LiveAccessError
from .base import Buffer
from .windowed import WindowedMemory, parse_iomem_ram

__all__ = ["DevMemMemory"]


_MMAP_WHY = {
    "EPERM": " (CONFIG_STRICT_DEVMEM refuses RAM above 1 MiB)",
    "EINVAL": " (the x86 PAT check refuses RAM: boot with nopat or run Linux >= 6.16)",
}


def lockdown_note(dev_path: str = "/dev/mem") -> str:
    """`` (kernel lockdown: MODE)`` when the kernel is locked down, else ``""``."""
    root = os.path.dirname(os.path.dirname(dev_path))
    try:
        with open(os.path.join(root, "sys/kernel/security/lockdown")) as f:
            text = f.read()
    except OSError:
        return ""
    mode = text[text.find("[") + 1:text.find("]")] if "[" in text else ""
    return f" (kernel lockdown: {mode})" if mode and mode != "none" else ""


class DevMemMemory(WindowedMemory):
    name = "mmap-devmem"

    def __init__(self, path: str = "/dev/mem", ranges: list[tuple[int, int]] | None = None,
                 iomem: str = "/proc/iomem") -> None:
        if ranges is None:
            try:
                with open(iomem) as f:
                    ranges = parse_iomem_ram(f.read())
            except OSError as e:
                raise LiveAccessError(f"{iomem}: {e.strerror}") from None
            if not ranges:
                raise LiveAccessError(f"{iomem} shows no System RAM addresses "
                                      "(they are hidden without CAP_SYS_ADMIN)")
        super().__init__(ranges)
        self.path = path
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            why = (" (CONFIG_DEVMEM is not set)" if e.errno == errno.ENXIO
                   else lockdown_note(path) if e.errno == errno.EPERM else "")
            raise LiveAccessError(f"{path}: {e.strerror}{why}; run 'kmemx doctor'") from None
        self.errors: dict[int, int] = {}

    def _map(self, start: int, length: int) -> Buffer | None:
        try:
            return mmap.mmap(self.fd, length, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ,
                             offset=start)
        except OSError as e:
            self.errors[start] = e.errno or 0
            return None

    def probe(self) -> None:
        """Map one page of RAM above 1 MiB, or raise :class:`LiveAccessError`
        with the errno (EPERM: STRICT_DEVMEM; EINVAL: the x86 PAT check)."""
        for s, e in self._ranges:
            s = max(s, 1 << 20)
            if s < e:
                try:
                    m = mmap.mmap(self.fd, 4096, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ,
                                  offset=s)
                except OSError as err:
                    code = errno.errorcode.get(err.errno or 0, str(err.errno))
                    raise LiveAccessError(f"{self.path}: mmap of RAM at {s:#x} failed with "
                                          f"{code}{_MMAP_WHY.get(code, '')}; "
                                          "run 'kmemx doctor'") from None
                m.close()
                return
        raise LiveAccessError(f"{self.path}: no System RAM above 1 MiB to map")

    def close(self) -> None:
        for entry in self._windows.values():
            if entry is not None and isinstance(entry[0], mmap.mmap):
                entry[0].close()
        self._windows.clear()
        os.close(self.fd)
