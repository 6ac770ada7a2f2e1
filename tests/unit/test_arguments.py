"""Command arguments (resolve_each, the parsers), the "did you mean" hint, kernel
byte strings in text and JSON output, and ``CMD -h`` printed once."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from kmemx.commands import (
    CommandError,
    Context,
    Name,
    Registry,
    Row,
    arg,
    command,
    did_you_mean,
    kernel_bytes,
    kernel_str,
    parse_hex,
    parse_task_spec,
    render,
    resolve_each,
    surrogate_safe,
)
from kmemx.commands.pipeline import run_pipeline


def _ctx(registry: Registry | None = None) -> Context:
    k: Any = SimpleNamespace(prog=SimpleNamespace(cache={}))
    return Context(k, registry)


def _square(s: str) -> int:
    if not s.isdigit():
        raise CommandError(f"not a number: {s!r}")
    return int(s) ** 2


def test_resolve_each_keeps_good_and_warns_each_bad() -> None:
    ctx = _ctx()
    got = list(resolve_each(ctx, ["2", "x", "3", "y"], _square))
    assert got == [4, 9]
    assert ctx.errors == ["not a number: 'x'", "not a number: 'y'"]


def test_resolve_each_one_bad_argument_is_an_error() -> None:
    ctx = _ctx()
    with pytest.raises(CommandError) as e:
        list(resolve_each(ctx, ["x"], _square))
    assert str(e.value) == "not a number: 'x'"
    assert ctx.errors == []  # the error says it; no warning left over


def test_resolve_each_all_bad_is_one_error_with_every_message() -> None:
    ctx = _ctx()
    ctx.warn("an earlier problem")
    with pytest.raises(CommandError) as e:
        list(resolve_each(ctx, ["x", "y"], _square))
    assert str(e.value) == "not a number: 'x'; not a number: 'y'"
    assert "\n" not in str(e.value)
    assert ctx.errors == ["an earlier problem"]


def test_resolve_each_is_lazy_and_empty_is_nothing() -> None:
    ctx = _ctx()
    seen: list[str] = []

    def resolve(s: str) -> str:
        seen.append(s)
        return s

    it = resolve_each(ctx, ["a", "b"], resolve)
    assert seen == []
    assert next(it) == "a" and seen == ["a"]
    assert list(resolve_each(ctx, [], resolve)) == []


def test_resolve_each_reports_faults() -> None:
    import drgn

    def resolve(s: str) -> int:
        if s == "bad":
            raise drgn.FaultError("could not read memory", 0xdead)
        return 1

    ctx = _ctx()
    assert list(resolve_each(ctx, ["ok", "bad"], resolve)) == [1]
    assert ctx.errors == ["bad: cannot read 0xdead"]


@pytest.mark.parametrize("text, want", [
    ("ffffffff81000000", 0xffffffff81000000), ("0xffffffff81000000", 0xffffffff81000000),
    ("0x10", 0x10), ("10", 0x10), ("dead", 0xdead), ("0XAbC", 0xabc),
    ("ffff8880" + "0" * 8, 0xffff888000000000), ("jiffies", None), ("0x", None), ("", None),
    ("-1", None)])
def test_parse_hex(text: str, want: int | None) -> None:
    assert parse_hex(text) == want


@pytest.mark.parametrize("text, want", [
    ("1", ("pid", 1)), ("0", ("pid", 0)), ("12345678", ("pid", 12345678)),
    ("0x1", ("task", 1)), ("ff3430fa011fc200", ("task", 0xff3430fa011fc200)),
    ("0xffff888003a1c000", ("task", 0xffff888003a1c000)), ("abc", ("task", 0xabc))])
def test_parse_task_spec(text: str, want: tuple[str, int]) -> None:
    assert parse_task_spec(text) == want


def test_parse_task_spec_rejects_names() -> None:
    with pytest.raises(CommandError, match="not a PID or task address: 'init'"):
        parse_task_spec("init")


def test_did_you_mean() -> None:
    assert did_you_mean("jiffie", ["jiffies", "jiffies_64", "init_task"]) == \
        " (did you mean jiffies, jiffies_64?)"
    assert did_you_mean("task_strct", ["task_struct"], prefix="struct ") == \
        " (did you mean struct task_struct?)"
    assert did_you_mean("zzz", ["jiffies"]) == ""
    assert did_you_mean("--jsn", ["--json", "-k"], n=1) == " (did you mean --json?)"


def test_one_did_you_mean_implementation() -> None:
    """Every "did you mean" of the modules that own one comes from kmemx.symbols."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    owners = [root / "kmemx" / "commands", root / "kmemx" / "types", root / "plugins" / "lists.py",
              root / "plugins" / "core.py"]
    for p in owners:
        for f in ([p] if p.is_file() else sorted(p.glob("*.py"))):
            assert "get_close_matches" not in f.read_text(), f


def test_kernel_bytes_round_trip_text_and_json() -> None:
    raw = b"kmx-\xff\xfe-\xc3\xa9"  # two bytes that are not UTF-8, then a UTF-8 e-acute
    s = kernel_str(raw)
    assert kernel_bytes(s) == raw
    assert s.endswith("\u00e9")
    row = Row(("PID", "COMM"), (1, Name(s)))
    # JSON: ASCII, and json.loads gives the same string back
    text = "\n".join(render([row], as_json=True))
    assert text.isascii()
    back = json.loads(text)[0]["comm"]
    assert back == s and kernel_bytes(back) == raw
    # text: through a surrogate-safe stream, the original bytes come back
    buf = io.BytesIO()
    out = surrogate_safe(io.TextIOWrapper(buf, encoding="utf-8", errors="strict", newline="\n"))
    for line in render([row]):
        out.write(line + "\n")
    out.flush()
    assert raw in buf.getvalue()
    # bytes cells follow the same rule
    assert json.loads("\n".join(render([Row(("X",), (raw,))], as_json=True)))[0]["x"] == s


def test_surrogate_safe_leaves_other_streams() -> None:
    s = io.StringIO()
    assert surrogate_safe(s) is s


def test_help_is_shown_once(capsys: pytest.CaptureFixture[str]) -> None:
    reg = Registry()

    @command("hello", "say hello", description="the manual of hello",
             arguments=[arg("name", nargs="*")], registry=reg)
    def hello(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
        yield from args.name

    run = run_pipeline(_ctx(reg), "hello -h")
    lines = list(render(run.items))
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    text = "\n".join(lines)
    assert text.count("the manual of hello") == 1 and text.count("usage: hello") == 1


def test_repeated_words_parse_once_into_separate_namespaces() -> None:
    """A command's words are parsed once (Command._parse keeps the result):
    every call gets its own Namespace, lists copied, and an error is raised
    every time, never kept."""
    reg = Registry()
    seen: list[argparse.Namespace] = []

    @command("grab", "collect", arguments=[arg("name", nargs="*"), arg("-n", type=int),
                                           arg("-x", action="append")], registry=reg)
    def grab(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
        seen.append(args)
        args.name.append("mutated")  # a command changing its arguments changes no other call
        yield len(args.name)

    for _ in range(3):
        assert list(run_pipeline(_ctx(reg), "grab a b -n 3 -x 1 -x 2").items) == [3]
    assert [vars(a) for a in seen] == [{"name": ["a", "b", "mutated"], "n": 3,
                                        "x": ["1", "2"]}] * 3
    assert len({id(a) for a in seen}) == 3 and len({id(a.x) for a in seen}) == 3
    assert list(run_pipeline(_ctx(reg), "grab c").items) == [2]
    for _ in range(2):
        with pytest.raises(CommandError):
            list(run_pipeline(_ctx(reg), "grab -n notanumber").items)


def test_missing_arguments_name_only_the_required_ones() -> None:
    """argparse lists a ``*`` positional after a missing required one
    (``struct``: "type, addresses"); kmemx's message names the required only."""
    from kmemx.commands import UsageError

    reg = Registry()

    @command("shape", "a type and optional addresses",
             arguments=[arg("type"), arg("addresses", nargs="*"), arg("count", nargs="?")],
             registry=reg)
    def shape(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
        yield args.type

    with pytest.raises(UsageError) as e:
        list(run_pipeline(_ctx(reg), "shape").items)
    assert str(e.value) == "shape: the following arguments are required: type"
    assert list(run_pipeline(_ctx(reg), "shape T").items) == ["T"]


def test_warnings_come_before_the_error() -> None:
    """What a command survived (``ctx.warn``) before it failed is printed, as
    ``kmemx: warning:`` lines before the error, never lost with it."""
    from kmemx.commands import execute

    reg = Registry()

    @command("failing", "warns, then fails", registry=reg)
    def failing(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
        ctx.warn("one address skipped")
        raise CommandError("failing: nothing left")
        yield  # a generator

    k: Any = SimpleNamespace(prog=SimpleNamespace(cache={}))
    got: list[str] = []
    with pytest.raises(CommandError, match="nothing left"):
        for line in execute(k, "failing", registry=reg):
            got.append(line)
    assert got == ["kmemx: warning: one address skipped"]


def test_fault_at_a_translation_is_said_physical() -> None:
    """A fault kmemx's segment reader marks physical (drgn met it translating
    a virtual address: a page table's) is never shown as the address asked for."""
    import drgn

    from kmemx.errors import PHYSICAL_MARK, fault_reason, fault_text, fault_where

    cut = drgn.FaultError("past the end of the truncated dump file" + PHYSICAL_MARK, 0x1BC2AFF8)
    assert fault_where(cut) == \
        "physical address 0x1bc2aff8 (past the end of the truncated dump file)"
    assert fault_text(cut) == \
        "past the end of the truncated dump file, at physical address 0x1bc2aff8"
    assert fault_reason(cut) == \
        "past the end of the truncated dump file, at physical address 0x1bc2aff8"
    virtual = drgn.FaultError("address is not mapped", 0xDEADBEEF)
    assert fault_where(virtual) == "0xdeadbeef"
    assert fault_text(virtual) == str(virtual) == "address is not mapped: 0xdeadbeef"
    assert fault_reason(virtual) == "address is not mapped"


def test_unused_symbol_files_are_kmemx_warnings() -> None:
    """drgn's "PATH: WHY; ignoring" about an -s file becomes kmemx's warning
    (shown even with -q); about a file the user did not give, drgn's log."""
    import logging

    from kmemx.cli import _DrgnNotes

    notes = _DrgnNotes(["/nonexist", "/srv/other/vmlinux"])
    for msg in ("/nonexist: No such file or directory; ignoring",
                "provided file /srv/other/vmlinux did not match any loaded modules; ignoring",
                "/usr/lib/debug/x.ko: not an ELF file; ignoring"):
        notes.emit(logging.LogRecord("drgn", logging.WARNING, __file__, 1, msg, None, None))
    assert notes.warnings() == [
        "kmemx: warning: -s /nonexist not used: No such file or directory",
        "kmemx: warning: -s /srv/other/vmlinux not used: did not match any loaded modules"]
