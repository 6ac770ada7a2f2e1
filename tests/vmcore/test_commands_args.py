"""Command arguments on real dumps: several arguments (each bad one reported, the
good rows kept), crash's argument syntax, module symbols without the module's
debug info, kernel byte strings in JSON, and piped tasks of both view kinds.
Expectations come from plain drgn on the same dump (and crash where cheap)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import drgn
import pytest
from drgn.helpers.linux.cpumask import for_each_possible_cpu
from drgn.helpers.linux.fs import for_each_file
from drgn.helpers.linux.module import for_each_module
from drgn.helpers.linux.pid import find_task, for_each_task
from drgn.helpers.linux.sched import idle_task

import kmemx
from kmemx.commands import CommandError, execute, kernel_bytes
from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore

WARNING = "kmemx: warning: "


@pytest.fixture(scope="module")
def k(fixture: Fixture) -> kmemx.Kernel:
    return kmemx.open(fixture.core("elf"), fixture.vmlinux)


@pytest.fixture(scope="module")
def prog(fixture: Fixture) -> drgn.Program:
    """Plain drgn on the same dump: the oracle."""
    p: drgn.Program = fixture.drgn_program("elf")
    return p


def run(k: kmemx.Kernel, line: str) -> tuple[list[str], list[str]]:
    """(output lines, warnings) of a command line."""
    out, warnings = [], []
    for text in execute(k, line):
        (warnings if text.startswith(WARNING) else out).append(text)
    return out, [w[len(WARNING):] for w in warnings]


def run_json(k: kmemx.Kernel, line: str) -> tuple[list[dict[str, Any]], list[str]]:
    out, warnings = [], []
    for text in execute(k, line + " --json"):
        (warnings if text.startswith(WARNING) else out).append(text)
    data: list[dict[str, Any]] = json.loads("\n".join(out))
    return data, warnings


def module_kallsyms(prog: drgn.Program) -> list[dict[str, Any]]:
    """Each loaded module's in-memory symbol table, read field by field from
    ``struct module->kallsyms`` (name, address, size, nm type, module)."""
    out = []
    for mod in for_each_module(prog):
        name = mod.name.string_().decode()
        ks = mod.kallsyms
        strtab = ks.strtab.value_()
        for i in range(ks.num_symtab.value_()):
            s = ks.symtab[i]
            if not s.st_name:
                continue
            sym = prog.read(strtab + s.st_name.value_(), 128).split(b"\0")[0].decode()
            out.append({"module": name, "name": sym, "address": s.st_value.value_(),
                        "size": s.st_size.value_(), "type": chr(ks.typetab[i].value_())})
    return out


# -- several arguments ----------------------------------------------------------------------------

def test_sym_keeps_good_rows_and_reports_each_bad_one(k: kmemx.Kernel,
                                                      prog: drgn.Program) -> None:
    rows, warnings = run_json(k, "sym jiffies 0x10 kmx_no_such_symbol init_task")
    assert [(int(r["address"], 16), r["symbol"], r["module"]) for r in rows] == [
        (prog.symbol("jiffies").address, "jiffies", None),
        (prog.symbol("init_task").address, "init_task", None)]
    assert len(warnings) == 2
    assert "0x10" in warnings[0] and "kmx_no_such_symbol" in warnings[1]
    # every argument bad: one error line naming each, nothing printed
    with pytest.raises(CommandError) as e:
        run(k, "sym 0x10 kmx_no_such_symbol")
    assert "0x10" in str(e.value) and "kmx_no_such_symbol" in str(e.value)
    assert "\n" not in str(e.value)


def test_sym_matches_the_guests_kallsyms(fixture: Fixture, k: kmemx.Kernel) -> None:
    want = fixture.manifest["kallsyms"]  # the guest's /proc/kallsyms
    rows, warnings = run_json(k, "sym " + " ".join(want))
    assert not warnings
    assert {r["symbol"]: int(r["address"], 16) for r in rows} == want


def test_sym_reads_addresses_as_crash_does(k: kmemx.Kernel, prog: drgn.Program) -> None:
    sym = prog.symbol("schedule")
    a = sym.address
    forms = [f"{a:x}", f"{a:#x}", f"{a + 16:x}", f"{a + 16:#X}".replace("0X", "0x"),
             "schedule+16", "schedule+0x10", "schedule"]
    rows, warnings = run_json(k, "sym " + " ".join(forms))
    assert not warnings
    assert [(int(r["address"], 16), r["symbol"], r["type"]) for r in rows] == [
        (a, "schedule", "T"), (a, "schedule", "T"), (a + 16, "schedule+16", "T"),
        (a + 16, "schedule+16", "T"), (a + 16, "schedule+16", "T"),
        (a + 16, "schedule+16", "T"), (a, "schedule", "T")]


def test_task_bt_files_take_pids_and_addresses(k: kmemx.Kernel, prog: drgn.Program) -> None:
    init, kthreadd = find_task(prog, 1), find_task(prog, 2)
    line = f"1 {kthreadd.value_():x} {init.value_():#x} 424242 0x10"
    out, warnings = run(k, f"task -m pid {line}")
    heads = [ln for ln in out if ln.startswith("PID:")]
    assert [re.search(r"TASK: (\w+)", h).group(1) for h in heads] == [  # type: ignore[union-attr]
        f"{init.value_():x}", f"{kthreadd.value_():x}", f"{init.value_():x}"]
    assert [ln.strip().rstrip(",") for ln in out if "pid =" in ln] == ["pid = 1", "pid = 2", "pid = 1"]
    assert warnings == ["no task with PID 424242", "invalid task address 0x10"]

    out, warnings = run(k, "bt 424242 1")
    assert out[0].startswith("PID: 1 ") and warnings == ["no task with PID 424242"]
    assert any(" schedule at " in ln for ln in out)

    pids = [t.pid.value_() for t in for_each_task(prog) if t.files][-2:]
    want = sum(1 for p in pids for _ in for_each_file(find_task(prog, p)))
    rows, warnings = run_json(k, f"files {pids[0]} kmx-not-a-task {pids[1]}")
    assert len(rows) == want and len(warnings) == 1 and "kmx-not-a-task" in warnings[0]
    with pytest.raises(CommandError, match="no task with PID 424242"):
        run(k, "files 424242")


def test_struct_and_whatis_take_several(k: kmemx.Kernel, prog: drgn.Program) -> None:
    init = find_task(prog, 1)
    rows, warnings = run_json(
        k, f"struct task_struct.pid,comm init_task {init.value_():x} 0xdead000000000000")
    assert [(int(r["address"], 16), r["pid"], r["comm"]) for r in rows] == [
        (prog["init_task"].address_, 0, prog["init_task"].comm.string_().decode()),
        (init.value_(), 1, init.comm.string_().decode())]
    assert len(warnings) == 1 and "0xdead000000000000" in warnings[0]

    out, warnings = run(k, "whatis jiffies struct list_head kmx_nothing")
    assert out[0] == f"{prog['jiffies'].type_.type_name()} jiffies;"
    # crash's text: drgn's definition with 4-space indents, then its size
    assert out[1:] == [*str(prog.type("struct list_head")).replace("\t", "    ").splitlines(),
                       "SIZE: 16"]
    assert len(warnings) == 1 and "kmx_nothing" in warnings[0]


# -- module symbols without the module's debug info ---------------------------------------------

def test_sym_names_module_addresses_from_kallsyms(fixture: Fixture, k: kmemx.Kernel,
                                                   prog: drgn.Program) -> None:
    syms = [s for s in module_kallsyms(prog) if s["type"] in "tT" and s["size"] > 1]
    assert {s["module"] for s in syms} == {m["name"] for m in fixture.manifest["modules"]}
    for s in syms:
        with pytest.raises(LookupError):
            prog.symbol(s["address"])  # plain drgn: no module debug info, no name
    args = [f"{s['address']:x}" for s in syms] + [f"{s['address'] + 1:#x}" for s in syms]
    rows, warnings = run_json(k, "sym " + " ".join(args))
    assert not warnings
    # aliases (cleanup_module, dummy_cleanup_module) share an address: any of them
    aliases: dict[int, set[tuple[str, str]]] = {}
    for s in syms:
        aliases.setdefault(s["address"], set()).add((s["name"], s["type"]))
    assert len(rows) == len(args)
    for r, s, off in zip(rows, syms + syms, [0] * len(syms) + [1] * len(syms)):
        assert int(r["address"], 16) == s["address"] + off and r["module"] == s["module"]
        name, _, plus = r["symbol"].partition("+")
        assert (name, r["type"]) in aliases[s["address"]] and plus == (str(off) if off else "")
    # and by name, as crash and /proc/kallsyms know them
    unique = [s for s in syms if sum(1 for x in syms if x["name"] == s["name"]) == 1
              and len(aliases[s["address"]]) == 1][:10]
    rows, warnings = run_json(k, "sym " + " ".join(s["name"] for s in unique))
    assert [int(r["address"], 16) for r in rows] == [s["address"] for s in unique]


def test_sym_module_address_equals_crash(fixture: Fixture, k: kmemx.Kernel,
                                         prog: drgn.Program) -> None:
    from tests.oracles.crash import CrashError, crash_outputs, find_crash

    binary = find_crash()
    if binary is None:
        pytest.skip("no crash >= 8.0.4 (run scripts/build-crash)")
    base = next(s for s in module_kallsyms(prog)
                if s["module"] == "dummy" and s["type"] in "tT" and s["size"] > 1)
    cmd = f"sym {base['address'] + 1:x}"
    try:
        text = crash_outputs(fixture.vmlinux, fixture.core("elf"), [cmd], crash=binary)[cmd]
    except CrashError as e:
        pytest.skip(f"crash failed: {e}")
    # crash: "ffffffffc0336001 (t) set_multicast_list+1 [dummy]"
    m = re.search(r"^([0-9a-f]+) \((\w)\) (\S+) \[(\w+)\]", text, re.M)
    assert m, text
    rows, _ = run_json(k, cmd)
    assert (rows[0]["address"][2:], rows[0]["type"], rows[0]["symbol"], rows[0]["module"]) == \
        m.groups()


@pytest.mark.parametrize("v", ["panic", "elf"])
def test_bt_names_every_frame(fixture: Fixture, v: str) -> None:
    """Each kernel frame of bt is named as drgn names it, or, in a module without
    debug info, from the module's symbol table with ``[module]``."""
    if not fixture.has(v):
        pytest.skip(fixture.skip_reason(v))
    from drgn.helpers.linux.module import address_to_module

    kv = kmemx.open(fixture.core(v), fixture.vmlinux)
    p = fixture.drgn_program(v)
    syms = module_kallsyms(p)
    tasks = [p.crashed_thread().object] if v == "panic" else [
        idle_task(p, cpu) for cpu in for_each_possible_cpu(p)] + [find_task(p, 1)]
    for task in tasks:
        out, _ = run(kv, f"bt {task.value_():#x}")
        # crash's "%s#%d [", level < 10 ? " " : ""
        frames = [ln for ln in out if re.match(r"( #\d|#\d\d+) \[", ln)]
        want = []
        for f in p.stack_trace(task):
            if f.pc < 1 << 63:
                break
            mod = address_to_module(p, f.pc)
            if mod:
                s = next(s for s in syms if s["address"] <= f.pc < s["address"] + s["size"])
                want.append((s["name"], mod.name.string_().decode()))
            else:
                want.append((f.name, None))
        assert len(frames) == len(want), out
        for line, (name, mod) in zip(frames, want):
            assert f"] {name} at " in line, line
            assert (f"[{mod}]" in line) == bool(mod), line


# -- one kind of struct view ----------------------------------------------------------------------

def test_task_members_of_idle_and_piped_tasks(k: kmemx.Kernel, prog: drgn.Program) -> None:
    idle = [idle_task(prog, cpu).value_() for cpu in for_each_possible_cpu(prog)]
    out, warnings = run(k, "task -m pid,comm 0")
    assert not warnings
    assert [int(re.search(r"TASK: (\w+)", ln).group(1), 16)  # type: ignore[union-attr]
            for ln in out if ln.startswith("PID:")] == idle
    assert [ln.strip().rstrip(",") for ln in out if "pid =" in ln] == ["pid = 0"] * len(idle)

    out, warnings = run(k, "ps | filter pid<3 | task -m pid")
    assert not warnings
    assert [ln.strip().rstrip(",") for ln in out if "pid =" in ln] == ["pid = 0"] * len(idle) + [
        "pid = 1", "pid = 2"]
    rows, _ = run_json(k, "ps | filter pid<3 | struct task_struct.pid,comm")
    assert [int(r["address"], 16) for r in rows] == [
        *idle, find_task(prog, 1).value_(), find_task(prog, 2).value_()]
    out, warnings = run(k, "ps | filter pid==0 | bt")
    assert not warnings and sum(1 for ln in out if ln.startswith("PID: 0 ")) == len(idle)
    rows, warnings = run_json(k, "ps | filter pid==1 | files")
    assert not warnings and len(rows) == sum(1 for _ in for_each_file(find_task(prog, 1)))


def test_task_of_a_piped_non_task_is_reported(k: kmemx.Kernel) -> None:
    out, warnings = run(k, "slabinfo | filter name==dentry | task -m pid")
    assert len(warnings) == 1 and "struct kmem_cache" in warnings[0]
    assert out == []  # not the default task instead


# -- kernel byte strings ---------------------------------------------------------------------------

def test_comm_bytes_survive_json(k: kmemx.Kernel, prog: drgn.Program) -> None:
    rows, _ = run_json(k, "ps")
    by_addr = {int(r["task"], 16): r["comm"] for r in rows}
    n = 0
    for t in for_each_task(prog):
        assert kernel_bytes(by_addr[t.value_()]) == t.comm.string_(), t.pid.value_()
        n += 1
    assert n > 50


# -- help ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("cmd", ["ps", "sym", "task"])
def test_help_printed_once(fixture: Fixture, cmd: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "kmemx", "-q", "-c", str(fixture.core("elf")),
                           "-s", str(fixture.vmlinux), cmd, "-h"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(f"usage: {cmd}") == 1, proc.stdout


def test_function_pointer_into_a_module_is_named(k: kmemx.Kernel, prog: drgn.Program) -> None:
    """A view's function pointer into a module without debug info has the name of
    the module's symbol (dummy's net_device_ops.ndo_set_rx_mode)."""
    syms = module_kallsyms(prog)
    ops = next((s for s in syms if s["name"] == "dummy_netdev_ops"), None)
    if ops is None:
        pytest.skip("no dummy_netdev_ops in the dummy module's symbol table")
    view = k.view("struct net_device_ops", ops["address"])
    try:  # "dummy: convert to ndo_set_rx_mode_async" (net-next 2026, in 7.2): the new hook
        fp = view.ndo_set_rx_mode_async
    except AttributeError:
        fp = None
    if not fp:
        fp = view.ndo_set_rx_mode
    assert fp and fp.name in {s["name"] for s in syms if s["address"] == int(fp)}


def test_kmem_i_shared_is_kmem_i(k: kmemx.Kernel) -> None:
    """crash 9's ``kmem -i=shared`` (its -i leaves SHARED out unless asked)
    is kmemx's ``kmem -i``, which always has the SHARED row; any other value
    is one error line."""
    rows = list(execute(k, "kmem -i=shared --json"))
    assert rows == list(execute(k, "kmem -i --json"))
    assert any(r["key"] == "SHARED" for r in json.loads("\n".join(rows)))
    for bad in ("kmem -i=share", "kmem -i dentry"):
        with pytest.raises(CommandError, match=r"kmem -i takes no argument"):
            list(execute(k, bad))
