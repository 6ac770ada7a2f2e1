"""``CMD --drgn``: the printed code runs under drgn itself (``drgn -q -c CORE -s
VMLINUX script.py``, no kmemx involved) and prints what the command prints."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

import kmemx
from kmemx.commands import CommandError, execute
from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore


@functools.cache
def _open(core: str, vmlinux: str) -> Any:
    return kmemx.open(core, vmlinux)


def _drgn(fixture: Fixture, code: str, tmp_path: Path) -> list[str]:
    script = tmp_path / "script.py"
    script.write_text(code)
    proc = subprocess.run(["drgn", "-q", "-c", str(fixture.core("panic")), "-s",
                           str(fixture.vmlinux), str(script)],
                          capture_output=True, text=True, errors="surrogateescape")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.parametrize("line", ["log", "log -t", "sym jiffies schedule init_task",
                                  "rd init_task 6", "rd -32 linux_banner 9", "ps"])
def test_drgn_code_prints_the_commands_result(fixture: Fixture, line: str,
                                              tmp_path: Path) -> None:
    if not fixture.has("panic"):
        pytest.skip(fixture.skip_reason("panic"))
    k = _open(str(fixture.core("panic")), str(fixture.vmlinux))
    code = "\n".join(execute(k, f"{line} --drgn")) + "\n"
    assert "import kmemx" not in code and "k." not in code.replace("task", "")
    out = _drgn(fixture, code, tmp_path)
    if line.startswith("log"):
        assert out == list(execute(k, line))
        return
    rows = json.loads("\n".join(execute(k, f"{line} --json")))
    if line.startswith("sym"):
        assert [ln.split() for ln in out] == [[r["address"][2:], r["symbol"]] for r in rows]
    elif line.startswith("rd"):
        assert [(ln.split(": ")[0], ln.split(": ")[1].split()) for ln in out] == [
            (r["address"][2:], r["values"].split()) for r in rows]
    else:  # ps
        ours = [[str(r["pid"]), str(r["ppid"]), str(r["cpu"]), r["task"][2:], r["st"],
                 r["comm"]] for r in rows]
        theirs = [ln.split(None, 5) for ln in out]
        for t in theirs:
            t[5] = t[5].removeprefix("[").removesuffix("]")
        # the same tasks and columns; drgn's for_each_task() walks threads in
        # another order than kmemx's task walk
        assert sorted(theirs) == sorted(ours)


def test_drgn_code_missing_is_one_error(fixture: Fixture) -> None:
    if not fixture.has("panic"):
        pytest.skip(fixture.skip_reason("panic"))
    k = _open(str(fixture.core("panic")), str(fixture.vmlinux))
    with pytest.raises(CommandError, match="no --drgn code"):
        list(execute(k, "mount --drgn"))
    with pytest.raises(CommandError, match="--drgn takes one command"):
        list(execute(k, "ps | count --drgn"))
