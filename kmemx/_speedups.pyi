"""Type stubs of the optional C module (kmemx/_speedups.c)."""

from typing import Any, Callable

K_INT: int
K_BOOL: int
K_VIEW: int
K_CALL: int
K_ENUM: int
K_ARRAY: int
# the kinds of a read_members() spec item: defined in kmemx/types/spec.py
SPEC_UNSIGNED: int
SPEC_SIGNED: int
SPEC_STRING: int
SPEC_FOLLOW: int
SPEC_FOLLOW_INLINE: int
SPEC_S64_PLUS_S32S: int

class ViewBase:
    _k: Any
    _a: int
    def __init__(self, k: Any, address: int, /) -> None: ...

class ArrayBase:
    _k: Any
    _a: int
    _spec: Any
    def __new__(cls, k: Any, address: int, spec: Any, /) -> ArrayBase: ...
    def string(self) -> bytes: ...

class Field:
    fget: Callable[[Any], Any]
    name: str
    def __init__(self, name: str, offset: int, size: int, signed: bool, kind: int,
                 pages: dict[int, Any], wrap: Any, extra: Any,
                 fget: Callable[[Any], Any], doc: str | None = ...) -> None: ...
    def __get__(self, obj: Any, owner: Any = ...) -> Any: ...

class RowBase:
    columns: tuple[str, ...]
    cells: tuple[Any, ...]
    obj: Any
    def __init__(self, columns: Any, cells: Any, obj: Any = None) -> None: ...

class ViewFactory:
    def __init__(self, classes: dict[str, type[Any]], k: Any,
                 slow: Callable[[Any, int], Any]) -> None: ...
    def __call__(self, type: Any, address: int, /) -> Any: ...

class UIntReader:
    def __init__(self, pages: dict[int, Any], size: int, slow: Callable[[int], int]) -> None: ...
    def __call__(self, addr: int, /) -> int: ...

def walk_links(pages: dict[int, Any], node: int, head: int, link_off: int, count: int,
               out: list[int], /) -> int: ...
def cell_rows(row_type: type[Any], columns: tuple[str, ...], cell_type: Any,
              values: list[Any], /) -> list[Any]: ...
def ps_rows(env: tuple[Any, ...], tasks: list[Any], raws: list[Any], active: set[int],
            split: dict[int, list[int]], /) -> tuple[list[Any], list[int | None]]: ...
def rss_event_sums(batches: list[list[Any]], at: int, /) -> dict[int, list[int]] | None: ...
def thread_nodes(pages: dict[int, Any], nodes: list[int], sig: int, head_off: int,
                 limit: int, /) -> list[int] | None: ...
def take_until(iterator: Any, n: int, sentinel: Any, /
               ) -> tuple[list[Any], bool, BaseException | None]: ...
def gather_u64(pages: dict[int, Any], addrs: list[int | None], off: int, /
               ) -> list[int | None]: ...
def make_views(cls: type[Any], k: Any, nodes: list[int], off: int,
               prefetch: tuple[int, ...] = ..., /) -> list[Any]: ...
def read_members(pages: dict[int, Any], addr: int,
                 spec: tuple[tuple[Any, ...], ...], /) -> tuple[Any, ...] | None: ...
def read_members_many(pages: dict[int, Any], addrs: list[int],
                      spec: tuple[tuple[Any, ...], ...], /) -> list[tuple[Any, ...] | None]: ...
