"""The ``kmemx`` command line on the real dump: one-shot commands, -e, stdin,
scripts that use ``k``, exit statuses, one-line errors, and the drgn plugin."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.fixture import Fixture
from tests.vmcore.regions import kallsyms_address

pytestmark = pytest.mark.vmcore


def kmemx(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmemx", *args], capture_output=True,
                          text=True, input=stdin, timeout=120, cwd=cwd,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def target(fixture: Fixture) -> list[str]:
    return ["-c", str(fixture.core("elf")), "-s", str(fixture.vmlinux)]


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The process failed with exactly one ``kmemx: error:`` line and no traceback."""
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("warning:")
              and not line.startswith("critical:")]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith("kmemx: error: "), errors[0]
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in errors[0]
    assert proc.stdout == ""
    return errors[0]


# -- one-shot commands ----------------------------------------------------------------------------

def test_command_reads_the_dump(fixture: Fixture, target: list[str]) -> None:
    proc = kmemx(*target, "-q", "sym", "jiffies")
    assert proc.returncode == 0, proc.stderr
    addr = kallsyms_address(fixture, "jiffies")
    assert f"{addr:x}" in proc.stdout and "jiffies" in proc.stdout
    assert proc.stderr == ""


def test_command_json(fixture: Fixture, target: list[str]) -> None:
    proc = kmemx(*target, "-q", "--json", "sym", "jiffies")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data and int(data[0]["address"], 16) == kallsyms_address(fixture, "jiffies")


def test_pipelines_as_one_word_or_many(target: list[str]) -> None:
    one = kmemx(*target, "-q", "echo 0x10 0x20 0x30 | count")
    many = kmemx(*target, "-q", "echo", "0x10", "0x20", "0x30", "|", "count")
    assert one.returncode == many.returncode == 0
    assert one.stdout == many.stdout == "COUNT\n    3\n"
    shell = kmemx(*target, "-q", "echo 0x10 0x20 ! wc -l")
    assert shell.stdout.strip() == "2"  # echo prints one address a line, no header


def test_help_lists_the_commands(target: list[str]) -> None:
    proc = kmemx(*target, "-q", "help")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["COMMAND", "DESCRIPTION"]
    names = {line.split()[0] for line in lines[1:]}
    assert {"help", "plugins", "filter", "count"} <= names
    manual = kmemx(*target, "-q", "help", "filter")
    assert manual.returncode == 0 and "usage: filter" in manual.stdout


def test_command_errors_are_one_line(target: list[str]) -> None:
    one_line_error(kmemx(*target, "-q", "pss"), "unknown command 'pss'", "did you mean ps")
    one_line_error(kmemx(*target, "-q", "help", "--bogus"), "unrecognized arguments")
    one_line_error(kmemx(*target, "-q", "echo 0x1 | help | count"), "does not read piped input")
    one_line_error(kmemx(*target, "-q", "echo 0x1000 | cast 'struct task_strct'"),
                   "unknown type", "did you mean struct task_struct")


def test_quoting_is_kept(target: list[str]) -> None:
    proc = kmemx(*target, "-q", "echo", "0x10", "|", "filter", "address == 16")
    assert proc.returncode in (0, 1)
    assert "Traceback" not in proc.stderr


# -- target errors ---------------------------------------------------------------------------------

def test_bad_targets(fixture: Fixture, tmp_path: Path) -> None:
    vml = str(fixture.vmlinux)
    one_line_error(kmemx("-c", str(tmp_path / "nope"), "-s", vml, "help"),
                   "No such file or directory")
    one_line_error(kmemx("-c", str(tmp_path), "-s", vml, "-e", "pass"), "directory")
    text = tmp_path / "notes.txt"
    text.write_text("not a dump\n")
    one_line_error(kmemx("-c", str(text), "-s", vml, "-e", "pass"), "not an ELF")
    one_line_error(kmemx("-c", str(fixture.core("elf")), "-s", str(tmp_path / "vmlinux"),
                         "-e", "pass"), "No such file or directory")
    one_line_error(kmemx("-c", str(fixture.core("elf")), "-s", sys.executable, "sym", "x"),
                   "does not match")
    one_line_error(kmemx("-c", str(fixture.core("elf")), "-s", str(text), "-e", "pass"),
                   "not an ELF file")


def test_no_vmcoreinfo_and_reader_choice(fixture: Fixture) -> None:
    if fixture.has("novmcoreinfo"):
        # without -s (with it, x86-64 recovers the note: test_no_vmcoreinfo.py)
        one_line_error(kmemx("-c", str(fixture.core("novmcoreinfo")), "-e", "pass"),
                       "VMCOREINFO")
    if fixture.has("kdump"):
        one_line_error(kmemx("-c", str(fixture.core("kdump")), "-s", str(fixture.vmlinux),
                             "--reader", "mmap-elf", "-e", "pass"), "drgn reader")
        ok = kmemx("-q", "-c", str(fixture.core("kdump")), "-s", str(fixture.vmlinux),
                   "-e", "print(k.reader.name, prog['init_task'].comm.string_().decode())")
        assert ok.stdout == "kdump swapper/0\n", ok.stderr
        forced = kmemx("-q", "-c", str(fixture.core("kdump")), "-s", str(fixture.vmlinux),
                       "--reader", "drgn", "-e", "print(k.reader.name)")
        assert forced.stdout == "drgn\n", forced.stderr


def test_live_kernel_failure_points_to_doctor() -> None:
    proc = kmemx("-k", "-e", "print('live ok')")
    if proc.returncode == 0:
        pytest.skip("this machine lets kmemx read the running kernel")
    one_line_error(proc, "kmemx doctor")


def test_usage_errors(target: list[str]) -> None:
    proc = kmemx("--bogus")
    assert proc.returncode == 2 and "kmemx: error: unrecognized arguments: --bogus" in proc.stderr
    proc = kmemx("-c", "a", "-k")
    assert proc.returncode == 2 and "not allowed with argument" in proc.stderr


# -- the options, -e, stdin, scripts ---------------------------------------------------------------

def test_version_and_help() -> None:
    proc = kmemx("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("kmemx 0.1.0 (drgn ")
    from kmemx._accel import speedups

    assert ("no C speedups" in proc.stdout) == (speedups is None)
    text = kmemx("--help").stdout
    for opt in ("-c PATH, --core PATH", "-k, --kernel", "-s PATH, --symbols PATH",
                "--no-default-symbols", "-e CODE", "-q, --quiet", "--reader",
                "--json", "--version", "examples:", "kmemx doctor"):
        assert opt in text, opt


def test_doctor_subcommand() -> None:
    proc = kmemx("doctor", "--help")
    assert proc.returncode == 0 and "usage: kmemx doctor" in proc.stdout


def test_exec_namespace(target: list[str]) -> None:
    code = ("import sys; print(k.reader.name, type(view(prog['init_task'])).__name__, "
            "prog['init_task'].comm.string_().decode(), sys.argv, "
            "callable(for_each_task), kx.__name__, drgn.get_default_prog() is prog)")
    proc = kmemx(*target, "-q", "-e", code, "a", "b")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("mmap-elf View_struct_task_struct swapper/0 ['-e', 'a', 'b'] True "
                           "kmemx.helpers True\n")
    proc = kmemx(*target, "-q", "--reader", "drgn", "-e", "print(k.reader.name)")
    assert proc.stdout == "drgn\n"


def test_exec_errors_like_drgn(target: list[str]) -> None:
    proc = kmemx(*target, "-q", "-e", "print('x'); raise SystemExit(4)")
    assert (proc.returncode, proc.stdout) == (4, "x\n")
    proc = kmemx(*target, "-q", "-e", "prog.read(0xdead000000000000, 8)")
    assert proc.returncode == 1 and "_drgn.FaultError: address is not mapped" in proc.stderr


def test_exec_takes_a_command_line(target: list[str]) -> None:
    """``-e 'bt 1'`` (not Python, a command) runs the command, as the REPL
    would; ``-e ps`` (a bare name that the namespace lacks) too; other text
    that is not Python is one error line, not a SyntaxError traceback."""
    direct = kmemx(*target, "-q", "bt", "1")
    for code in ("bt 1", "%bt 1"):
        proc = kmemx(*target, "-q", "-e", code)
        assert (proc.returncode, proc.stdout) == (0, direct.stdout), proc.stderr
    assert direct.stdout.startswith("PID: 1 ")
    proc = kmemx(*target, "-q", "-e", "ps")
    assert proc.returncode == 0 and proc.stdout.split()[:3] == ["PID", "PPID", "CPU"]
    proc = kmemx(*target, "-q", "-e", "print(len(list(for_each_task())) > 1)")
    assert proc.stdout == "True\n", proc.stderr
    one_line_error(kmemx(*target, "-q", "-e", "foo bar"),
                   "-e is not Python (invalid syntax, line 1, column 5) and does not start "
                   "with a kmemx command")


def test_stdin_is_a_script(target: list[str], fixture: Fixture) -> None:
    proc = kmemx(*target, "-q", stdin="print(prog['init_task'].pid.value_(), k.release)\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"0 {fixture.release}\n"


def test_scripts_get_k(target: list[str], tmp_path: Path) -> None:
    script = tmp_path / "uses_k.py"
    script.write_text(
        "import sys\n"
        "t = k.object('init_task')\n"
        "print(k.reader.name, t.comm.string().decode(), t.address == "
        "prog['init_task'].address_, sys.argv[1:], __name__)\n")
    proc = kmemx(*target, "-q", str(script), "x", "--flag")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "mmap-elf swapper/0 True ['x', '--flag'] __main__\n"
    nodotpy = tmp_path / "runme"
    nodotpy.write_text("print('no .py suffix', prog is not None)\n")
    proc = kmemx(*target, "-q", str(nodotpy))
    assert proc.stdout == "no .py suffix True\n"


def test_script_errors(fixture: Fixture, target: list[str], tmp_path: Path) -> None:
    one_line_error(kmemx(*target, str(tmp_path / "missing.py")), "missing.py",
                   "No such file or directory")
    one_line_error(kmemx(*target, str(fixture.core("elf"))), "is a core dump",
                   f"-c {fixture.core('elf')}")
    one_line_error(kmemx(*target, sys.executable), "is a binary, not a drgn script")
    one_line_error(kmemx(*target, "nosuchthing"), "unknown command 'nosuchthing'")


def test_console_script(target: list[str]) -> None:
    exe = shutil.which("kmemx")
    if exe is None:
        pytest.skip("the kmemx console script is not on PATH")
    proc = subprocess.run([exe, *target, "-q", "echo 0x1 | count"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout == "COUNT\n    1\n"


def test_broken_pipe_is_quiet(target: list[str]) -> None:
    cmd = (f"{sys.executable} -m kmemx {' '.join(target)} -q "
           f"'echo {' '.join(hex(i) for i in range(1, 3000))}' | head -n 2")
    proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert proc.stdout.splitlines() == ["1", "2"]
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


# -- the drgn plugin --------------------------------------------------------------------------------

def drgn_with_plugin(target: list[str], code: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("drgn")
    argv = [exe] if exe else [sys.executable, "-m", "drgn"]
    env = {**os.environ, "DRGN_PLUGINS": "kmemx=kmemx.drgn_plugin"}
    return subprocess.run([*argv, "-q", *target, "-e", code], capture_output=True, text=True,
                          timeout=120, env=env)


def test_drgn_plugin_runs_kmemx_commands(fixture: Fixture, target: list[str]) -> None:
    code = """
from drgn.commands import DEFAULT_COMMAND_NAMESPACE as ns, run_command
print(sorted(n for n in ns._commands if n in ('kmemx', 'sym', 'crash', 'count')))
run_command(prog, "kmemx sym jiffies")
run_command(prog, "kmemx echo 0x1 0x2 | count")
run_command(prog, "kmemx pss", onerror=lambda e: print(type(e).__name__, e))
run_command(prog, "kmemx", onerror=print)
print('sym' in ns._commands, 'crash' in ns._commands)
run_command(prog, "sym jiffies")
"""
    proc = drgn_with_plugin(target, code)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0] == "['crash', 'kmemx']"  # scripts don't pay for per-command names
    addr = f"{kallsyms_address(fixture, 'jiffies'):x}"
    assert addr in out[2] and "jiffies" in out[2]
    assert "COUNT" in out and "    2" in out
    assert "CommandError unknown command 'pss' (did you mean ps, sys?)" in proc.stdout
    assert "True True" in out  # %kmemx registered every command; drgn keeps %crash
    assert sum(addr in line for line in out) == 2


def test_drgn_plugin_hook(fixture: Fixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from drgn.commands import DEFAULT_COMMAND_NAMESPACE

    from kmemx import drgn_plugin

    monkeypatch.setattr(sys, "argv", ["drgn", "-c", "vmcore", "script.py"])
    assert not drgn_plugin._interactive_drgn()
    monkeypatch.setattr(sys, "argv", ["drgn", "-c", "vmcore", "-e", "pass"])
    assert not drgn_plugin._interactive_drgn()
    monkeypatch.setattr(sys, "argv", ["pytest"])
    assert not drgn_plugin._interactive_drgn()
    prog: Any = fixture.prog
    drgn_plugin.drgn_prog_set(prog)  # never raises
    cmd = drgn_plugin.KmemxDrgnCommand("sym")
    assert cmd.enabled(prog) and "usage: " not in cmd.format_usage()
    assert "sym" in cmd.format_help() and cmd.description().startswith("kmemx: ")
    assert "kmemx" in DEFAULT_COMMAND_NAMESPACE._commands
    import drgn

    assert not drgn_plugin.KmemxDrgnCommand(None).enabled(drgn.Program())


def test_quoted_command_with_more_arguments(target: list[str]) -> None:
    """``kmemx ... 'kmem -i' --json``: the first word may be a whole command."""
    import json

    proc = kmemx(*target, "kmem -i", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["key"] == "TOTAL MEM"


def test_command_lines_on_stdin_and_with_i(fixture: Fixture, target: list[str],
                                           tmp_path: Path) -> None:
    """crash's habits: ``kmemx -c ... < cmds`` runs a file of command lines
    (comments, blank lines and REPL-style ``%`` allowed) as ``-i cmds`` does;
    a failing line prints its one error and the rest run; stdin that is
    Python stays a script, as under drgn."""
    cmds = "sys\n# a comment\n\n%ps -G | count\nno_such_cmd_xyz\np jiffies\n"
    (tmp_path / "cmds").write_text(cmds.replace("no_such_cmd_xyz\n", ""))
    by_stdin = kmemx(*target, "-q", stdin=cmds.replace("no_such_cmd_xyz\n", ""))
    by_file = kmemx(*target, "-q", "-i", str(tmp_path / "cmds"))
    assert by_stdin.returncode == by_file.returncode == 0, by_stdin.stderr
    assert by_stdin.stdout == by_file.stdout
    out = by_file.stdout
    assert "RELEASE" in out and "COUNT" in out and "jiffies = " in out
    count = kmemx(*target, "-q", "ps -G | count").stdout
    assert count in out
    # Python lines on stdin run as Python
    py = kmemx(*target, "-q", stdin="x = prog['jiffies'].value_()\nprint(x > 0)\n")
    assert (py.returncode, py.stdout.strip()) == (0, "True"), py.stderr
    # a line that is no command, with -i or on stdin: one error naming it, and
    # the other lines run, as crash runs them (on stdin, Python's NameError, as
    # the REPL says it)
    (tmp_path / "bad").write_text(cmds)
    for bad, error in ((kmemx(*target, "-q", "-i", str(tmp_path / "bad")),
                        "unknown command 'no_such_cmd_xyz'"),
                       (kmemx(*target, "-q", stdin=cmds),
                        "<stdin> line 5: NameError: name 'no_such_cmd_xyz' is not defined; "
                        "not a kmemx command either")):
        assert bad.returncode == 1 and bad.stdout == out, bad.stderr
        assert bad.stderr == f"kmemx: error: {error}\n"
    # a bracket never closed: one error, no traceback
    neither = kmemx(*target, "-q", stdin="x = (\nps\n")
    assert neither.returncode == 1 and neither.stdout == ""
    assert one_line_error(neither, "<stdin> line 1: SyntaxError: '(' was never closed")
    # a command that fails midway: its error, and the next lines still run
    mixed = kmemx(*target, "-q", stdin="sym no_such_symbol_xyz\np jiffies\n")
    assert mixed.returncode == 1 and "jiffies = " in mixed.stdout
    assert mixed.stderr.count("kmemx: error:") == 1


def test_new_users_front_end_report(fixture: Fixture, target: list[str],
                                    tmp_path: Path) -> None:
    """The new user's report: stdin mixes Python and command lines as the
    REPL does, an error is one line naming its stdin line and the rest runs;
    -e keeps only the user's frames; a file that is no vmlinux and a cut dump
    are one kmemx line each, without drgn's raw notes (-q not given)."""
    mixed = kmemx(*target, stdin='x = 1\nprint(x)\nlog | tail 1\nprint("hi")\nsys\n'
                                 'prog.read(0xdeadbeef, 8)\nrd 0xdeadbeef\nprint("after")\n')
    assert mixed.returncode == 1
    out = mixed.stdout.splitlines()
    assert out[:2] == ["1", kmemx(*target, "-q", "log | tail 1").stdout.rstrip("\n")]
    assert out[2] == "hi" and "RELEASE: " in mixed.stdout and out[-1] == "after"
    errors = [e for e in mixed.stderr.splitlines() if not e.startswith("kmemx: note:")]
    assert len(errors) == 2 and errors[1].startswith("kmemx: error: <stdin> line 7: rd: ")
    assert errors[0] == ("kmemx: error: <stdin> line 6: FaultError: address is not mapped: "
                         "0xdeadbeef")
    exec_error = kmemx(*target, "-q", "-e", "prog.read(0xdeadbeef, 8)")
    assert exec_error.returncode == 1 and "cli.py" not in exec_error.stderr
    assert exec_error.stderr.splitlines()[1:] == ['  File "<string>", line 1, in <module>',
                                                 "_drgn.FaultError: address is not mapped: "
                                                 "0xdeadbeef"]
    # a core dump given as the vmlinux: its one error, not drgn's two warnings first
    core = str(fixture.core("elf"))
    wrong = kmemx("-c", core, "-s", core, "ps")
    assert (wrong.returncode, wrong.stdout) == (1, "")
    assert wrong.stderr == (f"kmemx: error: {core} is a core dump, not a vmlinux (need "
                            "vmlinux with debug info)\n")
    # a dump cut short: kmemx's warning and the error; drgn's "can't find kernel
    # modules" (twice, from its two loads) is not shown
    cut = tmp_path / "cut.elf"
    with open(core, "rb") as fi, open(cut, "wb") as fo:
        fo.write(fi.read(20 << 20))
    for extra in ([], ["--no-default-symbols"]):
        proc = kmemx("-c", str(cut), "-s", str(fixture.vmlinux), *extra, "bt", "-a")
        lines = proc.stderr.splitlines()
        assert proc.returncode == 1 and len(lines) == 2, proc.stderr
        assert lines[0].startswith(f"kmemx: warning: {cut} is truncated ")
        assert lines[1].startswith("kmemx: error: ") and "truncated" in lines[1]
    # sys survives the cut, each of its distinct warnings once, with a count
    proc = kmemx("-q", "-c", str(cut), "-s", str(fixture.vmlinux), "sys")
    warnings = [x for x in proc.stderr.splitlines() if x.startswith("kmemx: warning: sys: ")]
    assert proc.returncode == 3 and warnings and len(warnings) == len(set(warnings))
    assert any(re.search(r" \(\d+ times\)$", x) for x in warnings), warnings
    # a fault drgn met translating a kernel address (a page table's physical
    # address, past the cut) is said as physical, never as the address asked for
    for line in ("p jiffies", "rd jiffies", "dis schedule 2", "mod"):
        proc = kmemx("-q", "-c", str(cut), "-s", str(fixture.vmlinux), line)
        assert "(physical address): " not in proc.stderr, (line, proc.stderr)
        errors = [x for x in proc.stderr.splitlines() if x.startswith("kmemx: error: ")]
        assert len(errors) <= 1 and all(
            "physical address 0x" not in x
            or re.search(r"(cannot read|at) physical address 0x[0-9a-f]+", x) for x in errors)
    # the modules' symbols left out of sym -l are said, not silent
    proc = kmemx("-q", "-c", str(cut), "-s", str(fixture.vmlinux), "sym -l")
    assert proc.returncode == 3 and "sym: module symbols left out: module list: " in proc.stderr
    # an -s file drgn did not use is a warning -q does not hide
    proc = kmemx("-q", "-c", core, "-s", str(fixture.vmlinux), "-s", str(tmp_path / "nofile"),
                 "sys")
    assert proc.stderr == f"kmemx: warning: -s {tmp_path / 'nofile'} not used: " \
                          "No such file or directory\n"


def test_member_path_through_a_pointer_is_one_line(fixture: Fixture) -> None:
    """``task -R mm.mmap_base`` and ``struct task_struct.mm.mmap_base ADDR``: a member
    path does not follow pointers (crash refuses it too); one error line, not an
    internal error."""
    core, vml = str(fixture.core("elf")), str(fixture.vmlinux)
    init = fixture.prog["init_task"].address_
    one_line_error(kmemx("-q", "-c", core, "-s", vml, "task -R mm.mmap_base 1"),
                   "does not follow pointers")
    one_line_error(kmemx("-q", "-c", core, "-s", vml,
                         f"struct task_struct.mm.mmap_base {init:#x}"), "mm.mmap_base")


def test_list_link_into_user_space_ends_the_walk(target: list[str]) -> None:
    """``list task_struct.tasks -H init_task`` takes init_task's first word
    (thread_info.flags, a small number) as the head's ``next``: crash refuses
    it ("invalid kernel virtual address"); kmemx printed a made-up entry
    read from the low RAM a QEMU ELF dump maps there (the s8 new user's P1)."""
    bad = kmemx(*target, "-q", "list", "task_struct.tasks", "-H", "init_task")
    assert bad.returncode == 3, bad.stderr
    assert bad.stdout == ""
    [line] = bad.stderr.splitlines()
    assert line.startswith("kmemx: warning: list walk stopped after 0 entries: "
                           "invalid kernel virtual address: ")
    good = kmemx(*target, "-q", "list", "task_struct.tasks", "-h", "init_task")
    assert good.returncode == 0, good.stderr
    rows = good.stdout.split()[1:]
    assert len(rows) > 50 and all(int(r, 16) >= 1 << 63 for r in rows)
