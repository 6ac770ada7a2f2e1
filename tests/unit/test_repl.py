"""The REPL without a vmcore: completion on a fake namespace, editing rules,
lexers, pager, history, config, and whole sessions driven through
prompt_toolkit's pipe input with a dummy output."""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import drgn
import pytest
from drgn import TypeMember
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from pygments.token import (  # type: ignore[import-untyped,unused-ignore]
    Generic,
    Keyword,
    Name,
    Number,
    Operator,
    String,
)

from kmemx.commands import REGISTRY, Registry, Row, TextLine, arg, command
from kmemx.kernel import Kernel
from kmemx.readers.base import ReadStats
from kmemx.readers.drgnreader import DrgnReader
from kmemx.repl.catalog import CommandCatalog
from kmemx.repl.completion import ReplCompleter, candidates
from kmemx.repl.config import ConfigError, ReplConfig, load_config, parse_config
from kmemx.repl.editing import is_complete, next_indent
from kmemx.repl.evaluator import Evaluator, format_value, one_line
from kmemx.repl.history import BoundedHistory, make_history
from kmemx.repl.lexers import CommandLexer, OutputLexer
from kmemx.repl.members import parse_chain, resolve_chain
from kmemx.repl.names import NameSource, prefix_matches
from kmemx.repl.namespace import build_namespace
from kmemx.repl.output import Output
from kmemx.repl.session import Repl, banner

SYMBOLS = ["init_task", "init_task.c", "init_thread_union", "jiffies", "jiffies_64",
           "jiffies_lock", "kmalloc_caches", "zone_table"]
TYPES = {"struct": ["list_head", "task_struct", "task_group", "mm_struct"],
         "union": ["thread_union"], "enum": ["pid_type"], "typedef": ["pid_t", "u64"]}


# -- a program with types and a memory segment that counts reads ------------------------------

class World:
    """A bare drgn Program with a few types, one global and counted reads."""

    def __init__(self) -> None:
        self.reads = 0
        prog = drgn.Program(drgn.host_platform)
        self.prog = prog
        i32 = prog.int_type("int", 4, True)
        u64 = prog.int_type("unsigned long", 8, False)
        lh: drgn.Type = prog.struct_type("list_head", 16, [
            TypeMember(lambda: prog.pointer_type(lh), "next", 0),
            TypeMember(lambda: prog.pointer_type(lh), "prev", 64)])
        self.mm = prog.struct_type("mm_struct", 16, [
            TypeMember(u64, "total_vm", 0), TypeMember(i32, "map_count", 64)])
        anon = prog.union_type(None, 8, [TypeMember(u64, "flags", 0),
                                          TypeMember(i32, "state", 0)])
        self.task = prog.struct_type("task_struct", 64, [
            TypeMember(i32, "pid", 0),
            TypeMember(anon, None, 64),
            TypeMember(prog.pointer_type(self.mm), "mm", 128),
            TypeMember(lh, "tasks", 192),
            TypeMember(prog.array_type(self.mm, 2), "mms", 320),
        ])
        types = {"task_struct": self.task, "mm_struct": self.mm, "list_head": lh}

        def find_type(kind: Any, name: str, filename: Any) -> Any:
            return types.get(name)

        def find_object(prog_: Any, name: str, flags: Any, filename: Any) -> Any:
            if name == "init_task":
                return drgn.Object(prog, self.task, address=0xFFFF000000001000)
            return None

        prog.add_type_finder(find_type)
        prog.add_object_finder(find_object)
        prog.add_memory_segment(0, 0xFFFFFFFFFFFFFFFF, self._read, False)
        self.obj = drgn.Object(prog, self.task, address=0xFFFF000000002000)

    def _read(self, address: int, count: int, offset: int, physical: bool) -> bytes:
        self.reads += 1
        return bytes(count)


class Lazy:
    """Has a property that must never run during completion."""

    def __init__(self) -> None:
        self.data = {"a": 1}
        self.calls = 0

    @property
    def expensive(self) -> Any:
        self.calls += 1
        raise AssertionError("completion ran a property")

    def method(self) -> int:
        self.calls += 1
        return 1


class BadDir:
    def __dir__(self) -> list[str]:
        raise RuntimeError("boom")


def fake_kernel(prog: Any) -> Kernel:
    return Kernel(prog, DrgnReader(prog), None, None, ReadStats(), target="fake.vmcore")


@pytest.fixture
def world() -> World:
    return World()


def names_for(prog: Any) -> NameSource:
    ns = NameSource(prog, symbols_fn=lambda p: SYMBOLS,
                    types_fn=lambda p, tag: TYPES.get(tag, []))
    ns.warm(wait=True)
    return ns


test_registry = Registry()


@command("testcmd", "a command for the tests", registry=test_registry,
         arguments=[arg("-v", "--verbose", action="store_true", help="say more"),
                    arg("--limit", type=int, help="at most N"),
                    arg("symbol", nargs="?", help="a symbol")])
def _testcmd(ctx: Any, args: Any, input: Any) -> Iterator[Any]:
    yield TextLine("ran")


@command("typecmd", "takes a type", registry=test_registry, arguments=[arg("type")])
def _typecmd(ctx: Any, args: Any, input: Any) -> Iterator[Any]:
    yield TextLine("ran")


def catalog_for(prog: Any) -> CommandCatalog:
    return CommandCatalog(prog, registry=test_registry, repl_commands={"debug": "traceback"},
                          drgn_commands=lambda p: {"sh": "run a shell command"})


def complete(world: World, text: str, namespace: dict[str, Any] | None = None) -> list[str]:
    ns = namespace if namespace is not None else {
        "prog": world.prog, "task": world.obj, "k": fake_kernel(world.prog), "lazy": Lazy()}
    found = candidates(text, ns, names_for(world.prog), catalog_for(world.prog), budget=1.0)
    return [c[0] for c in found]


# -- completion ---------------------------------------------------------------------------------

def test_members_of_a_drgn_object_without_reading(world: World) -> None:
    got = complete(world, "task.")
    assert got[:6] == ["pid", "flags", "state", "mm", "tasks", "mms"]
    assert "value_" in got and "address_of_" in got
    assert complete(world, "task.ta") == ["tasks"]
    assert complete(world, "task.mm.") [:2] == ["total_vm", "map_count"]
    assert complete(world, "task.mms[1].map") == ["map_count"]
    assert complete(world, "task.tasks.next.") [:2] == ["next", "prev"]
    assert world.reads == 0


def test_members_through_prog_subscript(world: World) -> None:
    assert complete(world, 'prog["init_task"].m')[:2] == ["mm", "mms"]
    assert world.reads == 0


def test_members_of_a_view(world: World) -> None:
    import kmemx

    k = fake_kernel(world.prog)
    v = k.view("struct task_struct", 0xFFFF000000003000)
    ns = {"v": v, "p": v.mm, "kmemx": kmemx}
    before = world.reads
    got = complete(world, "v.", ns)
    assert got[:3] == ["pid", "flags", "state"]
    assert "to_drgn" in got and "value_" not in got
    assert complete(world, "v.mm.tot", ns) == ["total_vm"]
    assert world.reads - before <= 1  # v.mm in ns read once above; completion adds none
    reads = world.reads
    complete(world, "p.map", ns)
    complete(world, "kmemx.vi", ns)
    assert world.reads == reads


def test_properties_and_calls_never_run(world: World) -> None:
    lazy = Lazy()
    ns = {"lazy": lazy, "prog": world.prog}
    assert complete(world, "lazy.expensive.", ns) == []
    assert complete(world, "lazy.method().", ns) == []
    assert complete(world, "lazy.data.ke", ns) == ["keys"]
    assert "expensive" in complete(world, "lazy.", ns)
    assert lazy.calls == 0


def test_completion_never_raises(world: World) -> None:
    ns = {"bad": BadDir(), "prog": world.prog}
    assert complete(world, "bad.", ns) == []
    assert complete(world, "nosuch.", ns) == []
    assert complete(world, "1 + (", ns) == []
    assert complete(world, "x = 'abc", ns) == []
    assert complete(world, "# prog", ns) == []


def test_symbols_in_strings(world: World) -> None:
    assert complete(world, 'prog["init_t') == ["init_task", "init_thread_union"]
    assert complete(world, "prog['jiff") == ["jiffies", "jiffies_64", "jiffies_lock"]
    assert complete(world, 'prog.symbol("jiffies_') == ["jiffies_64", "jiffies_lock"]
    assert complete(world, 'k.object("zone') == ["zone_table"]
    assert complete(world, 'prog["init_task.') == ["init_task.c"]
    assert complete(world, 'lazy.data["j') == []


def test_type_names(world: World) -> None:
    assert complete(world, 'prog.type("struct task_') == ["task_group", "task_struct"]
    assert complete(world, 'cast("union thr') == ["thread_union"]
    assert complete(world, 'k.view("p') == ["pid_t"]
    assert complete(world, 'prog.type("st') == ["struct "]


def test_python_names(world: World) -> None:
    got = complete(world, "pr")
    assert "prog" in got and "print" in got and "property" in got
    assert complete(world, "whil") == ["while"]
    assert "_" not in "".join(n[0] for n in complete(world, "l"))


def test_commands(world: World) -> None:
    assert complete(world, "%") == ["debug", "sh", "testcmd", "typecmd"]
    assert complete(world, "%te") == ["testcmd"]
    assert complete(world, "%testcmd --") == ["--help", "--verbose", "--limit", "--json"]
    assert complete(world, "%testcmd -v jif") == ["jiffies", "jiffies_64", "jiffies_lock"]
    assert complete(world, "%typecmd task_") == ["task_group", "task_struct"]
    assert complete(world, "%typecmd union thr") == ["thread_union"]
    assert complete(world, "%testcmd | te") == ["testcmd"]
    assert complete(world, "%testcmd ! gre") == []
    assert complete(world, "%nosuch x") == []


def test_command_member_paths(world: World) -> None:
    """crash's ``struct TYPE.member.sub,other`` completes member by member,
    through pointers and anonymous members, after % and typed without it."""
    assert complete(world, "%typecmd task_struct.ta") == ["tasks"]
    assert complete(world, "%typecmd task_struct.tasks.") == ["next", "prev"]
    assert complete(world, "%typecmd task_struct.tasks.pr") == ["prev"]
    assert complete(world, "%typecmd task_struct.pid,mm.tot") == ["total_vm"]
    assert complete(world, "%typecmd task_struct.fl") == ["flags"]
    assert complete(world, "%typecmd task_struct.mms.map") == []  # an array: no members
    assert complete(world, "%typecmd nosuch.x") == []
    assert complete(world, "%typecmd task_struct.nosuch.x") == []
    found = candidates("%typecmd task_struct.tasks.n", {}, names_for(world.prog),
                       catalog_for(world.prog), budget=1.0)
    assert found == [("next", -1, "struct list_head *")]
    # typed without %: the REPL runs it as a command, so it completes as one
    assert complete(world, "typecmd task_struct.tasks.") == ["next", "prev"]
    assert complete(world, "typecmd task_struct.mm.map", {}) == ["map_count"]
    # Python's own completion wins where it has something
    assert complete(world, "task.ta") == ["tasks"]


def test_names_not_ready_do_not_block(world: World) -> None:
    import threading

    gate = threading.Event()

    def slow(prog: Any) -> list[str]:
        gate.wait(5)
        return SYMBOLS

    names = NameSource(world.prog, symbols_fn=slow, types_fn=lambda p, t: [])
    t0 = time.monotonic()
    assert names.symbols("init") == []
    # not a speed target: the name source must answer without waiting for the
    # 5 s gate (a blocked call would take 5 s)
    assert time.monotonic() - t0 < 2.5
    gate.set()
    names.warm(wait=True)
    assert names.symbols("init") == ["init_task", "init_thread_union"]


def test_broken_name_source_gives_nothing(world: World) -> None:
    def broken(prog: Any) -> list[str]:
        raise OSError("no vmlinux")

    names = NameSource(world.prog, symbols_fn=broken, types_fn=lambda p, t: [])
    names.warm(wait=True)
    assert names.symbols("") == [] and names.error and "no vmlinux" in names.error


def test_prefix_matches() -> None:
    assert list(prefix_matches(sorted(SYMBOLS), "jiffies_")) == ["jiffies_64", "jiffies_lock"]
    assert list(prefix_matches(sorted(SYMBOLS), "", limit=2)) == sorted(SYMBOLS)[:2]


def test_parse_chain() -> None:
    assert parse_chain('prog["init_task"].tasks.next[0]') == [
        ("attr", "prog"), ("key", "init_task"), ("attr", "tasks"), ("attr", "next"),
        ("index", 0)]
    assert parse_chain("f(x).y") is None
    assert parse_chain("a + b") is None
    assert resolve_chain([("attr", "nosuch")], {}) is None


def test_prompt_toolkit_completer(world: World) -> None:
    comp = ReplCompleter({"task": world.obj}, names_for(world.prog), catalog_for(world.prog))
    got = list(comp.get_completions(Document("task.m"), None))  # type: ignore[arg-type]
    assert [c.text for c in got] == ["mm", "mms", "member_"]
    assert got[0].start_position == -1
    assert got[0].display_meta_text == "struct mm_struct *"


# -- editing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,complete", [
    ("x = 1", True), ("if x:", False), ("for i in x:\n    pass", False),
    ("for i in x:\n    pass\n", True), ("f(1,", False), ("f(1,\n2)", True),
    ("x = (1 +\n 2)", True), ("1 +", True), ("def f():\n    return 1", False),
    ("%ps -k | count", True), ("if x:\n    y\nelse:", False), ("", True),
    ("x = 1\nfor i in y:\n    z", False), ("s = '('\n", True),
])
def test_is_complete(text: str, complete: bool) -> None:
    assert is_complete(text) is complete


def test_next_indent() -> None:
    assert next_indent("for i in x:") == "    "
    assert next_indent("    y = 1") == "    "
    assert next_indent("        return y") == "    "
    assert next_indent("x = 1") == ""


# -- lexers ----------------------------------------------------------------------------------------

def test_command_lexer() -> None:
    toks = [(t, v) for t, v in CommandLexer().get_tokens("%ps -k | filter comm~kw ! grep 0x1")
            if v.strip()]
    assert toks[:3] == [(Operator, "%"), (Keyword, "ps"), (Name.Attribute, "-k")]
    assert (Keyword, "filter") in toks and (Operator, "|") in toks
    assert toks[-1] == (String.Backtick, " grep 0x1")


def test_output_lexer() -> None:
    lx = OutputLexer()
    toks = [(t, v) for t, v in lx.get_tokens(
        "\t.next = (struct list_head *)0xffff888003a1c000,") if v.strip()]
    assert (Name.Attribute, "next") in toks
    assert (Keyword.Type, "(struct list_head *)") in toks
    assert (Number.Hex, "0xffff888003a1c000") in toks
    assert [t for t, v in lx.get_tokens("PID  PPID  COMM") if v.strip()] == [Generic.Heading]
    assert (Number.Hex, "ffff888003a1c000") in list(lx.get_tokens("  1  ffff888003a1c000"))
    assert (String, '"swapper/0"') in list(lx.get_tokens('(char [16])"swapper/0"'))
    assert next(t for t, v in lx.get_tokens("kmemx: error: bad")) == Generic.Error


# -- output and pager -----------------------------------------------------------------------------

def test_no_pager_without_a_tty() -> None:
    stream = io.StringIO()
    out = Output(ReplConfig(pager_command="false"), stream, tty=False)
    assert out.show(f"line {i}" for i in range(500)) == 500
    assert stream.getvalue().count("\n") == 500 and "\x1b" not in stream.getvalue()


def test_pager_gets_long_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINES", "20")
    monkeypatch.setenv("COLUMNS", "80")
    sink = tmp_path / "paged"
    with open(tmp_path / "screen", "w") as screen:
        cfg = ReplConfig(pager_command=f"sh -c 'cat > {sink}'", color="never")
        out = Output(cfg, screen, tty=True)
        assert out.show(f"line {i}" for i in range(100)) == 100
        assert out.show(["short", "output"]) == 2
    assert sink.read_text().splitlines() == [f"line {i}" for i in range(100)]
    assert (tmp_path / "screen").read_text() == "short\noutput\n"


def test_pager_quit_stops_the_producer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINES", "10")
    state = {"made": 0, "closed": False}

    def walk() -> Iterator[str]:
        try:
            for i in range(10**7):
                state["made"] += 1
                yield f"line {i} " + "x" * 200
        finally:
            state["closed"] = True

    with open(tmp_path / "screen", "w") as screen:
        out = Output(ReplConfig(pager_command="head -n 3", color="never"), screen, tty=True)
        out.show(walk())
    assert state["closed"] and state["made"] < 10**6


def test_interrupt_while_paging_closes_everything(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINES", "10")
    closed = []

    def walk() -> Iterator[str]:
        try:
            for i in range(50):
                yield f"line {i}"
            raise KeyboardInterrupt
        finally:
            closed.append(True)

    with open(tmp_path / "screen", "w") as screen:
        out = Output(ReplConfig(pager_command="cat", color="never"), screen, tty=True)
        with pytest.raises(KeyboardInterrupt):
            out.show(walk())
        assert not out.paging
    assert closed == [True]
    assert "line 49" in (tmp_path / "screen").read_text()


def test_colour_only_when_wanted() -> None:
    s = io.StringIO()
    Output(ReplConfig(color="always"), s, tty=False).show(["PID  COMM", "  1  0xffff"])
    assert "\x1b[" in s.getvalue()
    s = io.StringIO()
    Output(ReplConfig(color="auto"), s, tty=False).show(["PID  COMM"])
    assert s.getvalue() == "PID  COMM\n"


# -- config and history ------------------------------------------------------------------------------

def test_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    cfg, warning = load_config()
    assert warning is None and cfg.pager and cfg.history_size == 10000
    assert cfg.history_file == tmp_path / "state" / "kmemx" / "history"
    path = tmp_path / "cfg" / "kmemx" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('prompt = "kmemx> "\npager = false\nhistory_size = 50\n'
                    'style = "friendly"\n[colors]\nprompt = "ansigreen"\n')
    cfg, warning = load_config()
    assert warning is None
    assert (cfg.prompt, cfg.pager, cfg.history_size, cfg.style) == ("kmemx> ", False, 50,
                                                                      "friendly")
    assert cfg.colors == {"prompt": "ansigreen"}
    path.write_text("pager = 'yes'\n")
    cfg, warning = load_config()
    assert warning and "pager must be true or false" in warning and cfg.pager
    path.write_text("pager = [\n")
    cfg, warning = load_config()
    assert warning and "invalid TOML" in warning


def test_parse_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'nope'"):
        parse_config({"nope": 1})
    with pytest.raises(ConfigError, match="color must be one of"):
        parse_config({"color": "blue"})
    assert parse_config({"repl": {"json": True}}).json is True


def test_pager_command_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAGER", raising=False)
    assert ReplConfig().pager_argv() == "less -R"
    monkeypatch.setenv("PAGER", "most")
    assert ReplConfig().pager_argv() == "most"
    assert ReplConfig(pager_command="cat").pager_argv() == "cat"


def test_history_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "history"
    h = BoundedHistory(path, 5)
    for i in range(200):
        h.store_string(f"x = {i}\ny = {i}")
    again = BoundedHistory(path, 5)
    got = list(again.load_history_strings())
    assert got == [f"x = {i}\ny = {i}" for i in range(199, 194, -1)]
    assert len(list(BoundedHistory(path, 1000).load_history_strings())) == 5  # file trimmed


def test_unwritable_history_is_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    history, warning = make_history(blocker / "kmemx" / "history", 100)
    assert warning is not None and "history will not be saved" in warning
    assert list(history.load_history_strings()) == []


# -- evaluator ---------------------------------------------------------------------------------------

def test_values_display_like_drgn(world: World) -> None:
    obj = drgn.Object(world.prog, "int", 5)
    assert format_value(obj) == "(int)5"
    assert format_value([1, "a"]) == "[1, 'a']"
    assert format_value(world.prog.type("struct mm_struct")).startswith("struct mm_struct {")
    shown: list[str] = []
    ev = Evaluator({}, shown.append)
    ev.run("x = 6\nx * 7")
    ev.run("y = 1")
    assert shown == ["42"]
    with pytest.raises(ZeroDivisionError):
        ev.run("1/0")
    assert "ZeroDivisionError" in ev.traceback() and 'File "<input>", line 1' in ev.traceback()
    assert "evaluator.py" not in ev.traceback()
    with pytest.raises(SyntaxError) as e:
        ev.run("a b")
    assert one_line(e.value) == "SyntaxError: invalid syntax (line 1)"


# -- whole sessions ----------------------------------------------------------------------------------

@pytest.fixture
def session_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path


def drive(world: World, keys: str | list[str], config: ReplConfig | None = None,
          tmp: Path | None = None) -> tuple[int, str, str, Repl]:
    """Run a session on ``keys``; a list is typed chunk by chunk, with a pause
    after each (completion after Tab is asynchronous, as in a terminal)."""
    out, err = io.StringIO(), io.StringIO()
    cfg = config or ReplConfig(pager=False, color="never",
                               history_file=(tmp / "history") if tmp else None)
    chunks = [keys] if isinstance(keys, str) else keys
    with create_pipe_input() as inp:
        repl = Repl(fake_kernel(world.prog), cfg, input=inp, output=DummyOutput(),
                    stdout=out, stderr=err, tty=False, threaded_completion=False,
                    names=names_for(world.prog))

        done = threading.Event()

        def typist() -> None:
            for chunk in chunks:
                inp.send_text(chunk)
                if len(chunks) > 1:
                    time.sleep(0.15)
            # a test that forgot to exit fails instead of hanging
            if not done.wait(5):
                inp.send_text("\x03\x04")

        t = threading.Thread(target=typist)
        t.start()
        try:
            rc = repl.run()
        finally:
            done.set()
            t.join()
    return rc, out.getvalue(), err.getvalue(), repl


def test_session_python_and_errors(world: World, session_env: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err, _ = drive(world, "x = 6\rx * 7\r1/0\rnosuch\r%debug\r\x04",
                            tmp=session_env)
    assert rc == 0
    assert "kmemx 0.1.0" in out and "reader:  drgn" in out and "target:  fake.vmcore" in out
    assert "\n42\n" in out
    assert err.splitlines() == ["ZeroDivisionError: division by zero",
                                "NameError: name 'nosuch' is not defined"]
    assert "Traceback (most recent call last)" in out and "NameError" in out.split("42")[1]
    hist = (session_env / "history").read_text()
    assert "+x * 7" in hist and "+%debug" in hist


def test_session_multiline_with_auto_indent(world: World, session_env: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    keys = "total = 0\rfor i in range(4):\rtotal += i\rif i == 3:\rprint('last', i)\r\r\rtotal\r\x04"
    rc, out, err, _ = drive(world, keys)
    assert err == "" and rc == 0
    assert capsys.readouterr().out == "last 3\n"
    assert out.rstrip().endswith("6")


def test_session_commands(world: World, session_env: Path) -> None:
    keys = ("%echo 0x10 0x20 | count\r%echo --json 0x10\r%nosuch\r%echo\r%set pager off\r"
            "%set json maybe\r%set -v\r\x04")
    rc, out, err, repl = drive(world, keys)
    assert rc == 0
    assert "COUNT\n    2\n" in out
    assert '[\n "10"\n]' in out
    errs = err.splitlines()
    assert errs[0].startswith("kmemx: error: unknown command 'nosuch'")
    assert errs[1].startswith("kmemx: error: echo: the following arguments are required")
    assert errs[2] == "kmemx: error: set: json takes on or off"
    assert "pager = False" in out and repl.config.pager is False


def test_session_runs_drgn_commands(world: World, session_env: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """drgn's own commands (%py, %sh...) still work, by drgn; %help mentions them."""
    # drgn's plugin loader imports these when a program gets a target
    import drgn.commands._builtin  # noqa: F401
    rc, out, err, _ = drive(world, "answer = 41\r%py print(answer + 1)\r%help\r\x04")
    assert rc == 0 and err == ""
    assert capsys.readouterr().out == "42\n"
    assert "REPL: %debug %set; drgn's commands: " in out and "%py" in out


def test_session_ctrl_c_stops_a_walk(world: World, session_env: Path) -> None:
    state = {"closed": False}

    @command("_test_walk", "a walk that gets ^C")
    def _walk(ctx: Any, args: Any, input: Any) -> Iterator[Any]:
        try:
            for i in range(1000):
                if i == 5:
                    raise KeyboardInterrupt
                yield Row(("N",), (i,))
        finally:
            state["closed"] = True

    try:
        rc, out, err, _ = drive(world, "%_test_walk\r6 * 7\r\x04")
    finally:
        REGISTRY.commands.pop("_test_walk", None)
    assert state["closed"]
    assert "kmemx: interrupted" in err
    assert "\n42\n" in out and rc == 0


def test_session_ctrl_c_at_prompt_and_exit_code(world: World, session_env: Path) -> None:
    rc, out, err, _ = drive(world, "1 +\x03\r6 * 7\rexit(3)\r")
    assert rc == 3 and "\n42\n" in out and err == ""


def test_session_tab_completion(world: World, session_env: Path) -> None:
    keys = ['m = prog["init_task"]\r', "m.ta", "\t", ".ne", "\t", "\r", "\r",
            'prog["init_th', "\t", '"]\r', "%coun", "\t", "\r", "\x04"]
    rc, out, err, _ = drive(world, keys)
    assert "(struct list_head *)0x0" in out  # m.tasks.next, completed from two Tabs
    # the symbol was completed (the fake program has no object for it)
    assert "could not find 'init_thread_union'" in err
    assert "COUNT\n    0\n" in out  # %coun<Tab> ran count
    assert rc == 0


def test_session_history_search(world: World, session_env: Path) -> None:
    history = session_env / "history"
    drive(world, "value_one = 11\rvalue_two = 22\r\x04", tmp=session_env)
    rc, out, err, _ = drive(world, "\x12value_o\r\rvalue_one * 2\r\x04", tmp=session_env)
    assert rc == 0 and "\n22\n" in out and err == ""
    assert history.read_text().count("+value_one = 11") == 2


def test_banner_and_namespace(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import drgn.cli
    from drgn.helpers.linux.list import list_for_each_entry

    import kmemx.helpers as kx

    # as for a kernel: drgn's namespace has drgn's list helpers
    monkeypatch.setattr(drgn.cli, "default_globals", lambda prog: {
        "prog": prog, "list_for_each_entry": list_for_each_entry})
    k = fake_kernel(world.prog)
    ns = build_namespace(k)

    assert ns["prog"] is world.prog and ns["k"] is k and ns["kx"] is kx
    assert ns["list_for_each_entry"] is list_for_each_entry
    assert ns["read_struct_array"] is kx.read_struct_array
    assert build_namespace(k, helpers="kmemx")["list_for_each_entry"] is kx.list_for_each_entry
    text = banner(k, 12, ["list_for_each_entry"], "drgn")
    assert "reader:  drgn" in text and "12 commands" in text and "kx.NAME" in text
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "kernel:  unknown" in text  # no VMCOREINFO, no memory: said, not raised


def test_repl_modules_do_not_print() -> None:
    """Only the output layer and the session print."""
    root = Path(__file__).resolve().parents[2] / "kmemx" / "repl"
    for path in root.glob("*.py"):
        if path.name in ("output.py", "session.py"):
            continue
        assert "print(" not in path.read_text(), path.name
    assert sys.modules["kmemx.repl.session"] is not None
    assert os.path.exists(root / "__init__.py")


def test_session_crash_words_without_percent(world: World, session_env: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """crash users' habit: ``echo 0x10 | count`` and ``q`` typed bare are
    commands; a name the session defines, a builtin called, and Python that
    compiles stay Python."""
    keys = ("echo 0x10 0x20 | count\rset -v\recho = 5\recho\rlist((1, 2))\r"
            "help\rq\r6 * 7\r")
    rc, out, err, _ = drive(world, keys)
    assert rc == 0 and err == ""
    assert "COUNT\n    2\n" in out  # the command ran
    assert "pager = " in out  # %set -v
    assert "\n5\n" in out  # echo is the session's variable now
    assert "[1, 2]" in out  # list() is Python's
    assert "echo" in out.split("[1, 2]")[1]  # help: kmemx's list of commands
    assert "\n42\n" not in out  # q ended the session


def test_is_bare_command(world: World, session_env: Path) -> None:
    _, _, _, repl = drive(world, "\x04")
    bare = repl.is_bare_command
    assert bare("echo 1") and bare("q") and bare("help") and bare("set -v")
    # a command's name alone that only a builtin defines is the command (Python would
    # echo <class 'set'>); called, or bound in the session, it is Python's
    assert bare("set") and bare("list") and bare(" set ")
    assert not bare("set()") and not bare("set([1])")
    assert bare("list task_struct.tasks -H init_task")  # not Python: crash's list
    assert not bare("list((1,))") and not bare("help(len)") and not bare("exit(3)")
    assert not bare("list(undefined_name)")  # the first word is "list(...": Python's NameError
    assert not bare("list(x for x in (1,))") and not bare("list(map(lambda y: y, ()))")
    assert not bare("x = 1") and not bare("echo\nx") and not bare("nosuch 1")
