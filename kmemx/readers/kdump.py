"""The headers of a kdump-compressed vmcore (makedumpfile's format).

kmemx reads kdump-compressed dumps through drgn (libkdumpfile); this module
only finds the VMCOREINFO text in the headers, so that a dump drgn refuses
can be explained by the line that is damaged.  Layout, from makedumpfile's
``diskdump_mod.h``: ``struct disk_dump_header`` (signature ``"KDUMP   "``,
``header_version`` at 8, ``block_size`` at 428), then at ``block_size``
``struct kdump_sub_header`` with ``offset_vmcoreinfo`` at 32 and
``size_vmcoreinfo`` at 40 (header version 3 and later).
"""

from __future__ import annotations

import os
import struct

__all__ = ["kdump_vmcoreinfo"]

_SIGNATURE = b"KDUMP   "
_VERSION = struct.Struct("<i")
_BLOCK_SIZE_AT = 428
_VMCOREINFO_AT = 32
_OFF_SIZE = struct.Struct("<qQ")
#: sanity bounds: VMCOREINFO is a few KiB (the kernel's buffer is one page)
MAX_VMCOREINFO = 1 << 20
MAX_BLOCK_SIZE = 1 << 24


def kdump_vmcoreinfo(path: str) -> bytes | None:
    """The VMCOREINFO text of the kdump-compressed dump ``path``, or None when
    the headers do not hold one (too old a header, or damaged offsets)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, _BLOCK_SIZE_AT + 4, 0)
        if len(head) < _BLOCK_SIZE_AT + 4 or head[:8] != _SIGNATURE:
            return None
        if _VERSION.unpack_from(head, 8)[0] < 3:
            return None
        block = _VERSION.unpack_from(head, _BLOCK_SIZE_AT)[0]
        if not 0 < block <= MAX_BLOCK_SIZE:
            return None
        sub = os.pread(fd, _OFF_SIZE.size, block + _VMCOREINFO_AT)
        if len(sub) < _OFF_SIZE.size:
            return None
        off, n = _OFF_SIZE.unpack(sub)
        if off <= 0 or not 0 < n <= MAX_VMCOREINFO or off + n > size:
            return None
        data = os.pread(fd, n, off)
        return data if len(data) == n else None
    except OSError:
        return None
    finally:
        os.close(fd)
