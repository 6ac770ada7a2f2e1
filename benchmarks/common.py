"""Shared benchmark plumbing: fixture lookup, timing, the ratio report."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

__all__ = ["CLOCK", "Result", "fixture_paths", "report", "timeit", "timeit_pair"]

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def fixture_paths(argv: list[str] | None = None) -> tuple[Path, Path, argparse.Namespace]:
    """(vmcore, vmlinux, args) from ``--core/--vmlinux`` or the test-bed cache."""
    from tests.fixtures.fixture import load_fixture

    p = argparse.ArgumentParser()
    p.add_argument("--core", type=Path)
    p.add_argument("--vmlinux", type=Path)
    p.add_argument("--json", action="store_true", help="print results as JSON")
    args = p.parse_args(argv)
    if args.core and args.vmlinux:
        return args.core, args.vmlinux, args
    fx = load_fixture()
    if fx is None:
        sys.exit("benchmark: no fixture; run ./scripts/test or python -m tests.fixtures build")
    return fx.core("elf"), fx.vmlinux, args


def timeit(fn: Callable[[], Any], repeat: int = 5, min_time: float = 0.2) -> float:
    """Best time of ``repeat`` runs of ``fn`` (each at least ``min_time`` s of loops)."""
    fn()  # warm up (caches, page faults)
    return min(_per_call(fn, min_time) for _ in range(repeat))


#: ``KMEMX_BENCH_CLOCK=cpu``: time with the thread's CPU clock instead of the
#: wall clock.  On a machine whose other jobs keep both cores busy, a loop's
#: wall time is mostly the time it waited for a core (a 1 ms ``ps`` read 9 ms at
#: load 8, niced); its CPU time is what it cost.  Tables say which clock.
CLOCK = time.thread_time if os.environ.get("KMEMX_BENCH_CLOCK") == "cpu" else time.perf_counter


def _per_call(fn: Callable[[], Any], min_time: float) -> float:
    """Mean time of one call of ``fn`` over a loop of at least ``min_time`` s."""
    n = 0
    clock = CLOCK
    start = clock()
    while True:
        fn()
        n += 1
        el = clock() - start
        if el >= min_time:
            return el / n


def timeit_pair(kmemx_fn: Callable[[], Any], drgn_fn: Callable[[], Any], repeat: int = 5,
                min_time: float = 0.2) -> tuple[float, float]:
    """Best times of ``kmemx_fn`` and ``drgn_fn``, measured in alternation
    (kmemx, drgn, kmemx, ...) so that both see the same machine: on a shared
    VM the speed drifts over seconds, and timing one after the other would
    put that drift into the ratio."""
    kmemx_fn()
    drgn_fn()
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for i, fn in enumerate((kmemx_fn, drgn_fn)):
            best[i] = min(best[i], _per_call(fn, min_time))
    return best[0], best[1]


class Result:
    def __init__(self, name: str, kmemx_s: float, drgn_s: float, target: float | None,
                 unit: str = "") -> None:
        self.name, self.kmemx_s, self.drgn_s, self.target, self.unit = (
            name, kmemx_s, drgn_s, target, unit)

    @property
    def ratio(self) -> float:
        return self.drgn_s / self.kmemx_s if self.kmemx_s else float("inf")

    @property
    def ok(self) -> bool:
        return self.target is None or self.ratio >= self.target

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "(for information)"
        return f">= {self.target:g}x {'ok' if self.ok else 'MISSED'}"


def report(results: list[Result], as_json: bool = False) -> int:
    """Print the table of ratios; return 1 when a target is missed."""
    if as_json:
        print(json.dumps([{"name": r.name, "kmemx_s": r.kmemx_s, "drgn_s": r.drgn_s,
                           "ratio": round(r.ratio, 2), "target": r.target, "ok": r.ok}
                          for r in results], indent=1))
    else:
        w = max(len(r.name) for r in results)
        print(f"{'benchmark':<{w}}  {'kmemx':>12}  {'drgn':>12}  {'ratio':>8}  target")
        for r in results:
            print(f"{r.name:<{w}}  {r.kmemx_s * 1e3:>10.3f}ms  {r.drgn_s * 1e3:>10.3f}ms  "
                  f"{r.ratio:>7.1f}x  {r.verdict}")
    return 0 if all(r.ok for r in results) else (1 if os.environ.get("KMEMX_BENCH_STRICT")
                                                  else 0)
