"""Memory readers: each turns a target into physical (or virtual) bytes.

Fast readers are backed by ``mmap`` and hand out buffers that the hot paths
slice or unpack without a system call:

* :mod:`.elfcore` -- ELF vmcores (kdump, ``makedumpfile -E``, QEMU dumps);
* :mod:`.devmem` -- ``/dev/mem``, mapped in windows over System RAM;
* :mod:`.devkmem` -- ``/dev/kmem`` (kernels up to 5.12 with DEVKMEM);
* :mod:`.drgnreader` -- everything else, through ``drgn.Program.read``.
"""

from .base import PhysicalMemory, ReadStats
from .devkmem import DevKmemMemory
from .devmem import DevMemMemory
from .drgnreader import DrgnReader
from .elfcore import ElfCore, ElfCoreMemory, parse_elf_core

__all__ = [
    "DevKmemMemory",
    "DevMemMemory",
    "DrgnReader",
    "ElfCore",
    "ElfCoreMemory",
    "PhysicalMemory",
    "ReadStats",
    "parse_elf_core",
]
