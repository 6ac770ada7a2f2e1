"""``dis`` against crash 8.0.6 (gdb's disassembler) on the test bed's dumps.

Every instruction of a set of routines (C, assembly, inline-heavy, module-free
kernel text): the same addresses, the same number of instructions, the same
text (mnemonic and operands in gdb's AT&T spelling), the same branch targets.
``-l`` source lines are checked against crash and addr2line (binutils).

Written exceptions (each checked to hold where it is used):

* **Symbol names**: kmemx names an address by the ELF symbol that contains it
  (drgn's ``prog.symbol``, a sized symbol); crash by the nearest symbol at or
  below it, sized or not.  They differ where crash's name is a label inside the
  function (``entry_SYSCALL_64_safe_stack`` in ``entry_SYSCALL_64``), an alias
  at the same address (``memcpy``/``__memcpy``), or the name without gcc's
  clone suffix (``panic_print_sys_info`` for ``panic_print_sys_info.part.0``).
  The address is equal in every case; :func:`_same_place` checks that crash's
  name is one of these.
* **Source lines** (``-l``): where several line-table rows share an address,
  gdb takes the last, drgn (like addr2line) the first.  kmemx's line must then
  be addr2line's; file names are the DWARF names, which crash prints with the
  compilation directory's relative prefix (``debian/build/...``): compared as a
  path suffix.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cached_property

import pytest

import kmemx
from kmemx.commands import execute
from tests.fixtures.fixture import Fixture
from tests.oracles import crash as C
from tests.oracles.crash_cmds import parse_dis
from tests.vmcore.crash_session import CrashSession, crash_session_fixture

pytestmark = pytest.mark.vmcore

#: C routines (plain, inline-heavy, with string instructions), assembly entry
#: code, library routines and the panic path
ROUTINES = ("schedule", "do_sys_open", "__schedule", "sysrq_handle_crash", "panic",
            "copy_process", "vfs_read", "tcp_sendmsg", "memcpy", "entry_SYSCALL_64",
            "native_safe_halt", "__x64_sys_pause", "do_idle", "mutex_lock",
            "_raw_spin_lock", "exc_page_fault", "strlen", "__memset", "__alloc_pages",
            "csum_partial", "ip_rcv", "clear_page_rep", "copy_page")
#: the other forms: an offset and a count, -r, -f, -x, an expression
FORMS = ("dis schedule+20 5", "dis -r schedule+20", "dis -f schedule+150",
         "dis -x schedule 8", "dis (schedule+0x10) 3", "dis -r -x __schedule+100")
_CLONE = re.compile(r"\.(part|cold|isra|constprop|llvm)\.?\d*$")


class Session(CrashSession):
    @cached_property
    def routines(self) -> list[str]:
        return self.symbols_present(ROUTINES)

    @cached_property
    def commands(self) -> dict[str, str]:
        lines = ([f"dis {r}" for r in self.routines] + [f"dis -l {r}" for r in self.routines]
                 + list(FORMS))
        return {line: line for line in lines}

    def ours(self, line: str) -> list[str]:
        return list(execute(self.k, line))


session = crash_session_fixture(Session)


def _clone_base(name: str) -> str:
    while True:
        base = _CLONE.sub("", name)
        if base == name:
            return name
        name = base


def _same_place(k: kmemx.Kernel, address: int, ours: tuple[str, int] | None,
                theirs: tuple[str, int] | None) -> bool:
    """The written exception for names: both name ``address``; crash's name is
    ours, ours without a clone suffix, an alias at our symbol's address, or a
    symbol between our symbol's start and the address."""
    if ours == theirs:
        return True
    if ours is None or theirs is None:
        return False
    if _clone_base(ours[0]) == theirs[0] and ours[1] == theirs[1]:
        return True
    start = address - ours[1]
    at = address - theirs[1]
    if not start <= at <= address:
        return False
    return any(s.name == theirs[0] and s.address == at for s in k.prog.symbols(theirs[0]))


def _arm64_elsewhere(session: Session) -> None:
    """Skip on arm64: its routines, forms and source lines are compared with
    crash-arm64 in tests/vmcore/test_crash_arm64_s10.py, whose written
    exceptions are arm64's (gdb's own name after a conditional branch's
    comment, counted from the DWARF entry past the ftrace patch area; section
    symbols; system registers gdb 10.2 does not name); the patch area's two
    instructions have no line-table row (kmemx: no source line)."""
    from kmemx.arch import is_aarch64

    if is_aarch64(session.k.prog):
        pytest.skip("arm64: compared in tests/vmcore/test_crash_arm64_s10.py")


def test_routines_equal_crash(session: Session) -> None:
    _arm64_elsewhere(session)
    assert len(session.routines) >= 15, session.routines
    exceptions = 0
    total = 0
    for r in session.routines:
        theirs = parse_dis(session.crash[f"dis {r}"])
        ours = parse_dis("\n".join(session.ours(f"dis {r}")))
        assert theirs, f"crash printed nothing for dis {r}"
        assert [x["address"] for x in ours] == [x["address"] for x in theirs], r
        for o, t in zip(ours, theirs):
            total += 1
            where = f"dis {r} at {o['address']:#x}"
            assert o["text"] == t["text"], where
            assert o["target"] == t["target"], where
            rip = re.search(r"# (0x[0-9a-f]+)$", o["text"])
            for key, addr in (("location", o["address"]), ("target_location", o["target"]),
                              ("rip_location", int(rip.group(1), 16) if rip else None)):
                if o[key] != t[key]:
                    assert _same_place(session.k, addr, o[key], t[key]), (where, o[key], t[key])
                    exceptions += 1
    assert total > 2000
    # the names are the exception, not the rule
    assert exceptions < total // 10, (exceptions, total)


@pytest.mark.parametrize("form", FORMS)
def test_forms_equal_crash(session: Session, form: str) -> None:
    _arm64_elsewhere(session)
    theirs = parse_dis(session.crash[form])
    ours = parse_dis("\n".join(session.ours(form)))
    assert theirs and [x["address"] for x in ours] == [x["address"] for x in theirs]
    for o, t in zip(ours, theirs):
        assert o["text"] == t["text"]
        assert o["location"] == t["location"] or _same_place(
            session.k, o["address"], o["location"], t["location"])


def _addr2line(fixture: Fixture, k: kmemx.Kernel, addrs: list[int]) -> list[tuple[str, int]]:
    bias = k.prog.main_module().debug_file_bias or 0
    out = subprocess.run(["addr2line", "-e", str(fixture.vmlinux)]
                         + [f"{a - bias:#x}" for a in addrs],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    res = []
    for line in out:
        f, _, n = line.split(" (")[0].rpartition(":")
        res.append((f, int(n) if n.isdigit() else -1))
    return res


def test_source_lines_equal_crash_or_addr2line(session: Session) -> None:
    _arm64_elsewhere(session)
    if shutil.which("addr2line") is None:
        pytest.skip("no addr2line (binutils)")
    same = other = 0
    for r in session.routines:
        theirs = parse_dis(session.crash[f"dis -l {r}"])
        ours = parse_dis("\n".join(session.ours(f"dis -l {r}")))
        assert [x["address"] for x in ours] == [x["address"] for x in theirs], r
        a2l = _addr2line(session.fixture, session.k, [x["address"] for x in ours])
        for o, t, a in zip(ours, theirs, a2l):
            assert o["source"] is not None, (r, hex(o["address"]))
            f, n = o["source"]
            if t["source"] and t["source"][0].endswith(f) and t["source"][1] == n:
                same += 1
            else:  # the written exception: the first row at the address, as addr2line
                assert a[0].endswith(f) and a[1] == n, (r, hex(o["address"]), o["source"],
                                                        t["source"], a)
                other += 1
    assert same > 4 * other, (same, other)


def test_json_rows(session: Session) -> None:
    rows = json.loads("\n".join(execute(session.k, "dis schedule", as_json=True)))
    text = parse_dis("\n".join(session.ours("dis schedule")))
    assert [int(r["address"], 16) for r in rows] == [x["address"] for x in text]
    sym = session.k.prog.symbol("schedule")
    assert rows[0]["location"] == "<schedule>" and int(rows[0]["address"], 16) == sym.address
    calls = [r for r in rows if r["mnemonic"] in ("call", "bl")]  # x86-64, arm64
    assert calls and all(r["target"] is not None and r["target_location"] for r in calls)


def test_user_text_equal_crash(session: Session) -> None:
    """``dis -u`` in PID 1's context, against crash after ``set 1`` (in a
    session of its own: ``set`` would change the context of the shared one)."""
    from drgn.helpers.linux.pid import find_task

    start = int(find_task(session.k.prog, 1).mm.start_code)
    line = f"dis -u {start:x} 12"
    try:
        out = C.run_crash_commands(session.fixture.vmlinux, session.core, ["set 1", line],
                                   timeout=300)
    except C.CrashError as e:
        pytest.skip(f"crash: {e}")
    theirs = parse_dis(out[line])
    list(execute(session.k, "set 1"))
    try:
        text = "\n".join(session.ours(line))
    finally:
        from kmemx.commands.context import CURRENT_TASK_KEY

        session.k.prog.cache.pop(CURRENT_TASK_KEY, None)  # back to the default context
    ours = parse_dis(text)
    assert len(theirs) == 12
    assert [(o["address"], o["text"], o["target"]) for o in ours] == [
        (t["address"], t["text"], t["target"]) for t in theirs]
    assert text.splitlines()[0].startswith("   0x")  # gdb's indent: no symbol


@pytest.mark.parametrize("line,message", [
    ("dis no_such_function_xyz", "unknown symbol"),
    ("dis schedule 0", "invalid count"),
    ("dis -r 0x10", "dis: invalid kernel virtual address: 0x10"),
    ("dis -r ffffffffffff0010", "not inside a known routine"),
    ("dis 0xffffffffffff0000 2", "cannot read"),
])
def test_bad_input_is_one_error(session: Session, line: str, message: str) -> None:
    from kmemx.commands import CommandError

    with pytest.raises(CommandError, match=message):
        list(execute(session.k, line))


def test_dis_cli_error_line(fixture: Fixture) -> None:
    proc = subprocess.run(["kmemx", "-q", "-c", str(fixture.core("elf")), "-s", str(fixture.vmlinux),
                           "dis", "no_such_function_xyz"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0
    errs = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(errs) == 1 and errs[0].startswith("kmemx: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
