"""Start-up of a one-shot command: ``kmemx -c VMCORE -s VMLINUX ps`` with a warm
layout cache against ``drgn -c VMCORE -s VMLINUX -e pass`` (issue #16's target:
at most 0.5x), whole processes, medians of 5 runs taken in alternation (kmemx
warm, kmemx cold, drgn, ...) so that both see the same machine.  CPU time
(user + system) is reported too: on a loaded machine it moves less.

    python -m benchmarks.bench_startup [--core VMCORE --vmlinux VMLINUX] [--runs N]

kmemx's bytecode is compiled first (as ``pip install`` does; an editable
install under PYTHONDONTWRITEBYTECODE would recompile every changed module on
each run).  The layout cache lives in a temporary ``KMEMX_LAYOUT_DIR`` (warmed
by one run first); "cold" is the same command with ``KMEMX_LAYOUT_CACHE=0`` (DWARF loaded,
as without the cache).  ``ps``'s output is checked to be the same in the three
kmemx runs' first round.
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

__all__ = ["TARGET", "main", "run_once"]

#: kmemx warm / drgn -e pass must be at most this
TARGET = 0.5
#: CPU seconds (user + system) of each process run, in order
CPU: list[float] = []


def _tool(name: str) -> str:
    """The console script ``name`` next to this interpreter (no pyenv shim)."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else (shutil.which(name) or name)


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, bytes]:
    """Wall time of one process and its standard output (its CPU time is
    added to :data:`CPU`)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    p = subprocess.run(argv, env=env, capture_output=True, check=False)
    el = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    if p.returncode != 0:
        sys.exit(f"bench_startup: {' '.join(argv)} failed ({p.returncode}): "
                 f"{p.stderr.decode(errors='replace').strip()}")
    return el, p.stdout


def main(argv: list[str] | None = None) -> int:
    from benchmarks.common import fixture_paths

    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    own, rest = p.parse_known_args(argv)
    core, vmlinux, _ = fixture_paths(rest)
    tmp = tempfile.mkdtemp(prefix="kmemx-layouts-")
    try:
        # as an installed kmemx runs: with its bytecode cached (pip compiles it at
        # install; PYTHONDONTWRITEBYTECODE would make every run compile the
        # modules changed since, 70 ms of a 200 ms process); drgn's is cached
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        import compileall

        for pkg in ("kmemx", "kmemx_plugins"):
            mod = sys.modules.get(pkg) or __import__(pkg)
            compileall.compile_dir(os.path.dirname(mod.__file__ or ""), quiet=1)
        warm_env = {**env, "KMEMX_LAYOUT_DIR": tmp, "KMEMX_PROGRESS": "0"}
        cold_env = {**warm_env, "KMEMX_LAYOUT_CACHE": "0"}
        kmemx_ps = [_tool("kmemx"), "-q", "-c", str(core), "-s", str(vmlinux), "ps"]
        drgn_pass = [_tool("drgn"), "-q", "-c", str(core), "-s", str(vmlinux), "-e", "pass"]
        first, out_first = run_once(kmemx_ps, warm_env)  # writes the cache
        times: dict[str, list[float]] = {"warm": [], "cold": [], "drgn": []}
        cpu: dict[str, list[float]] = {"warm": [], "cold": [], "drgn": []}
        for i in range(own.runs):
            t, out_warm = run_once(kmemx_ps, warm_env)
            times["warm"].append(t)
            cpu["warm"].append(CPU[-1])
            t, out_cold = run_once(kmemx_ps, cold_env)
            times["cold"].append(t)
            cpu["cold"].append(CPU[-1])
            times["drgn"].append(run_once(drgn_pass, warm_env)[0])
            cpu["drgn"].append(CPU[-1])
            if i == 0 and not out_first == out_warm == out_cold:
                sys.exit("bench_startup: ps printed differently with the layout cache")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["warm"] / med["drgn"]
    print(f"dump: {core}")
    print(f"first run (writes the layout cache): {first:.3f} s")
    for name, label in (("warm", "kmemx ps, warm layout cache"),
                        ("cold", "kmemx ps, no layout cache (DWARF)"),
                        ("drgn", "drgn -e pass")):
        runs = " ".join(f"{x:.3f}" for x in times[name])
        print(f"{label:36s} median {med[name]:.3f} s wall, "
              f"{statistics.median(cpu[name]):.3f} s CPU   (wall {runs})")
    verdict = "ok" if ratio <= TARGET else "MISSED"
    print(f"ratio kmemx ps warm / drgn -e pass: {ratio:.2f}x (target <= {TARGET}x): {verdict}")
    print(f"ratio kmemx ps cold / drgn -e pass: {med['cold'] / med['drgn']:.2f}x")
    print(f"CPU ratio kmemx ps warm / drgn -e pass: "
          f"{statistics.median(cpu['warm']) / statistics.median(cpu['drgn']):.2f}x "
          "(drgn indexes DWARF on several threads: its CPU time exceeds its wall time "
          "on an idle machine)")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
