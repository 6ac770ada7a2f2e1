"""The core engine on real dumps, against plain drgn as the oracle."""

from __future__ import annotations

import random
import warnings
from pathlib import Path
from typing import Any

import drgn
import pytest
from drgn.helpers.linux.list import list_for_each_entry
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.slab import for_each_slab_cache, slab_cache_usage

import kmemx
from tests.fixtures.fixture import Fixture
from tests.vmcore.regions import direct_map_base, region_samples

pytestmark = pytest.mark.vmcore


def _read_or_fault(read: Any, addr: int, size: int) -> bytes | str:
    try:
        return bytes(read(addr, size))
    except drgn.FaultError:
        return "fault"


@pytest.fixture(scope="module")
def kernels(fixture: Fixture) -> dict[str, kmemx.Kernel]:
    out = {}
    for v in ("elf", "kdump", "kdump-d31", "panic"):
        if fixture.has(v):
            out[v] = kmemx.open(fixture.core(v), fixture.vmlinux)
    return out


def test_reader_choice(kernels: dict[str, kmemx.Kernel]) -> None:
    assert kernels["elf"].reader.name == "mmap-elf"
    assert kernels["panic"].reader.name == "mmap-elf"
    if "kdump" in kernels:
        assert kernels["kdump"].reader.name == "kdump"
    if "kdump-d31" in kernels:
        assert kernels["kdump-d31"].reader.name == "kdump"


@pytest.mark.parametrize("v", ["elf", "panic", "kdump", "kdump-d31"])
def test_random_reads_match_drgn(fixture: Fixture, kernels: dict[str, kmemx.Kernel],
                                 v: str) -> None:
    """Random addresses over every region type read (or fault) identically.

    ELF: 100,000 addresses (12,500 per region type); compressed: 100,000 too
    (kmemx's own kdump reader).
    """
    if v not in kernels:
        pytest.skip(fixture.skip_reason(v))
    k = kernels[v]
    plain = fixture.drgn_program(v)
    n = 12500
    rnd = random.Random(42)
    samples = region_samples(plain, n, seed=hash(v) & 0xFFFF)
    for region, addrs in samples.items():
        faults = 0
        for addr in addrs:
            size = rnd.choice((1, 2, 4, 8, 16, 64, 200))
            want = _read_or_fault(plain.read, addr, size)
            got = _read_or_fault(k.read, addr, size)
            assert got == want, f"{region} {addr:#x}+{size}"
            if size == 8:
                w64 = _read_or_fault(lambda a, s: plain.read_u64(a).to_bytes(8, "little"),
                                     addr, 8)
                g64 = _read_or_fault(lambda a, s: k.read_u64(a).to_bytes(8, "little"), addr, 8)
                assert g64 == w64, f"{region} u64 {addr:#x}"
            faults += want == "fault"
        if region in ("direct", "kernel", "stack", "module", "percpu") and v != "kdump-d31":
            assert faults == 0, region
        if region == "noncanonical":
            assert faults == len(addrs)


def test_physical_reads_match_drgn(fixture: Fixture, kernels: dict[str, kmemx.Kernel]) -> None:
    k = kernels["elf"]
    plain = fixture.prog
    rnd = random.Random(7)
    top = int(plain["max_pfn"]) << 12
    for _ in range(5000):
        addr = rnd.randrange(top + (1 << 20))
        assert _read_or_fault(lambda a, s: k.read(a, s, True), addr, 32) == \
            _read_or_fault(lambda a, s: plain.read(a, s, True), addr, 32)


def test_drgn_helpers_identical_through_kmemx(fixture: Fixture,
                                              kernels: dict[str, kmemx.Kernel]) -> None:
    plain = fixture.prog
    prog = kernels["elf"].prog
    assert [(int(t.pid), t.comm.string_()) for t in for_each_task(prog)] == \
        [(int(t.pid), t.comm.string_()) for t in for_each_task(plain)]
    assert [(c.name.string_(), slab_cache_usage(c)) for c in for_each_slab_cache(prog)] == \
        [(c.name.string_(), slab_cache_usage(c)) for c in for_each_slab_cache(plain)]

    def inodes(p: Any) -> list[int]:
        return [int(i.i_ino)
                for sb in list_for_each_entry("struct super_block",
                                              p["super_blocks"].address_of_(), "s_list")
                for i in list_for_each_entry("struct inode", sb.s_inodes.address_of_(),
                                             "i_sb_list")]

    got = inodes(prog)
    assert got == inodes(plain)
    assert len(got) > fixture.manifest["workload"]["files"]


def test_filtered_dump_faults_on_excluded_pages(fixture: Fixture,
                                                kernels: dict[str, kmemx.Kernel]) -> None:
    if "kdump-d31" not in kernels:
        pytest.skip(fixture.skip_reason("kdump-d31"))
    k = kernels["kdump-d31"]
    # -d 31 drops free pages: some direct-map page must fault, with its address.
    rnd = random.Random(3)
    pob = direct_map_base(k.prog)
    bottom = int(k.prog["min_low_pfn"]) << 12  # 0 on x86-64; RAM's start on arm64
    top = int(k.prog["max_pfn"]) << 12
    for _ in range(2000):
        addr = pob + (rnd.randrange(bottom, top) & ~0xFFF)
        try:
            k.read(addr, 8)
        except drgn.FaultError as e:
            assert e.address == addr
            return
    pytest.fail("no excluded page found in the -d 31 dump")


def test_stats(kernels: dict[str, kmemx.Kernel]) -> None:
    k = kernels["elf"]
    k.stats.reset()
    k.stats.counting = True
    addr = k.prog.symbol("jiffies").address
    k.read(addr, 8)
    k.read(addr, 8)
    k.stats.counting = False
    st = k.stats.as_dict()
    assert st["reads"] == 2 and st["bytes"] == 16 and st["mmap_hits"] == 2


def test_attach_wraps_program(fixture: Fixture) -> None:
    prog = fixture.drgn_program("elf")
    k = kmemx.attach(prog)
    assert k.reader.name == "mmap-elf"
    addr = prog.symbol("init_task").address
    assert k.read(addr, 64) == fixture.prog.read(addr, 64)


# -- bad input ------------------------------------------------------------------

def test_missing_file(tmp_path: Path, fixture: Fixture) -> None:
    with pytest.raises(kmemx.TargetError, match="No such file"):
        kmemx.open(tmp_path / "nope", fixture.vmlinux)


def test_not_a_dump(tmp_path: Path, fixture: Fixture) -> None:
    p = tmp_path / "junk"
    p.write_bytes(b"hello world" * 100)
    with pytest.raises(kmemx.CoreFormatError, match="not an ELF or kdump"):
        kmemx.open(p, fixture.vmlinux)
    with pytest.raises(kmemx.CoreFormatError, match="not a core dump"):
        kmemx.open(fixture.vmlinux, fixture.vmlinux)


def test_no_vmcoreinfo(fixture: Fixture) -> None:
    # without the vmlinux nothing can recover it (test_no_vmcoreinfo.py: with it)
    with pytest.raises(kmemx.NoVmcoreinfoError, match="no VMCOREINFO"):
        kmemx.open(fixture.core("novmcoreinfo"), None, debug_info=False)


def test_mismatched_vmlinux(tmp_path: Path, fixture: Fixture) -> None:
    import subprocess

    src = tmp_path / "x.c"
    src.write_text("int main(void) { return 0; }\n")
    exe = tmp_path / "vmlinux-other"
    subprocess.run(["gcc", "-g", "-Wl,--build-id", "-o", str(exe), str(src)], check=True)
    with pytest.raises(kmemx.MismatchError, match="does not match"):
        kmemx.open(fixture.core("elf"), exe)


def test_truncated_dump(tmp_path: Path, fixture: Fixture) -> None:
    import os

    src = fixture.core("elf")
    dst = tmp_path / "vmcore-truncated.elf"
    keep = 64 << 20
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        os.copy_file_range(fi.fileno(), fo.fileno(), keep, 0, 0)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            k = kmemx.open(dst, fixture.vmlinux)
        except kmemx.TargetError as e:  # drgn may refuse to load symbols' memory
            assert "\n" not in str(e)
            return
    assert any(issubclass(x.category, kmemx.KmemxWarning) and "truncated" in str(x.message)
               for x in w)
    # the start of RAM is present (pfn 0 on x86-64, 1 GiB on arm64); the end faults
    start = (int(fixture.prog["min_low_pfn"]) << 12) + 0x1000
    assert k.read(start, 16, physical=True) == fixture.prog.read(start, 16, True)
    top = (int(fixture.prog["max_pfn"]) << 12) - 4096
    with pytest.raises(drgn.FaultError):
        k.read(top, 8, physical=True)


@pytest.mark.parametrize("v", ["elf", "kdump"])
def test_truncated_dump_reads_or_faults(tmp_path: Path, fixture: Fixture, v: str) -> None:
    """A dump cut to an eighth of its size: every read through drgn (kmemx's
    segments underneath) gives the whole dump's bytes or a drgn.FaultError
    with kmemx's reason; never drgn's "short read from memory file" (no
    address) nor libkdumpfile's page-table walk over garbage descriptors
    ("unknown compression method").  ``sys`` prints every row and warns of
    those it cannot read: exit 3, incomplete output."""
    import os
    import subprocess
    import sys

    if not fixture.has(v):
        pytest.skip(fixture.skip_reason(v))
    src = fixture.core(v)
    dst = tmp_path / f"cut-{src.name}"
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        n = os.fstat(fi.fileno()).st_size // 8
        while n:
            n -= os.copy_file_range(fi.fileno(), fo.fileno(), n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kmemx.KmemxWarning)  # "is truncated": checked below
        k = kmemx.open(dst, fixture.vmlinux)
    full = fixture.prog
    tasks = [int(t.value_()) for t in for_each_task(full)]
    stacks = [int(t.stack.value_()) for t in for_each_task(full)]
    addrs = [int(full["init_task"].address_), *tasks[::7], *stacks[::7]]
    read = faulted = 0
    for a in addrs:
        try:
            got = k.prog.read(a, 64)
        except drgn.FaultError as e:
            faulted += 1
            assert "past the end" in str(e), (hex(a), str(e))
            continue
        read += 1
        assert got == full.read(a, 64), hex(a)
    assert faulted, "an eighth of the dump should cut some of these"
    r = subprocess.run([sys.executable, "-m", "kmemx", "-c", str(dst), "-s",
                        str(fixture.vmlinux), "sys"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 3 and "Traceback" not in r.stderr, r.stderr
    assert "is truncated" in r.stderr
    keys = [ln.split(":")[0].strip() for ln in r.stdout.splitlines()]  # crash's KEY: value
    assert keys[:3] == ["KERNEL", "DUMPFILE", "CPUS"] and keys[-1] == "READER", r.stdout


@pytest.mark.parametrize("v", ["elf", "kdump"])
def test_addresses_wrap_at_2_64(kernels: dict[str, kmemx.Kernel], v: str) -> None:
    """A garbage pointer plus a member offset wraps like C pointer arithmetic,
    on every reader, instead of raising OverflowError (seen on a live kernel:
    ps read a freed task's real_parent)."""
    if v not in kernels:
        pytest.skip(f"no {v} variant")
    k = kernels[v]
    a = int(k.prog["init_task"].address_)
    for read in (lambda x: k.read(x, 8), k.read_u64, k.read_u32):
        assert read(a + (1 << 64)) == read(a)
    from kmemx.types.fields import member_spec, raw_reader

    spec = ((0, 8, 4, (member_spec(k, "struct task_struct", "pid"),)),)
    got = raw_reader(k, spec)(a + k.offsetof("struct task_struct", "real_parent"))
    assert got == (int(k.prog["init_task"].real_parent.pid),)
