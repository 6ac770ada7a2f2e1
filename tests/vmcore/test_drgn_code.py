"""``CMD --drgn``: the printed code runs under drgn itself (``drgn -q -c CORE -s
VMLINUX script.py``, no kmemx involved: kmemx's drgn plugin disabled) and
prints what the command prints.

Every registered command either has ``drgn_code`` or is on :data:`EXEMPT` with
the reason; every command with code has at least one line in :data:`CASES`.
Table scripts (see :mod:`kmemx.commands.drgncode`) print a header and tab-separated
cells, compared column by column with the command's ``--json`` rows; text
scripts are compared line by line with the command's text.  All scripts of one
dump run in one drgn process (one DWARF load), each with fresh globals."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import drgn
import pytest

import kmemx
from kmemx.commands import CommandError, execute
from kmemx.commands.context import CURRENT_TASK_KEY
from kmemx.commands.discovery import load_plugins
from kmemx.commands.registry import REGISTRY
from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore

#: the dump the scripts run on: the panic dump (a panic task, the current
#: context's default); KMEMX_DRGN_CODE_VARIANT=elf runs them on the dump taken
#: without a panic
_VARIANT = os.environ.get("KMEMX_DRGN_CODE_VARIANT", "panic")

#: commands without --drgn code, and why
EXEMPT: dict[str, str] = {}

#: command line -> how its script's output is compared: "table" (in order),
#: "sorted" (the same rows in another order: the reason in SORTED_WHY),
#: "text" (line by line with the command's text), "none" (nothing to translate:
#: the code is one comment line)
CASES: dict[str, str] = {
    "sys": "table", "sys -t": "table", "sys -c": "table", "mod": "table", "mod -t": "table",
    "mount": "table", "mount -n 1": "table", "mount -f": "table",
    "filter comm~x": "none", "head": "none", "tail": "none", "count": "none",
    "echo 0x1": "none", "cast 'struct task_struct *'": "none", "help": "none", "plugins": "none",
    "eval 1+2": "none", "ascii 41": "none",
    "rustfilt _RNvNtCshc5sK6KjdJJ_6kernel5print11call_printk": "none",
    "alias": "none", "exit": "none", "repeat sys": "none",
    "log": "text", "log -t": "text", "log -T": "text", "log -m": "text", "log -T -m": "text",
    "log -c": "text", "log -d -m -c": "text", "log -R -m": "text",
    "rd init_task 6": "table", "rd -32 linux_banner 9": "table", "rd -d jiffies": "table",
    "rd -D -16 init_task 8": "table", "rd -x init_task 4": "table", "rd -a linux_banner": "table",
    "rd -a linux_banner 300": "table", "rd -o 8 -R init_task 3": "table",
    "rd -N -32 linux_banner 8": "table", "rd -e init_task+40 init_task": "table",
    "rd -a -o 8 linux_banner 20": "table",
    "rd -p {PHYS} 4": "table", "rd -8 linux_banner 20": "table",
    "rd -f 0 8": "table", "rd -f -a -o 1 0 3": "table",
    "sym jiffies schedule init_task": "table", "sym schedule+10 init_task+16": "table",
    "sym -q vfs_": "table", "sym -m dummy": "table", "sym -m qemu_fw_cfg": "table",
    "p jiffies": "table", "p -x init_task.comm": "table", "mach": "table", "dev": "table",
    "ipcs": "table", "fuser /": "table", "bpf": "table",
    "slabinfo": "table", "slabinfo dentry task_struct": "table", "slab kmalloc-1k": "sorted",
    "kmem -s": "table", "kmem -s dentry": "table", "kmem -i": "table",
    "slab --free kmalloc-1k": "table", "slab -s task_struct.pid,comm task_struct": "sorted",
    "kmem jiffies jiffies+16 init_task+16 init_stack+64 {TASK1} {STACK1} {MM1} {PAGE} {FREE} 0x10 "
    "{STACKPHYS}": "table",
    "ptob 1234": "none", "btop 1234000": "none", "ptov 1000 7fe0000": "table",
    "vtop jiffies init_task": "table", "vtop 0 123": "table", "pte 8000000001234067 1a5c025": "table",
    "search -s init_task -l 0x3000 init_task": "table", "search init_task": "table",
    "swap": "table",
    # no dump of the test bed holds a struct sbitmap_queue; its summary's
    # script is checked on memory that reads as one (test_crash_opts4)
    "sbitmapq -s task_struct -a init_task empty_zero_page": "text",
    "ptov 1000 2000:a": "table", "search -u -w 2d786d6b": "table",
    "search -s init_task -l 0x3000 -m 0xfff init_task": "table",
    "net": "table", "net -n 1": "table", "net -N 0x0100007f": "text",
    "net -s 1": "table", "net -s": "table", "net -a": "table",
    "runq": "table", "runq -t": "table", "runq -T": "table", "runq -g": "table",
    "timer": "table", "timer -r": "table",
    "irq": "table", "irq -u": "table", "irq 1 4 9": "table", "irq -s": "table",
    "irq -a": "table", "irq -d": "table", "irq -b": "table", "dev -i": "table",
    "dev -p": "table",
    "sig": "table", "sig 1 2": "table", "sig -l": "table", "sig -s 4100": "table",
    "waitq kauditd_wait": "table", "waitq oom_reaper_wait": "table",
    "list -H init_task.tasks": "table", "list -o 0 init_task.tasks": "table",
    "list task_struct.tasks -H init_task.tasks -s task_struct.pid,comm": "table",
    "list -h init_task -o task_struct.tasks -s task_struct.pid,se.vruntime": "table",
    "list -r -H modules": "table", "list -o 0 init_task.tasks -s list_head": "text",
    "list -h init_task -O task_struct.children -o task_struct.sibling -s task_struct.pid":
    "table",
    "list -l task_struct.tasks -s task_struct.pid,comm init_task.tasks": "table",
    "list modules -e modules": "table", "list -r -o task_struct.tasks init_task": "table",
    "list -x -H modules -o module.list -s module.refcnt.counter,state": "table",
    "tree -t rbtree -o vmap_area.rb_node -s vmap_area.va_start,va_end free_vmap_area_root":
    "table",
    "tree -t idr init_pid_ns.idr": "table", "tree -t idr -s pid.level init_pid_ns.idr": "table",
    "struct task_struct.pid,comm init_task": "table", "struct list_head init_task.tasks": "text",
    "struct task_struct init_task -m pid,tgid,mm": "table", "struct list_head": "text",
    "struct -o task_struct": "text", "struct -o list_head": "text",
    "whatis -o list_head": "text", "struct -o -x page": "text",
    "whatis atomic_t enum pid_type u64 spinlock_t": "text", "whatis -o atomic_t": "text",
    "struct rq.cpu,nr_running runqueues:a": "table", "struct rq.clock runqueues:0": "table",
    "struct list_head runqueues:0": "text",
    "struct -r list_head init_task.tasks": "table", "struct -r task_struct.comm init_task": "table",
    "struct -r task_struct.pid init_task": "table", "union -r sigval init_task": "table",
    "union sigval init_task": "text", "struct -u list_head {URIP}": "text",
    "struct -f elf64_hdr 0": "text", "struct -f elf64_hdr.e_phoff,e_phnum 0": "table",
    "struct -f -r list_head 64 2": "table",
    "struct -u list_head.next {URIP}": "table", "struct -u -r list_head {URIP}": "table",
    "p runqueues:a": "table", "p -x runqueues.nr_running:0": "table",
    "whatis jiffies linux_banner task_struct struct list_head": "text",
    "pstree": "table", "pstree -t": "table", "pstree 1": "table",
    "task": "text", "task 1 2 -R pid,comm,se.vruntime": "text",
    "task 1 -R flags,cpu,rcu_users": "text", "set": "table",
    "set 1": "table", "set -c 0": "table", "set -p": "table", "set 0": "table",
    "files": "table", "files 1 2": "table", "files -c": "table", "files -c 1 2": "table",
    "vm": "table", "vm 1": "table", "vm 2 3 1": "table",
    "dis schedule": "table", "dis -l schedule_timeout 12": "table", "dis -r schedule+40": "table",
    "dis -f panic+200 5": "table",
    "dis -u {URIP} 5": "table",
    "dis -s schedule+20": "text",
    "bt": "text", "bt -a": "text", "bt 1 2": "text", "bt -s -x": "text", "bt -p": "text",
    "bt -c 0": "text",
    "bt -f": "text", "bt -e -a": "text", "bt -t": "text", "bt -T 1": "text", "bt -f -a": "text",
    "ps": "sorted", "ps 1 2": "sorted", "ps 'kmx-.*'": "sorted", "ps -k": "sorted",
    "ps -u -G": "sorted",
    "ps --state IN": "sorted",
    "ps -s": "sorted", "ps -S": "sorted", "ps -p kmx-crasher": "table", "ps -c 1": "table",
    "ps -g kmx-w000": "table", "ps -g": "table", "ps -g 0": "table", "ps -p 0": "table",
    "ps -c 0": "table",
    "ps -t kmx-crasher": "sorted", "ps -l": "sorted", "ps -a kmx-main": "sorted",
    "ps -r 1": "sorted", "ps -k -S": "sorted", "ps -l -C 0": "sorted",
    "ps -m": "sorted", "ps -m -C 1": "sorted", "ps -A": "sorted", "ps -y NORMAL,FIFO": "sorted",
    "ps 1 kmx-w000": "sorted",
    "foreach 1 2 bt": "text", "foreach kernel task -R pid,comm": "text",
    "foreach kmx-crasher files": "table", "foreach 1 ps": "sorted",
}

#: cases about the panic task (the current context, kmx-crasher): skipped on a
#: dump taken without a panic (KMEMX_DRGN_CODE_VARIANT=elf)
PANIC_ONLY = {"bt -p", "set -p", "files", "files -c", "search -u -w 2d786d6b", "ps -p kmx-crasher",
              "ps -t kmx-crasher", "foreach kmx-crasher files", "dis -u {URIP} 5",
              "struct -u list_head {URIP}", "struct -u list_head.next {URIP}",
              "struct -u -r list_head {URIP}"}

#: why a "sorted" case's rows come in another order
SORTED_WHY: dict[str, str] = {
    "slab -s task_struct.pid,comm task_struct":
        "drgn walks every struct page in PFN order, kmemx the slabs it found",
    **{line: "drgn's for_each_task() walks the threads in another order than kmemx's walk"
       for line in ("ps", "ps 1 2", "ps 'kmx-.*'", "ps -k", "ps -u -G", "ps --state IN",
                    "foreach 1 ps", "ps -s", "ps -S", "ps -t kmx-crasher", "ps -l",
                    "ps -a kmx-main", "ps -r 1", "ps -k -S", "ps -l -C 0", "ps -m",
                    "ps -m -C 1", "ps -A", "ps -y NORMAL,FIFO", "ps 1 kmx-w000")},
    "slab kmalloc-1k": "drgn walks every struct page in PFN order, kmemx the slabs it found",
}

#: table cases that may have no rows on the test bed's dumps (then drgn must
#: find none either), and why
EMPTY: dict[str, str] = {
    "mod -t": "no module of the test bed's guests is tainted",
    "ipcs": "the test bed's guests create no System V IPC objects",
    "bpf": "the test bed's guests load no BPF programs or maps",
    "swap": "the test bed's guests have no swap",
    "net -s 1": "the test bed's guests open no sockets (the code walks the files: none is one)",
    "net -s": "the test bed's guests open no sockets (the code walks the files: none is one)",
    "net -a": "the test bed's guests have no ARP neighbours (the code walks arp_tbl's buckets)",
}

_DIS_WHY = ("kmemx spells capstone's decoding as gdb does (i386-dis.c: suffixes, br"
            "anch targets without $, RIP-relative comments); the script prints capstone's own AT&T")

#: written exceptions: line -> {(the row's first cell, or "*" for every row,
#: column): why drgn's value differs}
DIFFER: dict[str, dict[tuple[str, str], str]] = {
    "sys": {("READER", "value"): "kmemx's own reader (mmap-elf...); under drgn it is drgn's"},
    **{line: {("*", "mnemonic"): _DIS_WHY, ("*", "operands"): _DIS_WHY}
       for line in ("dis schedule", "dis -l schedule_timeout 12", "dis -r schedule+40",
                    "dis -f panic+200 5", "dis -u {URIP} 5")},
}


_RUNNER = '''\
import contextlib, io, json, sys, traceback
cases = json.load(open(sys.argv[1]))
out = {}
for name, code in cases.items():
    buf = io.StringIO()
    err = None
    try:
        with contextlib.redirect_stdout(buf):
            exec(compile(code, name, "exec"), {"prog": prog, "__name__": "__main__"})
    except BaseException:
        err = traceback.format_exc()
    out[name] = [buf.getvalue(), err]
json.dump(out, open(sys.argv[2], "w"), ensure_ascii=True)
'''


@functools.cache
def _open(core: str, vmlinux: str) -> Any:
    return kmemx.open(core, vmlinux)


def _kernel(fixture: Fixture, line: str = "") -> Any:
    if not fixture.has(_VARIANT):
        pytest.skip(fixture.skip_reason(_VARIANT))
    if line in PANIC_ONLY and _VARIANT != "panic":
        pytest.skip(f"{line}: about the panic task; {_VARIANT} has none")
    return _open(str(fixture.core(_VARIANT)), str(fixture.vmlinux))


def _free_address(prog: Any) -> int:
    """A direct-map address 0x10 into the second page of the first free
    buddy block of order 1 or more (drgn's helpers walk the free lists)."""
    from drgn.helpers.linux.list import list_for_each_entry
    from drgn.helpers.linux.mm import page_to_virt
    from drgn.helpers.linux.mmzone import for_each_online_pgdat

    try:  # 6.2 named the link buddy_list (bd2a745ba9c6); lru before
        prog.type("struct page").member("buddy_list")
        link = "buddy_list"
    except LookupError:
        link = "lru"
    for pgdat in for_each_online_pgdat(prog):
        for zone in pgdat.node_zones:
            for order in range(1, len(zone.free_area)):
                for head in zone.free_area[order].free_list:
                    for page in list_for_each_entry("struct page", head.address_of_(), link):
                        return int(page_to_virt(page + 1).value_()) + 0x10
    pytest.skip("no free block of order 1 or more")


def _line(k: Any, line: str) -> str:
    """``line`` with its placeholders filled from the dump (drgn): {TASK1},
    {STACK1}, {MM1} (inside init's task_struct, stack and mm_struct), {PAGE}
    (inside a struct page of the vmemmap), {PHYS} (the first RAM page
    but one), {FREE} (inside the second page of a free buddy block of order
    1 or more), {STACKPHYS} (physical, in init's vmap stack), {URIP} (the
    panic task's user RIP)."""
    if "{" not in line:
        return line
    from drgn import sizeof
    from drgn.helpers.linux.mm import pfn_to_page
    from drgn.helpers.linux.pid import find_task

    prog = k.prog
    init = find_task(prog, 1)
    # the first memblock region's first PFN (x86-64: 0x1000, QEMU's arm64 virt: 1 GiB)
    min_low_pfn = int(prog["memblock"].memory.regions[0].base) >> int(prog["PAGE_SHIFT"])
    values = {"TASK1": hex(init.value_() + 0x10), "STACK1": hex(init.stack.value_() + 0x100),
              "MM1": hex(init.mm.value_() + 8),
              "PAGE": hex(pfn_to_page(prog, min_low_pfn + 100).value_() + 8),
              "PHYS": hex(int(prog["memblock"].memory.regions[0].base) + 0x1000)}
    if "{FREE}" in line:
        values["FREE"] = hex(_free_address(prog))
    if "{STACKPHYS}" in line:  # a page a vmap area maps: init's vmap stack's
        from drgn.helpers.linux.mm import follow_phys

        values["STACKPHYS"] = hex(int(follow_phys(prog["init_mm"].address_of_(),
                                                  init.stack.value_() + 0x100)))
    if "{URIP}" in line:
        # the panic task's user RIP, saved at its system call entry (task_pt_regs())
        try:
            panic = prog.crashed_thread().object
        except LookupError:
            pytest.skip("a dump taken without a panic has no panic task")
        try:  # CONFIG_X86_FRED keeps 16 bytes above them (TOP_OF_KERNEL_STACK_PADDING, v6.9)
            prog.symbol("asm_fred_entrypoint_user")
            pad = 16
        except LookupError:
            pad = 0
        regs = drgn.Object(prog, "struct pt_regs", address=panic.stack.value_()
                           + prog["THREAD_SIZE"].value_() - pad
                           - sizeof(prog.type("struct pt_regs")))
        try:
            values["URIP"] = f"{regs.ip.value_():x}"
        except AttributeError:
            pytest.skip("dis -u --drgn decodes x86-64 text only")
    return line.format(**values)


def _code(k: Any, line: str) -> str:
    """``line --drgn``'s script; it compiles without a SyntaxWarning (a
    literal compared with ``is``, an invalid escape), which Python would
    print on the user's terminal."""
    import warnings

    code = "\n".join(execute(k, f"{_line(k, line)} --drgn")) + "\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error", SyntaxWarning)
        compile(code, f"<{line} --drgn>", "exec")
    return code


@functools.cache
def _run_all(core: str, vmlinux: str) -> dict[str, tuple[str, str | None]]:
    """Every case's script run under drgn: line -> (stdout, traceback or None)."""
    k = _open(core, vmlinux)
    codes: dict[str, str] = {}
    gen_errors: dict[str, tuple[str, str | None]] = {}
    for line in CASES:
        try:
            codes[line] = _code(k, line)
        except Exception as e:  # reported by the line's test, not the batch
            gen_errors[line] = ("", f"--drgn failed: {type(e).__name__}: {e}")
        except pytest.skip.Exception as e:
            gen_errors[line] = ("", f"skipped: {e}")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst, runner = Path(tmp, "in.json"), Path(tmp, "out.json"), Path(tmp, "run.py")
        src.write_text(json.dumps(codes))
        runner.write_text(_RUNNER)
        env = dict(os.environ, DRGN_DISABLE_PLUGINS="*")
        proc = subprocess.run(["drgn", "-q", "-c", core, "-s", vmlinux, str(runner),
                               str(src), str(dst)], capture_output=True, text=True,
                              errors="surrogateescape", env=env)
        assert proc.returncode == 0, proc.stderr
        out = {name: (o, e) for name, (o, e) in json.loads(dst.read_text()).items()}
    out.update(gen_errors)
    return out


def _script_output(fixture: Fixture, line: str) -> list[str]:
    out, err = _run_all(str(fixture.core(_VARIANT)), str(fixture.vmlinux))[line]
    assert err is None, f"{line} --drgn:\n{err}"
    return out.splitlines()


def _cell(v: Any) -> str:
    """A ``--json`` cell as the table scripts print it."""
    if v is None:
        return "-"
    if isinstance(v, list):
        return " ".join(_cell(x) for x in v)
    return str(v).replace("\t", "\\t").replace("\n", "\\n")


def _same_cell(ours: Any, theirs: str) -> bool:
    m = re.fullmatch(r"([0-9a-f]+)-([0-9a-f]+)", theirs)
    if m and isinstance(ours, list) and len(ours) == 2:  # a HexRange: [start, end]
        return ours == [int(m.group(1), 16), int(m.group(2), 16)]
    if isinstance(ours, float) and not isinstance(ours, bool):
        try:
            return abs(float(theirs) - ours) < 0.01
        except ValueError:
            return False
    return _cell(ours) == theirs


def test_every_command_has_drgn_code_or_a_reason() -> None:
    load_plugins()
    missing = sorted(n for n, c in REGISTRY.commands.items()
                     if c.drgn_code is None and n not in EXEMPT)
    assert not missing, f"commands without --drgn code and no written exemption: {missing}"
    stale = sorted(n for n in EXEMPT if REGISTRY.commands.get(n) is None
                   or REGISTRY.commands[n].drgn_code is not None)
    assert not stale, f"exempt but having code (or gone): {stale}"


def test_every_command_with_drgn_code_has_a_case() -> None:
    load_plugins()
    tested = {REGISTRY.lookup(line.split()[0]).name for line in CASES}
    untested = sorted(n for n, c in REGISTRY.commands.items()
                      if c.drgn_code is not None and n not in tested)
    assert not untested, f"commands with --drgn code that no case runs: {untested}"
    assert set(SORTED_WHY) == {line for line, mode in CASES.items() if mode == "sorted"}


@pytest.mark.parametrize("line", list(CASES))
def test_drgn_code_computes_the_commands_rows(fixture: Fixture, line: str) -> None:
    k = _kernel(fixture, line)
    try:
        _compare(k, fixture, line)
    finally:  # set PID chooses the context of the cases after it: back to the default
        k.prog.cache.pop(CURRENT_TASK_KEY, None)


def _compare(k: Any, fixture: Fixture, line: str) -> None:
    mode = CASES[line]
    try:
        code = _code(k, line)
    except CommandError as e:
        # a command (or its --drgn) that covers x86-64 only says so in one line
        # on another architecture (docs/crash-users.md lists them): nothing to run
        if k.prog.platform.arch != drgn.Architecture.X86_64 and re.search(
                r"x86-64|x86_64|arm64|aarch64", str(e)):
            pytest.skip(f"{line}: {e}")
        raise
    assert not re.search(r"^\s*(import|from) kmemx", code, re.M)
    if mode == "none":
        assert code.startswith("# nothing to translate: ") and code.count("\n") == 1
        return
    out = _script_output(fixture, line)
    if mode == "text":
        ours = [ln for ln in execute(k, _line(k, line)) if not ln.startswith("kmemx: warning:")]
        assert out == ours
        return
    text = [ln for ln in execute(k, f"{_line(k, line)} --json")
            if not ln.startswith("kmemx: warning:")]
    rows = [r for r in json.loads("\n".join(text)) if isinstance(r, dict)]
    if not rows:
        assert line in EMPTY, f"{line}: the command gives no rows to compare"
        assert out == []
        return
    # the expected lines: a header where the columns change, then the rows
    expected: list[tuple[str, Any]] = []
    for r in rows:
        if not expected or (expected[-1][0] == "R" and list(expected[-1][1]) != list(r)):
            expected.append(("H", list(r)))
        expected.append(("R", r))
    lines = [ln.split("\t") for ln in out]
    assert len(lines) == len(expected), (
        f"{line}: {len(lines)} lines from drgn, {len(expected)} from kmemx")
    if mode == "sorted":
        assert [kind for kind, _ in expected].count("H") == 1
        lines = lines[:1] + sorted(lines[1:])
        expected = expected[:1] + sorted(expected[1:], key=lambda e: [
            _cell(v) for v in e[1].values()])
    for n, (theirs, (kind, ours)) in enumerate(zip(lines, expected)):
        if kind == "H":
            assert [h.lower() for h in theirs] == ours, f"{line}: line {n}: header"
            continue
        assert len(theirs) == len(ours), f"{line}: line {n}: {theirs} vs {ours}"
        for col, t, o in zip(ours, theirs, ours.values()):
            if {(theirs[0], col), ("*", col)} & set(DIFFER.get(line, {})):
                continue
            assert _same_cell(o, t), f"{line}: line {n} column {col}: drgn {t!r}, kmemx {o!r}"


def test_drgn_code_errors_are_one_line(fixture: Fixture) -> None:
    k = _kernel(fixture)
    with pytest.raises(CommandError, match="--drgn takes one command"):
        list(execute(k, "ps | count --drgn"))
    with pytest.raises(CommandError, match="net: --drgn gives"):
        list(execute(k, "net -S --drgn"))


def test_table_script_prints_headers_rows_and_escapes() -> None:
    """The shared shape, on a program with no target: imports sorted by drgn's
    DrgnCodeBuilder, a header where the columns change, ``-`` for None, tabs
    and newlines escaped, nothing for a table without rows."""
    import argparse
    import contextlib
    import io
    from types import SimpleNamespace

    from kmemx.commands.drgncode import only_options, table_script

    ctx: Any = SimpleNamespace(prog=drgn.Program())
    code = table_script(ctx, ("A", "B"), """\
row(1, None)
row("x\\ty", "a\\nb")
table("EMPTY")
table("C")
row(hex(16))
""", ["os", "drgn:Object"])
    assert code.startswith("import os\n\nfrom drgn import Object\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "table_script", "exec"), {"prog": ctx.prog})
    assert out.getvalue().splitlines() == ["A\tB", "1\t-", "x\\ty\ta\\nb", "C", "0x10"]
    only_options("cmd", argparse.Namespace(a=True, b=None, c=0), ("a",), "-a")
    with pytest.raises(CommandError, match="cmd: --drgn gives -a only"):
        only_options("cmd", argparse.Namespace(a=True, new=True), ("a",), "-a")
