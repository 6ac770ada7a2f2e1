"""The ``struct page`` array (vmemmap), read in chunks and decoded with numpy.

Every whole-memory question (which pages are slabs, how many pages are
shared) is one pass over ``vmemmap[0 .. max_pfn)``: 2 MiB of ``struct page``
per read, decoded as a numpy structured array holding only the members the
caller asks for.  A chunk that cannot be read (a filtered dump, a hole in
the vmemmap) is reported as a pfn range and skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import FaultError
from ..kernel import Kernel

if TYPE_CHECKING:  # numpy is imported where it is used: it costs 0.15 s at start-up
    import numpy as np

__all__ = ["PageArray", "page_array", "page_chunks"]

#: bytes of ``struct page`` per read (one 2 MiB vmemmap page)
CHUNK = 2 << 20


@dataclass(frozen=True)
class PageArray:
    """Where ``struct page``s are: ``vmemmap`` (``vmemmap_base``), the size of
    one, and ``max_pfn``."""

    vmemmap: int
    page_size: int
    max_pfn: int
    #: the first pfn of RAM (``min_low_pfn``): 0 on x86-64, memblock's start on arm64
    min_pfn: int = 0


def page_array(k: Kernel) -> PageArray:
    """The vmemmap of ``k`` (cached per program).

    ``vmemmap`` is drgn's (``prog["vmemmap"]``: ``vmemmap_base`` on x86-64,
    ``VMEMMAP_START - (memstart_addr >> PAGE_SHIFT) * sizeof(struct page)``
    on arm64).

    :raises LookupError: drgn cannot tell where the vmemmap is
    """
    cached: PageArray | None = k.prog.cache.get("kmemx.helpers.pages.array")
    if cached is None:
        cached = PageArray(int(k.prog["vmemmap"]) & 0xFFFFFFFFFFFFFFFF,
                           k.sizeof("struct page"), int(k.prog["max_pfn"]),
                           int(k.prog["min_low_pfn"]))
        k.prog.cache["kmemx.helpers.pages.array"] = cached
    return cached


def page_chunks(k: Kernel, members: dict[str, tuple[int, str]],
                unreadable: list[tuple[int, int]] | None = None,
                progress: Callable[[int, int], None] | None = None
                ) -> Iterator[tuple[int, np.ndarray[Any, Any]]]:
    """``(first pfn, array)`` for every chunk of ``struct page``s, the array a
    numpy structured array with the ``members`` asked for: ``{name: (offset
    in struct page, numpy format such as "<u8")}``.  Chunks that cannot be
    read are appended to ``unreadable`` as ``(start pfn, end pfn)`` (or
    skipped silently when it is None).  ``progress(pfns done, max_pfn)`` is
    called after each chunk."""
    import numpy as np
    pa = page_array(k)
    names = list(members)
    dt = np.dtype({"names": names, "formats": [members[n][1] for n in names],
                   "offsets": [members[n][0] for n in names], "itemsize": pa.page_size})
    per_chunk = CHUNK // pa.page_size
    for start in range(pa.min_pfn // per_chunk * per_chunk, pa.max_pfn, per_chunk):
        n = min(per_chunk, pa.max_pfn - start)
        try:
            raw = k.read(pa.vmemmap + start * pa.page_size, n * pa.page_size)
        except FaultError:
            if unreadable is not None:
                unreadable.append((start, start + n))
            continue
        yield start, np.frombuffer(raw, dtype=dt, count=n)
        if progress is not None:
            progress(start + n, pa.max_pfn)
