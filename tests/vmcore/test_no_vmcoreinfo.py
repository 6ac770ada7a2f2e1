"""A dump without VMCOREINFO (QEMU's dump-guest-memory without ``-device
vmcoreinfo``): kmemx recovers the note's facts from the kernel image in memory
(kmemx.kaslr) on x86-64, as crash does.

Oracles: the VMCOREINFO note of ``vmcore.elf``, of which
``vmcore-novmcoreinfo.elf`` is a copy with the note renamed (same memory);
the task list crash 8.0.6 reads from the same note-less dump; drgn's
``for_each_task`` on ``vmcore.elf``.
"""

from __future__ import annotations

import json
import warnings

import pytest

import kmemx
from kmemx.commands import execute
from kmemx.kaslr import recover_vmcoreinfo
from kmemx.readers.elfcore import ElfCoreMemory, parse_elf_core
from kmemx.vmcoreinfo import Vmcoreinfo
from tests.fixtures.fixture import Fixture
from tests.oracles import crash as C

#: the recovered keys, each equal to the note's
KEYS = ("OSRELEASE", "BUILD-ID", "PAGESIZE", "SYMBOL(swapper_pg_dir)", "SYMBOL(init_top_pgt)",
        "NUMBER(phys_base)", "NUMBER(pgtable_l5_enabled)", "KERNELOFFSET", "SYMBOL(_stext)",
        "LENGTH(mem_section)", "SIZE(mem_section)", "NUMBER(SECTION_SIZE_BITS)",
        "NUMBER(MAX_PHYSMEM_BITS)")


@pytest.fixture(scope="module")
def x86(fixture: Fixture) -> Fixture:
    if not fixture.has("novmcoreinfo"):
        pytest.skip(fixture.skip_reason("novmcoreinfo"))
    if parse_elf_core(str(fixture.core("elf"))).machine != 62:  # EM_X86_64
        pytest.skip("recovery is x86-64 only (test_arm64_refused covers arm64)")
    return fixture


@pytest.fixture(scope="module")
def recovered(x86: Fixture) -> kmemx.Kernel:
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        k = kmemx.open(x86.core("novmcoreinfo"), x86.vmlinux)
    said = [str(w.message) for w in got if issubclass(w.category, kmemx.KmemxWarning)]
    assert any("no VMCOREINFO note: recovered" in m for m in said), said
    return k


def test_recovered_keys_equal_the_note(x86: Fixture) -> None:
    note = Vmcoreinfo(parse_elf_core(str(x86.core("elf"))).vmcoreinfo or b"")
    core = parse_elf_core(str(x86.core("novmcoreinfo")))
    assert core.vmcoreinfo is None
    phys = ElfCoreMemory(core)
    try:
        got = Vmcoreinfo(recover_vmcoreinfo(phys, str(x86.vmlinux)))
    finally:
        phys.close()
    for key in KEYS:
        assert got.get(key) is not None, key
        # (5.10's note lacks NUMBER(SECTION_SIZE_BITS): added in v5.13, 4f5aecdff25f)
        if note.get(key) is not None:
            assert got.get(key) == note.get(key), key


def test_ps_equals_crash_on_the_same_dump(x86: Fixture, recovered: kmemx.Kernel) -> None:
    try:
        out = C.crash_outputs(x86.vmlinux, x86.core("novmcoreinfo"), ["ps"])["ps"]
    except C.CrashError as e:
        pytest.skip(f"crash: {e}")
    want = {(r["pid"], r["ppid"], r["task"], r["comm"]) for r in C.parse_ps(out)}
    rows = execute(recovered, "ps", as_json=True)
    got = {(r["pid"], r["ppid"], int(r["task"], 16), r["comm"])
           for r in json.loads("\n".join(rows))}
    assert got == want


def test_tasks_equal_drgn_on_the_noted_dump(x86: Fixture, recovered: kmemx.Kernel) -> None:
    from drgn.helpers.linux.pid import for_each_task

    prog = x86.drgn_program("elf")
    want = {(t.value_(), int(t.pid)) for t in for_each_task(prog)}
    got = {(t.value_(), int(t.pid)) for t in for_each_task(recovered.prog)}
    assert got == want and len(got) > 50
    # vmemmap (found from LENGTH(mem_section)) and a page through it
    assert recovered.prog["vmemmap"].value_() == prog["vmemmap"].value_()
    # and a direct-map read through kmemx's own reader
    init = prog["init_task"]
    assert recovered.read(init.address_, 64) == prog.read(init.address_, 64)


def test_needs_the_vmlinux(x86: Fixture) -> None:
    with pytest.raises(kmemx.NoVmcoreinfoError, match="give the vmlinux"):
        kmemx.open(x86.core("novmcoreinfo"), None, debug_info=False)


def test_another_kernels_vmlinux_is_refused(x86: Fixture) -> None:
    from tests.fixtures.paths import default_cache

    others = [p / "vmlinux" for p in default_cache().glob("linux-image-*-amd64")
              if p != x86.root and (p / "vmlinux").exists()]
    if not others:
        pytest.skip("no other amd64 kernel's vmlinux cached")
    with pytest.raises(kmemx.NoVmcoreinfoError, match="nowhere in the dump's memory"):
        kmemx.open(x86.core("novmcoreinfo"), others[0])


def test_arm64_refused(fixture: Fixture) -> None:
    if not fixture.has("novmcoreinfo"):
        pytest.skip(fixture.skip_reason("novmcoreinfo"))
    if parse_elf_core(str(fixture.core("elf"))).machine == 62:
        pytest.skip("x86-64: recovered (the tests above)")
    with pytest.raises(kmemx.NoVmcoreinfoError, match="x86-64 only"):
        kmemx.open(fixture.core("novmcoreinfo"), fixture.vmlinux)
