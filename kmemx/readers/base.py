"""The interface every mmap-backed physical memory source implements."""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass, fields
from typing import Any, Callable, Union

import drgn

from .._accel import segread

__all__ = ["Buffer", "PhysicalMemory", "ReadStats", "add_memory_segment", "open_dump"]

#: What a reader hands out: an mmap or a bytes object to unpack from.
Buffer = Union[bytes, bytearray, memoryview, "mmap_type"]

try:  # pragma: no cover - typing only
    from mmap import mmap as mmap_type
except ImportError:  # pragma: no cover
    mmap_type = bytes  # type: ignore[misc,assignment]


@dataclass
class ReadStats:
    """Read telemetry of a :class:`~kmemx.Kernel`.

    ``reads``/``bytes`` count reads through kmemx's API when counting is on
    (``k.stats.counting = True``); the other counters are always kept since
    they are off the hot path.
    """

    counting: bool = False
    reads: int = 0
    bytes: int = 0
    #: virtual pages translated and cached (page-table walks or direct-map hits)
    translations: int = 0
    #: reads served from an mmap
    mmap_hits: int = 0
    #: reads handed to drgn because the mmap path could not serve them
    fallbacks: int = 0
    #: reads that raised FaultError
    faults: int = 0

    def reset(self) -> None:
        for f in fields(self):
            if f.name != "counting":
                setattr(self, f.name, 0)

    def as_dict(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}


class PhysicalMemory(abc.ABC):
    """Physical memory backed by an mmap.

    :meth:`locate` returns a buffer and an offset such that the page holding
    ``paddr`` can be read at ``buf[off : off + 4096]``; readers guarantee
    a whole page behind every successful lookup.
    """

    #: reader name reported as ``k.reader.name``
    name: str = "mmap"

    @abc.abstractmethod
    def locate(self, paddr: int) -> tuple[Buffer, int] | None:
        """Buffer and offset of the start of the page holding ``paddr``, or
        ``None`` when the page is not in the target."""

    @abc.abstractmethod
    def ranges(self) -> list[tuple[int, int]]:
        """Physical ``(start, end)`` ranges that may be present."""

    def why_missing(self, paddr: int) -> str:
        """Why the page holding ``paddr`` is not in the target: the message of
        the :class:`drgn.FaultError` a read there raises."""
        return "could not read memory"

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the mapping."""


def open_dump(path: str) -> tuple[int, int]:
    """``(fd, size)`` of the dump file ``path`` opened read-only; the caller
    closes ``fd``.

    :raises CoreFormatError: the file cannot be opened (one line with the reason)
    """
    from ..errors import CoreFormatError

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        raise CoreFormatError(f"{path}: {e.strerror}") from None
    try:
        return fd, os.fstat(fd).st_size
    except OSError as e:
        os.close(fd)
        raise CoreFormatError(f"{path}: {e.strerror}") from None


def add_memory_segment(prog: drgn.Program, address: int, size: int,
                       read_fn: Callable[[int, int, int, bool], Any], physical: bool) -> None:
    """``prog.add_memory_segment(address, size, read_fn, physical)``, and when
    ``read_fn`` is one of ``kmemx._segread``'s readers, the same reader
    registered with libdrgn as a C callback over it (``_segread.install``):
    drgn then reads without a Python call (about 250 ns a read less).  The
    Python registration keeps the reader alive for the Program's life, and
    stays in charge when this drgn's Program cannot be reached from C.

    :param address: first address of the segment (``uint64_t``, bytes)
    :param size: its length in bytes
    :param read_fn: ``read_fn(address, count, offset, physical) -> bytes``, as
        drgn's ``Program.add_memory_segment`` takes it
    :param physical: a physical segment (else virtual)
    :raises ValueError: from drgn, for a bad range
    """
    prog.add_memory_segment(address, size, read_fn, physical)
    if segread is not None and isinstance(read_fn, (segread.BufferSegment,
                                                    segread.PageSegment)):
        segread.install(prog, address, size, read_fn, physical)
