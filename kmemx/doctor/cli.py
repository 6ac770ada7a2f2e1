"""``kmemx doctor [--json] [--probe] [--root DIR]``: the command-line front end."""

from __future__ import annotations

import argparse
import os
import sys

from kmemx.doctor.engine import diagnose
from kmemx.doctor.model import Verdict
from kmemx.doctor.render import render_json, render_text

__all__ = ["build_parser", "main"]

_DESCRIPTION = """\
NAME
    kmemx doctor - explain which kind of live kernel-memory access works here, and why

DESCRIPTION
    Runs the check list D1-D11 of kmemx's devmem notes: kernel version era and
    config, the /dev/mem and /dev/kmem nodes (ENOENT versus ENXIO),
    CAP_SYS_RAWIO and user namespaces, kernel lockdown, STRICT_DEVMEM and
    IO_STRICT_DEVMEM, the x86 PAT check, System RAM in /proc/iomem,
    /proc/kcore and VMCOREINFO, debuginfo for the running kernel, containers.

    It prints exactly one verdict:
        mmap of RAM works      kmemx can use its mmap-devmem (or mmap-devkmem) reader
        read-only /dev/mem     read() works, mmap of RAM is refused (the x86 PAT check)
        /proc/kcore only       kmemx uses drgn on /proc/kcore
        no live access         none of the above for this process
    followed by the checks behind it and what to change.

    Without root some checks cannot be done (iomem addresses, /proc/kcore,
    dmesg); the report lists them and predicts the verdict as root.
"""

_EPILOG = """\
PROBE
    --probe opens /dev/mem (and /dev/kmem if present) read-only, never with
    O_SYNC, maps one System RAM page above 1 MiB with PROT_READ and
    MAP_SHARED, unmaps it at once, and reads 8 bytes there.  Nothing is
    written.  Each step's errno is reported (EPERM: STRICT_DEVMEM or
    lockdown; EINVAL: the PAT check; ENXIO: driver not built; ENOENT: no
    node).  Where the probe and the prediction disagree, the probe wins and
    the report says so.

EXIT STATUS
    0   some live access works (any verdict except "no live access")
    1   no live access
    2   usage error

EXAMPLES
    kmemx doctor                  human-readable report
    sudo kmemx doctor --probe     confirm the prediction on this kernel
    kmemx doctor --json           machine-readable checks and verdict
    kmemx doctor --root /mnt/img  diagnose a copied /proc, /sys, /boot, /dev tree
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the top-level ``kmemx`` CLI and tests)."""
    parser = argparse.ArgumentParser(
        prog="kmemx doctor",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--probe",
        action="store_true",
        help="as root: try a read-only mmap and read of one RAM page and report the errno",
    )
    parser.add_argument(
        "--root",
        metavar="DIR",
        default="/",
        help="read /proc, /sys, /boot, /dev, ... below DIR instead of / (default: /)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``kmemx doctor``; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already reported by argparse
        return exc.code if isinstance(exc.code, int) else 2
    if not os.path.isdir(args.root):
        print(f"kmemx doctor: --root {args.root}: not a directory", file=sys.stderr)
        return 2
    report = diagnose(args.root, probe=args.probe)
    sys.stdout.write(render_json(report) if args.json else render_text(report))
    return 1 if report.verdict is Verdict.NONE else 0
