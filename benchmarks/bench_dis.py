"""``dis`` benchmark: the cost of one disassembled instruction.

drgn has no disassembler, so the ``drgn`` column here is capstone alone on
the same bytes (``Cs.disasm_lite`` of one ``prog.read`` of the text, AT&T
syntax, no symbol names): the floor any capstone-based ``dis`` starts from.
kmemx's ``dis ADDR COUNT`` adds gdb's spelling (operand details), the
``<symbol+offset>`` of every address, branch target and RIP-relative operand,
and the text lines.  Both are timed in this process, per instruction; the
ratio is reported for information (no target: kmemx does more than capstone).

crash's own time is reported after the table when crash 8.0.6 is available:
``dis ADDR COUNT > /dev/null`` inside one crash session, the clock read with
crash's ``!date`` before and after.

The symbol table behind the names is read once per program
(:mod:`kmemx.helpers.symtab`); the first run pays for it and is reported
separately (``first run``).

Run: ``python -m benchmarks.bench_dis [--core VMCORE --vmlinux VMLINUX]``;
``--core`` a kdump file times the kdump reader.
"""

from __future__ import annotations

import sys
import time

from benchmarks.common import Result, fixture_paths, report, timeit_pair

#: instructions per timed command
COUNT = 4000


def main(argv: list[str] | None = None) -> int:
    core, vmlinux, args = fixture_paths(argv)
    import capstone

    import kmemx
    from kmemx.commands import execute, load_plugins

    k = kmemx.open(core, vmlinux)
    load_plugins()
    start = int(k.prog.symbol("panic").address)
    line = f"dis {start:#x} {COUNT}"

    t0 = time.perf_counter()
    lines = sum(1 for _ in execute(k, line))
    first = time.perf_counter() - t0
    assert lines == COUNT, lines
    last = list(execute(k, line))[-1]  # "0xADDR <sym+off>:<TAB>..."
    nbytes = int(last.split()[0].rstrip(":"), 16) + 15 - start
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    cs.syntax = capstone.CS_OPT_SYNTAX_ATT

    def kmemx_dis() -> int:
        return sum(1 for _ in execute(k, line))

    def capstone_alone() -> int:
        n = 0
        for _ in cs.disasm_lite(k.prog.read(start, nbytes), start):
            n += 1
            if n == COUNT:
                break
        return n

    assert capstone_alone() == COUNT
    ks, cs_s = timeit_pair(kmemx_dis, capstone_alone, repeat=3, min_time=0.5)
    results = [
        Result(f"dis: {COUNT} instructions, per instruction (vs capstone alone)",
               ks / COUNT, cs_s / COUNT, None),
        Result("  first run in the process (symbol table read), per instruction",
               first / COUNT, cs_s / COUNT, None),
    ]
    rc = report(results, args.json)
    _crash_dis(core, vmlinux, start, ks / COUNT)
    return rc


def _crash_dis(core: object, vmlinux: object, start: int, kmemx_per_insn: float) -> None:
    """crash's time per instruction of the same ``dis``, inside one session."""
    try:
        from tests.oracles.crash import CrashError, find_crash, run_crash
    except ImportError:
        return
    if find_crash() is None:
        print("crash: not available (scripts/build-crash builds it)")
        return
    clock = "!date +%s.%N"
    line = f"dis {start:#x} {COUNT} > /dev/null"
    try:
        out = run_crash(vmlinux, core, [line, clock, line, clock],  # type: ignore[arg-type]
                        timeout=900)
    except CrashError as e:
        print(f"crash dis: crash cannot read this dump ({str(e)[:120]})")
        return
    stamps = [float(x) for x in out.split() if x.count(".") == 1
              and x.replace(".", "").isdigit() and len(x) > 15]
    if len(stamps) != 2:
        print(f"crash dis: could not read crash's clock (got {stamps!r})")
        return
    crash_s = (stamps[1] - stamps[0]) / COUNT
    print(f"crash dis: {crash_s * 1e6:.1f}us per instruction inside a session; "
          f"kmemx: {kmemx_per_insn * 1e6:.1f}us ({crash_s / kmemx_per_insn:.2f}x crash's speed)")


if __name__ == "__main__":
    sys.exit(main())
