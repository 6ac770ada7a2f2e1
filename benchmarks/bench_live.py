"""Live-kernel benchmarks: kmemx's live reader against drgn's own ``/proc/kcore`` reader.

Run as root on the running kernel (the live tier runs it inside its QEMU
guests, where TCG makes absolute times meaningless: only the ratio counts):

* ``ps``: kmemx's ``ps`` command against a drgn script building the same rows
  on ``drgn.Program().set_kernel()``, twice: *per command* (each run is one
  command, one epoch of the kcore reader's page cache, so it reads the kernel
  afresh: the cost a user sees for ``kmemx -k ps`` once the vmlinux is loaded)
  and *warm* (``ps`` again in the same epoch, pages cached, as the dump
  benchmarks measure): target 10x warm (issue #13).
* ``read_u64``: 10,000 8-byte reads of random direct-map words, one epoch per
  pass, against ``prog.read_u64`` of drgn.

``python -m benchmarks.bench_live --vmlinux VMLINUX [--reader READER] [--json]``
"""

from __future__ import annotations

import argparse
import random
import sys
from typing import Any

from benchmarks.bench_plugins import drgn_ps_rows
from benchmarks.common import Result, report, timeit, timeit_pair

__all__ = ["main", "measure"]


def measure(vmlinux: str | None, reader: str | None = None, reads: int = 10000,
            repeat: int = 3) -> dict[str, Any]:
    """Time ``ps`` and ``reads`` read_u64 calls through ``open_live(reader=reader)``
    and through drgn on /proc/kcore; return times (s) and ratios."""
    import drgn

    import kmemx
    from kmemx.commands import REGISTRY, Context, execute, load_plugins, run_pipeline
    from kmemx.readers.windowed import parse_iomem_ram

    k = kmemx.open_live(vmlinux, reader=reader)
    plain = drgn.Program()
    plain.set_kernel()
    if vmlinux:
        plain.load_debug_info([vmlinux], main=True)
    else:
        plain.load_debug_info(main=True)
    load_plugins()

    def drgn_ps() -> int:
        return len(drgn_ps_rows(plain))

    def kmemx_ps() -> int:
        return sum(1 for _ in execute(k, "ps"))

    def kmemx_ps_warm() -> int:
        return len(list(run_pipeline(Context(k, REGISTRY), "ps").items))

    with open("/proc/iomem") as f:
        ram = [(s, e) for s, e in parse_iomem_ram(f.read()) if e - s >= 1 << 20]
    pob = int(plain["page_offset_base"].value_())
    rnd = random.Random(5)
    addrs = []
    for _ in range(reads):
        s, e = rnd.choice(ram)
        addrs.append(pob + (rnd.randrange(s, e - 8) & ~7))
    ku64, du64 = k.read_u64, plain.read_u64

    def kmemx_reads() -> int:
        k.new_epoch()
        return sum(ku64(a) & 1 for a in addrs)

    def drgn_reads() -> int:
        return sum(du64(a) & 1 for a in addrs)

    ps_k, ps_d = timeit_pair(kmemx_ps, drgn_ps, repeat=repeat, min_time=0.0)
    kmemx_ps()
    ps_w, ps_d2 = timeit_pair(kmemx_ps_warm, drgn_ps, repeat=repeat, min_time=0.0)
    rd_k, rd_d = timeit_pair(kmemx_reads, drgn_reads, repeat=repeat, min_time=0.0)
    # cold: the first ps after the open, without the warm-up timeit does
    cold = timeit(kmemx_ps, repeat=1, min_time=0.0)
    out: dict[str, Any] = {
        "reader": k.reader.name,
        "tasks": drgn_ps(),
        "ps": {"kmemx_secs": round(ps_k, 4), "drgn_secs": round(ps_d, 4),
               "ratio": round(ps_d / ps_k, 1)},
        "ps_warm": {"kmemx_secs": round(ps_w, 4), "drgn_secs": round(ps_d2, 4),
                    "ratio": round(ps_d2 / ps_w, 1)},
        "read_u64": {"reads": reads, "kmemx_secs": round(rd_k, 4), "drgn_secs": round(rd_d, 4),
                     "ratio": round(rd_d / rd_k, 1)},
        "ps_one_more_secs": round(cold, 4),
    }
    stats = getattr(k.reader, "preads", None)
    if stats is not None:
        out["kcore"] = {"preads": k.reader.preads, "pages_read": k.reader.pages_read,
                        "epochs": k.reader.epochs}
    k.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_live")
    p.add_argument("--vmlinux", help="the running kernel's vmlinux (default: drgn's search)")
    p.add_argument("--reader", help="force a live reader (default: the one open_live picks)")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    args = p.parse_args(argv)
    m = measure(args.vmlinux, args.reader)
    name = m["reader"]
    return report([
        Result(f"ps ({m['tasks']} tasks) per command, {name} vs drgn /proc/kcore",
               m["ps"]["kmemx_secs"], m["ps"]["drgn_secs"], None),
        Result(f"ps ({m['tasks']} tasks) warm, {name} vs drgn /proc/kcore",
               m["ps_warm"]["kmemx_secs"], m["ps_warm"]["drgn_secs"], 10.0),
        Result(f"read_u64 x{m['read_u64']['reads']}, {name} vs drgn /proc/kcore",
               m["read_u64"]["kmemx_secs"], m["read_u64"]["drgn_secs"],
               3.0 if name.startswith("mmap-") else None),
    ], args.json)


if __name__ == "__main__":
    sys.exit(main())
