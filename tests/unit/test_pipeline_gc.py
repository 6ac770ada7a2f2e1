"""gc_paused: a command's items come out unchanged, errors after the items
produced before them, and the collector is always switched back on."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kmemx.commands.pipeline import gc_paused


def produce(n: int, fail_at: int | None = None) -> Iterator[int]:
    for i in range(n):
        if i == fail_at:
            raise RuntimeError(f"bad object {i}")
        assert not gc.isenabled()  # produced with the collector paused
        yield i


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 100])
def test_items_unchanged(n: int) -> None:
    assert list(gc_paused(produce(n), batch=8)) == list(range(n))
    assert gc.isenabled()


def test_error_comes_after_the_items_before_it() -> None:
    got: list[int] = []
    with pytest.raises(RuntimeError, match="bad object 13"):
        for x in gc_paused(produce(100, fail_at=13), batch=8):
            assert gc.isenabled()  # the consumer runs with the collector on
            got.append(x)
    assert got == list(range(13))
    assert gc.isenabled()


def test_interrupt_still_stops() -> None:
    def interrupted() -> Iterator[int]:
        yield 1
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        assert list(gc_paused(interrupted(), batch=8)) == [1]
    assert gc.isenabled()


def test_collector_left_off_stays_off() -> None:
    gc.disable()
    try:
        assert list(gc_paused(iter(range(5)))) == [0, 1, 2, 3, 4]
        assert not gc.isenabled()
    finally:
        gc.enable()
