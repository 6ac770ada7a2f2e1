"""A dump's task table: the task walk and what ``ps`` reads of each task
are read once per dump and kept (crash's task table, which task.c's
``refresh_xarray_task_table()`` builds once for a dump file); a live kernel
is walked every time.  Kept tables must give what a fresh walk gives."""

from __future__ import annotations

from typing import Any

import pytest

import kmemx
from kmemx.commands import REGISTRY, Context, load_plugins, run_pipeline
from kmemx.helpers.sched import for_each_task
from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore

TASK_TABLE = "kmemx.helpers.sched.task_table"
PS_TABLE = "kmemx.plugins.tasks.ps_table"


def _open(fixture: Fixture, variant: str) -> Any:
    if not fixture.has(variant):
        pytest.skip(fixture.skip_reason(variant))
    load_plugins()
    return kmemx.open(fixture.core(variant), fixture.vmlinux)


def _ps(k: Any) -> list[tuple[Any, ...]]:
    ctx = Context(k, REGISTRY)
    rows = [(r.columns, r.cells, tuple(type(c).__name__ for c in r.cells),
             type(r.obj).__name__, r.obj.address)
            for r in run_pipeline(ctx, "ps").items]
    assert not ctx.errors, ctx.errors
    return rows


@pytest.mark.parametrize("variant", ["elf", "kdump"])
def test_task_walk_is_kept_on_a_dump(fixture: Fixture, variant: str) -> None:
    k = _open(fixture, variant)
    first = [t.address for t in for_each_task(k)]
    table = k.prog.cache[TASK_TABLE]
    again = list(for_each_task(k))
    assert all(a is b for a, b in zip(again, table)) and len(again) == len(table)
    assert [t.address for t in again] == first
    # the same tasks, in the same order, as a walk of a fresh program
    assert [t.address for t in for_each_task(_open(fixture, variant))] == first
    assert len(first) == len({*first}) > 1


@pytest.mark.parametrize("variant", ["elf", "kdump"])
def test_ps_from_the_kept_table_equals_a_fresh_read(fixture: Fixture, variant: str) -> None:
    k = _open(fixture, variant)
    first = _ps(k)
    assert PS_TABLE in k.prog.cache
    assert _ps(k) == first  # from the table
    fresh = _open(fixture, variant)
    fresh.is_live = True  # read as a live kernel is: nothing kept
    assert _ps(fresh) == first
    assert TASK_TABLE not in fresh.prog.cache and PS_TABLE not in fresh.prog.cache
    # every task of the guest's /proc
    pids = sorted(c[0] for _cols, c, _types, _t, _a in first if c[0])
    assert pids == sorted(t["pid"] for t in fixture.manifest["tasks"])
