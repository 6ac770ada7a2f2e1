"""Run every benchmark on one or more fixtures and print the ratio tables.

``python -m benchmarks.run_all [FIXTURE_DIR ...]``: every benchmark on each
fixture's ELF, kdump-compressed and flattened dumps (default: the test bed's
6.1 fixture, and the scaling fixtures next to it when they were built:
``medium-6.1`` with ``python -m tests.fixtures build linux-image-6.1.0-56-amd64
--out $KMEMX_FIXTURES/medium-6.1 --workers 1000 --files 50000 --mem 1024`` and
``large-6.1`` with ``--workers 2000 --files 100000 --mem 2048``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks import bench_cold, bench_engine, bench_plugins, bench_segread, bench_views
from benchmarks.common import REPO

__all__ = ["VARIANTS", "main"]

#: the dump formats every benchmark runs on: ELF, kdump-compressed (zlib), flattened
VARIANTS = ("elf", "kdump", "flat")


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(REPO))
    from tests.fixtures.paths import default_cache

    dirs = [Path(a) for a in (argv if argv is not None else sys.argv[1:])]
    if not dirs:
        base = default_cache()
        dirs = [d for d in (base / "linux-image-6.1.0-56-amd64", base / "medium-6.1",
                            base / "large-6.1")
                if (d / "fixture.json").exists()]
    rc = 0
    for d in dirs:
        meta = json.loads((d / "fixture.json").read_text())
        for variant in VARIANTS:
            info = meta["variants"].get(variant, {})
            if not info.get("ok"):
                continue
            print(f"\n=== {d.name} {variant} ({info['file']}): {meta['release']}, "
                  f"{meta['mem_mb']} MiB, {meta['workers']} workers, {meta['files']} files ===")
            args = ["--core", str(d / info["file"]), "--vmlinux", str(d / "vmlinux")]
            for mod in (bench_engine, bench_segread, bench_views, bench_plugins):
                print(f"--- {mod.__name__}")
                rc |= mod.main(args)
            print("--- benchmarks.bench_cold (fresh processes, medians of 3)")
            rc |= bench_cold.main([*args, "--runs", "3"])
    return rc


if __name__ == "__main__":
    sys.exit(main())
