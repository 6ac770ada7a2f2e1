"""The fallback reader: ``drgn.Program.read``.

Used for targets mmap cannot serve: ``/proc/kcore`` (no mmap), kdump-
compressed dumps (pages must be decompressed) and anything else drgn opens.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DrgnReader"]


class DrgnReader:
    name = "drgn"

    def __init__(self, prog: Any) -> None:
        self.prog = prog
        self.read = prog.read
        self.read_u8 = prog.read_u8
        self.read_u16 = prog.read_u16
        self.read_u32 = prog.read_u32
        self.read_u64 = prog.read_u64
