"""``kmemx triage`` of 50 dumps of one kernel build against a shell loop of
drgn one-shot scripts printing the same fields (issue #16's target: at least
5x faster), whole processes, medians of the runs taken in alternation.

    python -m benchmarks.bench_triage [--core-dir FIXTURE_DIR] [--runs N] [--dumps 50]

The 50 dumps are symbolic links to the fixture's dumps of one build, taken in
turn from its variants (vmcore.elf, vmcore.kdump, vmcore-panic.elf: plain,
kdump-compressed and panicked), so a third of them have a crashed task whose
stack is unwound.  drgn's side is ``for f in DUMPS; do drgn -q -c $f -s
VMLINUX benchmarks/triage_drgn.py; done`` (release, build ID, panic, taint,
uptime, task states, D-state tasks, oops/OOM/lockup log lines, memory
summary, top 5 slab caches, crashed task and stack); kmemx's is one ``kmemx
triage DUMPS -s VMLINUX --json`` process with a warm layout cache (warmed by
the first, reported, run).  Besides wall time, the CPU time of each side's
processes (user + system, from ``getrusage(RUSAGE_CHILDREN)``) is reported:
on a shared, loaded machine it moves less than wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["TARGET", "VARIANTS", "main"]

#: drgn loop / kmemx triage must be at least this
TARGET = 5.0
#: the fixture's dumps the 50 links point to, in turn
VARIANTS = ("vmcore.elf", "vmcore.kdump", "vmcore-panic.elf")
HERE = Path(__file__).resolve().parent


def _tool(name: str) -> str:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else (shutil.which(name) or name)


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the process and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    p = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"bench_triage: {argv[0]} failed ({p.returncode}): "
                 f"{p.stderr.decode(errors='replace').strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--core-dir", type=Path, help="a fixture directory (vmlinux and dumps)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--dumps", type=int, default=50)
    p.add_argument("--jobs", type=int, default=1, help="kmemx triage --jobs")
    args = p.parse_args(argv)
    d = args.core_dir
    if d is None:
        sys.path.insert(0, str(HERE.parent))
        from tests.fixtures.fixture import load_fixture

        fx = load_fixture()
        if fx is None:
            sys.exit("bench_triage: no fixture; python -m tests.fixtures build PACKAGE")
        d = Path(fx.vmlinux).parent
    vmlinux = d / "vmlinux"
    variants = [d / v for v in VARIANTS if (d / v).exists()]
    tmp = Path(tempfile.mkdtemp(prefix="kmemx-bench-triage-"))
    try:
        dumps = []
        for i in range(args.dumps):
            link = tmp / f"dump{i:03d}-{variants[i % len(variants)].name}"
            link.symlink_to(variants[i % len(variants)])
            dumps.append(str(link))
        env = {**os.environ, "KMEMX_LAYOUT_DIR": str(tmp / "layouts"), "KMEMX_PROGRESS": "0"}
        kmemx_argv = [_tool("kmemx"), "triage", *dumps, "-s", str(vmlinux), "--json",
                      "--jobs", str(args.jobs)]
        loop = ('for f in "$@"; do "$DRGN" -q -c "$f" -s "$VMLINUX" "$SCRIPT" '
                '|| exit 1; done')
        drgn_argv = ["bash", "-c", loop, "loop", *dumps]
        denv = {**env, "DRGN": _tool("drgn"), "VMLINUX": str(vmlinux),
                "SCRIPT": str(HERE / "triage_drgn.py")}
        cold = _timed(kmemx_argv, env)  # writes the layout cache and its unwinding file
        k_wall: list[float] = []
        k_cpu: list[float] = []
        d_wall: list[float] = []
        d_cpu: list[float] = []
        for _ in range(args.runs):
            w, c = _timed(kmemx_argv, env)
            k_wall.append(w)
            k_cpu.append(c)
            w, c = _timed(drgn_argv, denv)
            d_wall.append(w)
            d_cpu.append(c)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    kw, kc = statistics.median(k_wall), statistics.median(k_cpu)
    dw, dc = statistics.median(d_wall), statistics.median(d_cpu)
    print(f"{len(dumps)} dumps of {vmlinux.parent.name}: "
          + ", ".join(f"{sum(1 for x in dumps if x.endswith(v.name))} x {v.name}"
                      for v in variants))
    print(f"kmemx triage, first run (cold layout cache): {cold[0]:.2f} s wall, "
          f"{cold[1]:.2f} s CPU")
    print(f"kmemx triage --jobs {args.jobs}, warm:  median {kw:.2f} s wall, {kc:.2f} s CPU  "
          f"(wall runs {' '.join(f'{x:.2f}' for x in k_wall)})")
    print(f"drgn one-shot loop:          median {dw:.2f} s wall, {dc:.2f} s CPU  "
          f"(wall runs {' '.join(f'{x:.2f}' for x in d_wall)})")
    ratio = dw / kw
    verdict = "ok" if ratio >= TARGET else "MISSED"
    print(f"ratio drgn loop / kmemx triage: {ratio:.1f}x wall (target >= {TARGET}x): {verdict}; "
          f"{dc / kc:.1f}x CPU")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
