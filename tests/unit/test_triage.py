"""kmemx.triage without a dump: signatures, records, clusters, the --jsonl
file, the vmlinux lookup by build ID and the table."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from kmemx.buildid import elf_build_id
from kmemx.triage import (
    PLUMBING_FRAMES,
    SIGNATURE_DEPTH,
    HungTask,
    Record,
    SlabUsage,
    VmlinuxIndex,
    clusters,
    load_jsonl,
    signature,
)
from kmemx.triage.cli import table


def test_signature_drops_panic_plumbing() -> None:
    stack = ["__preempt_count_add", "delay_tsc", "panic", "sysrq_handle_crash",
             "__handle_sysrq.cold", "write_sysrq_trigger", "pde_write", "proc_reg_write",
             "vfs_write", "ksys_write"]
    assert signature(stack) == ["sysrq_handle_crash", "__handle_sysrq", "write_sysrq_trigger",
                                "pde_write", "proc_reg_write"]
    assert len(signature(stack)) == SIGNATURE_DEPTH


def test_signature_drops_oops_plumbing_through_the_outermost() -> None:
    # a NULL dereference: crash_kexec < oops_end < page_fault_oops < ... < asm_exc_page_fault
    stack = ["machine_kexec", "__crash_kexec", "crash_kexec", "oops_end", "page_fault_oops",
             "exc_page_fault", "asm_exc_page_fault", "my_read.isra.0", "vfs_read"]
    assert signature(stack) == ["my_read", "vfs_read"]
    assert signature(["schedule", "io_schedule"]) == ["schedule", "io_schedule"]
    assert signature([]) == []
    assert {"panic", "__crash_kexec", "crash_kexec", "oops_end", "die", "do_trap"} <= PLUMBING_FRAMES
    assert "sysrq_handle_crash" not in PLUMBING_FRAMES


def _rec(path: str, sig: str, release: str = "6.1", error: str | None = None) -> Record:
    return Record(path, size=1, mtime_ns=2, release=release, signature=sig,
                  message="boom" if sig else None, error=error)


def test_clusters_group_by_signature() -> None:
    recs = [_rec("/a", "f < g"), _rec("/b", ""), _rec("/c", "f < g", "6.12"),
            _rec("/d", "", error="/d: bad")]
    cs = clusters(recs)
    assert [(c.signature, c.count, c.dumps, c.kernels) for c in cs] == [
        ("f < g", 2, ["/a", "/c"], ["6.1", "6.12"]), ("", 1, ["/b"], ["6.1"])]
    assert cs[0].message == "boom"


def test_record_round_trips_through_json() -> None:
    r = _rec("/a", "f < g")
    r.hung = [HungTask(7, "dd", 12.5)]
    r.slabs = [SlabUsage("dentry", 4096, 192, 10, 21)]
    r.states = {"IN": 3, "UN": 1}
    back = Record.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back == r
    assert back.key == ("/a", 1, 2)


def test_load_jsonl_last_record_wins_and_skips_garbage(tmp_path: Path) -> None:
    f = tmp_path / "t.jsonl"
    lines = [json.dumps(_rec("/a", "x", error="e").to_dict()), "{not json",
             json.dumps(_rec("/a", "y").to_dict()), json.dumps({"no": "path"})]
    f.write_text("\n".join(lines) + "\n")
    got = load_jsonl(str(f))
    assert list(got) == [("/a", 1, 2)] and got[("/a", 1, 2)].signature == "y"
    assert load_jsonl(str(tmp_path / "none.jsonl")) == {}


@pytest.fixture
def some_elf() -> tuple[str, str]:
    """An ELF file of this machine that has a build ID (the Python binary)."""
    for p in (os.path.realpath(sys.executable), "/bin/ls", "/bin/sh"):
        bid = elf_build_id(p)
        if bid:
            return p, bid
    pytest.skip("no ELF file with a build ID here")


def test_vmlinux_index_layout_plain_and_symbols(tmp_path: Path,
                                                some_elf: tuple[str, str]) -> None:
    elf, bid = some_elf
    layout = tmp_path / "debug" / ".build-id" / bid[:2] / f"{bid[2:]}.debug"
    layout.parent.mkdir(parents=True)
    layout.symlink_to(elf)
    assert VmlinuxIndex([], [str(tmp_path / "debug")]).find(bid) == str(layout)
    # the .build-id directory itself given as the debug directory
    assert VmlinuxIndex([], [str(tmp_path / "debug" / ".build-id")]).find(bid.upper()) == \
        str(layout)
    plain = tmp_path / "plain" / "6.1"
    plain.mkdir(parents=True)
    (plain / "vmlinux-6.1").symlink_to(elf)
    (plain / "vmlinux-junk").write_bytes(b"junk")
    assert VmlinuxIndex([], [str(tmp_path / "plain")]).find(bid) == str(plain / "vmlinux-6.1")
    assert VmlinuxIndex([elf], []).find(bid) == elf
    idx = VmlinuxIndex([str(tmp_path / "nothing")], [str(tmp_path / "plain")])
    assert idx.find("00" * 20) is None
    assert "--debug-dir" in idx.describe()


def test_table_rows_and_errors() -> None:
    ok = _rec("/x/vmcore.1", "f < g")
    ok.pid, ok.comm, ok.cpu, ok.format = 97, "kmx-crasher", 1, "elf"
    ok.warnings = ["x is truncated", "y"]
    bad = _rec("/x/vmcore.2", "", error="/x/vmcore.2: not an ELF or kdump-compressed vmcore")
    lines = table([ok, bad], clusters([ok, bad]))
    assert lines[0].split() == ["DUMP", "RELEASE", "FORMAT", "TASK", "CPU", "WARN", "SIGNATURE",
                                "MESSAGE"]
    assert "97:kmx-crasher" in lines[1] and lines[1].endswith("boom")
    assert lines[1].split()[4:6] == ["1", "2"]  # CPU, WARN: two warnings
    assert lines[2].endswith("error: /x/vmcore.2: not an ELF or kdump-compressed vmcore")
    assert lines[3] == ""
    assert lines[4].split()[:2] == ["COUNT", "KERNELS"]
    assert len(lines) == 6


def test_message_is_the_report_a_fatal_exception_follows() -> None:
    from kmemx.triage import message_of

    oops = ["BUG: kernel NULL pointer dereference, address: 0000000000000008",
            "Oops: 0002 [#1] PREEMPT SMP NOPTI"]
    lockup = ["watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [spin:99]"]
    oom = ["Out of memory: Killed process 77 (hog)"]
    sysrq = "Kernel panic - not syncing: sysrq triggered crash"
    assert message_of(sysrq, [], [], []) == sysrq
    assert message_of(sysrq, oops, [], []) == sysrq  # a panic of its own wins
    assert message_of("Kernel panic - not syncing: Fatal exception", oops, [], []) == oops[0]
    assert message_of("Kernel panic - not syncing: Fatal exception in interrupt", oops,
                      lockup, []) == oops[0]
    assert message_of("Kernel panic - not syncing: softlockup: hung tasks", [], lockup,
                      []) == lockup[0]
    assert message_of("Kernel panic - not syncing: System is deadlocked on memory", [], [],
                      oom) == oom[0]
    # nothing logged before it: the panic string itself
    assert message_of("Kernel panic - not syncing: Fatal exception", [], [], []) == \
        "Kernel panic - not syncing: Fatal exception"
    assert message_of(None, oops, [], []) == oops[0]  # an oops without a panic
    assert message_of(None, [], lockup, oom) == lockup[0]
    assert message_of(None, [], [], []) is None


def test_html_pages_without_a_browser(tmp_path: Path) -> None:
    """The pages' HTML (the Chromium test renders them on real dumps)."""
    pytest.importorskip("plotly")
    from kmemx.triage.html import write_html

    panic = _rec("/d/a/vmcore", "f < g")
    panic.pid, panic.comm, panic.cpu, panic.uptime = 97, "x<y>", 0, 8
    panic.stack = ["panic", "f", "g"]
    panic.memory = {"total": 100, "free": 50, "used": 50, "cached": 10, "buffers": 0,
                    "slab": 5}
    panic.slabs = [SlabUsage("dentry", 4096, 192, 10, 21)]
    panic.states = {"IN": 3, "RU": 1}
    other = _rec("/d/b/vmcore", "")
    bad = _rec("/d/c/vmcore", "", error="/d/c/vmcore: not an ELF or kdump-compressed vmcore")
    recs = [panic, other, bad]
    written = write_html(recs, clusters(recs), str(tmp_path / "out"))
    names = [os.path.basename(p) for p in written]
    assert names == ["index.html", "dump-000.html", "dump-001.html", "dump-002.html",
                     "plotly.min.js"]
    index = (tmp_path / "out" / "index.html").read_text()
    assert '<script src="plotly.min.js">' in index and "cdn" not in index.lower()
    assert "f &lt; g" in index and "(no crashed task)" in index
    assert 'href="dump-000.html">a/vmcore<' in index  # names relative to /d
    assert "Panics by uptime (1 of 2 dumps)" in index
    page = (tmp_path / "out" / "dump-000.html").read_text()
    assert "97:x&lt;y&gt;" in page and "<li><code>panic</code></li>" in page
    assert 'id="memory-chart"' in page and 'id="slabs-chart"' in page
    assert "not an ELF" in (tmp_path / "out" / "dump-002.html").read_text()
