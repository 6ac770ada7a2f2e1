"""Which crash build the oracle harness uses for a dump (tests.oracles.crash):
the first whose session starts, tried once per dump, with fake crash binaries
(a shell script per version) so that no dump or real crash is needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.oracles import crash as C

__all__: list[str] = []

# A crash that cannot open the dump: it dies while starting, before reading any
# command (crash 8.0.6 on 7.2: "invalid structure member offset" in kmem_cache_init).
_CANNOT_READ = """#!/bin/sh
[ "$1" = --version ] && {{ echo "crash {version}"; exit 0; }}
echo run >>"{calls}"
echo "crash: invalid structure member offset: kmem_cache_s_num"
exit 1
"""

# A crash that opens it: `echo X` prints X, any other command one line naming it.
_READS = """#!/bin/sh
[ "$1" = --version ] && {{ echo "crash {version}"; exit 0; }}
echo run >>"{calls}"
while read -r line; do
    case "$line" in
        quit) exit 0 ;;
        "echo "*) echo "${{line#echo }}" ;;
        *) echo "{version} ran $line" ;;
    esac
done
"""


def _fake(tools: Path, name: str, version: str, script: str) -> Path:
    path = tools / name / "crash"
    path.parent.mkdir(parents=True)
    path.write_text(script.format(version=version, calls=tools / f"{name}.calls"))
    path.chmod(0o755)
    return path


def _runs(tools: Path, name: str) -> int:
    calls = tools / f"{name}.calls"
    return len(calls.read_text().splitlines()) if calls.exists() else 0


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KMEMX_TOOLS", str(tmp_path))
    monkeypatch.delenv("KMEMX_CRASH", raising=False)
    monkeypatch.setattr(C.shutil, "which", lambda name: None)
    return tmp_path


def test_outputs_come_from_the_first_crash_that_opens_the_dump(tools: Path) -> None:
    _fake(tools, "crash-8.0.6", "8.0.6", _CANNOT_READ)
    _fake(tools, "crash-8.0.6-arm64", "8.0.6", _CANNOT_READ)
    new = _fake(tools, "crash-9.0.2", "9.0.2", _READS)
    vmlinux, vmcore = tools / "vmlinux", tools / "vmcore"

    out = C.crash_outputs(vmlinux, vmcore, ["ps", "mod"])
    assert out == {"ps": "9.0.2 ran ps\n", "mod": "9.0.2 ran mod\n"}
    # each build that cannot open the dump ran once: no second session to tell
    # a session that never started from one that died on a command
    assert (_runs(tools, "crash-8.0.6"), _runs(tools, "crash-8.0.6-arm64")) == (1, 1)
    assert _runs(tools, "crash-9.0.2") == 1

    # later calls on this dump go straight to 9.0.2, also through crash_for
    assert C.crash_outputs(vmlinux, vmcore, ["sys"]) == {"sys": "9.0.2 ran sys\n"}
    assert C.crash_for(vmlinux, vmcore) == new
    assert C.run_crash_commands(vmlinux, vmcore, ["log"]) == {"log": "9.0.2 ran log\n"}
    assert (_runs(tools, "crash-8.0.6"), _runs(tools, "crash-8.0.6-arm64")) == (1, 1)
    assert _runs(tools, "crash-9.0.2") == 3


def test_no_crash_opens_the_dump(tools: Path) -> None:
    _fake(tools, "crash-8.0.6", "8.0.6", _CANNOT_READ)
    _fake(tools, "crash-9.0.2", "9.0.2", _CANNOT_READ)
    vmlinux, vmcore = tools / "vmlinux", tools / "vmcore"

    with pytest.raises(C.CrashCannotRead) as e:
        C.crash_outputs(vmlinux, vmcore, ["ps"])
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("crash 8.0.6: crash exited with status 1")
    assert "; crash 9.0.2: crash exited with status 1" in message
    assert message.count("invalid structure member offset") == 2
    # crash_for does not start them again
    with pytest.raises(C.CrashCannotRead):
        C.crash_for(vmlinux, vmcore)
    assert (_runs(tools, "crash-8.0.6"), _runs(tools, "crash-9.0.2")) == (1, 1)


def test_a_session_that_dies_on_a_command_is_an_error_not_a_skip(tools: Path) -> None:
    dies = _READS.replace('*) echo "{version} ran $line" ;;',
                          '"bt -a") exit 1 ;;\n        *) echo "{version} ran $line" ;;')
    _fake(tools, "crash-8.0.6", "8.0.6", dies)
    vmlinux, vmcore = tools / "vmlinux", tools / "vmcore"

    with pytest.raises(C.CrashError) as e:
        C.crash_outputs(vmlinux, vmcore, ["ps", "bt -a"])
    assert not isinstance(e.value, C.CrashCannotRead)
    # its session started: `sys` alone ran to tell
    assert _runs(tools, "crash-8.0.6") == 2
    assert C.crash_outputs(vmlinux, vmcore, ["ps"]) == {"ps": "8.0.6 ran ps\n"}
