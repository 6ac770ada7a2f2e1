"""The command line's input without a vmcore: standard input taken line by
line by the REPL's rule (a command line or Python), real scripts on stdin,
-e and script files with the script's own traceback, drgn's notes while the
target opens (a vmlinux refused, a module list unreadable), and an unknown
command echoed as typed.  The new user's report on the command-line front
end; the real dump is in tests/vmcore/test_cli.py."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import drgn
import pytest

from kmemx import cli
from kmemx.commands import UsageError, execute
from kmemx.errors import MismatchError, TargetError
from kmemx.repl.lines import Input, inputs, is_bare_command, is_script
from tests.unit.test_repl import World, fake_kernel

COMMANDS = {"log", "sys", "rd", "ps", "bt", "p", "echo", "count"}


def command_word(word: str) -> bool:
    return word in COMMANDS


def split(text: str, defined: dict[str, Any] | None = None) -> list[tuple[int, str, bool]]:
    ns = defined if defined is not None else {}
    return [(i.line, i.text, i.command)
            for i in inputs(text, lambda line: is_bare_command(line, ns, command_word))]


# -- which lines are commands ------------------------------------------------------------------------

def test_mixed_lines_as_the_repl_takes_them() -> None:
    """The report's inputs: each line a command or Python, as typed at the REPL."""
    assert split("x = 1\nprint(x)\nlog | tail 2\n") == [
        (1, "x = 1", False), (2, "print(x)", False), (3, "log | tail 2", True)]
    assert split('print("hi")\nsys\n') == [(1, 'print("hi")', False), (2, "sys", True)]
    assert split('rd 0xdeadbeef\nprint("after")\n') == [
        (1, "rd 0xdeadbeef", True), (2, 'print("after")', False)]
    # comments and blank lines skipped, % always a command, bt -a compiles but bt is unbound
    assert split("# c\n\n%ps -G | count\nbt -a\n  p jiffies\n") == [
        (3, "ps -G | count", True), (4, "bt -a", True), (5, "p jiffies", True)]


def test_python_statements_span_lines() -> None:
    text = ("def f(n):\n    x = n\n\n    return x * 2\nps\nfor i in (1,):\n    pass\n"
            "else:\n    y = (\n1)\nx = [\n  1,\n]\n@dec\ndef g():\n    pass\nsys\n")
    assert [(line, cmd) for line, _, cmd in split(text)] == [
        (1, False), (5, True), (6, False), (11, False), (14, False), (17, True)]
    assert split(text)[0][1] == "def f(n):\n    x = n\n\n    return x * 2"


def test_the_namespace_is_asked_when_a_line_is_reached() -> None:
    """``sys = 1`` then ``sys``: Python's once the name is defined, as in the REPL."""
    ns: dict[str, Any] = {}
    seen = []
    for item in inputs("sys\nsys = 1\nsys\n", lambda line: is_bare_command(line, ns,
                                                                          command_word)):
        seen.append(item.command)
        if item.text == "sys = 1":
            ns["sys"] = 1
    assert seen == [True, False, False]


def test_syntax_errors_are_one_input_with_the_real_line() -> None:
    items = list(inputs("ps\n\nfoo bar\nx = 1 +\nps\n", lambda line: line == "ps"))
    assert [(i.line, i.command) for i in items] == [(1, True), (3, False), (4, False), (5, True)]
    assert items[1].error is not None and items[1].error.lineno == 3
    assert items[2].error is not None and items[2].error.lineno == 4
    # a bracket never closed takes the rest: one error, at its line
    [unclosed] = list(inputs("x = (\nps\n", lambda line: False))
    assert isinstance(unclosed, Input) and unclosed.text == "x = (\nps"
    assert unclosed.error is not None and unclosed.error.lineno == 1
    assert unclosed.error.msg == "'(' was never closed"


def test_real_scripts() -> None:
    block = "def f():\n    return 1\n\nfor i in range(2):\n    print(f())\n"
    assert is_script(block, {}, command_word)
    assert is_script("import sys\n" + block + "sys\n", {}, command_word)  # sys is bound
    assert not is_script(block + "ps\n", {}, command_word)  # a command line: REPL input
    assert not is_script(block + "log | tail 2\n", {}, command_word)  # does not parse
    assert not is_script('print("hi")\nsys\n', {}, command_word)  # no block
    assert not is_script("x = 1\nprint(x)\n", {}, command_word)


# -- running stdin ----------------------------------------------------------------------------------

@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``cli._open`` hands out a kernel on a fake program."""
    k = fake_kernel(World().prog)
    monkeypatch.setattr(cli, "_open", lambda args, note_once=False: k)
    monkeypatch.setattr("sys.argv", list(__import__("sys").argv))
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    yield k
    try:
        drgn.set_default_prog(None)
    except Exception:
        pass


def args(**kw: Any) -> argparse.Namespace:
    return argparse.Namespace(**{"json": False, "args": [], "exec": None, **kw})


def test_stdin_line_by_line(opened: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Commands and Python interleave; an error is one ``kmemx: error:`` line
    naming the stdin line, and the next line runs; expressions show their value."""
    text = ("x = 6\nprint(x)\nx * 7\necho 0x1 0x2 | count\nprint(\"after\")\nfrob\n"
            "raise drgn.FaultError('could not read memory', 0xdeadbeef)\nfoo bar\n"
            "def f():\n    return undefined_name\n\nf()\necho 0x3\n")
    rc = cli._run_stdin(args(), text)
    out, err = capsys.readouterr()
    assert rc == 1
    assert out == "6\n42\nCOUNT\n    2\nafter\n3\n"
    assert err.splitlines() == [
        "kmemx: error: <stdin> line 6: NameError: name 'frob' is not defined; "
        "not a kmemx command either",
        "kmemx: error: <stdin> line 7: FaultError: could not read memory: 0xdeadbeef",
        "kmemx: error: <stdin> line 8: neither a kmemx command nor Python (invalid syntax): "
        "'foo bar'",
        "kmemx: error: <stdin> line 10: NameError: name 'undefined_name' is not defined",
    ]
    assert "Traceback" not in err


def test_stdin_script_runs_whole(opened: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A real script: drgn's semantics, the script's own traceback only."""
    text = "def f(n):\n    return 10 // n\n\nfor n in (2, 0):\n    print(f(n))\n"
    assert cli._run_stdin(args(), text) == 1
    out, err = capsys.readouterr()
    assert out == "5\n"
    assert err == ("Traceback (most recent call last):\n"
                   '  File "<stdin>", line 5, in <module>\n'
                   '  File "<stdin>", line 2, in f\n'
                   "ZeroDivisionError: integer division or modulo by zero\n")


def test_exec_and_scripts_keep_only_the_users_frames(opened: Any, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert cli._run_code(args(exec="frob")) == 1
    err = capsys.readouterr().err
    assert err == ("Traceback (most recent call last):\n"
                   '  File "<string>", line 1, in <module>\n'
                   "NameError: name 'frob' is not defined\n")
    script = tmp_path / "s.py"
    script.write_text("import sys\n\ndef g():\n    raise ValueError(sys.argv[1:])\n\ng()\n")
    assert cli._run_script(args(args=[str(script), "a"])) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "Traceback (most recent call last):",
        f'  File "{script}", line 6, in <module>',
        "    g()",
        f'  File "{script}", line 4, in g',
        "    raise ValueError(sys.argv[1:])",
        "ValueError: ['a']",
    ]
    assert "cli.py" not in err and "runpy" not in err


def test_exec_takes_the_repls_command_rule(opened: Any, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    def run(k: Any, line: str, a: argparse.Namespace) -> int:
        ran.append(line)
        return 0

    monkeypatch.setattr(cli, "_print_command", run)
    assert cli._run_code(args(exec="echo")) == 0  # bare name of a command
    assert cli._run_code(args(exec="echo - x")) == 0  # compiles, reads names nobody defined
    assert cli._run_code(args(exec="print(len('ab'))")) == 0
    assert ran == ["echo", "echo - x"] and capsys.readouterr().out == "2\n"


def test_unknown_command_echoed_as_typed(opened: Any) -> None:
    with pytest.raises(UsageError, match=r"""unknown command 'print\("after"\)'"""):
        list(execute(opened, 'print("after")'))


# -- drgn's notes while the target opens -------------------------------------------------------------

class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())


@pytest.fixture
def drgn_log() -> Iterator[Records]:
    """What reaches the root logger's handlers, drgn's logger at warning."""
    log = logging.getLogger("drgn")
    saved = log.level
    log.setLevel(logging.WARNING)
    seen = Records()
    logging.getLogger().addHandler(seen)
    yield seen
    logging.getLogger().removeHandler(seen)
    log.setLevel(saved)


@pytest.mark.parametrize("quiet", [False, True])
def test_unreadable_module_list_is_one_kmemx_warning(drgn_log: Records, quiet: bool) -> None:
    log = logging.getLogger("drgn")
    if quiet:
        log.setLevel(logging.CRITICAL + 1)  # -q
    notes = cli._DrgnNotes()
    with notes.collecting():
        for _ in range(2):  # drgn says it at each load of debug info
            log.warning("can't find kernel modules: couldn't read modules list: "
                        "bad list entry: 0x1000: 0x1000")
        log.warning("missing debugging symbols for dummy")
        log.warning("something else")
    assert log.level == (logging.CRITICAL + 1 if quiet else logging.WARNING)
    assert notes.warnings() == ["kmemx: warning: can't read the kernel's module list "
                                "(bad list entry: 0x1000): the modules' symbols, types and "
                                "stack frames are unknown"]
    assert notes.modules == ["dummy"]
    assert drgn_log.seen == ([] if quiet else ["something else"])


def test_truncated_dump_module_list_is_not_repeated(drgn_log: Records) -> None:
    notes = cli._DrgnNotes()
    with notes.collecting():
        logging.getLogger("drgn").warning(
            "can't find kernel modules: couldn't read modules list: past the end of the "
            "truncated dump file (physical address): 0x1a610ff8: 0x1a610ff8")
    assert notes.warnings() == [] and drgn_log.seen == []


class FakeModule:
    def wants_debug_file(self) -> bool:
        return True


class FakeProg:
    """Logs as drgn does for a file that is no vmlinux, then fails (or not)."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def load_debug_info(self, paths: list[str], main: bool = False) -> None:
        log = logging.getLogger("drgn")
        log.warning("%s: no build ID; ignoring", paths[0])
        log.warning("missing debugging symbols for kernel 6.1.0-56-amd64")
        if self.fail:
            raise drgn.MissingDebugInfoError("missing debugging symbols for kernel")

    def main_module(self) -> FakeModule:
        return FakeModule()


def elf(tmp_path: Path, e_type: int) -> str:
    path = tmp_path / f"elf{e_type}"
    path.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(9) + bytes([e_type, 0]) + bytes(46))
    return str(path)


def test_refused_vmlinux_is_one_line(drgn_log: Records, tmp_path: Path) -> None:
    """drgn's notes about a vmlinux kmemx refuses are not shown: its one error says it."""
    from kmemx import target

    with pytest.raises(MismatchError, match="is not the vmlinux of the dump's kernel in "
                                            r"core \(it has no build ID\)$"):
        target._load_debug_info(FakeProg(fail=True), elf(tmp_path, 2), None, "core")
    assert drgn_log.seen == []
    with pytest.raises(TargetError, match="is a core dump, not a vmlinux"):
        target._load_debug_info(FakeProg(fail=True), elf(tmp_path, 4), None, "core")
    # when loading succeeds, drgn's notes are passed on, in order
    target._load_debug_info(FakeProg(fail=False), elf(tmp_path, 2), None, "core")
    assert drgn_log.seen == [f"{elf(tmp_path, 2)}: no build ID; ignoring",
                             "missing debugging symbols for kernel 6.1.0-56-amd64"]
