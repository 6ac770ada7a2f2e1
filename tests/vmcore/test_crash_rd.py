"""``rd -s``, ``rd -S`` and ``rd -SS`` against crash 8.0.6, word by word, on a
task's kernel stack (return addresses), ``init_task`` and PID 1's
``task_struct`` (kernel data, section starts, slab pointers) and a module's
``struct module`` (module addresses): the same lines, addresses and words.

Written exception: crash strips GCC's clone suffixes ``.isra.N``, ``.part.N``
and ``.llvm.N`` from its symbol names (symbols.c strip_symbol_end()); kmemx
keeps the ELF name (``vli_mmod_fast.isra.0+88``), as its ``sym`` and ``dis``
do.  The comparison strips those suffixes from kmemx's words.  On kernels
with module memory regions (6.4+) crash 8.0.6 adds pseudo-symbols at each
region's start and end (``_MODULE_DATA_START_dummy``, symbols.c module_tag[])
and names an address after them; kmemx names the nearest real symbol of the
module: where crash shows such a word, kmemx's must be a module symbol name
too, or (a region's start before its first symbol, which 7.2.13's separate
module regions have) the bare value of an address of that module that no
symbol of it names.  (A word naming
a section start is shown under the section's name, ``.data``, as crash's
symbol table has it; drgn's section symbols have no name.)
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
from drgn.helpers.linux.pid import find_task
from kmemx_plugins.lists import ksymbol_at

import kmemx
from kmemx.commands import CommandError, execute
from kmemx.helpers import module_of_address
from tests.fixtures.fixture import Fixture
from tests.oracles import crash as C

pytestmark = pytest.mark.vmcore

#: crash's strip_symbol_end(): the name ends at the first of these
_CLONE = re.compile(r"\.(isra|part|llvm)\.[^+]*")


def _lines(k: kmemx.Kernel) -> list[str]:
    prog = k.prog
    t1 = find_task(prog, 1)
    stack = int(t1.stack.value_())
    out = [f"rd -s {stack + 0x3000:x} 512", f"rd -S {int(t1.value_()):x} 200",
           f"rd -SS {int(t1.value_()):x} 200", "rd -S init_task 200"]
    mods = prog["modules"]
    if int(mods.next.value_()) != int(mods.address_of_().value_()):
        out.append(f"rd -s {int(mods.next.value_()) - 8:x} 64")
    return out


@pytest.mark.parametrize("variant", ["elf", "panic"])
def test_rd_symbolic_equals_crash(fixture: Fixture, variant: str) -> None:
    if not fixture.has(variant):
        pytest.skip(f"{variant}: {fixture.skip_reason(variant)}")
    if C.find_crash() is None:
        pytest.skip("no crash >= 8.0.4 (scripts/build-crash)")
    k = kmemx.open(fixture.core(variant), fixture.vmlinux)
    lines = _lines(k)
    try:
        theirs = C.crash_outputs(fixture.vmlinux, fixture.core(variant), lines)
    except C.CrashError as e:
        pytest.skip(f"crash: {e}")
    named = slabs = 0
    for line in lines:
        ours: list[dict[str, Any]] = json.loads("\n".join(execute(k, line, as_json=True)))
        want = [(int(ln.split(":")[0], 16), ln.split(":", 1)[1].split())
                for ln in theirs[line].splitlines() if ln[:16].strip() and ":  " in ln]
        assert want, theirs[line]
        got = [(int(r["address"], 16), _CLONE.sub("", r["values"]).split()) for r in ours]
        for (_, g), (_, w) in zip(got, want):
            for i, word in enumerate(w):
                if word.startswith("_MODULE_") and i < len(g):
                    if re.fullmatch(r"[0-9a-f]{16}", g[i]):
                        value = int(g[i], 16)
                        mod = module_of_address(k.prog, value)
                        assert mod and word.endswith("_" + mod), (line, g[i], word)
                        assert ksymbol_at(k.prog, value) is None, (line, g[i], word)
                    g[i] = word
                elif i < len(g) and _module_aliases(k, g[i], word):
                    g[i] = word
        assert got == want, line
        words = [w for _, ws in got for w in ws]
        named += sum(1 for w in words if "+" in w or w.startswith(("_", ".")))
        slabs += sum(1 for w in words if w.startswith("["))
    assert named and slabs  # the comparison saw symbols and slab caches


def _module_aliases(k: kmemx.Kernel, ours: str, theirs: str) -> bool:
    """Written exception: two names of one module address (``NAME+OFF`` with
    the same offset, symbols of both names at one address), where crash's
    module symbol table takes the other alias: the arm64 6.1 dump's first
    module's exit function is ``virtio_mmio_exit`` to kmemx and
    ``cleanup_module`` (the alias module_exit() defines) to crash 8.0.6, as
    for ``struct -p`` (docs/crash-users.md)."""
    from kmemx.helpers.kallsyms import use_module_kallsyms

    a, b = ours.partition("+"), theirs.partition("+")
    if ours == theirs or a[1:] != b[1:] or not a[0] or not b[0]:
        return False
    use_module_kallsyms(k.prog)  # the modules' symbols, by name too
    mine = {s.address for s in k.prog.symbols(a[0])}
    return bool(mine & {s.address for s in k.prog.symbols(b[0])})


def test_rd_symbolic_usage(fixture: Fixture) -> None:
    k = kmemx.open(fixture.core("elf"), fixture.vmlinux)
    with pytest.raises(CommandError, match="64-bit hexadecimal"):
        list(execute(k, "rd -s -32 init_task 4"))
    with pytest.raises(CommandError, match="64-bit hexadecimal"):
        list(execute(k, "rd -S -d init_task 4"))


@pytest.mark.parametrize("line", ["bt -F", "bt -FF", "bt -F 1", "bt -FF 1"])
def test_bt_symbolic_frame_data_equals_crash(fixture: Fixture, line: str) -> None:
    """``bt -F``/``-FF``: each stack-data line (``    ADDR: word word``) as
    crash prints it, the words named as in ``rd -S``/``-SS`` (only readable
    addresses, format_stack_entry()).  Written exception, as for ``bt -f``
    (tests/vmcore/test_crash_habits.py): crash starts the panic task at the
    frame that called the CPU stop, so kmemx's lines end with crash's."""
    if not fixture.has("panic"):
        pytest.skip(f"panic: {fixture.skip_reason('panic')}")
    if C.find_crash() is None:
        pytest.skip("no crash >= 8.0.4 (scripts/build-crash)")
    k = kmemx.open(fixture.core("panic"), fixture.vmlinux)
    try:
        theirs = C.crash_outputs(fixture.vmlinux, fixture.core("panic"), [line])[line]
    except C.CrashError as e:
        pytest.skip(f"crash: {e}")

    def data(text: str) -> list[str]:
        return [_CLONE.sub("", ln).rstrip() for ln in text.splitlines()
                if re.match(r"^    [0-9a-f]{16}: ", ln)]

    ours = data("\n".join(execute(k, line)))
    want = data(theirs)
    if not want and _crash_has_no_cpu_registers(k, theirs):
        assert len(ours) > 5  # kmemx prints the panic task's frames and their words
        pytest.skip(f"{line}: crash-arm64 prints the panic task's header alone (no NT_PRSTATUS "
                    "registers in QEMU's arm64 dump; test_oracle_columns' "
                    "_crash_lacks_cpu_registers): nothing to compare")
    assert len(want) > 5, theirs
    assert ours[len(ours) - len(want):] == want
    named = [w for ln in want for w in ln.split()[1:] if not re.fullmatch(r"[0-9a-f]{16}", w)]
    assert named  # symbols or slab caches were compared


def _crash_has_no_cpu_registers(k: kmemx.Kernel, theirs: str) -> bool:
    """Written exception (arm64 dumps), as test_oracle_columns'
    ``_crash_lacks_cpu_registers``: crash-arm64 8.0.6 takes an active task's
    registers from ``crash_notes`` or the dump's NT_PRSTATUS notes by CPU
    number (arm64.c arm64_get_crash_notes()), finds none in QEMU's panic
    dump, and prints the panic task's ``PID:`` header alone.  True only for
    that: an arm64 dump, crash's text nothing but the header, and its task
    the panic task, whose first frame kmemx (drgn) takes from those notes."""
    from kmemx.arch import is_aarch64

    lines = [ln for ln in theirs.splitlines() if ln.strip()]
    m = re.match(r"PID: (\d+)", lines[0]) if len(lines) == 1 else None
    if m is None or not is_aarch64(k.prog):
        return False
    try:
        panic = k.prog.crashed_thread()
    except (LookupError, ValueError):
        return False
    first = next((f for f in panic.stack_trace() if not f.is_inline), None)
    return panic.tid == int(m[1]) and first is not None and first.interrupted


@pytest.mark.parametrize("variant", ["panic", "elf"])
def test_bt_raw_and_overflow_check_equal_crash(fixture: Fixture, variant: str) -> None:
    """``bt -r`` (the whole stack, named as ``rd -s``) of PID 1 and of a
    worker, and ``bt -v`` (every task's STACK_END_MAGIC): every line as
    crash prints it."""
    if not fixture.has(variant):
        pytest.skip(f"{variant}: {fixture.skip_reason(variant)}")
    if C.find_crash() is None:
        pytest.skip("no crash >= 8.0.4 (scripts/build-crash)")
    k = kmemx.open(fixture.core(variant), fixture.vmlinux)
    worker = next(ln.split()[0].lstrip(">") for ln in list(execute(k, "ps kmx-w000"))[1:])
    lines = ["bt -r 1", f"bt -r {worker}", "bt -v"]
    try:
        theirs = C.crash_outputs(fixture.vmlinux, fixture.core(variant), lines)
    except C.CrashError as e:
        pytest.skip(f"crash: {e}")
    for line in lines:
        ours = [_CLONE.sub("", ln).rstrip() for ln in execute(k, line) if ln.strip()]
        want = [ln.rstrip() for ln in theirs[line].splitlines() if ln.strip()]
        assert len(ours) == len(want), line
        ours = [o if o == w else _xen_elfnote_word(o, w) for o, w in zip(ours, want)]
        assert ours == want, line
    assert list(execute(k, "bt -v")) == ["No stack overflows detected"]


def _xen_elfnote_word(ours: str, theirs: str) -> str:
    """``ours`` with each word crash names ``xen_elfnote_*+N`` taken as
    crash's: a stack word above the image's last symbol and below the
    assembler's absolute constants at its top (7.2.13's
    ``OFFSETOF_FOLD_*``), which crash names by the absolute xen_elfnote
    symbols its table sorts last (symbols.c in_ksymbol_range() skips them
    for that reason), kmemx by the image's nearest symbol below
    (``__pi_sme_workarea+N``): a written exception for garbage words only
    (a kernel address would be below the last symbol)."""
    o, t = ours.split(), theirs.split()
    if len(o) != len(t):
        return ours
    for i, (a, b) in enumerate(zip(o, t)):
        if a != b and b.startswith("xen_elfnote_") and "+" in a:
            o[i] = b
    return theirs if o == t else ours


def test_bt_overflow_check_reports_a_bad_stack_end(fixture: Fixture) -> None:
    """A task whose stack end lost STACK_END_MAGIC (overlaid in kmemx's page
    cache) is reported with crash's lines: its header and the word found."""
    from kmemx.helpers.sched import end_of_stack
    from tests.vmcore.test_counts import patched_u64

    k = kmemx.open(fixture.core("elf"), fixture.vmlinux)
    t1 = k.view("struct task_struct", int(find_task(k.prog, 1).value_()))
    where = end_of_stack(t1)
    with patched_u64(k, where, 0x40FFFFFFFF):
        out = list(execute(k, "bt -v"))
    header = next(iter(execute(k, "bt 1")))
    assert out == [header, f"  possible stack overflow: {where:x}: 40ffffffff != STACK_END_MAGIC",
                   ""]


@pytest.mark.parametrize("variant", ["panic", "elf"])
def test_bt_reference_selects_the_tasks_crash_selects(fixture: Fixture, variant: str) -> None:
    """``foreach bt -R REF``: the tasks whose stack has a frame in function
    REF (crash's frame name) or returning to address REF, in crash's order:
    their header lines equal crash's, for names and for a return address."""
    if not fixture.has(variant):
        pytest.skip(f"{variant}: {fixture.skip_reason(variant)}")
    if C.find_crash() is None:
        pytest.skip("no crash >= 8.0.4 (scripts/build-crash)")
    k = kmemx.open(fixture.core(variant), fixture.vmlinux)
    trace = k.prog.stack_trace(find_task(k.prog, 1))
    pc = next(f.pc for f in trace if not f.is_inline and "schedule" not in (f.name or ""))
    lines = ["foreach bt -R schedule", "foreach bt -R do_nanosleep",
             "foreach bt -R __x64_sys_pause", f"foreach bt -R {pc:x}", "bt -R nosuchfunction 1"]
    try:
        theirs = C.crash_outputs(fixture.vmlinux, fixture.core(variant), lines)
    except C.CrashError as e:
        pytest.skip(f"crash: {e}")
    found = 0
    for line in lines:
        ours = [ln.rstrip() for ln in execute(k, line) if ln.startswith("PID:")]
        want = [ln.rstrip() for ln in theirs[line].splitlines() if ln.startswith("PID:")]
        assert ours == want, line
        found += len(ours)
    assert found > 10


def test_user_addresses_read_through_the_context(fixture: Fixture) -> None:
    """A user address (below the kernel's half) is read through the current
    context's page tables, as crash reads it (``set PID; rd ADDR``), never as
    whatever the dump file maps at that virtual address (a QEMU ELF dump maps
    RAM from 0): the same words as crash and as drgn's access_remote_vm()."""
    from drgn.helpers.linux.mm import access_remote_vm

    if C.find_crash() is None:
        pytest.skip("no crash >= 8.0.4 (scripts/build-crash)")
    k = kmemx.open(fixture.core("elf"), fixture.vmlinux)
    main = next(ln.split()[0].lstrip(">") for ln in list(execute(k, "ps kmx-main"))[1:])
    task = find_task(k.prog, int(main))
    code = int(task.mm.start_code)
    lines = [f"set {main}", f"rd {code:x} 4"]
    try:
        theirs = C.crash_outputs(fixture.vmlinux, fixture.core("elf"), lines)
    except C.CrashError as e:
        pytest.skip(f"crash: {e}")
    list(execute(k, f"set {main}"))
    ours = [(int(r["address"], 16), r["values"].split())
            for r in json.loads("\n".join(execute(k, f"rd {code:x} 4", as_json=True)))]
    want = [(int(ln.split(":")[0], 16), ln.split(":", 1)[1].split()[:2])
            for ln in theirs[lines[1]].splitlines() if ":  " in ln]
    assert ours == want
    raw = bytes(access_remote_vm(task.mm, code, 32))
    assert [w for _, ws in ours for w in ws] == [
        f"{int.from_bytes(raw[i:i + 8], 'little'):016x}" for i in range(0, 32, 8)]
    with pytest.raises(CommandError, match="invalid user virtual address: 0"):
        list(execute(k, "rd 0"))


@pytest.mark.parametrize("line,message", [
    ("struct task_struct 0", "struct: invalid kernel virtual address: 0"),
    ("struct task_struct.pid 10", "struct: invalid kernel virtual address: 10"),
    ("list -H 0 -o task_struct.tasks", "list: invalid kernel virtual address: 0"),
    ("tree -t rb 0", "tree: invalid start argument: 0"),
    ("dis 0", "dis: invalid kernel virtual address: 0")])
def test_null_and_user_addresses_are_no_kernel_objects(fixture: Fixture, line: str,
                                                       message: str) -> None:
    """struct, list, tree and dis read kernel objects: a user-space address
    (NULL included) is crash's one-line error, the command's name first and
    the argument as typed (``struct: invalid kernel virtual address: 10``;
    tree's ``invalid start argument``)."""
    k = kmemx.open(fixture.core("elf"), fixture.vmlinux)
    with pytest.raises(CommandError) as e:
        list(execute(k, line))
    assert str(e.value) == message


@pytest.mark.parametrize("variant", ["elf", "kdump", "flat"])
def test_rd_dump_file_offset_equals_crash(fixture: Fixture, variant: str) -> None:
    """``rd -f``: the dump file's own bytes at an offset (crash's FILEADDR),
    whatever the format: the ELF header and notes, the kdump header and a
    flattened dump's records as stored; line for line crash's, and past the
    file's end one error line (crash: ``read error: dumpfile address``)."""
    if not fixture.has(variant):
        pytest.skip(f"{variant}: {fixture.skip_reason(variant)}")
    if C.find_crash() is None:
        pytest.skip("no crash >= 8.0.4 (scripts/build-crash)")
    core = fixture.core(variant)
    size = os.path.getsize(core)
    lines = ["rd -f 0 32", "rd -f -32 1000 16", "rd -f -a 0 16", "rd -f -x -8 fff 40",
             f"rd -f {size - 16:x} 2"]
    try:
        theirs = C.crash_outputs(fixture.vmlinux, core, lines)
    except C.CrashError as e:
        pytest.skip(f"crash: {e}")
    k = kmemx.open(core, fixture.vmlinux)
    for line in lines:
        want = [ln.rstrip() for ln in theirs[line].splitlines() if ln.strip()]
        assert want and not want[0].startswith("rd:"), (line, want[:2])
        assert [ln.rstrip() for ln in execute(k, line)] == want, line
    with open(core, "rb") as f:
        f.seek(0x1000)
        assert k.read_dump_file(0x1000, 64) == f.read(64)
    # a read running past the end: the readable units first (crash prints them
    # before its errors), then one error line
    partial = f"rd -f {size - 8:x} 2"
    got: list[str] = []
    with pytest.raises(CommandError, match=f"dump file offset {size:#x} is not readable"):
        for out in execute(k, partial):
            got.append(out)
    crash_first = C.crash_outputs(fixture.vmlinux, core, [partial])[partial].strip()
    assert "read error: dumpfile address" in crash_first
    want_words = crash_first.split("rd:")[0].split(":", 1)[1].split()
    assert len(got) == 1 and got[0].split()[1:1 + len(want_words)] == want_words
    with pytest.raises(CommandError, match=r"dump file offset .* not readable"):
        list(execute(k, f"rd -f -a {size + 8:x} 4"))


@pytest.mark.parametrize("variant", ["elf", "kdump"])
def test_struct_dump_file_offset_equals_crash(fixture: Fixture, variant: str) -> None:
    """``struct -f``: a structure read from the dump file at an offset (the
    ELF header as ``elf64_hdr``, the kdump header's bytes as list_heads),
    whole, its members, COUNT, ``-r``: line for line crash's.  ``-c -2``: the
    two structures up to and including OFFSET's, as for an address (written
    exception: crash 8.0.6 moves a kernel address back for a negative COUNT
    but not a dump-file offset, and reads forward from it)."""
    if not fixture.has(variant):
        pytest.skip(f"{variant}: {fixture.skip_reason(variant)}")
    if C.find_crash() is None:
        pytest.skip("no crash >= 8.0.4 (scripts/build-crash)")
    core = fixture.core(variant)
    lines = ["struct -f elf64_hdr 0", "struct -f -x list_head 0x40", "struct -f list_head 64 2",
             "struct -f -r list_head 64", "struct -f elf64_hdr.e_phoff,e_phnum 0"]
    try:
        theirs = C.crash_outputs(fixture.vmlinux, core, lines)
    except C.CrashError as e:
        pytest.skip(f"crash: {e}")
    k = kmemx.open(core, fixture.vmlinux)
    for line in lines:
        want = [ln.rstrip() for ln in theirs[line].splitlines()]
        while want and not want[-1]:
            want.pop()
        assert want and not want[0].startswith("struct:"), (line, want[:2])
        assert [ln.rstrip() for ln in execute(k, line)] == want, line
    assert list(execute(k, "struct -f -c -2 list_head 0x50")) == list(
        execute(k, "struct -f list_head 0x40 2"))
    # -r of a member: its own bytes (e_phoff at 0x20), as for an address
    assert list(execute(k, "struct -f -r elf64_hdr.e_phoff 0")) == list(execute(k, "rd -f 20"))
    with pytest.raises(CommandError, match="cannot be used with percpu"):
        list(execute(k, "struct -f list_head jiffies:0"))
