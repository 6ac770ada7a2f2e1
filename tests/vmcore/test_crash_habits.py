"""crash's habits in kmemx, against crash 8.0.6 on the same dumps: the current
context (``set``), shell pipes and redirection, and the options of the
commands kmemx has (issue #15).

Env: ``KMEMX_KERNEL`` picks the fixture, ``KMEMX_CRASH`` a crash binary.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import kmemx
from kmemx.commands import CommandError, execute
from tests.fixtures.fixture import Fixture
from tests.oracles import crash as C

pytestmark = pytest.mark.vmcore


@functools.cache
def _open(core: str, vmlinux: str) -> Any:
    return kmemx.open(core, vmlinux)


def kernel(fixture: Fixture, variant: str) -> Any:
    if not fixture.has(variant):
        pytest.skip(f"{variant}: {fixture.skip_reason(variant)}")
    return _open(str(fixture.core(variant)), str(fixture.vmlinux))


def run(k: Any, line: str) -> list[str]:
    return [x for x in execute(k, line) if not x.startswith("kmemx: warning:")]


def crash(fixture: Fixture, variant: str, commands: list[str]) -> dict[str, str]:
    if C.find_crash() is None:
        pytest.skip("no crash >= 8.0.4 (scripts/build-crash)")
    try:  # the first crash here that opens this dump (an ARM64 build for arm64)
        binary = C.crash_for(fixture.vmlinux, fixture.core(variant))
    except C.CrashCannotRead as e:
        pytest.skip(f"no crash here reads {fixture.core(variant).name}: {e}")
    # 15 minutes: bt -T and -f on every task run long in crash on a busy machine
    return C.crash_outputs(fixture.vmlinux, fixture.core(variant), commands, timeout=900,
                           crash=binary)


def crash_lines(text: str) -> list[str]:
    return [ln.rstrip() for ln in text.splitlines() if ln.strip()]


def _crash_names(text: str) -> str:
    """kmemx's ``bt -t``/``-T`` lines with each symbol as crash's table names
    it, the written exception of the names: crash cuts a clone suffix
    (``__sprint_symbol.isra.0`` is its ``__sprint_symbol``,
    :func:`tests.oracles.crash.crash_symbol_names`); kmemx prints the ELF
    symbol's name, as its ``sym``."""
    def one(line: str) -> str:
        m = _TEXT_ENTRY.match(line)
        if m is None:
            return line
        name, = C.crash_symbol_names([m.group(2)], rust=False)
        return f"  [{m.group(1)}] {name} at {m.group(3)}"

    return "\n".join(one(ln) for ln in text.splitlines())


def _without_executable_data(k: kmemx.Kernel, theirs: str) -> str:
    """crash's ``bt -t``/``-T`` lines without the words in a data section the
    vmlinux flags executable, the written exception of 7.2.13, whose
    ``.data`` is ``WAX``: crash's is_kernel_text() takes any address in a
    BFD ``SEC_CODE`` section for text (``_printk_rb_static_infos``, a
    ``.data`` array, nm's ``t``); kmemx's text is the kernel's own
    (``_stext``..``_etext``, ``_sinittext``..``_einittext``,
    core_kernel_text()).  A line goes only when its value is in such a
    section and outside those ranges."""
    from kmemx.buildid import elf_sections

    prog = k.prog
    m = prog.main_module()
    bias = m.debug_file_bias or 0
    text = [(prog.symbol(lo).address, prog.symbol(hi).address)
            for lo, hi in (("_stext", "_etext"), ("_sinittext", "_einittext"))]
    data = [(sec.addr + bias, sec.addr + bias + sec.size)
            for sec in elf_sections(str(m.debug_file_path))
            if sec.flags & 0x4 and sec.flags & 0x1]  # SHF_EXECINSTR and SHF_WRITE

    def executable_data(line: str) -> bool:
        m = _TEXT_ENTRY.match(line)
        if m is None:
            return False
        v = int(m.group(3), 16)
        return any(lo <= v < hi for lo, hi in data) and not any(lo <= v < hi for lo, hi in text)

    return "\n".join(ln for ln in theirs.splitlines() if not executable_data(ln))


_START = re.compile(r"^\s+START: (\S+) at ([0-9a-f]+)$")
_TEXT_ENTRY = re.compile(r"^  \[([0-9a-f]+)\] (\S+) at ([0-9a-f]+)$")


def _from_crash_start(ours: str, theirs: str) -> str:
    """``bt -t``/``-T`` of kmemx from crash's START frame on, the written
    exception of 7.x's panic task: panic() is a wrapper of vpanic() there,
    which saves the registers, and crash (9.0.2 and master: x86_64.c's list
    of panic functions has no vpanic) starts at the panic() frame above it,
    where kmemx starts at the saved registers.  Only a START in ``vpanic``
    whose lines up to crash's START frame are at lower stack addresses is
    moved; otherwise ``ours`` is returned as it is."""
    mine, want = ours.splitlines(), theirs.splitlines()
    s_ours = next((i for i, ln in enumerate(mine) if _START.match(ln)), None)
    s_theirs = next((_START.match(ln) for ln in want if _START.match(ln)), None)
    if s_ours is None or s_theirs is None:
        return ours
    start = _START.match(mine[s_ours])
    assert start is not None
    if start.group(1) != "vpanic" or s_theirs.group(1) == "vpanic":
        return ours
    first = next((m for m in map(_TEXT_ENTRY.match, want) if m), None)
    if first is None:
        return ours
    at = next((i for i in range(s_ours + 1, len(mine))
               if (m := _TEXT_ENTRY.match(mine[i])) and m.group(1) == first.group(1)), None)
    if at is None or not all((m := _TEXT_ENTRY.match(ln)) and int(m.group(1), 16) < int(
            first.group(1), 16) for ln in mine[s_ours + 1:at]):
        return ours
    start_line = mine[s_ours].replace(f"START: vpanic at {start.group(2)}",
                                      f"START: {first.group(2)} at {first.group(3)}")
    return "\n".join([*mine[:s_ours], start_line, *mine[at:]])


# -- the current context -------------------------------------------------------------------

SET_LINES = ["set", "set 2", "set -c 1", "set 1"]


@pytest.mark.parametrize("variant", ["elf", "panic"])
def test_set_equals_crash(fixture: Fixture, variant: str) -> None:
    """Each ``set`` line as crash prints it (PID, COMMAND, TASK with ``(1 of
    N)`` and THREAD_INFO, CPU, STATE with crash's bit names and (ACTIVE),
    (PANIC) or (SYSRQ)), in one session where each set changes the context."""
    k = kernel(fixture, variant)
    theirs = crash(fixture, variant, [*SET_LINES, "set -p"])
    try:
        for line in SET_LINES:
            ours = [x.rstrip() for x in run(k, line)]
            assert ours == _crash_arm64_sysrq(k, crash_lines(theirs[line])), line
        if variant == "panic":
            assert [x.rstrip() for x in run(k, "set -p")] == _crash_arm64_sysrq(
                k, crash_lines(theirs["set -p"]))
        else:
            assert "no panic task" in theirs["set -p"]
            with pytest.raises(CommandError, match="no panic task"):
                run(k, "set -p")
    finally:
        k.prog.cache.pop("kmemx.commands.context.current_task", None)


def _crash_arm64_sysrq(k: Any, lines: list[str]) -> list[str]:
    """Written exception: crash marks the panic task of a SysRq-c panic
    ``(SYSRQ)`` where its x86 stack search finds ``sysrq_handle_crash``
    (x86_64.c x86_64_get_dumpfile_stack_frame(), netdump.c for i386) or the
    log has a ``SysRq :`` line (task.c get_panicmsg(); 6.1 prints ``sysrq:``).
    arm64.c has no such search, so crash-arm64 says ``(PANIC)`` for the same
    panic.  kmemx says ``(SYSRQ)`` on every architecture when the panic
    message says so (``sysrq triggered crash``, drivers/tty/sysrq.c): on
    arm64 crash's ``(PANIC)`` is taken as that, and only there."""
    import drgn
    from drgn.helpers.linux.panic import panic_message

    if k.prog.platform.arch != drgn.Architecture.AARCH64:
        return lines
    if b"sysrq" not in (panic_message(k.prog) or b"").lower():
        return lines
    return [ln.replace("(PANIC)", "(SYSRQ)") if ln.lstrip().startswith("STATE:") else ln
            for ln in lines]


def test_context_is_what_task_commands_default_to(fixture: Fixture) -> None:
    """bt, task, files and vm without a task show the current context: the
    panic task first (the manifest's kmx-crasher), then what set chose."""
    k = kernel(fixture, "panic")
    try:
        assert 'COMMAND: "kmx-crasher"' in run(k, "bt")[0]
        run(k, "set 1")
        for cmd in ("bt", "task -m pid", "files", "vm"):
            assert run(k, cmd)[0].startswith("PID: 1 "), cmd
        assert run(k, "bt") == run(k, "bt 1")
        assert run(k, "files") == run(k, "files 1")
        assert run(k, "vm") == run(k, "vm 1")
        run(k, "set -p")
        assert 'COMMAND: "kmx-crasher"' in run(k, "bt")[0]
    finally:
        k.prog.cache.pop("kmemx.commands.context.current_task", None)


# -- shell pipes and redirection ------------------------------------------------------------

def test_shell_pipe_and_object_pipe(fixture: Fixture) -> None:
    """``| grep`` (no kmemx command) goes to /bin/sh; ``| filter`` passes objects;
    both give the same tasks."""
    k = kernel(fixture, "elf")
    shell = run(k, "ps | grep kmx-w | wc -l")
    ours = run(k, "ps | filter comm~kmx-w | count")
    assert int(shell[0]) == int(ours[1]) > 0
    assert run(k, "ps ! head -3") == run(k, "ps")[:3]


def test_redirect(fixture: Fixture, tmp_path: Path) -> None:
    k = kernel(fixture, "elf")
    out = tmp_path / "ps.txt"
    assert run(k, f"ps -k > {out}") == []
    assert out.read_text().splitlines() == run(k, "ps -k")
    assert run(k, f"ps -u >> {out}") == []
    assert out.read_text().splitlines() == run(k, "ps -k") + run(k, "ps -u")
    assert run(k, f"ps -G --json > {out}") == []
    assert json.loads(out.read_text()) == json.loads("\n".join(run(k, "ps -G --json")))
    with pytest.raises(CommandError, match="cannot write"):
        list(execute(k, f"ps > {tmp_path}/no/such/dir"))


def test_cli_redirect_and_pipe(fixture: Fixture, tmp_path: Path) -> None:
    """The one-shot CLI: a quoted line, and '>' / '|' as separate arguments."""
    out = tmp_path / "mod.txt"
    base = [sys.executable, "-m", "kmemx", "-q", "-c", str(fixture.core("elf")), "-s",
            str(fixture.vmlinux)]
    p = subprocess.run([*base, "mod", ">", str(out)], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout == "", p.stderr
    first = out.read_text().splitlines()
    assert first[0].split()[:2] == ["MODULE", "NAME"] and len(first) > 1
    p = subprocess.run([*base, f"mod | grep -c {first[1].split()[1]}"], capture_output=True,
                       text=True)
    assert p.returncode == 0 and int(p.stdout) >= 1, p.stderr
    p = subprocess.run([*base, "ps > /no/such/dir/x"], capture_output=True, text=True)
    assert p.returncode == 1 and re.fullmatch(r"kmemx: error: cannot write .*\n", p.stderr)


# -- counts, cpuspecs, list forms -----------------------------------------------------------

def _addresses(k: Any) -> dict[str, int]:
    from drgn.helpers.linux.mm import pfn_to_page

    prog = k.prog
    return {"tasks": int(prog["init_task"].tasks.address_),
            "modules": int(prog["modules"].address_),
            # a RAM page's struct page: PFN 0x1000 past the first RAM page (x86-64's
            # min_low_pfn is 0; arm64's RAM starts at PHYS_OFFSET, and vmemmap has
            # no pages mapped for the PFNs below it)
            "page": int(pfn_to_page(prog, int(prog["min_low_pfn"]) + 0x1000).value_()),
            "first_module": int(prog["modules"].next.value_())
            - int(k.offsetof("struct module", "list"))}


def _json(k: Any, line: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads("\n".join(run(k, line + " --json")))
    return rows


def _crash_member_blocks(text: str) -> list[dict[str, str]]:
    """crash's ``struct T.m ADDR COUNT`` / ``SYM:CPUSPEC`` output: one block of
    ``  m = V,`` lines per structure (a blank line or a ``[CPU]: ADDR`` line
    between them)."""
    blocks: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    outer = ""  # a struct member's name while in its "m = {" ... "}," lines
    for line in [*text.splitlines(), ""]:
        m = re.match(r"^  (\w+) = (.*?),?$", line)
        if m and m.group(2) == "{":
            outer = m.group(1)
        elif m:
            cur[m.group(1)] = m.group(2)
        elif outer and (n := re.match(r"^    (\w+) = (.*?),?$", line)):
            cur[f"{outer}.{n.group(1)}"] = n.group(2)
        elif outer and re.match(r"^  },?$", line):
            outer = ""
        elif cur:
            blocks.append(cur)
            cur = {}
    return blocks


def _page_flags(value: Any) -> str:
    """``page->flags`` of a ``struct -j`` row: the number, or of 7.x's
    ``memdesc_flags_t`` (6.18, "mm: introduce memdesc_flags_t") its ``.f``."""
    m = re.fullmatch(r"\{ \.f = \(unsigned long\)(\d+), \}", str(value))
    return m.group(1) if m else str(value)


@pytest.mark.parametrize("variant", ["elf", "panic"])
def test_struct_count_and_cpuspec_equal_crash(fixture: Fixture, variant: str) -> None:
    k = kernel(fixture, variant)
    a = _addresses(k)
    count = f"struct page.flags,_refcount {a['page']:x} 3"
    lines = [count, "struct rq.cpu,nr_running runqueues:a", "struct rq.cpu runqueues:1",
             "struct rq.cpu runqueues:0,1"]
    theirs = crash(fixture, variant, lines)
    ours = _json(k, count)
    assert [r["address"] for r in ours] == [hex(a["page"] + i * 64) for i in range(3)]
    blocks = _crash_member_blocks(theirs[count])
    assert [_page_flags(r["flags"]) for r in ours] == [b.get("flags", b.get("flags.f"))
                                                       for b in blocks]
    for line in lines[1:]:
        ours = _json(k, line)
        cpus = [int(c) for c in re.findall(r"^\[(\d+)\]: ", theirs[line], re.M)]
        addrs = [int(x, 16) for x in re.findall(r"^\[\d+\]: ([0-9a-f]+)", theirs[line], re.M)]
        assert [r["cpuspec"] for r in ours] == cpus, line
        assert [int(r["address"], 16) for r in ours] == addrs, line
        blocks = _crash_member_blocks(theirs[line])
        for r, b in zip(ours, blocks, strict=True):
            assert str(r["cpu"]) == b["cpu"]
            if "nr_running" in r:
                assert str(r["nr_running"]) == b["nr_running"]
    # the text form: crash's [CPU]: ADDR line before each structure, then
    # crash's (gdb's) struct text (tests/vmcore/test_crash_struct_text.py
    # compares whole structures line for line)
    text = run(k, "struct rq runqueues:1")
    assert text[0] == f"[1]: {addrs[-1]:x}" and text[1] == "struct rq {"


@pytest.mark.parametrize("variant", ["elf", "panic"])
def test_list_forms_equal_crash(fixture: Fixture, variant: str) -> None:
    """crash's OFFSET-before-START form, -h (START is an entry), -H, -r, -s
    (on the module list: crash's -s on the task list takes minutes on 6.12)."""
    k = kernel(fixture, variant)
    a = _addresses(k)
    t = a["tasks"]
    lines = {f"list -h {t:x}": f"list -h {t:x}",
             f"list task_struct.tasks -H {t:x}": f"list task_struct.tasks -H {t:x}",
             f"list -r -o task_struct.tasks -H {t:x}": f"list -r -o task_struct.tasks -H {t:x}",
             f"list -o module.list -s module.name -h {a['first_module']:x}":
                 f"list -o module.list -s module.name -h {a['first_module']:x}",
             f"list -H {a['modules']:x} -o module.list -s module.name":
                 f"list -H {a['modules']:x} -o module.list -s module.name"}
    theirs = crash(fixture, variant, list(lines.values()))
    for ours_line, crash_line in lines.items():
        ours = _json(k, ours_line)
        addrs = [int(x, 16) for x in re.findall(r"^([0-9a-f]{16})$", theirs[crash_line], re.M)]
        assert [int(r["address"], 16) for r in ours] == addrs, ours_line
        if "-s" in ours_line:
            blocks = _crash_member_blocks(theirs[crash_line])
            member = ours_line.split("-s ")[1].split()[0].split(".")[1]
            assert [str(r[member]) for r in ours] == [
                b[member].split("\\000")[0].strip('"') for b in blocks][:len(ours)], ours_line


# -- bt's options ---------------------------------------------------------------------------

_FRAME = re.compile(r"^ ?#(\d+)\s+\[([0-9a-f]+)\] (\S+) at ([0-9a-f]+)")


def _frames(text: str, ours: bool = True) -> list[tuple[str, int, list[str]]]:
    """(name, pc, lines after the frame line up to the next frame) of each
    frame line of a bt; kmemx's inlined frames are left out (crash has none),
    and so is its frame of an exception RIP (crash shows none)."""
    out: list[tuple[str, int, list[str]]] = []
    exception = False
    for line in text.splitlines():
        m = _FRAME.match(line)
        if m and exception:  # kmemx's interrupted frame: crash's [exception RIP: ...]
            exception = "(inlined)" in line
        elif m and "(inlined)" not in line:
            out.append((m.group(3), int(m.group(4), 16), []))
        elif m:
            continue
        elif "[exception RIP:" in line and ours:
            exception = True
        elif out and line.strip() and not line.startswith("PID:"):
            out[-1][2].append(line.rstrip())
    return out


def _blocks(text: str) -> list[str]:
    """The lines of a bt that are not frame lines: registers, exception RIPs,
    stack switches, headers (crash's and kmemx's headers are the same)."""
    return [ln.rstrip() for ln in text.splitlines()
            if ln.strip() and not _FRAME.match(ln) and not ln.startswith("PID:")]


# struct pt_regs of x86-64 in memory order, as crash's register block names them
_PT_REGS = ("R15", "R14", "R13", "R12", "RBP", "RBX", "R11", "R10", "R9", "R8", "RAX", "RCX",
            "RDX", "RSI", "RDI", "ORIG_RAX", "RIP", "CS", "RFLAGS", "RSP", "SS")
_BOGUS = "WARNING: possibly bogus exception frame"


def _registers(text: str) -> dict[str, int]:
    """The first register block of a bt (``RIP: ...`` to ``ORIG_RAX ... SS``)."""
    start = text.index("    RIP: ")
    block = text[start:text.index("\n", text.index("ORIG_RAX:", start))]
    return {m.group(1): int(m.group(2), 16)
            for m in re.finditer(r"([A-Z0-9_]+):\s+([0-9a-f]+)", block)}


def _set_aside_bogus(ours: str, theirs: str) -> tuple[str, str]:
    """Written exception: where crash warns "possibly bogus exception frame"
    (5.10's idle CPUs stopped by the panic's reboot IPI: the interrupt came in
    on the task stack, asm_call_sysvec_on_stack moved to the IRQ stack), crash
    reads the interrupted pt_regs at the wrong place, so its ``[exception RIP:
    no symbolic reference]`` shows a stack address as RIP and a return address
    as RSP; kmemx's registers come from drgn's ORC unwinder (RIP in
    native_safe_halt, CS 0x10, SS 0x18).  Checked here instead: crash's block
    is kmemx's pt_regs read some words off (every field it shares is kmemx's
    field that many words along), and crash's frames after it are kmemx's
    frames in the same order (crash skips those it lost).  Both bts are then
    compared up to the IRQ stack switch only.  Returns the two texts with such
    tasks cut there."""
    our_tasks, their_tasks = ours.split("\nPID:"), theirs.split("\nPID:")
    if len(our_tasks) != len(their_tasks):
        return ours, theirs  # the header comparison reports it
    for i, (mine, other) in enumerate(zip(our_tasks, their_tasks, strict=True)):
        if _BOGUS not in other:
            continue
        assert "[exception RIP:" in mine, mine
        want, got = _registers(other), _registers(mine)
        shifts = [k for k in range(-len(_PT_REGS) + 1, len(_PT_REGS)) if k and all(
            want[r] == got[_PT_REGS[j + k]] for j, r in enumerate(_PT_REGS)
            if 0 <= j + k < len(_PT_REGS))]
        assert shifts, (want, got)
        after = _frames(other[other.index(_BOGUS):], ours=False)
        pcs = iter(pc for _, pc, _ in _frames(mine[mine.index("[exception RIP:"):])[1:])
        assert all(any(pc == p for p in pcs) for _, pc, _ in after), (after, mine)
        cut = "--- <IRQ stack> ---"
        our_tasks[i] = mine[:mine.index(cut) + len(cut)]
        their_tasks[i] = other[:other.index(cut) + len(cut)]
    return "\nPID:".join(our_tasks), "\nPID:".join(their_tasks)


def _set_aside_unregistered_cpus(k: Any, ours: str, theirs: str) -> tuple[str, str]:
    """Written exception (arm64 dumps): crash-arm64 8.0.6 takes an active
    task's registers from the kernel's ``crash_notes`` or the dump's
    NT_PRSTATUS notes by CPU number, and finds none in our QEMU-made arm64
    dumps ("cpu 0: cannot find NT_PRSTATUS note"): for a task running on a
    CPU it prints the ``PID:`` header alone, where kmemx starts at the
    registers drgn reads from those notes (``[exception RIP: ...]`` and the
    block, or the IPI that stopped the CPU).  Such tasks are compared by
    their headers only (the caller checks every header); the same exception
    as tests/vmcore/test_oracle_columns.py's ``_crash_lacks_cpu_registers``.
    Returns the two texts with those tasks cut to their headers."""
    from drgn.helpers.linux.sched import cpu_curr

    our_tasks, their_tasks = ours.split("\nPID:"), theirs.split("\nPID:")
    if len(our_tasks) != len(their_tasks):
        return ours, theirs  # the header comparison reports it
    for i, (mine, other) in enumerate(zip(our_tasks, their_tasks, strict=True)):
        if [ln for ln in other.strip().splitlines()[1:]
                if ln.strip() and ln.strip() != "START: (null) at 0"]:
            continue  # crash printed frames (bt -t: a START): compared as on x86-64
        m = re.search(r"TASK: ([0-9a-f]+)\s+CPU: (\d+)", mine)
        if m and cpu_curr(k.prog, int(m.group(2))).value_() == int(m.group(1), 16):
            our_tasks[i] = mine.strip().splitlines()[0]
            their_tasks[i] = other.strip().splitlines()[0]
    return "\nPID:".join(our_tasks), "\nPID:".join(their_tasks)


BT_LINES = ["bt", "bt -a", "bt 1", "bt -e", "bt -t", "bt -T", "bt -s", "bt -sx", "bt -f",
            "bt -c 1", "bt -p"]


@pytest.mark.parametrize("variant", ["panic", "elf"])
def test_bt_options_equal_crash(fixture: Fixture, variant: str) -> None:
    """bt against crash: the task headers, register blocks at system-call entry and
    in interrupted frames ([exception RIP: sym+off] and RIP..SS), --- <IRQ stack>
    --- switches, bt -e, bt -t/-T (every line), and for each frame crash shows
    after its first, the same return address in the same order, with -s/-sx the
    same symbol+offset, with -f the same stack words.  Written exceptions: crash
    starts a panicked CPU's stack at the frame that called the CPU stop (kmemx at
    the saved registers, one or two frames earlier, so crash's frame #0 is
    skipped), names frames by ELF symbol (kmemx by the DWARF function, inlined
    frames included) and prints SP one word lower than drgn's frame SP."""
    k = kernel(fixture, variant)
    # not compared on a dump taken without a panic (not done yet): bt -e (crash
    # finds pt_regs on the stack that drgn's interrupted frames do not give), and
    # bt -t/-T of a task stopped on an IRQ stack (crash scans that stack, kmemx
    # the task's), and bt -f there (6.12: the first frame's words start one
    # word off)
    lines = [ln for ln in BT_LINES
             if variant == "panic" or ln not in ("bt -p", "bt -e", "bt -t", "bt -T", "bt -f")]
    arm64 = k.prog.platform is not None and k.prog.platform.arch.name == "AARCH64"
    if arm64:
        # not compared on arm64 yet: bt -e (crash scans the whole stack for
        # pt_regs, kmemx lists the exception frames drgn's unwinder passes,
        # which for the panic task of our QEMU-made dumps start at the CPU's
        # saved registers, above the frames crash finds)
        lines = [ln for ln in lines if ln != "bt -e"]
    theirs = crash(fixture, variant, lines)
    try:
        for line in lines:
            ours, their = _set_aside_bogus("\n".join(run(k, line)), theirs[line])
            if arm64:
                ours, their = _set_aside_unregistered_cpus(k, ours, their)
            assert [ln for ln in ours.splitlines() if ln.startswith("PID:")] == [
                ln.rstrip() for ln in their.splitlines() if ln.startswith("PID:")], line
            if line in ("bt -e", "bt -t", "bt -T"):
                if line in ("bt -t", "bt -T"):
                    ours = _crash_names(_from_crash_start(ours, their))
                    their = _without_executable_data(k, their)
                assert crash_lines(ours) == crash_lines(their), line
                continue
            assert [b for b in _blocks(ours) if not b.startswith("    ff")] == [
                b for b in _blocks(their) if not b.startswith("    ff")], line
            for task_ours, task_theirs in zip(ours.split("\nPID:"),
                                              their.split("\nPID:"), strict=True):
                mine = _frames(task_ours)
                want = _frames(task_theirs, ours=False)[1:]
                if arm64 and want and want[-1][0].split("+")[0] in C.ARM64_LAST_FRAMES:
                    # written exception: test_oracle_columns' _below_arm64_last_frame
                    last = next((i for i, f in enumerate(mine)
                                 if f[0].split("+")[0] == want[-1][0].split("+")[0]), len(mine))
                    mine = mine[:last + 1]
                pcs = [pc for _, pc, _ in mine]
                assert [pc for _, pc, _ in want] == pcs[len(pcs) - len(want):], line
                for (name, _pc, data), (cname, _cpc, cdata) in zip(
                        mine[len(mine) - len(want):], want, strict=True):
                    if "-s" in line:
                        assert name == cname, line
                    if "-f" in line:
                        assert [d for d in data if d.startswith("    ff")] == \
                            [d for d in cdata if d.startswith("    ff")], line
    finally:
        k.prog.cache.pop("kmemx.commands.context.current_task", None)


# -- ps's options -----------------------------------------------------------------------

def _ps_lines(k: Any) -> list[str]:
    """The ps option lines for this dump: the crashed (or PID 1's) parent
    chain, kmx-main's children and threads, init's times, argv and limits;
    -p -c -g of every task, of the idle tasks (PID 0, one's address), of
    PID 1 and 2, of a thread by PID and by name."""
    main = int(run(k, "ps kmx-main")[1].split()[0].lstrip(">"))
    worker = next(int(ln.split()[0].lstrip(">")) for ln in run(k, "ps kmx-w000")[1:])
    thread = int(run(k, "ps kmx-w000-t0")[1].split()[0].lstrip(">"))
    idle1 = int(_json(k, "ps 0")[-1]["task"], 16)  # another CPU's idle task
    return [f"ps -p {worker}", f"ps -c {main}", f"ps -g {worker}", "ps -t 1",
            f"ps -t {worker}", "ps -a 1", f"ps -a {main}", "ps -a 2 0", "ps -r 1",
            f"ps -r {worker}",
            f"ps -l 1 2 {main}", "ps -C 0 -l", "ps -C 1 -l",
            "ps -m", f"ps -m 1 2 {main}", "ps -m -C 0", "ps -m -C 1",
            "ps -p", "ps -c", "ps -g", "ps -g -u", "ps -p 0", "ps -c 0", "ps -g 0",
            f"ps -p {idle1:x}", f"ps -c {idle1:x}", f"ps -g {idle1:x}", "ps -p 1 2",
            "ps -c 1 2", "ps -g 1 2", f"ps -p {main}", f"ps -c {worker}", f"ps -g {thread}",
            f"ps -g {thread} {worker}", "ps -g kmx-w000-t0", "ps -g 'kmx-w00.*'"]


def _text_lines(text: str) -> list[str]:
    """The lines of a command's text, blank ones too, but for blank lines
    at either end (crash_outputs() splits crash's output between commands)."""
    lines = [ln.rstrip() for ln in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


@pytest.mark.parametrize("variant", ["panic", "elf"])
def test_ps_options_equal_crash(fixture: Fixture, variant: str) -> None:
    """ps -p -c -g -t -a -r -l -m -C -A -H -y, and PIDs, names and addresses
    mixed: every line as crash prints it, the blank ones too.  -p follows task_struct.parent to swapper/0, its own parent
    (task.c parent_list()): another CPU's idle task is under it; -c lists
    the tasks whose parent the task is (child_list()): swapper/0 itself
    among them; -g without a task only each group's leader, the idle tasks
    one group (show_tgid_list(), IDLE_TASK_SHOWN), a thread named by PID its
    leader's group, by name nothing."""
    k = kernel(fixture, variant)
    lines = _ps_lines(k)
    theirs = crash(fixture, variant, [*lines, "ps -s 1", "ps -s 0"])
    kstack, kstack_idle = theirs["ps -s 1"], theirs["ps -s 0"]
    for line in lines:
        ours = _text_lines("\n".join(run(k, line)))
        want = _text_lines(theirs[line])
        assert ours == want, line
    # the table's forms: crash's rows (ps's columns are checked elsewhere), the
    # header or none (-H)
    idle1 = int(_json(k, "ps 0")[-1]["task"], 16)
    tables = ["ps -A", "ps -A -H", "ps -H 1 2", "ps -y NORMAL", "ps -y FIFO,1", "ps -y 0x5",
              f"ps 1 kmx-w000 {idle1:x}"]
    theirs = crash(fixture, variant, tables)
    for line in tables:
        text = "\n".join(x.strip() for x in run(k, line))
        ours_rows = [(r["pid"], r["task"], r["comm"], r["active"]) for r in C.parse_ps(text)]
        want_rows = [(r["pid"], r["task"], r["comm"], r["active"])
                     for r in C.parse_ps(theirs[line])]
        assert ours_rows == want_rows, line
        assert ("PPID" in text) == ("PPID" in theirs[line]), line
    # ps -s: KSTACKP in place of TASK (the other columns are ps's, checked elsewhere)
    ours = _json(k, "ps -s 1")
    kstackp = [ln.split()[3] for ln in crash_lines(kstack)[1:]]
    assert [r["kstackp"][2:] for r in ours] == kstackp
    # a task running on a CPU (">") saved no stack pointer: crash's "--", null
    # in --json (on the panic dump swapper/0 is not running: the panic task is)
    idle = [ln.split() for ln in crash_lines(kstack_idle)[1:]]
    want = [w[-6] for w in idle]  # KSTACKP, the 6th column from the end
    assert want == [ln.split()[-6] for ln in run(k, "ps -s 0")[1:]]
    assert ["--" if w[0].startswith(">") else w[-6] for w in idle] == want and "--" in want
    assert [r["kstackp"] for r in _json(k, "ps -s 0")] == [
        None if x == "--" else "0x" + x for x in want]


# -- log, rd, sys, mod, sym options -------------------------------------------------------

@pytest.mark.parametrize("variant", ["panic", "elf"])
def test_small_options_equal_crash(fixture: Fixture, variant: str) -> None:
    """log -T -m (every line; crash with TZ=UTC, kmemx too), rd -d -D -8
    (addresses and values), rd -a (every line: to the first unprintable byte,
    and with a count each printable run on a line of its own), sys -t, mod -t (every line), sym -q (address, type,
    name of each symbol), sys -c (number, file and line of every system call;
    the function's name, or an alias at the same address: crash and drgn pick
    different ones of __x64_sys_X / __ia32_sys_X / __do_sys_X; crash writes the
    file relative to the build directory, ``../fs/...``)."""
    import os

    k = kernel(fixture, variant)
    init = int(k.prog["init_task"].address_)
    rd = [f"rd -d {init:x} 4", f"rd -D {init:x} 4", "rd -8 linux_banner 20",
          "rd -a linux_banner", "rd -a linux_banner 300", f"rd -a {init:x} 40"]
    lines = ["log -T", "log -m", "log -R", "log", "sys -t", "mod -t", "sym -q jiffies", "sys -c",
             *rd]
    theirs = crash(fixture, variant, lines)
    # log -R: crash 9's (8.0.6 has no -R: there a log without Rust names is
    # crash's plain log, which -R leaves as it is)
    from kmemx.demangle import RUST_SYMBOL

    if theirs["log -R"].startswith("log: "):
        assert not RUST_SYMBOL.search(theirs["log"])
        theirs["log -R"] = theirs["log"]
    assert crash_lines("\n".join(run(k, "log -R"))) == crash_lines(theirs["log -R"])
    old_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    try:
        import time

        time.tzset()
        for line in ("log -T", "log -m", "sys -t", "mod -t"):
            assert crash_lines("\n".join(run(k, line))) == crash_lines(theirs[line]), line
    finally:
        if old_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old_tz
        time.tzset()
    for line in rd:
        ours = _json(k, line)
        if "-8" in line:
            want = [(r["address"], [f"{w:02x}" for w in r["words"]])
                    for r in C.parse_rd(theirs[line])]
        else:  # decimal: no ASCII column
            want = [(int(ln.split(":")[0], 16), ln.split()[1:])
                    for ln in theirs[line].splitlines() if re.match(r"^[0-9a-f]{16}:", ln)]
        if "-a" in line:  # crash's lines as they are (no header, "ADDR:  "), and the rows
            assert run(k, line) == theirs[line].splitlines(), line
            assert [(int(r["address"], 16), r["ascii"]) for r in ours] == [
                (int(ln[:16], 16), ln[19:]) for ln in theirs[line].splitlines() if ln]
            continue
        assert [int(r["address"], 16) for r in ours] == [a for a, _ in want], line
        assert [r["values"].split() for r in ours] == [v for _, v in want], line
    # crash's symbol table drops GCC's clone suffixes (.part.N .isra.N
    # .constprop.N) where the clone is a whole function; kmemx keeps the ELF
    # name.  Type letters: every one (test_sym_l_letters_equal_crash_and_nm)
    ours = _json(k, "sym -q jiffies")
    clone = re.compile(r"(\.(part|isra|constprop)\.\d+)+$")
    want_q = C.parse_sym(theirs["sym -q jiffies"])
    assert [(int(r["address"], 16), clone.sub("", r["symbol"]), r["type"]) for r in ours] == [
        (r["address"], clone.sub("", r["name"]), r["type"]) for r in want_q]
    ours = _json(k, "sys -c")
    want_c = [re.match(r"^\s*(\d+)  (\S+)\s+(?:\.\./)?(\S+): (\d+)$", ln)
              for ln in theirs["sys -c"].splitlines()[1:] if ln.strip()]
    assert len(ours) == len(want_c)
    # Written exception: crash writes each file after its build directory, the
    # part of schedule()'s source path before /kernel/ (symbols.c
    # get_build_directory()).  Debian's arm64 6.1 line table has no line for
    # schedule (kmemx's sym schedule has no file either), so crash's build
    # directory is empty and it prints ".." glued to the whole path its gdb
    # gives ("..debian/build/build_arm64_none_arm64/fs/aio.c"); kmemx prints
    # DWARF's file name ("fs/aio.c"), which that path ends with
    no_build_dir = _json(k, "sym schedule")[0]["file"] is None
    lines_c = [ln for ln in theirs["sys -c"].splitlines()[1:] if ln.strip()]
    for r, m, ln in zip(ours, want_c, lines_c, strict=True):
        if m is None:  # no line at the entry (arm64 6.1's mmap, msync, kcmp): no file
            assert (r["num"], r["system_call"], r["file"]) == (
                int(ln.split()[0]), ln.split()[1], ""), ln
            continue
        if no_build_dir and m.group(3).startswith(".."):
            assert m.group(3).endswith("/" + r["file"]), (r, m.group(0))
            r["file"] = m.group(3)
        assert (r["num"], r["file"]) == (int(m.group(1)), m.group(3))
        # an alias crash names has its own line (SYSCALL_DEFINE's wrappers)
        assert (r["system_call"], r["line"]) == (m.group(2), int(m.group(4))) or k.prog.symbol(
            r["system_call"]).address == k.prog.symbol(m.group(2)).address


# -- foreach ------------------------------------------------------------------------------

FOREACH = ["foreach bt", "foreach UN bt", "foreach kmx-main bt", "foreach active bt",
           "foreach 1 2 task -R pid", "foreach RU ps", "foreach kernel ps",
           "foreach user files"]


def test_sym_l_letters_equal_crash_and_nm(fixture: Fixture) -> None:
    """``sym -l``: the type letter of every kernel-image symbol equals crash's
    (BFD's, symbols.c store_symbols()) and ``nm``'s of the vmlinux, D in
    Debian's writable .rodata, b in .bss, W/V weak (kmemx.elfsyms).
    Written exception: a module symbol's letter is the kernel's own
    (mod->kallsyms->typetab, /proc/kallsyms's since 1c7651f43777, 5.2), where
    crash 8.0.6 decodes the ELF st_info byte (symbols.c Elf64_Sym_to_common():
    ``t``/``T`` for a local/global function, ``?`` for any object, and ``T``
    for cleanup_module, a global the kernel marks local).  Names: crash
    strips clone suffixes (strip_symbol_end()), so the comparison is by
    address and crash's name (:func:`tests.oracles.crash.crash_symbol_name`:
    the suffix cut, and from crash 9.0.1 a Rust name demangled, as kmemx's
    ``log -R`` demangles it; kmemx's ``sym`` keeps the kernel's names, as
    ``nm`` and ``/proc/kallsyms``)."""
    import shutil

    k = kernel(fixture, "elf")
    text = crash(fixture, "elf", ["sym -l"])["sym -l"]
    version = C.crash_version(C.crash_for(fixture.vmlinux, fixture.core("elf"))) or (0, 0, 0)
    rows = [r for r in _json(k, "sym -l") if r["module"] is None]
    names = C.crash_symbol_names([r["symbol"] for r in rows], rust=version >= (9, 0, 1))
    ours = {(int(r["address"], 16), name): r["type"] for r, name in zip(rows, names)}
    theirs = {(r["address"], r["name"]): r["type"] for r in C.parse_sym_l(text)}
    both = set(ours) & set(theirs)
    assert len(both) > 0.99 * len(theirs), (len(both), len(theirs))
    assert {key: (ours[key], theirs[key]) for key in both if ours[key] != theirs[key]} == {}
    nm = shutil.which("nm")
    if nm is None:
        return
    out = subprocess.run([nm, str(fixture.vmlinux)], capture_output=True, text=True,
                         check=True).stdout
    link = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            link[parts[2]] = parts[1]
    named = {r["symbol"]: (int(r["address"], 16), r["type"]) for r in _json(k, "sym -l")
             if r["module"] is None}
    # names that are unique in the vmlinux, so nm's line is this symbol's
    counts: dict[str, int] = {}
    for line in out.splitlines():
        name = line.split()[-1]
        counts[name] = counts.get(name, 0) + 1
    bad = {n: (t, link[n]) for n, (_a, t) in named.items()
           if counts.get(n) == 1 and n in link and t != link[n]}
    assert bad == {}


@pytest.mark.parametrize("variant", ["panic"])
def test_foreach_selects_crashs_tasks(fixture: Fixture, variant: str) -> None:
    """foreach's selectors pick the tasks crash picks, in crash's order: the
    task headers of bt/task/files, the TASK column of ps (bt's and ps's own
    output is checked by their tests)."""
    k = kernel(fixture, variant)
    theirs = crash(fixture, variant, FOREACH)
    for line in FOREACH:
        ours = run(k, line)
        if line.endswith("ps"):
            assert sorted(r["task"] for r in _json(k, line)) == sorted(
                f"{r['task']:#x}" for r in C.parse_ps(theirs[line])), line
        else:
            assert [ln.rstrip() for ln in ours if ln.startswith("PID:")] == [
                ln.rstrip() for ln in theirs[line].splitlines() if ln.startswith("PID:")], line


#: ps forms whose order is checked: a thread after the next process by PID
#: (kmx-w000-t0's PID is above kmx-w001's; the task list has it after kmx-w000)
PS_ORDER = ["ps", "ps kmx-w000-t0 kmx-w001 kmx-w000", "ps -t", "ps -t -G",
            "ps -t kmx-w000-t0 kmx-w001", "ps -r"]


@pytest.mark.parametrize("variant", ["panic", "elf"])
def test_ps_order_is_crashs(fixture: Fixture, variant: str) -> None:
    """ps lists tasks in crash's order, its task table's (task.c
    sort_context_array(): by PID, the idle tasks first by CPU; the task list
    has each thread right after its group leader), with task arguments too
    (show_ps() walks the table, not the arguments); ``ps -t`` of every task
    by start time, ties in that order (show_task_times()'s qsort, glibc's
    stable merge sort): swapper/1 among the tasks started with it."""
    k = kernel(fixture, variant)
    theirs = crash(fixture, variant, PS_ORDER)
    for line in PS_ORDER[:2]:
        want = [(int(ln.lstrip("> ").split()[0]), int(ln.lstrip("> ").split()[2]))
                for ln in crash_lines(theirs[line])[1:]]
        ours = [(r["pid"], r["cpu"]) for r in _json(k, line)]
        assert ours == want, line
    for line in PS_ORDER[2:]:
        want_headers = [ln.rstrip() for ln in theirs[line].splitlines()
                        if ln.startswith("PID:")]
        assert len(want_headers) > 1 and [
            ln.rstrip() for ln in run(k, line) if ln.startswith("PID:")] == want_headers, line


def test_head_and_tail_take_unix_counts(fixture: Fixture) -> None:
    """``| head -3`` and ``| tail -3`` as Unix head and tail (what crash's
    shell pipe runs): the first or last three rows, as ``head 3``/``-n 3``."""
    k = kernel(fixture, "elf")
    rows = _json(k, "ps")
    assert len(rows) > 10
    for line, want in (("ps | tail -3", rows[-3:]), ("ps | tail 3", rows[-3:]),
                       ("ps | head -3", rows[:3]), ("ps | head -n 3", rows[:3]),
                       ("ps | tail -n 0", [])):
        assert _json(k, line) == want, line
    from kmemx.commands import CommandError

    with pytest.raises(CommandError, match="not a count"):
        run(k, "ps | head 3x")


def test_rustfilt_equals_crash(fixture: Fixture) -> None:
    """``rustfilt NAME``: crash 9's (symbols.c cmd_rustfilt(): libiberty's
    rust_demangle()) for 20 of the vmlinux's Rust symbols, line for line;
    crash 8.0.6 has no such command, and kernels built without Rust have no
    such names (Debian's 7.x has them)."""
    k = kernel(fixture, "elf")
    names = [r["symbol"] for r in _json(k, "sym -q _R") if r["symbol"].startswith("_R")][:20]
    if not names:
        pytest.skip("no Rust symbols in this kernel")
    lines = [f"rustfilt {n}" for n in names]
    theirs = crash(fixture, "elf", lines)
    if "command not found" in theirs[lines[0]]:
        pytest.skip(f"this crash has no rustfilt: {theirs[lines[0]].strip()}")
    for line in lines:
        assert run(k, line) == crash_lines(theirs[line]), line
