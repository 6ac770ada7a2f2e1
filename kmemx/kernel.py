"""The :class:`Kernel`: a target, its drgn Program, and kmemx's fast reader."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Union

from ._accel import speedups
from .errors import FaultError, fault
from .memory import AddressSpace
from .readers.base import PhysicalMemory, ReadStats
from .readers.drgnreader import DrgnReader
from .types.view import View, global_view, make_view
from .vmcoreinfo import Vmcoreinfo

if TYPE_CHECKING:
    import drgn

__all__ = ["Kernel"]

_U8 = struct.Struct("<B").unpack_from
_U16 = struct.Struct("<H").unpack_from
_U32 = struct.Struct("<I").unpack_from
_U64 = struct.Struct("<Q").unpack_from

Reader = Union[PhysicalMemory, DrgnReader]


class Kernel:
    """A kernel being debugged (a vmcore or the live kernel).

    ``k.prog`` is the :class:`drgn.Program` for types, symbols and helpers;
    kmemx's reader sits underneath it, so drgn Objects read through the same
    fast path.  Reads raise :class:`drgn.FaultError` for unreadable memory.
    """

    def __init__(self, prog: drgn.Program, reader: Reader, space: AddressSpace | None,
                 vmcoreinfo: Vmcoreinfo | None, stats: ReadStats,
                 target: str = "") -> None:
        self.prog = prog
        self.reader = reader
        self.space = space
        self.vmcoreinfo = vmcoreinfo
        self.stats = stats
        self.target = target
        if space is None:
            self._pages: dict[int, Any] = {}
        else:
            self._pages = space.pages
        self._prog_read = prog.read
        prog.cache["kmemx.kernel"] = self
        #: the memory changes under us: walkers read ahead less
        self.is_live = target == "live"
        self._view_classes: dict[str, Any] = {}
        if speedups is not None:
            # C callables shadow read_u8..read_u64: the page-cache hit is one C call
            for size, name in ((1, "read_u8"), (2, "read_u16"), (4, "read_u32"),
                               (8, "read_u64"), (8, "read_word")):
                setattr(self, name, speedups.UIntReader(self._pages, size,
                                                         getattr(self, name)))
            # k.view("struct x", addr) of a name seen before is one C call
            self.view = speedups.ViewFactory(  # type: ignore[method-assign]
                self._view_classes, self, self.view)

    # -- raw reads ----------------------------------------------------------------
    def read(self, addr: int, size: int, physical: bool = False) -> bytes:
        """Read ``size`` bytes at ``addr`` (virtual unless ``physical``).

        Addresses wrap at 2**64 like C pointer arithmetic (a garbage pointer plus
        a member offset then faults instead of overflowing)."""
        addr &= 0xFFFFFFFFFFFFFFFF
        st = self.stats
        if st.counting:
            st.reads += 1
            st.bytes += size
        if self.space is not None:
            try:
                data = self.space.read(addr, size, physical)
                st.mmap_hits += 1
                return data
            except FaultError:
                pass
            st.fallbacks += 1
        data2: bytes = self._prog_read(addr, size, physical)
        return data2

    def read_dump_file(self, offset: int, size: int) -> bytes:
        """``size`` bytes of the dump file itself at byte ``offset`` (crash's
        FILEADDR: ``rd -f``), whatever its format: headers, bitmaps,
        compressed pages as they are stored.

        :raises KmemxError: the target is not a dump file (live, or a
            program with no core dump).
        :raises drgn.FaultError: bytes past the file's end, at the first one.
        """
        import os

        from .errors import KmemxError

        path = self.target
        if self.is_live or not path or not os.path.isfile(path):
            raise KmemxError("a dump file offset needs a dump file (the target is "
                             f"{'the live kernel' if self.is_live else path or 'a program'})")
        with open(path, "rb") as f:
            data = os.pread(f.fileno(), size, offset)
        if len(data) < size:
            raise fault(offset + len(data),
                        f"past the end of the dump file ({os.path.getsize(path)} bytes)")
        return data

    def _slow(self, addr: int, size: int) -> tuple[Any, int]:
        """Buffer and offset to unpack ``size`` bytes at ``addr`` from."""
        if self.space is not None and (addr & 0xFFF) + size <= 4096:
            try:
                buf, base = self.space.page(addr)
                return buf, base + (addr & 0xFFF)
            except FaultError:
                self.stats.fallbacks += 1
        return self._prog_read(addr & 0xFFFFFFFFFFFFFFFF, size, False), 0

    def read_u8(self, addr: int) -> int:
        p = self._pages.get(addr >> 12)
        if p is None:
            p = self._slow(addr, 1)
            return _U8(p[0], p[1])[0]  # type: ignore[no-any-return]
        return _U8(p[0], p[1] + (addr & 0xFFF))[0]  # type: ignore[no-any-return]

    def read_u16(self, addr: int) -> int:
        p = self._pages.get(addr >> 12)
        o = addr & 0xFFF
        if p is None or o > 4094:
            p = self._slow(addr, 2)
            return _U16(p[0], p[1])[0]  # type: ignore[no-any-return]
        return _U16(p[0], p[1] + o)[0]  # type: ignore[no-any-return]

    def read_u32(self, addr: int) -> int:
        p = self._pages.get(addr >> 12)
        o = addr & 0xFFF
        if p is None or o > 4092:
            p = self._slow(addr, 4)
            return _U32(p[0], p[1])[0]  # type: ignore[no-any-return]
        return _U32(p[0], p[1] + o)[0]  # type: ignore[no-any-return]

    def read_u64(self, addr: int) -> int:
        p = self._pages.get(addr >> 12)
        o = addr & 0xFFF
        if p is None or o > 4088:
            p = self._slow(addr, 8)
            return _U64(p[0], p[1])[0]  # type: ignore[no-any-return]
        return _U64(p[0], p[1] + o)[0]  # type: ignore[no-any-return]

    read_word = read_u64

    # -- typed views ------------------------------------------------------------
    def view(self, type: Any, address: int) -> View:
        """A typed view of ``type`` (a name like ``"struct task_struct"`` or a
        :class:`drgn.Type`) at ``address``."""
        cls = self._view_classes.get(type) if type.__class__ is str else None
        if cls is not None:
            return cls(self, address)  # type: ignore[no-any-return]
        v: View = make_view(self, type, address)
        if type.__class__ is str and isinstance(v, View) and not v._is_pointer:
            self._view_classes[type] = v.value_class
        return v

    def object(self, name: str) -> View:
        """A view of the global variable ``name`` (``k.object("init_task")``).

        :raises LookupError: no such variable
        :raises drgn.FaultError: it cannot be read (the message names it, as
            crash's ``type: "nr_cpu_ids"``, so a command's one error line
            says what it was reading)"""
        try:
            v: View = global_view(self, name)
        except FaultError as e:
            raise fault(e.address, f"{name}: {e.message}") from None
        return v

    def sizeof(self, type: Any) -> int:
        from .types.layout import resolve_type

        return int(resolve_type(self.prog, type).size or 0)

    def offsetof(self, type: Any, member: str) -> int:
        from .types.layout import layout_for, resolve_type

        return layout_for(self.prog, resolve_type(self.prog, type)).offsetof(member)

    # -- misc ---------------------------------------------------------------------
    @property
    def release(self) -> str:
        if self.vmcoreinfo is not None and self.vmcoreinfo.osrelease:
            return self.vmcoreinfo.osrelease
        return str(self.prog["UTS_RELEASE"].string_().decode())

    def __repr__(self) -> str:
        return f"<kmemx.Kernel {self.target or 'target'} reader={self.reader.name}>"

    def new_epoch(self) -> None:
        """Start a new pass over a live kernel: a reader with a page cache
        (``/proc/kcore``'s, :mod:`kmemx.readers.kcore`) forgets its pages, so what
        follows sees the kernel as it is now.  Every command starts one; a no-op
        for dumps and mapped devices."""
        fn = getattr(self.reader, "new_epoch", None)
        if fn is not None:
            fn()

    def close(self) -> None:
        from .types.layoutcache import close as close_layouts

        close_layouts(self.prog)  # what a layout-cached program looked up is saved
        # emptied before the dump is unmapped: the C fast paths' mirror of
        # the page cache holds while the dict is unchanged (kmemx/_speedups.c)
        self._pages.clear()
        if isinstance(self.reader, PhysicalMemory):
            self.reader.close()
