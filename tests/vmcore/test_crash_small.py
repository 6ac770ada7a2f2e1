"""The new user's small differences from crash 8.0.6 (issue 15), each against
crash's output of the same command on the test bed's ELF dump
(``KMEMX_KERNEL`` picks the kernel: 6.1 and 6.12 checked): ``kmem`` of a
physical address, ``vtop`` of a user address no VMA holds, ``swap`` without
swap, ``rd``'s lines, ``list -s``'s member lines, ``sym``/``dis -l`` source
paths, ``search -k``'s hits (the vmemmap's included), and the note about modules without debug info,
which a one-shot command prints once per dump.

Written exceptions (each asserted where it applies):

* ``search -k``: crash translates the whole ``__START_KERNEL_map`` range by
  formula (``vaddr - __START_KERNEL_map + phys_base``, x86_64.c
  x86_64_kvtop() for a kernel-image address) without the page tables, so it
  also finds the value in RAM below the kernel image seen through addresses
  the kernel does not map (cleanup_highmap() unmaps them at boot).  kmemx
  walks the page tables: its hits are crash's less those, each of which is
  checked to be unmapped in kmemx's walk, its direct-map twin one of kmemx's
  hits.  The value searched is a pointer stored in that RAM when there is
  one (6.12's fixture: crash's extra hits are then required); 6.1's fixture
  has none there (the RAM between phys_base and the image is untouched), so
  there only the subset is checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cached_property
from pathlib import Path
from typing import Any

import drgn
import pytest

from tests.fixtures.fixture import Fixture
from tests.oracles import crash as C
from tests.vmcore.crash_session import CrashSession, crash_session_fixture

pytestmark = pytest.mark.vmcore


#: command lines whose text is crash's, line for line (trailing blanks aside)
LINES = ("kmem 0x123", "kmem 123", "vtop 0", "vtop 123", "swap", "rd jiffies", "rd jiffies 4",
         "rd -s init_task 4", "rd -x init_task 3", "rd -d -32 init_task 5", "rd -8 linux_banner 20",
         # -o OFFS (decimal, or hex), -R (the units up to and including ADDR),
         # -N (network byte order: 16- and 32-bit units only, the ASCII column too)
         "rd -o 8 jiffies 2", "rd -o 0x10 init_task 3", "rd -R init_task 3",
         "rd -R -32 init_task 5", "rd -N -32 linux_banner 8", "rd -N -16 -d linux_banner 8",
         "rd -N -64 linux_banner 2", "rd -a -o 8 linux_banner 20", "rd -R -8 -o 3 linux_banner 7",
         "rd -R -a linux_banner 5",
         # log -c (the caller: T<pid>, C<cpu>, as wide as pid_max's digits), -d
         # (dev_printk()'s SUBSYSTEM= and DEVICE= lines), -a (the audit queues)
         "log -c", "log -t -c", "log -d -m -c", "log -a",
         # waitq: crash's task lines, an empty queue's line, nothing at NULL;
         # fuser: crash's line when no task uses the path
         "waitq log_wait", "waitq kauditd_wait", "waitq 0", "fuser /kmx", "fuser /kmx/nosuch")
#: rd -e END (crash takes END in hex only) and rd -r FILE, keyed as in Session.commands
RD_END = ("rd -e", "rd -e -32", "rd -r")
#: command lines whose source paths are compared with crash's
SOURCE_LINES = ("sym entry_SYSCALL_64", "sym schedule", "dis -l entry_SYSCALL_64 3")
#: the same on arm64: its exception vectors (arch/arm64/kernel/entry.S) and a C
#: function (Debian's arm64 6.1 line table has no line for ``schedule``)
SOURCE_LINES_ARM64 = ("sym vectors", "sym el0t_64_sync", "sym vfs_read", "sym do_sys_open",
                      "dis -l vectors 3")


#: x86-64's __START_KERNEL_map (arch/x86/include/asm/page_64_types.h)
_START_KERNEL_MAP = 0xFFFFFFFF80000000


def _kernel_image_phys(prog: Any, vaddr: int) -> int:
    """crash's translation of a kernel-image address, by formula:
    ``vaddr - __START_KERNEL_map + phys_base`` (``phys_base`` is a symbol of
    head_64.S, without a DWARF type)."""
    phys_base = prog.read_u64(prog.symbol("phys_base").address)
    return (vaddr - _START_KERNEL_MAP + phys_base) & (2**64 - 1)


class Session(CrashSession):
    crash_timeout = 1200

    @cached_property
    def x86_64(self) -> bool:
        """crash's ``__START_KERNEL_map`` formula (``search -k``'s exception)
        and ``entry_SYSCALL_64`` are x86-64's."""
        return bool(self.k.prog.platform.arch == drgn.Architecture.X86_64)

    @cached_property
    def addr(self) -> dict[str, Any]:
        prog = self.k.prog
        from drgn.helpers.linux.pid import find_task

        return {"modules": prog["modules"].address_,
                "value": self.low_ram_pointer[0] if self.x86_64 else None,
                # init's executable's page cache: pointed to from its struct
                # pages (page->mapping, in the vmemmap) and from the direct map
                "mapping": int(find_task(prog, 1).mm.exe_file.f_mapping.value_())}

    @cached_property
    def low_ram_pointer(self) -> tuple[int, bool]:
        """A kernel pointer stored in RAM below the kernel image, and whether
        it is where crash's formula reaches (physical ``phys_base``, where
        ``__START_KERNEL_map`` points, up to ``_text``'s page): crash sees
        those words twice.  The first such word there, else the first from
        1 MiB up (that RAM may be untouched on a fresh boot)."""
        prog = self.k.prog
        phys_text = _kernel_image_phys(prog, prog.symbol("_text").address)
        phys_base = _kernel_image_phys(prog, _START_KERNEL_MAP)  # "negative": below 0
        reached = max(1 << 20, phys_base & ~0xFFF if phys_base < 1 << 63 else 0)
        page_offset = int(prog["page_offset_base"].value_())
        for first in dict.fromkeys((reached, 1 << 20)):
            for phys in range(first, phys_text, 4096):
                try:
                    data = prog.read(phys, 4096, True)
                except Exception:  # a hole in RAM
                    continue
                for off in range(0, 4096, 8):
                    word = int.from_bytes(data[off:off + 8], "little")
                    if (page_offset + (64 << 20) <= word < page_offset + (1 << 40)
                            and word % 64 == 0):
                        return word, phys >= reached
        pytest.skip("no direct-map pointer in RAM below the kernel image")

    @cached_property
    def search_value(self) -> int:
        """The value ``search -e``/``-l`` look for: the pointer below the
        kernel image on x86-64, init's address_space pointer on arm64 (crash
        and kmemx find it in the same places there: test_search_k_reads_the_vmemmap_as_crash)."""
        return int(self.addr["value"] if self.x86_64 else self.addr["mapping"])

    @cached_property
    def search_end(self) -> int:
        """An end for ``search -e``: just past the first hit of the value in
        the direct map (crash's and kmemx's hits are its hits below)."""
        value = self.search_value
        hits = sorted(int(r["address"], 16) for r in self.json(f"search -k {value:x}"))
        if not hits:
            pytest.skip("the value is nowhere in the direct map")
        return hits[0] + 8

    @cached_property
    def commands(self) -> dict[str, str]:
        a = self.addr
        return {
            "list -s": f"list -H {a['modules']:x} -o module.list -s module.name,state",
            # one pass of crash over the kernel for both values (x86-64)
            "search -k": " ".join(["search -k", *(f"{v:x}" for v in (a["value"], a["mapping"])
                                                  if v is not None)]),
            # -e/-l without -s: from the space's start (crash's default start)
            "search -e": f"search -e {self.search_end:x} {self.search_value:x}",
            "search -l": f"search -l 3 {self.search_value:x}",
            **{line: line for line in (*LINES, *self.source_lines)},
            # a physical address in the first RAM page: 0x123 on x86-64, PHYS_OFFSET
            # + 0x123 on arm64 (no RAM below it; crash: "cannot make
            # virtual-to-physical translation" for 0x123 there)
            "kmem 0x123": f"kmem {self.phys_start + 0x123:#x}",
            "kmem 123": f"kmem {self.phys_start + 0x123:x}",
            "rd -e": f"rd -e {self.init_task + 40:x} init_task",
            "rd -e -32": f"rd -e {self.init_task + 40:x} -32 init_task",
            "rd -r": f"rd -r {self.raw_file} linux_banner 48",
        }

    @cached_property
    def init_task(self) -> int:
        return int(self.k.prog["init_task"].address_)

    @cached_property
    def raw_file(self) -> str:
        """Where crash's and then kmemx's ``rd -r`` write."""
        import tempfile

        return f"{tempfile.gettempdir()}/kmemx-rd-r-{os.getpid()}.bin"

    @cached_property
    def phys_start(self) -> int:
        """The first RAM page's physical address (``min_low_pfn``)."""
        return int(self.k.prog["min_low_pfn"]) << 12

    @cached_property
    def source_lines(self) -> tuple[str, ...]:
        return SOURCE_LINES if self.x86_64 else SOURCE_LINES_ARM64


s = crash_session_fixture(Session)


@pytest.mark.parametrize("line", LINES)
def test_text_is_crash(s: Session, line: str) -> None:
    """``kmem ADDR`` of an address below the kernel half (crash: a physical
    address, the struct page of its page), ``vtop`` of a user address no
    VMA holds (``(not accessible)``), ``swap`` with no swap device (crash's
    header), ``rd`` (crash's ``ADDR:  words  ASCII`` lines, no header):
    crash's lines, trailing blanks aside; crash's ``kmem`` page header is
    centred, kmemx's a table header (compared word by word)."""
    ours = [x.rstrip() for x in s.text(s.commands[line]).splitlines()]
    theirs = [x.rstrip() for x in s.crash[line].splitlines()]
    while theirs and not theirs[-1]:
        theirs.pop()
    while ours and not ours[-1]:
        ours.pop()
    if line.startswith("kmem"):
        assert [x.split() for x in ours] == [x.split() for x in theirs]
        return
    assert ours == theirs


@pytest.mark.parametrize("key", RD_END)
def test_rd_end_and_raw_are_crash(s: Session, key: str) -> None:
    """``rd -e END`` (the units up to END) and ``rd -r FILE ADDR COUNT``
    (crash's ``48 bytes copied from 0x... to FILE`` line): crash's text; the
    file holds the bytes the dump holds, as crash's did."""
    theirs = s.crash[key].rstrip("\n").splitlines()
    if key == "rd -r":
        with open(s.raw_file, "rb") as f:
            crash_bytes = f.read()
        os.unlink(s.raw_file)
    ours = [x.rstrip() for x in s.text(s.commands[key]).splitlines()]
    assert ours == [x.rstrip() for x in theirs]
    if key == "rd -r":
        with open(s.raw_file, "rb") as f:
            assert f.read() == crash_bytes == s.k.prog.read(
                s.k.prog.symbol("linux_banner").address, 48)
        os.unlink(s.raw_file)
        row, = s.json(s.commands[key])
        assert row["bytes"] == 48 and row["file"] == s.raw_file
        os.unlink(s.raw_file)


def test_json_stays_data(s: Session) -> None:
    """``--json`` of the same commands: rows, not crash's text."""
    page, = s.json(s.commands["kmem 0x123"])
    assert page["physical"] == hex(s.phys_start) and int(page["page"], 16) == int(
        s.crash["kmem 0x123"].splitlines()[1].split()[0], 16)
    vtop, = s.json("vtop 0")
    assert vtop["physical"] is None and vtop["flags"] == "not accessible"
    assert s.json("swap") == []
    rows = s.json("rd jiffies 4")
    assert [r["values"].split() for r in rows] == [
        x.split()[1:3] for x in s.crash["rd jiffies 4"].splitlines() if x.strip()]


def test_source_paths_are_crash(s: Session) -> None:
    """``sym`` and ``dis -l``: a source path the line table names absolutely
    (Debian's 6.1 assembler files) is crash's path; one it names relative to
    the build directory, kmemx prints as DWARF names it and crash with the
    compilation directory's relative part before it
    (``debian/build/build_amd64_none_amd64/``): crash's ends with kmemx's."""
    checked = 0
    for line in s.source_lines:
        if line.startswith("sym"):
            row, = s.json(line)
            ours = [(row["file"], row["line"])]
            theirs = [(x.rsplit(": ", 1)[0].split()[-1], int(x.rsplit(": ", 1)[1]))
                      for x in s.crash[line].splitlines() if x.strip()]
        else:
            ours = [tuple(x.rsplit(": ", 1)) for x in s.text(line).splitlines()
                    if not x.startswith("0x")]
            theirs = [tuple(x.rsplit(": ", 1)) for x in s.crash[line].splitlines()
                      if x.strip() and not x.startswith("0x")]
            ours = [(f, int(n)) for f, n in ours]
            theirs = [(f, int(n)) for f, n in theirs]
        assert len(ours) == len(theirs) > 0, line
        for (of, on), (tf, tn) in zip(ours, theirs):
            assert on == tn, line
            if of.startswith("/"):
                assert of == tf, line
            else:
                assert tf.endswith("/" + of), line
            checked += 1
    assert checked >= 5


# -- list -s: crash's member lines --------------------------------------------------------------

def test_list_s_is_crash_text(s: Session) -> None:
    """``list -s STRUCT.m1,m2``: each entry's address on a line, then
    crash's ``  member = value,`` lines, line for line crash's; ``--json``
    stays data: ADDRESS and one key per member, the same entries."""
    line = s.commands["list -s"]
    ours = s.text(line).splitlines()
    theirs = [x.rstrip() for x in s.crash["list -s"].splitlines() if x.strip()]
    assert len(ours) > 3
    assert ours == theirs
    rows = s.json(line)
    entries = C.parse_list_members(s.crash["list -s"])
    assert [int(r["address"], 16) for r in rows] == [a for a, _ in entries]
    assert [r["name"] for r in rows] == [m["name"].split("\\000")[0].strip('"')
                                         for _, m in entries]


# -- search -k: crash's hits less those in unmapped memory --------------------------------------

def test_search_k_subset_of_crash(s: Session) -> None:
    if not s.x86_64:
        pytest.skip("crash's __START_KERNEL_map formula is x86-64's: on arm64 search is "
                    "compared hit for hit in test_crash_cmds_misc.py (search, -m, -p)")
    prog = s.k.prog
    value = s.addr["value"]
    ours = {int(r["address"], 16) for r in s.json(f"search -k {value:x}")}
    theirs = _hits(s.crash["search -k"], value)
    assert ours, "kmemx finds the value where it was read"
    assert ours <= theirs
    if s.low_ram_pointer[1]:
        assert theirs - ours, "crash's formula reads the word below the kernel image again"
    page_offset = int(prog["page_offset_base"].value_())
    for extra in sorted(theirs - ours):
        assert _START_KERNEL_MAP <= extra < prog.symbol("_text").address, hex(extra)
        vtop = s.json(f"vtop {extra:x}")[0]
        assert vtop["physical"] is None, (hex(extra), vtop)
        twin = page_offset + _kernel_image_phys(prog, extra)
        assert twin in ours, (hex(extra), hex(twin))


def test_search_e_and_l_without_s_start_where_crash_does(s: Session) -> None:
    """``search -e END`` and ``-l LENGTH`` without ``-s``: from the space's
    start (crash's default), to END or LENGTH bytes on: crash's hits, no more
    (they were ignored, every hit of the whole space printed)."""
    value = s.search_value
    for key in ("search -e", "search -l"):
        ours = {int(r["address"], 16) for r in s.json(s.commands[key])}
        assert ours == _hits(s.crash[key], value), key
    assert {int(r["address"], 16) for r in s.json(s.commands["search -e"])} == {
        s.search_end - 8}


def _hits(text: str, value: int) -> set[int]:
    """The addresses of crash's ``ADDR: VALUE`` lines for ``value``."""
    return {int(x.split(":")[0], 16) for x in text.splitlines()
            if ":" in x and x.split(":")[0].strip() and x.split(":")[1].strip() == f"{value:x}"}


def test_search_k_reads_the_vmemmap_as_crash(s: Session) -> None:
    """An ``address_space`` pointer is found where crash finds it: in the
    struct pages of its page cache (the vmemmap: crash's vmalloc range on
    x86-64, its KVADDR_VMEMMAP range on arm64) and in the direct map.  On
    arm64 every hit is crash's, no more, no fewer; on x86-64 crash's are
    more only by the __START_KERNEL_map exception above."""
    from kmemx.helpers.pages import page_array

    value = s.addr["mapping"]
    ours = {int(r["address"], 16) for r in s.json(f"search -k {value:x}")}
    theirs = _hits(s.crash["search -k"], value)
    pa = page_array(s.k)
    in_vmemmap = {a for a in ours if pa.vmemmap <= a < pa.vmemmap + pa.max_pfn * pa.page_size}
    assert in_vmemmap, "the page cache's struct pages point at their mapping"
    if s.x86_64:
        assert ours <= theirs
        assert all(_START_KERNEL_MAP <= a < s.k.prog.symbol("_text").address
                   for a in theirs - ours), sorted(hex(a) for a in theirs - ours)
    else:
        assert ours == theirs


# -- the note about modules without debug info --------------------------------------------------

_NOTE = "kmemx: note: no debug info for "


def _kmemx(fixture: Fixture, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmemx", "-c", str(fixture.core("elf")),
                           "-s", str(fixture.vmlinux), *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "XDG_CACHE_HOME": str(cache),
                                            "KMEMX_LAYOUT_CACHE": "0"})


def test_module_note_once_per_dump(fixture: Fixture, tmp_path: Path) -> None:
    """A one-shot command prints the note about modules without debug info
    the first time it runs on a dump, not on each later command (``mod``
    lists those modules as ``(not loaded)``); a Python script run on the
    dump prints it each time, as drgn does."""
    first = _kmemx(fixture, tmp_path, "sym", "schedule")
    assert first.returncode == 0, first.stderr
    if _NOTE not in first.stderr:
        pytest.skip("every module of this dump has its debug info")
    names = first.stderr.split("(", 1)[1].split(")", 1)[0].split(", ")
    again = _kmemx(fixture, tmp_path, "sym", "schedule")
    assert again.returncode == 0 and _NOTE not in again.stderr, again.stderr
    assert again.stdout == first.stdout
    other = _kmemx(fixture, tmp_path, "mod")
    assert other.returncode == 0 and _NOTE not in other.stderr, other.stderr
    for name in names:
        assert any(x.split()[1:2] == [name] and "(not loaded)" in x
                   for x in other.stdout.splitlines()), name
    script = tmp_path / "script.py"
    script.write_text("print(prog['jiffies'].value_() > 0)\n")
    ran = _kmemx(fixture, tmp_path, str(script))
    assert ran.returncode == 0 and _NOTE in ran.stderr, ran.stderr
