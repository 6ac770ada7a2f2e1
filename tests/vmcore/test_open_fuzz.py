"""Fuzz the open paths on the heads of real dumps: every damaged dump is a
one-line :class:`kmemx.KmemxError` (or opens), never another exception, a
crash or a hang.

The first 2 MiB of ``vmcore.elf`` (ELF header, program headers, notes,
VMCOREINFO, the start of RAM) and the first 3 MiB or so of ``vmcore.kdump``
(header, sub-header, VMCOREINFO, notes, bitmaps, page descriptors) are copied into a temporary
file, and hypothesis damages them: header fields set to edge values, raw
bytes, VMCOREINFO lines, the file's length; nothing is fixed up.  Each case
runs ``kmemx.open(path, debug_info=False)`` in a worker process (so a crash
or a hang inside drgn or libkdumpfile is caught, and a hung case is killed
after ``CASE_BOUND`` seconds), with glibc's malloc checks on so that a heap
overrun crashes in the case that does it; 10,000 cases per format.  The CLI is checked
on a few damaged dumps with the real vmlinux.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import struct
import subprocess
import sys
import traceback
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.fixtures.fixture import DEFAULT_PACKAGE, Fixture, fixture_package

pytestmark = pytest.mark.vmcore

HEAD = 2 << 20
#: cases per format: 10,000 on the primary kernel, 2,000 on the others (the
#: formats are the same; ./scripts/test runs the vmcore tier on each kernel);
#: KMEMX_FUZZ_CASES=... for a longer or shorter run
CASES = int(os.environ.get("KMEMX_FUZZ_CASES",
                           "10000" if fixture_package() == DEFAULT_PACKAGE else "2000"))
#: seconds one case may take before it counts as a hang (the machine is shared)
CASE_BOUND = 60.0
#: glibc's malloc debugging library (Debian 12: libc6)
MALLOC_DEBUG = "/lib/x86_64-linux-gnu/libc_malloc_debug.so.0"

Patch = tuple[int, bytes]
Case = tuple[list[Patch], int]  # patches, file length


# -- the worker ---------------------------------------------------------------------

def _worker(conn: Any, path: str) -> None:
    """Open ``path`` damaged by each case received; send back the outcome."""
    import warnings

    import kmemx

    warnings.simplefilter("ignore")
    pristine = Path(path + ".orig").read_bytes()
    size = len(pristine)
    fd = os.open(path, os.O_RDWR)
    while True:
        case = conn.recv()
        if case is None:
            return
        patches, length = case
        for off, data in patches:
            os.pwrite(fd, data, off)
        if length < size:
            os.ftruncate(fd, length)
        try:
            k = kmemx.open(path, debug_info=False)
        except kmemx.KmemxError as e:
            out = ("error", type(e).__name__, str(e))
        except BaseException as e:  # what the test is looking for
            out = ("other", type(e).__name__, traceback.format_exc())
        else:
            k.close()
            out = ("ok", "", "")
        conn.send(out)
        if length < size:
            os.ftruncate(fd, size)
            os.pwrite(fd, pristine[length:], length)
        for off, data in patches:
            os.pwrite(fd, pristine[off:off + len(data)], off)


class Runner:
    """A worker process that opens damaged copies of one dump head."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.pristine = path.read_bytes()
        Path(self.path + ".orig").write_bytes(self.pristine)
        self.ctx = multiprocessing.get_context("spawn")
        self.proc: Any = None
        self.conn: Any = None
        self.outcomes: Counter[str] = Counter()
        self._start()

    def _start(self) -> None:
        parent, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(child, self.path), daemon=True)
        # glibc's malloc checks and perturbed free memory make a heap overrun
        # or a use after free in a C library crash in the case that does it
        saved = dict(os.environ)
        if os.path.exists(MALLOC_DEBUG):
            os.environ["LD_PRELOAD"] = MALLOC_DEBUG
            os.environ["GLIBC_TUNABLES"] = "glibc.malloc.check=3:glibc.malloc.perturb=165"
        try:
            self.proc.start()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        child.close()
        self.conn = parent

    def _restart(self) -> None:
        self.proc.kill()
        self.proc.join()
        # the worker restores the file after each case; a dead one did not
        Path(self.path).write_bytes(self.pristine)
        self.conn.close()
        self._start()

    def run(self, case: Case) -> tuple[str, str, str]:
        self.conn.send(case)
        if not self.conn.poll(CASE_BOUND):
            self._restart()
            self.outcomes["hang"] += 1
            return ("hang", "", f"no answer in {CASE_BOUND} s")
        try:
            out: tuple[str, str, str] = self.conn.recv()
        except EOFError:
            self.proc.join(10)
            code = self.proc.exitcode
            self._restart()
            self.outcomes["crash"] += 1
            return ("crash", "", f"worker died (exit code {code})")
        self.outcomes[out[0] if out[0] != "error" else out[1]] += 1
        return out

    def close(self) -> None:
        try:
            self.conn.send(None)
            self.proc.join(10)
        finally:
            if self.proc.is_alive():
                self.proc.kill()


# -- what to damage -----------------------------------------------------------------

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
EHDR_FIELDS = [(16, 2), (18, 2), (20, 4), (24, 8), (32, 8), (40, 8), (48, 4), (52, 2),
               (54, 2), (56, 2), (58, 2), (60, 2), (62, 2)] + [(i, 1) for i in range(16)]
PHDR_FIELDS = [(0, 4), (4, 4), (8, 8), (16, 8), (24, 8), (32, 8), (40, 8), (48, 8)]
NHDR_FIELDS = [(0, 4), (4, 4), (8, 4)]
# makedumpfile's diskdump_mod.h
KDUMP_FIELDS = [(8, 4), (408, 8), (416, 8), (424, 4), (428, 4), (432, 4), (436, 4), (440, 4),
                (444, 4), (448, 4), (452, 4), (456, 4), (460, 4)] + [(i, 1) for i in range(8)]
SUB_FIELDS = [(0, 8), (8, 4), (12, 4), (16, 8), (24, 8), (32, 8), (40, 8), (48, 8), (56, 8),
              (64, 8), (72, 8), (80, 8), (88, 8), (96, 8)]
PAGE_DESC = 24
PAGE_DESC_FIELDS = [(0, 8), (8, 4), (12, 4), (16, 8)]
GARBAGE = [b"", b"zzzz", b"-1", b"0x", b"-", b"99999999999999999999999",
           b"18446744073709551616", b" 4096", b"4096 ", b"\0", b"\xff\xfe", b"0x10", b"08",
           b"ffffffffffffffffff", b"=", b"\n", b"\n\n", b"A" * 200]


class Layout:
    """Where the interesting bytes of a dump head are."""

    def __init__(self, head: bytes) -> None:
        self.head = head
        self.size = len(head)
        #: (offset, size) of every header field to set to an edge value
        self.fields: list[tuple[int, int]] = []
        #: (start, end) of regions to damage byte by byte
        self.regions: list[tuple[int, int]] = []
        #: (start, end) of VMCOREINFO text
        self.vmcoreinfo: tuple[int, int] = (0, 0)

    def notes(self, start: int, end: int) -> None:
        """Note headers and VMCOREINFO in ``[start, end)``."""
        pos = start
        while pos + 12 <= end:
            namesz, descsz, _ = struct.unpack_from("<III", self.head, pos)
            self.fields += [(pos + o, n) for o, n in NHDR_FIELDS]
            name_off = pos + 12
            desc_off = name_off + ((namesz + 3) & ~3)
            if self.head[name_off:name_off + namesz].rstrip(b"\0") == b"VMCOREINFO":
                self.vmcoreinfo = (desc_off, desc_off + descsz)
            pos = desc_off + ((descsz + 3) & ~3)


def elf_layout(head: bytes) -> Layout:
    lay = Layout(head)
    e = EHDR.unpack_from(head)
    phoff, phnum = e[5], e[10]
    lay.fields += EHDR_FIELDS
    end = phoff + phnum * 56
    for i in range(phnum):
        base = phoff + i * 56
        lay.fields += [(base + o, n) for o, n in PHDR_FIELDS]
        ptype, _, off, _, _, filesz, _, _ = struct.unpack_from("<IIQQQQQQ", head, base)
        if ptype == 4:
            lay.notes(off, off + filesz)
            end = max(end, off + filesz)
    lay.regions = [(0, end), (0, min(len(head), 1 << 16))]
    assert lay.vmcoreinfo != (0, 0)
    return lay


def kdump_layout(head: bytes) -> Layout:
    lay = Layout(head)
    lay.fields += KDUMP_FIELDS
    block, sub_blocks, bitmap_blocks = struct.unpack_from("<iiI", head, 428)
    lay.fields += [(block + o, n) for o, n in SUB_FIELDS]
    off_vmci, size_vmci, off_note, size_note = struct.unpack_from("<qQqQ", head, block + 32)
    lay.vmcoreinfo = (off_vmci, off_vmci + size_vmci)
    lay.notes(off_note, off_note + size_note)
    bitmaps = block * (1 + sub_blocks)
    descs = bitmaps + bitmap_blocks * block
    for i in list(range(64)) + list(range(64, (len(head) - descs) // PAGE_DESC, 997)):
        lay.fields += [(descs + i * PAGE_DESC + o, n) for o, n in PAGE_DESC_FIELDS]
    lay.regions = [(0, 464), (block, block + 104), (off_note, off_note + size_note),
                   (bitmaps, descs), (descs, min(len(head), descs + 64 * PAGE_DESC))]
    return lay


@st.composite
def field_patch(draw: Any, lay: Layout) -> Patch:
    off, n = draw(st.sampled_from(lay.fields))
    top = (1 << (8 * n)) - 1
    orig = int.from_bytes(lay.head[off:off + n], "little")
    value = draw(st.one_of(
        st.sampled_from([0, 1, 2, 3, 7, 0x7F, 0x80, 0xFF, 0x1000, top, top >> 1, (top >> 1) + 1,
                         lay.size, lay.size - 1, lay.size + 1, HEAD * 1000]),
        st.integers(-64, 64).map(lambda d: orig + d),
        st.sampled_from([orig * 2, orig << 12, orig >> 1, orig ^ (1 << 63), ~orig]),
        st.integers(0, top)))
    return off, (value & top).to_bytes(n, "little")


@st.composite
def byte_patch(draw: Any, lay: Layout) -> Patch:
    start, end = draw(st.sampled_from([r for r in lay.regions if r[1] > r[0]]))
    off = draw(st.integers(start, end - 1))
    if draw(st.booleans()):
        bit = draw(st.integers(0, 7))
        return off, bytes([lay.head[off] ^ (1 << bit)])
    data = draw(st.binary(min_size=1, max_size=16))
    return off, data[:lay.size - off]


@st.composite
def vmcoreinfo_patch(draw: Any, lay: Layout) -> Patch:
    start, end = lay.vmcoreinfo
    text = lay.head[start:end]
    lines = [m.start() for m in re.finditer(rb"^", text, re.M) if m.start() < len(text)]
    line = start + draw(st.sampled_from(lines))
    eol = lay.head.find(b"\n", line, end)
    eol = end if eol < 0 else eol
    eq = lay.head.find(b"=", line, eol)
    how = draw(st.sampled_from(["value", "key", "newline", "equals", "nul"]))
    if how == "value" and eq >= 0:
        return eq + 1, draw(st.sampled_from(GARBAGE))[:lay.size - eq - 1]
    if how == "newline" and eol < end:
        return eol, b"X"
    if how == "equals" and eq >= 0:
        return eq, b":"
    if how == "nul":
        return draw(st.integers(line, max(line, eol - 1))), b"\0"
    return line, draw(st.sampled_from([b"X", b"\0", b"OSRELEASE=", b"PAGESIZE=",
                                       b"SYMBOL(swapper_pg_dir)=", b"NUMBER(phys_base)=",
                                       b"KERNELOFFSET=", b"NUMBER(pgtable_l5_enabled)="]))


@st.composite
def cases(draw: Any, lay: Layout) -> Case:
    patches = draw(st.lists(st.one_of(field_patch(lay), field_patch(lay), byte_patch(lay),
                                      vmcoreinfo_patch(lay)), min_size=1, max_size=3))
    length = lay.size
    if draw(st.integers(0, 9)) == 0:
        length = draw(st.one_of(st.integers(0, 1 << 14), st.integers(0, lay.size)))
    return patches, length


# -- the tests ------------------------------------------------------------------------

def head_size(src: Path) -> int:
    """How much of a dump the fuzz copies: ``HEAD`` bytes of an ELF dump; of a
    kdump-compressed one, its headers, bitmaps and every page descriptor
    (one per bit set in the second bitmap) and 64 KiB of pages, so that the
    copy opens (the kdump reader checks the descriptor table)."""
    with open(src, "rb") as f:
        head = f.read(HEAD)
        if head[:8] != b"KDUMP   ":
            return HEAD
        block, sub_blocks, bitmap_blocks = struct.unpack_from("<iiI", head, 428)
        f.seek(block * (1 + sub_blocks))
        bitmaps = f.read(bitmap_blocks * block)
    dumpable = int.from_bytes(bitmaps[len(bitmaps) // 2:], "little").bit_count()
    return block * (1 + sub_blocks + bitmap_blocks) + dumpable * PAGE_DESC + (64 << 10)


def _head(src: Path, dst: Path) -> bytes:
    with open(src, "rb") as f:
        data = f.read(head_size(src))
    dst.write_bytes(data)
    return data


@pytest.fixture(scope="module")
def elf_runner(fixture: Fixture, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[Runner, Layout]]:
    path = tmp_path_factory.mktemp("fuzz-elf") / "head.elf"
    lay = elf_layout(_head(fixture.core("elf"), path))
    r = Runner(path)
    yield r, lay
    r.close()
    print(f"\nELF fuzz outcomes: {dict(r.outcomes)}")


@pytest.fixture(scope="module")
def kdump_runner(fixture: Fixture, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[Runner, Layout]]:
    if not fixture.has("kdump"):
        pytest.skip(fixture.skip_reason("kdump"))
    path = tmp_path_factory.mktemp("fuzz-kdump") / "head.kdump"
    lay = kdump_layout(_head(fixture.core("kdump"), path))
    r = Runner(path)
    yield r, lay
    r.close()
    print(f"\nkdump fuzz outcomes: {dict(r.outcomes)}")


def _check(out: tuple[str, str, str], case: Case) -> None:
    kind, name, text = out
    assert kind in ("ok", "error"), f"{kind} {name} on {case!r}:\n{text}"
    assert "\n" not in text and text == text.strip(), f"{name} not one line: {text!r}"


_FUZZ = settings(max_examples=CASES, deadline=None, derandomize=True, database=None,
                 phases=[Phase.explicit, Phase.generate, Phase.shrink],
                 suppress_health_check=list(HealthCheck))


@_FUZZ
@given(data=st.data())
def test_damaged_elf_heads(elf_runner: tuple[Runner, Layout], data: st.DataObject) -> None:
    runner, lay = elf_runner
    case = data.draw(cases(lay))
    _check(runner.run(case), case)


@_FUZZ
@given(data=st.data())
def test_damaged_kdump_heads(kdump_runner: tuple[Runner, Layout], data: st.DataObject) -> None:
    runner, lay = kdump_runner
    case = data.draw(cases(lay))
    _check(runner.run(case), case)


def _damaged(src: Path, dst: Path, patches: list[Patch]) -> Path:
    data = bytearray(_head(src, dst))
    for off, b in patches:
        data[off:off + len(b)] = b
    dst.write_bytes(data)
    return dst


def _value_at(head: bytes, key: bytes) -> int:
    i = head.find(key)
    assert i >= 0, key
    return i + len(key)


@pytest.mark.parametrize("what", ["elf-pagesize", "elf-swapper", "elf-phdr", "elf-note",
                                  "kdump-pagesize", "kdump-block-size", "kdump-header"])
def test_cli_one_error_line(fixture: Fixture, tmp_path: Path, what: str) -> None:
    """``kmemx -c DAMAGED -s VMLINUX ps``: one ``kmemx: error:`` line, exit 1."""
    fmt = what.split("-")[0]
    if fmt == "kdump" and not fixture.has("kdump"):
        pytest.skip(fixture.skip_reason("kdump"))
    src = fixture.core(fmt)
    with open(src, "rb") as f:
        head = f.read(HEAD)
    patches: list[Patch] = {
        "elf-pagesize": [(_value_at(head, b"PAGESIZE="), b"zzzz")],
        "elf-swapper": [(_value_at(head, b"SYMBOL(swapper_pg_dir)="), b"xyz")],
        "elf-phdr": [(EHDR.unpack_from(head)[5] + 56 + 32, (1 << 62).to_bytes(8, "little"))],
        "elf-note": [(EHDR.unpack_from(head)[5] + 32, (1 << 40).to_bytes(8, "little"))],
        "kdump-pagesize": [(_value_at(head, b"PAGESIZE="), b"zzzz")],
        "kdump-block-size": [(428, (3).to_bytes(4, "little"))],
        "kdump-header": [(8, (0x7FFFFFFF).to_bytes(4, "little"))],
    }[what]
    dmg = _damaged(src, tmp_path / f"{what}.{fmt}", patches)
    r = subprocess.run([sys.executable, "-m", "kmemx", "-q", "-c", str(dmg), "-s",
                        str(fixture.vmlinux), "ps"], capture_output=True, text=True,
                       timeout=600)
    lines = r.stderr.splitlines()
    errors = [ln for ln in lines if ln.startswith("kmemx: error: ")]
    others = [ln for ln in lines if not ln.startswith(("kmemx: error: ", "kmemx: warning: "))]
    assert r.returncode == 1, r.stderr
    assert len(errors) == 1 and not others, r.stderr
    assert "Traceback" not in r.stderr
    if what.endswith("pagesize"):
        assert "damaged VMCOREINFO: PAGESIZE='zzzz' is not a number" in errors[0]
    if what == "elf-swapper":
        assert "SYMBOL(swapper_pg_dir)" in errors[0]
