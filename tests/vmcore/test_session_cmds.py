"""crash's session commands on a real dump: ``alias`` (list, define, expand
with pipes and shell pipes, delete), ``repeat`` (each run the command's own
output, ``p``'s value history going on as crash's ``$N``) and ``exit``/``q``
(the session ends with status 0; the REPL returns it)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from drgn.helpers.linux.pid import for_each_task

import kmemx
from kmemx.commands import REGISTRY, CommandError, execute
from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore


@pytest.fixture(scope="module")
def k(fixture: Fixture) -> kmemx.Kernel:
    return kmemx.open(fixture.core("elf"), fixture.vmlinux)


@pytest.fixture()
def clean_aliases() -> Iterator[None]:
    saved = dict(REGISTRY.runtime_aliases)
    yield
    REGISTRY.runtime_aliases.clear()
    REGISTRY.runtime_aliases.update(saved)


def rows(k: kmemx.Kernel, line: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = json.loads("\n".join(execute(k, line, as_json=True)))
    return out


def test_alias_lists_the_commands_own_aliases(k: kmemx.Kernel) -> None:
    listed = {(r["origin"], r["alias"], r["command"]) for r in rows(k, "alias")}
    want = {("builtin", a, c) for a, c in REGISTRY.builtin_aliases().items()}
    assert want <= listed
    assert ("builtin", "q", "exit") in listed


def test_alias_defines_expands_and_deletes(k: kmemx.Kernel, clean_aliases: None) -> None:
    made = rows(k, "alias np ps -G")
    assert made == [{"origin": "runtime", "alias": "np", "command": "ps -G"}]
    via_alias = rows(k, "np")
    assert via_alias == rows(k, "ps -G")
    # thread-group leaders: drgn's task list, one per tgid
    leaders = {int(t.tgid) for t in for_each_task(k.prog) if t.pid == t.tgid}
    assert {r["pid"] for r in via_alias if r["pid"] != 0} == leaders
    assert list(execute(k, 'alias np ""')) == ["alias deleted: np"]
    with pytest.raises(CommandError, match="unknown command 'np'"):
        list(execute(k, "np"))


def test_alias_with_pipes_and_arguments(k: kmemx.Kernel, clean_aliases: None) -> None:
    list(execute(k, 'alias nps "ps | count"'))
    assert rows(k, "nps") == rows(k, "ps | count")
    # words after the alias go after its command line: "ps -G | count" is not
    # "ps | count -G"; crash appends them too
    list(execute(k, "alias psg ps -G"))
    assert rows(k, "psg | count") == rows(k, "ps -G | count")
    text = list(execute(k, "nps ! cat"))
    assert text == list(execute(k, "ps | count ! cat"))


def test_alias_errors_are_one_line(k: kmemx.Kernel, clean_aliases: None) -> None:
    with pytest.raises(CommandError, match="no such alias"):
        list(execute(k, "alias nosuchalias"))
    with pytest.raises(CommandError, match="no such alias"):
        list(execute(k, 'alias nosuchalias ""'))


def test_repeat_runs_the_line_each_time(k: kmemx.Kernel) -> None:
    once = list(execute(k, "ps -G | count"))
    # quoted, the pipeline is what repeats; unquoted, the pipe takes all runs
    assert list(execute(k, 'repeat --count 3 "ps -G | count"')) == once * 3
    n = int(once[1])
    assert list(execute(k, "repeat --count 3 ps -G | count")) == ["COUNT", f"{3 * n:5}"]
    lines = list(execute(k, "repeat --count 3 -0 p jiffies"))
    jiffies = int(k.prog["jiffies"].value_())
    assert [ln.split(" = ", 2)[2] for ln in lines] == [str(jiffies)] * 3
    numbers = [int(ln.split(" = ")[1].lstrip("$")) for ln in lines]
    assert numbers == list(range(numbers[0], numbers[0] + 3))


def test_repeat_tables_each_have_a_header(k: kmemx.Kernel) -> None:
    lines = list(execute(k, "repeat --count 2 ps 1"))
    assert sum(1 for ln in lines if ln.split()[:2] == ["PID", "PPID"]) == 2


def test_repeat_stops_when_the_reader_stops(k: kmemx.Kernel) -> None:
    it = execute(k, "repeat p jiffies")  # no --count: until ^C, as in crash
    first = [next(it) for _ in range(5)]
    it.close()
    assert all(ln.startswith("jiffies = $") for ln in first)


def test_repeat_usage_errors(k: kmemx.Kernel) -> None:
    with pytest.raises(CommandError, match="which command"):
        list(execute(k, "repeat -1"))
    with pytest.raises(CommandError, match="at least 1"):
        list(execute(k, "repeat --count 0 sys"))


@pytest.mark.parametrize("name", ["exit", "q", "quit"])
def test_exit_ends_the_session(k: kmemx.Kernel, name: str) -> None:
    with pytest.raises(SystemExit) as e:
        list(execute(k, name))
    assert e.value.code == 0


def test_exit_one_shot_status_zero(fixture: Fixture) -> None:
    p = subprocess.run([sys.executable, "-m", "kmemx", "-q", "-c", str(fixture.core("elf")),
                        "-s", str(fixture.vmlinux), "exit"], capture_output=True, text=True,
                       timeout=300)
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
