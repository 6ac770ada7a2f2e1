"""The layout cache on the real dumps: a warm cache answers ``ps`` without
loading DWARF and prints what DWARF prints; a damaged or stale file is
rebuilt; a lookup the cache lacks loads DWARF then; the cache written from
one boot serves another boot of the same build (KASLR); triage records are
the same with and without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kmemx
from kmemx.buildid import elf_build_id
from kmemx.commands import execute
from kmemx.triage import VmlinuxIndex, triage_dump
from kmemx.types import layoutcache
from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "layouts"
    monkeypatch.setenv("KMEMX_LAYOUT_DIR", str(d))
    return d


def _ps(core: str, vmlinux: str, layout_cache: bool) -> tuple[list[str], bool]:
    """``ps``'s JSON rows, and whether DWARF was still not loaded after it."""
    k = kmemx.open(core, vmlinux, layout_cache=layout_cache)
    try:
        rows = list(execute(k, "ps", as_json=True))
        return rows, layoutcache.is_deferred(k.prog)
    finally:
        k.close()


def test_warm_ps_without_dwarf_equals_dwarf(fixture: Fixture, cache: Path) -> None:
    core, vml = str(fixture.core("elf")), str(fixture.vmlinux)
    want, _ = _ps(core, vml, False)
    bid = elf_build_id(vml)
    assert bid is not None
    cold, deferred = _ps(core, vml, True)  # writes the file
    assert not deferred and cold == want
    path = Path(layoutcache.cache_path(bid))
    assert path.parent.name == bid and path.stat().st_size > 0
    warm, deferred = _ps(core, vml, True)
    assert deferred, "ps loaded DWARF with a warm layout cache"
    assert warm == want


def test_cli_ps_warm_equals_cold(fixture: Fixture, cache: Path) -> None:
    env = {**os.environ, "KMEMX_PROGRESS": "0"}
    argv = [sys.executable, "-m", "kmemx", "-q", "-c", str(fixture.core("elf")),
            "-s", str(fixture.vmlinux), "ps"]
    off = subprocess.run(argv, env={**env, "KMEMX_LAYOUT_CACHE": "0"}, capture_output=True,
                         text=True, check=True)
    first = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    assert list(cache.iterdir()), "the one-shot ps wrote no layout file"
    warm = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    assert off.stdout == first.stdout == warm.stdout
    assert warm.stderr == ""


@pytest.mark.parametrize("damage", ["flip", "truncate", "version", "other-build"])
def test_damaged_file_is_rebuilt(fixture: Fixture, cache: Path, damage: str) -> None:
    core, vml = str(fixture.core("elf")), str(fixture.vmlinux)
    want, _ = _ps(core, vml, True)
    bid = elf_build_id(vml)
    assert bid is not None
    path = Path(layoutcache.cache_path(bid))
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        data = data[:len(data) // 3]
    elif damage == "version":
        data[8:12] = (layoutcache.FORMAT_VERSION + 1).to_bytes(4, "little")
    else:  # a sound file of another build under this build's name
        other = path.parent.parent / ("0" * 40) / path.name
        layoutcache._write("0" * 40, {"build_id": "0" * 40, "types": {}, "objects": {},
                                      "table": []})
        data = bytearray(other.read_bytes())
    path.write_bytes(bytes(data))
    with pytest.raises(layoutcache.LayoutCacheError):
        layoutcache.load(bid)
    again, deferred = _ps(core, vml, True)
    assert not deferred and again == want  # DWARF, and the file written again
    assert layoutcache.load(bid) is not None
    warm, deferred = _ps(core, vml, True)
    assert deferred and warm == want


def test_a_lookup_the_cache_lacks_loads_dwarf(fixture: Fixture, cache: Path) -> None:
    core, vml = str(fixture.core("elf")), str(fixture.vmlinux)
    _ps(core, vml, True)
    k = kmemx.open(core, vml, layout_cache=True)
    try:
        assert layoutcache.is_deferred(k.prog)
        size = k.prog.type("struct task_struct").size  # from the cache
        assert layoutcache.is_deferred(k.prog)
        files = k.prog.type("struct files_struct")  # not in it: DWARF now
        assert not layoutcache.is_deferred(k.prog)
        want = files.size
    finally:
        k.close()  # saves files_struct too
    k = kmemx.open(core, vml, layout_cache=True)
    try:
        assert k.prog.type("struct files_struct").size == want
        assert k.prog.type("struct task_struct").size == size
        assert layoutcache.is_deferred(k.prog)
    finally:
        k.close()


def test_another_boot_of_the_build_kaslr(fixture: Fixture, cache: Path) -> None:
    """The cache written from vmcore.elf serves the panic dump (another boot,
    another KASLR offset): the same ps as with DWARF."""
    if not fixture.has("panic"):
        pytest.skip(f"panic: {fixture.skip_reason('panic')}")
    vml = str(fixture.vmlinux)
    _ps(str(fixture.core("elf")), vml, True)
    panic = str(fixture.core("panic"))
    want, _ = _ps(panic, vml, False)
    got, deferred = _ps(panic, vml, True)
    assert deferred and got == want


@pytest.mark.parametrize("v", ["elf", "kdump", "panic"])
def test_triage_record_same_with_cache(fixture: Fixture, cache: Path, v: str) -> None:
    if not fixture.has(v):
        pytest.skip(f"{v}: {fixture.skip_reason(v)}")
    idx = VmlinuxIndex([str(fixture.vmlinux)], [])
    path = str(fixture.core(v))
    want = triage_dump(path, idx, layout_cache=False).to_dict()
    cold = triage_dump(path, idx).to_dict()
    warm = triage_dump(path, idx).to_dict()
    assert want["error"] is None, want["error"]
    for got in (cold, warm):
        diffs = [(key, want[key], got[key]) for key in want if got[key] != want[key]]
        assert not diffs, json.dumps(diffs)[:2000]


#: an example line of every command the one-shot CLI runs on the layout cache
CLI_LINES = {"ps": "ps", "pstree": "pstree", "log": "log", "slabinfo": "slabinfo",
             "mount": "mount", "lsmod": "lsmod", "files": "files 1", "vm": "vm 1"}


def test_every_layout_cached_command_prints_what_dwarf_prints(fixture: Fixture,
                                                              cache: Path) -> None:
    """kmemx.cli.LAYOUT_CACHE_COMMANDS: each one's output with a warm cache
    (DWARF not loaded) is the same as with DWARF, on the plain and the panic
    dump (another boot: the first one's cache)."""
    from kmemx.cli import LAYOUT_CACHE_COMMANDS

    assert set(CLI_LINES) == set(LAYOUT_CACHE_COMMANDS), "a listed command without a check"
    vml = str(fixture.vmlinux)
    variants = [v for v in ("elf", "panic") if fixture.has(v)]
    for v in variants:
        core = str(fixture.core(v))
        for line in CLI_LINES.values():
            k = kmemx.open(core, vml, layout_cache=False)
            try:
                want = list(execute(k, line))
            finally:
                k.close()
            k = kmemx.open(core, vml, layout_cache=True)  # cold the first time: records
            try:
                list(execute(k, line))
            finally:
                k.close()
            k = kmemx.open(core, vml, layout_cache=True)
            try:
                got = list(execute(k, line))
                assert layoutcache.is_deferred(k.prog), f"{line} loaded DWARF on {v}"
            finally:
                k.close()
            assert got == want, f"{line} on {v}"
