"""``kmemx triage`` on the real dumps: the panic dump's record against the
fixture's truth (manifest-panic.json), the other dumps, ps's state counts,
--jobs, --jsonl resume, unreadable dumps, the build-ID lookup and the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import kmemx
from kmemx.buildid import elf_build_id
from kmemx.commands import execute
from kmemx.triage import Record, clusters, load_jsonl, triage
from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore

VARIANTS = ("elf", "kdump", "panic")


@pytest.fixture(scope="module")
def paths(fixture: Fixture) -> dict[str, str]:
    out = {v: str(fixture.core(v)) for v in VARIANTS if fixture.has(v)}
    if "panic" not in out:
        pytest.skip(f"panic: {fixture.skip_reason('panic')}")
    return out


@pytest.fixture(scope="module")
def records(fixture: Fixture, paths: dict[str, str]) -> dict[str, Record]:
    """Each dump triaged once, in this process."""
    recs = triage(list(paths.values()), symbols=[str(fixture.vmlinux)], jobs=1)
    return dict(zip(paths, recs))


def test_panic_record_is_the_fixtures_truth(fixture: Fixture,
                                            records: dict[str, Record]) -> None:
    r = records["panic"]
    assert r.error is None, r.error
    crasher = [t for t in fixture.panic_manifest["tasks"] if t["comm"] == "kmx-crasher"]
    assert len(crasher) == 1
    assert r.panic is not None and "sysrq triggered crash" in r.panic
    assert r.message == r.panic
    assert (r.pid, r.comm) == (crasher[0]["pid"], "kmx-crasher")
    assert r.cpu is not None and r.cpu >= 0
    frames = r.signature.split(" < ")
    assert frames[0] == "sysrq_handle_crash"
    assert "panic" not in frames and "panic" in r.stack
    assert r.format == "elf"
    assert r.release == fixture.release
    assert r.build_id == elf_build_id(str(fixture.vmlinux))
    assert r.vmlinux == os.path.abspath(fixture.vmlinux)
    assert r.taint == 0 and r.taint_flags == ""
    assert r.uptime is not None and r.uptime > 0
    assert r.memory["total"] > r.memory["free"] > 0
    assert len(r.slabs) == 5
    assert r.slabs == sorted(r.slabs, key=lambda s: -s.bytes)
    assert all(s.bytes > 0 for s in r.slabs)


def test_other_dumps_have_no_panic(records: dict[str, Record]) -> None:
    for v in ("elf", "kdump"):
        if v not in records:
            continue
        r = records[v]
        assert r.error is None, r.error
        assert r.panic is None and r.pid is None and r.signature == ""
        assert r.format == ("elf" if v == "elf" else "kdump")
    assert [c.signature for c in clusters(list(records.values()))].count("") == 1


def test_state_counts_are_ps(fixture: Fixture, paths: dict[str, str],
                             records: dict[str, Record]) -> None:
    k = kmemx.open(paths["panic"], fixture.vmlinux)
    try:
        rows = json.loads("\n".join(execute(k, "ps", as_json=True)))
    finally:
        k.close()
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["st"]] = counts.get(row["st"], 0) + 1
    assert records["panic"].states == counts
    assert records["panic"].hung_count == counts.get("UN", 0)


def test_jobs_2_equals_jobs_1(fixture: Fixture, paths: dict[str, str],
                              records: dict[str, Record]) -> None:
    recs = triage(list(paths.values()), symbols=[str(fixture.vmlinux)], jobs=2)
    got = [r.to_dict() for r in recs]
    want = [records[v].to_dict() for v in paths]
    diffs = [(w["path"], key, w[key], g.get(key)) for g, w in zip(got, want)
             for key in w if g.get(key) != w[key]]
    assert not diffs and len(got) == len(want), diffs


def test_jsonl_rerun_skips(fixture: Fixture, paths: dict[str, str], tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "triage.jsonl"
    first = triage([paths["panic"]], symbols=[str(fixture.vmlinux)], jsonl=str(out))
    assert len(out.read_text().splitlines()) == 1

    def fail(*args: Any) -> Any:
        raise AssertionError("a dump already in the --jsonl file was triaged again")

    monkeypatch.setattr("kmemx.triage.run.triage_path", fail)
    again = triage([paths["panic"]], symbols=[str(fixture.vmlinux)], jsonl=str(out))
    assert [r.to_dict() for r in again] == [r.to_dict() for r in first]
    assert len(out.read_text().splitlines()) == 1
    assert next(iter(load_jsonl(str(out)).values())).to_dict() == first[0].to_dict()


def test_unreadable_dumps_get_an_error_record(fixture: Fixture, paths: dict[str, str],
                                              tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.vmcore"
    bad.write_bytes(b"\x7fELF" + b"\xff" * 60)
    missing = tmp_path / "missing.vmcore"
    recs = triage([str(bad), str(missing), paths["elf"]], symbols=[str(fixture.vmlinux)])
    assert [r.error is None for r in recs] == [False, False, True]
    for r in recs[:2]:
        assert r.error and "\n" not in r.error and r.path in r.error
    assert "No such file" in (recs[1].error or "")
    assert recs[2].release == fixture.release


def test_vmlinux_by_build_id_in_debug_dir(fixture: Fixture, paths: dict[str, str],
                                          tmp_path: Path) -> None:
    bid = elf_build_id(str(fixture.vmlinux))
    assert bid is not None
    link = tmp_path / ".build-id" / bid[:2] / f"{bid[2:]}.debug"
    link.parent.mkdir(parents=True)
    link.symlink_to(fixture.vmlinux)
    (tmp_path / "vmlinux-other").write_bytes(b"not an ELF")  # ignored: no build ID
    r, = triage([paths["elf"]], debug_dirs=[str(tmp_path)])
    assert r.error is None, r.error
    assert r.vmlinux == str(link)
    empty = tmp_path / "empty"
    empty.mkdir()
    r, = triage([paths["elf"]], debug_dirs=[str(empty)])
    assert r.error is not None and bid in r.error and r.vmlinux is None


def test_cli_exit_status(fixture: Fixture, paths: dict[str, str], tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    from kmemx.cli import main

    jsonl = tmp_path / "t.jsonl"
    assert main(["triage", paths["panic"], "-s", str(fixture.vmlinux),
                 "--jsonl", str(jsonl)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["DUMP", "RELEASE", "FORMAT", "TASK", "CPU", "WARN", "SIGNATURE",
                              "MESSAGE"]
    assert "kmx-crasher" in out[1] and "sysrq_handle_crash" in out[1]
    assert out[3].split()[:2] == ["COUNT", "KERNELS"]
    missing = str(tmp_path / "missing.vmcore")
    assert main(["triage", paths["panic"], missing, "-s", str(fixture.vmlinux),
                 "--json"]) == 3
    cap = capsys.readouterr()
    data = json.loads(cap.out)
    assert [r["error"] is None for r in data["records"]] == [True, False]
    assert data["clusters"][0]["count"] == 1
    assert cap.err.startswith("kmemx: error: ") and missing in cap.err


def test_dask_local_cluster_equals_jobs_1(fixture: Fixture, paths: dict[str, str],
                                          records: dict[str, Record], tmp_path: Path) -> None:
    """--scheduler on a Dask LocalCluster (two worker processes): the same
    records as the in-process run, in the order of the arguments, and the
    --jsonl file written as they come is skipped on a re-run."""
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "dask.jsonl"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        recs = triage(list(paths.values()), symbols=[str(fixture.vmlinux)],
                      jsonl=str(out), scheduler=cluster.scheduler_address)
        got = [r.to_dict() for r in recs]
        want = [records[v].to_dict() for v in paths]
        diffs = [(w["path"], key, w[key], g.get(key)) for g, w in zip(got, want)
                 for key in w if g.get(key) != w[key]]
        assert not diffs and len(got) == len(want), diffs
        assert len(out.read_text().splitlines()) == len(paths)
        # the re-run finds every dump in the file: no task goes to the cluster
        before = len(cluster.scheduler.tasks) if hasattr(cluster, "scheduler") else None
        again = triage(list(paths.values()), symbols=[str(fixture.vmlinux)],
                       jsonl=str(out), scheduler=cluster.scheduler_address)
        assert [r.to_dict() for r in again] == want
        assert len(out.read_text().splitlines()) == len(paths)
        if before is not None:
            assert len(cluster.scheduler.tasks) == before


def test_cli_scheduler_unreachable(fixture: Fixture, paths: dict[str, str],
                                   monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("distributed")
    from kmemx.cli import main

    monkeypatch.setattr("kmemx.triage.run.DASK_TIMEOUT", "1s")
    assert main(["triage", paths["elf"], "-s", str(fixture.vmlinux),
                 "--scheduler", "tcp://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("kmemx: error: cannot reach the Dask scheduler")


def _console_panic(fixture: Fixture) -> tuple[dict[str, Any], list[str]]:
    """What the panicking kernel printed on its console (console-panic.log):
    its 'CPU: N [UID: U] PID: P Comm: C (Not tainted|Tainted: X)' line, the
    panic line and its timestamp, and the reliable frames of its Call Trace
    (the kernel's own ORC unwinder; '? ' frames are guesses and skipped)."""
    import re

    log = (Path(fixture.vmlinux).parent / "console-panic.log").read_text(errors="replace")
    start = log.index("Kernel panic - not syncing")
    text = log[log.rindex("\n", 0, start) + 1:]
    head = re.search(r"CPU: (\d+) (?:UID: \d+ )?PID: (\d+) Comm: (\S+) (Not tainted|Tainted: [^ ]+)",
                     text)
    when = re.match(r"\[\s*(\d+)\.\d+\] (Kernel panic - not syncing: .*)", text)
    assert head and when
    # x86-64 prints "Call Trace:" ... "</TASK>", arm64 "Call trace:" and no markers
    trace = re.split(r"Call [Tt]race:", text, maxsplit=1)[1].split("</TASK>", 1)[0]
    trace = trace.split("---[ end Kernel panic", 1)[0]
    frames = []
    prog = None
    for m in re.finditer(r"\]  ([\w.]+)\+0x([0-9a-f]+)/", trace):
        name = m.group(1)
        if int(m.group(2), 16) == 0 and frames:
            # arm64 prints a return address as it is (%pS; x86-64's ORC dump
            # subtracts 1): after a call that ends a noreturn function it names the
            # next function at +0x0.  The caller is the symbol before that byte,
            # as drgn (and kmemx) name a return address.
            prog = prog or fixture.drgn_program("panic")
            name = prog.symbol(prog.symbol(name).address - 1).name
        frames.append(name)
    info = {"cpu": int(head.group(1)), "pid": int(head.group(2)), "comm": head.group(3),
            "tainted": head.group(4) != "Not tainted", "uptime": int(when.group(1)),
            "panic": when.group(2).strip()}
    return info, frames


def test_panic_record_is_the_console(fixture: Fixture, records: dict[str, Record]) -> None:
    """The panic dump's record against the kernel's own report of the panic
    (console-panic.log) and /proc (manifest-panic.json): message, task, CPU,
    taint, uptime, memory total, and the stack: the frames after panic() are
    the console's reliable Call Trace frames, so the signature is too."""
    from kmemx.triage.record import frame_name as strip  # the one suffix rule

    r = records["panic"]
    info, console = _console_panic(fixture)
    assert r.panic == info["panic"]
    assert (r.pid, r.comm, r.cpu) == (info["pid"], info["comm"], info["cpu"])
    assert (r.taint != 0) == info["tainted"]
    # The record's uptime is crash's, jiffies since boot: (jiffies_64 - INITIAL_JIFFIES)
    # / HZ, HZ from the kernel's config, read here with drgn.  The console's seconds
    # are printk's clock, which jiffies trail when the guest misses timer ticks
    # (the 6.1 arm64 guest under TCG: 317 s of jiffies, 346 s of printk clock).
    import re

    config = (Path(fixture.vmlinux).parent / "config").read_text()
    hz = int(re.search(r"^CONFIG_HZ=(\d+)$", config, re.M).group(1))  # type: ignore[union-attr]
    jiffies = int(fixture.drgn_program("panic")["jiffies_64"])
    assert r.uptime == (jiffies - ((-300 * hz) & 0xFFFFFFFF)) // hz
    assert (r.uptime or 0) <= info["uptime"] + 1
    man = fixture.panic_manifest
    assert r.release == man["uname"]["release"]
    assert r.memory["total"] * 4 == man["meminfo"]["MemTotal"]  # kB, 4 KiB pages

    def after_panic(frames: list[str]) -> list[str]:
        names = [strip(f) for f in frames]
        rest = names[names.index("panic") + 1:]
        # entry_SYSCALL_64_after_hwframe is a label inside entry_SYSCALL_64
        return ["entry_SYSCALL_64" if n.startswith("entry_SYSCALL_64") else n for n in rest]

    assert after_panic(r.stack) == after_panic(console)
    assert r.signature == " < ".join(after_panic(console)[:5])


def test_progress_bar_on_a_terminal_only(fixture: Fixture, paths: dict[str, str],
                                         tmp_path: Path) -> None:
    """On a terminal (a pty of 120 columns) stderr shows a tqdm bar over the
    dumps, 0/2 then 1/2 ...; with stderr not a terminal, none."""
    import fcntl
    import pty
    import struct
    import subprocess
    import sys
    import termios

    argv = [sys.executable, "-m", "kmemx", "triage", paths["elf"], paths["kdump"]
            if "kdump" in paths else paths["panic"], "-s", str(fixture.vmlinux), "--json"]
    env = {k: v for k, v in os.environ.items() if k != "KMEMX_PROGRESS"}
    env["KMEMX_LAYOUT_DIR"] = str(tmp_path / "layouts")
    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdin/stdout/stderr are the pty
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.execvpe(argv[0], argv, env)
    out = b""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    text = out.decode(errors="replace")
    assert "triage:   0%" in text and "0/2" in text and "1/2" in text
    plain = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    assert "triage:" not in plain.stderr and "%|" not in plain.stderr


def test_every_dump_format_gives_the_same_record(fixture: Fixture, dump_variant: str,
                                                 records: dict[str, Record]) -> None:
    """The dumps of one moment in every format (ELF, kdump zlib/-d 31/LZO/
    snappy/zstd, flattened) give the ELF dump's record, but for the path, the
    size, the mtime and the format, which is the one the file has."""
    if "elf" not in records:
        pytest.skip("no ELF dump")
    if dump_variant == "panic":
        pytest.skip("the panic dump is another boot (test_panic_record_is_the_console)")
    r, = triage([str(fixture.core(dump_variant))], symbols=[str(fixture.vmlinux)])
    assert r.error is None, r.error
    want = ("elf" if dump_variant == "elf" else
            "flattened" if "flat" in dump_variant else "kdump")
    assert r.format == want
    base = records["elf"].to_dict()
    got = r.to_dict()
    diffs = [(k, base[k], got[k]) for k in base
             if k not in ("path", "size", "mtime_ns", "format") and got[k] != base[k]]
    assert not diffs, diffs


def test_jsonl_appends_as_it_goes(fixture: Fixture, paths: dict[str, str],
                                  tmp_path: Path) -> None:
    """Each record is in the --jsonl file (flushed) when it is reported, before
    the next dump is opened: an interrupted run keeps what it did."""
    out = tmp_path / "t.jsonl"
    out.write_text(json.dumps(Record("/elsewhere", error="old").to_dict()) + "\n")
    seen: list[int] = []

    def progress(rec: Record) -> None:
        lines = out.read_text().splitlines()
        seen.append(len(lines))
        assert json.loads(lines[-1])["path"] == rec.path

    recs = triage(list(paths.values()), symbols=[str(fixture.vmlinux)], jsonl=str(out),
                  progress=progress)
    assert seen == [2 + i for i in range(len(recs))]  # the old line stays first
