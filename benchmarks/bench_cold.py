"""First touch: a fresh process's first ``ps`` (issue: compressed dumps, cold).

Every other benchmark reports warm times (best of several runs, pages already
decompressed and translated).  This one reports what a one-shot command pays:
in a fresh process, open the dump and build ``ps``'s rows once, with kmemx and
with plain drgn (``benchmarks.bench_plugins.drgn_ps_rows``), each in its own
process, the median of ``--runs`` processes.  Opening (debug info) is timed
apart from the first pass, so the first pass shows what decompressing and
translating the touched pages costs on each dump format.

Run: ``python -m benchmarks.bench_cold --core VMCORE --vmlinux VMLINUX [--runs 5]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import REPO, Result, report

__all__ = ["main"]


def _child(which: str, core: str, vmlinux: str) -> None:
    """In the child process: print {"open": s, "first": s, "second": s} as JSON."""
    t0 = time.perf_counter()
    if which == "kmemx":
        import kmemx
        from kmemx.commands import REGISTRY, Context, load_plugins, run_pipeline

        k = kmemx.open(core, vmlinux)
        load_plugins()

        def run() -> int:
            return len(list(run_pipeline(Context(k, REGISTRY), "ps").items))
    else:
        import drgn

        from benchmarks.bench_plugins import drgn_ps_rows

        prog = drgn.Program()
        prog.set_core_dump(core)
        prog.load_debug_info([vmlinux], main=True)

        def run() -> int:
            return len(drgn_ps_rows(prog))
    t1 = time.perf_counter()
    run()
    t2 = time.perf_counter()
    run()
    t3 = time.perf_counter()
    print(json.dumps({"open": t1 - t0, "first": t2 - t1, "second": t3 - t2}))


def _measure(which: str, core: Path, vmlinux: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_cold", "--child", which,
                          "--core", str(core), "--vmlinux", str(vmlinux)],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--core", type=Path, required=True)
    p.add_argument("--vmlinux", type=Path, required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", choices=("kmemx", "drgn"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args.child, str(args.core), str(args.vmlinux))
        return 0
    samples: dict[str, list[dict[str, float]]] = {"kmemx": [], "drgn": []}
    for _ in range(args.runs):  # alternate, so both see the same machine
        for which in ("kmemx", "drgn"):
            samples[which].append(_measure(which, args.core, args.vmlinux))

    def med(which: str, key: str) -> float:
        return statistics.median(s[key] for s in samples[which])

    results = [
        Result("ps, first pass in a fresh process (cold)", med("kmemx", "first"),
               med("drgn", "first"), None),
        Result("ps, second pass (warm)", med("kmemx", "second"), med("drgn", "second"), None),
        Result("open + debug info", med("kmemx", "open"), med("drgn", "open"), None),
    ]
    return report(results, args.json)


if __name__ == "__main__":
    sys.exit(main())
