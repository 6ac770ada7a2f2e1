"""``kmemx triage DUMP...``: one record per dump, grouped by stack signature."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import KmemxError
from .inputs import DUMP_NAMES, dump_paths
from .record import Cluster, Record, clusters
from .run import triage

__all__ = ["COLUMNS", "build_parser", "main", "table"]

#: The table's columns, one row per dump
#: (WARN: how many integrity warnings kmemx gave on the dump; --json lists them)
COLUMNS = ("DUMP", "RELEASE", "FORMAT", "TASK", "CPU", "WARN", "SIGNATURE", "MESSAGE")
#: Exit status when some dump could not be triaged (kmemx's EXIT_INCOMPLETE)
EXIT_INCOMPLETE = 3

_EPILOG = """\
Each dump's vmlinux is found by the build ID in its VMCOREINFO, among the -s
files and under the --debug-dir directories (.build-id/xx/rest.debug, as in
/usr/lib/debug, or any file named vmlinux*).  See docs/triage.md.

A dump without VMCOREINFO (or without a BUILD-ID in it) is opened with each
-s file in turn, as 'kmemx -c DUMP -s VMLINUX' opens it.

examples:
  kmemx triage /var/crash --debug-dir /usr/lib/debug
  kmemx triage /var/crash/*/vmcore --debug-dir /usr/lib/debug
  kmemx triage dumps/* -s vmlinux-6.1 -s vmlinux-6.12 --jobs 4 --jsonl triage.jsonl
  kmemx triage vmcore -s vmlinux --json
  kmemx triage /var/crash/*/vmcore --debug-dir /usr/lib/debug --html report/
  kmemx triage /shared/dumps/* --debug-dir /shared/debug --scheduler tcp://head:8786

exit status: 0 every dump triaged; 3 some could not be (their rows say why,
and a 'kmemx: error:' line each on stderr); 2 bad options; 1 the --jsonl
file cannot be written or the Dask scheduler cannot be reached."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kmemx triage", epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Summarise many crash dumps: what hit each kernel (panic message, "
                    "task, CPU, stack signature), taint, uptime, hung tasks, OOM and lockup "
                    "messages, memory and slab use, task states; then group them by "
                    "signature.")
    p.add_argument("dumps", metavar="DUMP", nargs="+",
                   help="vmcore files (ELF, kdump, flattened), or directories: their "
                        f"files named {DUMP_NAMES}, and those of their subdirectories "
                        "(/var/crash/<timestamp>/)")
    p.add_argument("-s", "--symbols", metavar="VMLINUX", action="append", default=[],
                   help="a vmlinux with debug info (may be given more than once)")
    p.add_argument("--debug-dir", metavar="DIR", action="append", default=[],
                   help="a directory of vmlinux files (may be given more than once)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true",
                     help="print the records and the clusters as one JSON object")
    out.add_argument("--jsonl", metavar="FILE",
                     help="append each record to FILE as one JSON line as it is made; "
                          "dumps already in FILE (same path, size, mtime) are skipped")
    p.add_argument("--jobs", "-j", metavar="N", type=int, default=1,
                   help="dumps triaged in parallel, one process each (default 1)")
    p.add_argument("--html", metavar="DIR",
                   help="also write static pages into DIR: index.html for the fleet "
                        "(clusters, panics by uptime) and one page per dump; they work "
                        "offline (plotly.min.js is written next to them)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="triage on a Dask distributed cluster: the address of its scheduler "
                        "(tcp://host:8786, as 'dask scheduler' prints it); the workers must "
                        "see the dumps and vmlinux files at the same paths")
    return p


def _task(r: Record) -> str:
    return f"{r.pid}:{r.comm}" if r.pid is not None else "-"


def _dump_name(path: str) -> str:
    rel = os.path.relpath(path)
    return rel if len(rel) < len(path) else path


def table(records: list[Record], groups: list[Cluster]) -> list[str]:
    """The crash-style table of ``records``, then the clusters."""
    rows = [(_dump_name(r.path), r.release or "-", r.format or "-", _task(r),
             "-" if r.cpu is None else str(r.cpu), str(len(r.warnings)) if r.warnings else "-",
             r.signature or "-",
             f"error: {r.error}" if r.error else (r.message or "-")) for r in records]
    lines = _align(COLUMNS, rows)
    lines.append("")
    crows = [(str(c.count), ", ".join(c.kernels), c.signature or "(no crashed task)",
              c.message or "-") for c in groups]
    lines += _align(("COUNT", "KERNELS", "SIGNATURE", "MESSAGE"), crows)
    return lines


def _align(columns: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    last = len(columns) - 1
    return ["  ".join(s if i == last else s.ljust(widths[i])
                      for i, s in enumerate(row)).rstrip()
            for row in [columns, *rows]]


class _Bar:
    """A bar over the dumps on a terminal (:func:`kmemx.progress.enabled`)."""

    def __init__(self, total: int) -> None:
        from ..progress import enabled

        self.bar: Any = None
        if enabled():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="triage", unit="dump", leave=False,
                            file=sys.stderr)

    def __call__(self, rec: Record) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def main(argv: list[str] | None = None) -> int:
    """Run ``kmemx triage``; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.jobs < 1:
        print("kmemx triage: error: --jobs must be at least 1", file=sys.stderr)
        return 2
    dumps, problems = dump_paths(args.dumps)  # a directory: its vmcore files
    bar = _Bar(len(dumps))
    try:
        records = triage(dumps, args.symbols, args.debug_dir, args.jobs, args.jsonl,
                         progress=bar, scheduler=args.scheduler)
    except KeyboardInterrupt:
        return 130
    except KmemxError as e:  # the Dask scheduler
        print(f"kmemx: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # the --jsonl file
        print(f"kmemx: error: {args.jsonl}: {e.strerror or e}", file=sys.stderr)
        return 1
    finally:
        bar.close()
    records += [Record(os.path.abspath(d), error=why) for d, why in problems]
    groups = clusters(records)
    if args.html:
        try:
            from .html import write_html

            write_html(records, groups, args.html)
        except ImportError:
            print("kmemx: error: --html needs plotly: pip install 'kmemx[triage]'",
                  file=sys.stderr)
            return 1
        except OSError as e:
            print(f"kmemx: error: {args.html}: {e.strerror or e}", file=sys.stderr)
            return 1
    try:
        if args.json:
            print(json.dumps({"records": [r.to_dict() for r in records],
                              "clusters": [c.to_dict() for c in groups]}, indent=1,
                             ensure_ascii=True))
        else:
            for line in table(records, groups):
                print(line)
        sys.stdout.flush()
    except BrokenPipeError:  # kmemx triage ... | head: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    failed = [r for r in records if r.error]
    for r in failed:
        print(f"kmemx: error: {r.error}", file=sys.stderr)
    return EXIT_INCOMPLETE if failed else 0
