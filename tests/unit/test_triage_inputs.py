"""``kmemx triage``'s inputs: directories walked for their dumps (one level
of subdirectories, kdump-tools' ``/var/crash/<timestamp>/``), a dump without
VMCOREINFO opened with the ``-s`` files as the one-shot commands open it,
and every error line naming its dump.  kmemx.open is replaced by fakes: the
real opens are covered by tests/vmcore/test_triage*.py."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import kmemx
from kmemx.errors import KmemxError, MismatchError, NoVmcoreinfoError
from kmemx.triage import VmlinuxIndex, cli, collect, triage_dump
from kmemx.triage.inputs import dump_paths, is_dump_name
from kmemx.triage.record import Record


@pytest.mark.parametrize("name, taken", [
    ("vmcore", True), ("vmcore.flat", True), ("vmcore.1", True), ("vmcore-incomplete", True),
    ("dump.202611291200", True), ("vmcore-panic.elf", True), ("x.kdump", True),
    ("host.vmcore", True), ("vmcore-dmesg.txt", False), ("dmesg.202611291200", False),
    ("vmlinux", False), ("kexec_cmd", False), ("notes.txt", False)])
def test_dump_names(name: str, taken: bool) -> None:
    assert is_dump_name(name) is taken


def _touch(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"\x7fELF")
    return p


def test_directory_and_one_level_of_subdirectories(tmp_path: Path) -> None:
    crash = tmp_path / "crash"
    top = _touch(crash / "vmcore")
    _touch(crash / "vmcore-dmesg.txt")
    a = _touch(crash / "202611291200" / "dump.202611291200")
    _touch(crash / "202611291200" / "dmesg.202611291200")
    b = _touch(crash / "127.0.0.1-2026-11-29-12:00:00" / "vmcore")
    _touch(crash / "202611291200" / "deeper" / "vmcore")  # two levels down: not taken
    single = _touch(tmp_path / "any-name.bin")  # a file argument: taken as it is
    missing = str(tmp_path / "gone")
    dumps, problems = dump_paths([str(crash), str(single), missing])
    assert dumps == [str(top), str(b), str(a), str(single), missing]
    assert problems == []


def test_directory_without_dumps_is_one_problem_naming_it(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    _touch(empty / "sub" / "vmcore-dmesg.txt")
    dumps, problems = dump_paths([str(empty)])
    assert dumps == []
    assert len(problems) == 1 and problems[0][0] == str(empty)
    assert problems[0][1].startswith(f"{empty}: no dump in this directory")


def test_cli_walks_directories_and_reports_empty_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _touch(tmp_path / "crash" / "2026" / "dump.2026")
    empty = tmp_path / "nothing"
    empty.mkdir()
    seen: list[list[str]] = []

    def fake_triage(paths: list[str], *args: Any, **kw: Any) -> list[Record]:
        seen.append(list(paths))
        return [Record(os.path.abspath(p), release="6.1.0-56-amd64") for p in paths]

    monkeypatch.setattr(cli, "triage", fake_triage)
    rc = cli.main([str(tmp_path / "crash"), str(empty)])
    out, err = capsys.readouterr()
    assert seen == [[str(a)]]
    assert rc == cli.EXIT_INCOMPLETE
    assert err.strip() == (f"kmemx: error: {empty}: no dump in this directory or its "
                           f"subdirectories (names taken: {cli.DUMP_NAMES})")
    assert "6.1.0-56-amd64" in out and "error: " in out


class _FakeInfo:
    build_id = "ab" * 20
    osrelease = "6.1.0-56-amd64"


class _FakeKernel:
    vmcoreinfo = _FakeInfo()

    def close(self) -> None:
        pass


def _dump(tmp_path: Path) -> str:
    return str(_touch(tmp_path / "vmcore"))


def test_no_vmcoreinfo_opens_with_each_s_file(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = _dump(tmp_path)
    calls: list[tuple[Any, ...]] = []

    def fake_open(p: str, vmlinux: str | None = None, **kw: Any) -> _FakeKernel:
        calls.append((p, vmlinux))
        if vmlinux is None:
            raise NoVmcoreinfoError(f"{p}: no VMCOREINFO note")
        if vmlinux.endswith("other"):
            raise MismatchError(f"{p}: no VMCOREINFO note, and {vmlinux}'s banner is "
                                f"nowhere in the dump's memory")
        return _FakeKernel()

    monkeypatch.setattr(kmemx, "open", fake_open)
    monkeypatch.setattr(collect, "collect", lambda k, rec: rec)
    rec = triage_dump(path, VmlinuxIndex(["/v/other", "/v/right"], []), layout_cache=False)
    assert rec.error is None, rec.error
    assert rec.vmlinux == "/v/right"
    assert (rec.release, rec.build_id) == ("6.1.0-56-amd64", "ab" * 20)
    assert calls == [(path, None), (path, "/v/other"), (path, "/v/right")]


def test_no_vmcoreinfo_and_no_s_file_that_opens(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = _dump(tmp_path)

    def fake_open(p: str, vmlinux: str | None = None, **kw: Any) -> _FakeKernel:
        if vmlinux is None:
            raise NoVmcoreinfoError(f"{p}: no VMCOREINFO note")
        raise MismatchError(f"{p}: not this kernel's vmlinux")

    monkeypatch.setattr(kmemx, "open", fake_open)
    rec = triage_dump(path, VmlinuxIndex(["/v/a"], []), layout_cache=False)
    assert rec.error == (f"{path}: no BUILD-ID in VMCOREINFO (or no VMCOREINFO), and no -s "
                         f"file opens it: a: not this kernel's vmlinux")
    rec = triage_dump(path, VmlinuxIndex([], []), layout_cache=False)
    assert rec.error is not None and rec.error.startswith(f"{path}: no BUILD-ID")
    assert "-s" in rec.error


def test_every_error_names_its_dump(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error whose text has no path (a reader's message) gets the dump's."""
    path = _dump(tmp_path)

    def fake_open(p: str, vmlinux: str | None = None, **kw: Any) -> _FakeKernel:
        raise KmemxError("page data lies past the end of the file (truncated dump) "
                         "(page table at 0x1b410000): 0xffffffff8603ca10")

    monkeypatch.setattr(kmemx, "open", fake_open)
    rec = triage_dump(path, VmlinuxIndex([], []), layout_cache=False)
    assert rec.error == (f"{path}: page data lies past the end of the file (truncated dump) "
                         f"(page table at 0x1b410000): 0xffffffff8603ca10")
