"""kmemx doctor and live mode inside real QEMU guests (tier ``live``).

Each guest configuration is one boot (a module-scoped fixture) that runs a
batch of commands in ``chroot`` of the host's filesystem: ``kmemx doctor``,
``kmemx -k`` and the checks in :mod:`tests.live.guest_checks`.  The tests
compare what kmemx said with what the same guest's kernel, /proc and system
calls said in the same run; verdicts are the ones ``../shared/docs/devmem.md``'s
decision table gives for the configuration.

Configurations:

1. Debian 6.1 as shipped (STRICT_DEVMEM=y): "/proc/kcore only", kmemx's kcore
   reader (its epoch page cache), equal to drgn's on 10,000 reads and ``ps``
   at least 10x drgn's.
2. The same kernel with ``lockdown=integrity`` and ``lockdown=confidentiality``.
3. A 6.1 built without STRICT_DEVMEM (:mod:`tests.live.kernel_build`), booted
   with ``nopat`` (mmap of RAM works) and with PAT on (mmap EINVAL).
4. Live consistency: ``ps`` while a spawner forks and reaps, and a task walk
   resumed after the tasks ahead of it exited.
5. Linux 5.10 (issue #14): Debian's stock kernel (no /dev/kmem: ENOENT), and two
   built with ``CONFIG_DEVKMEM=y``: STRICT_DEVMEM on (mmap EPERM), off with PAT
   on (EINVAL), off with ``nopat`` (mmap-devkmem works and is picked).

Run with ``./scripts/live-test`` or ``python -m pytest tests/live -m live``.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from tests.fixtures.errors import BuildError
from tests.fixtures.fixture import comm_matches
from tests.live.guest import (
    REPO,
    Command,
    GuestError,
    GuestKernel,
    GuestRun,
    GuestUnavailable,
    fixture_kernel,
    run_guest,
    unavailable_reason,
)
from tests.live.kernel_build import NAME as CUSTOM_NAME
from tests.live.kernel_build import build_custom_kernel, cached_kernel

pytestmark = [pytest.mark.live, pytest.mark.timeout(3600)]

DEBIAN_61 = "linux-image-6.1.0-56-amd64"


# -- helpers ----------------------------------------------------------------------------

def _checks(name: str, kernel: GuestKernel, *more: str) -> list[str]:
    return ["python", "-m", "tests.live.guest_checks", name, "--vmlinux", str(kernel.vmlinux),
            *more]


def _doctor_commands() -> list[Command]:
    return [
        Command("doctor-predict", ["kmemx", "doctor", "--json"], timeout=300),
        Command("doctor-probe", ["kmemx", "doctor", "--probe", "--json"], timeout=300),
        Command("doctor-text", ["kmemx", "doctor", "--probe"], timeout=300),
        Command("lockdown", sh="cat /sys/kernel/security/lockdown", timeout=60),
    ]


def _debian_kernel() -> GuestKernel:
    why = unavailable_reason()
    if why:
        pytest.skip(why)
    try:
        return fixture_kernel(DEBIAN_61)
    except GuestUnavailable as e:
        pytest.skip(str(e))


def _custom_kernel(name: str = CUSTOM_NAME) -> GuestKernel:
    """A kernel of :mod:`tests.live.kernel_build`: built here if it is not cached (its
    cost is printed)."""
    why = unavailable_reason()
    if why:
        pytest.skip(why)
    if cached_kernel(name=name) is None:
        print(f"\n[live] building {name} (not cached; see scripts/live-test)")
    try:
        d = build_custom_kernel(name=name)
    except BuildError as e:
        pytest.fail(f"building {name}: {e}")
    return GuestKernel(name=name, vmlinuz=d / "vmlinuz", vmlinux=d / "vmlinux",
                       config=d / "config")


def _boot(kernel: GuestKernel, commands: list[Command], label: str,
          cmdline: str = "") -> GuestRun:
    try:
        return run_guest(kernel, commands, cmdline=cmdline, label=label)
    except GuestUnavailable as e:
        pytest.skip(str(e))
    except GuestError as e:
        pytest.fail(str(e))


def _doctor(run: GuestRun, name: str = "doctor-probe") -> dict[str, Any]:
    """The doctor's JSON report; it exits 1 exactly when the verdict is "no live access"."""
    res = run[name]
    assert not res.timed_out, f"{name} timed out"
    d: dict[str, Any] = res.json()
    assert res.rc == (1 if d["verdict"] == "no live access" else 0), \
        f"{name}: exit status {res.rc} with verdict {d['verdict']!r}; stderr: {res.stderr[-300:]}"
    return d


def _probe(doctor: dict[str, Any], device: str = "/dev/mem") -> dict[str, Any]:
    assert doctor["probe"]["ran"], "the probe did not run (not root in the guest?)"
    for r in doctor["probe"]["results"]:
        if r["device"] == device:
            return dict(r)
    raise AssertionError(f"no probe result for {device}: {doctor['probe']}")


def _check(doctor: dict[str, Any], name: str) -> dict[str, Any]:
    for c in doctor["checks"]:
        if c["name"] == name:
            return dict(c)
    raise AssertionError(f"doctor has no check {name!r}")


def _lockdown_mode(run: GuestRun) -> str:
    """The mode the guest's /sys/kernel/security/lockdown shows in brackets."""
    m = re.search(r"\[(\w+)\]", run["lockdown"].check().stdout)
    assert m, run["lockdown"].stdout
    return m.group(1)


def _kmemx_notes(lines: list[str]) -> list[str]:
    """kmemx's warnings and errors (its ``kmemx: note:`` lines, such as modules without
    debug info, are not problems of the command)."""
    return [ln for ln in lines if ln.startswith("kmemx: ") and not ln.startswith("kmemx: note: ")]


def _assert_ps_matches_proc(rows: list[dict[str, Any]], before: list[dict[str, Any]],
                            after: list[dict[str, Any]], cpus: int, what: str) -> None:
    """kmemx's ps rows against two /proc walks taken around it in the same guest.

    Tasks in both walks (same comm and parent) must be in ps with the same
    parent and comm (/proc extends kernel thread names; /proc's ppid is the
    parent's thread-group id).  ps may show tasks /proc never did only if they
    are newer than the first walk.  Each CPU's idle task is PID 0.
    """
    b = {t["pid"]: t for t in before}
    a = {t["pid"]: t for t in after}
    tgid = {p: t["tgid"] for p, t in {**b, **a}.items()}
    stable = {p: t for p, t in b.items()
              if p in a and a[p]["comm"] == t["comm"] and a[p]["ppid"] == t["ppid"]}
    got: dict[int, dict[str, Any]] = {}
    for r in rows:
        if r["pid"] == 0:
            continue
        assert r["pid"] not in got, f"{what}: PID {r['pid']} listed twice"
        got[r["pid"]] = r
    assert len(stable) > 20, f"{what}: /proc walks too unstable to compare ({len(stable)})"
    missing = sorted(p for p in stable if p not in got)
    assert not missing, f"{what}: tasks /proc showed before and after are missing: " + \
        ", ".join(f"{p} {stable[p]['comm']}" for p in missing[:10])
    for p, t in stable.items():
        r = got[p]
        assert comm_matches(r["comm"], t["comm"]), f"{what}: PID {p} comm {r['comm']!r} " \
                                                   f"but /proc says {t['comm']!r}"
        assert tgid.get(r["ppid"], r["ppid"]) == t["ppid"], \
            f"{what}: PID {p} ({t['comm']}) ppid {r['ppid']} but /proc says {t['ppid']}"
    first_walk_max = max(b)
    ghosts = sorted(p for p in got if p not in b and p not in a and p <= first_walk_max)
    assert not ghosts, f"{what}: ps shows PIDs /proc never showed: {ghosts[:10]}"
    idle = [r for r in rows if r["pid"] == 0]
    assert len(idle) == cpus, f"{what}: {len(idle)} idle tasks for {cpus} CPUs"


# -- 1. Debian 6.1 as shipped ---------------------------------------------------------------

@pytest.fixture(scope="module")
def debian61() -> GuestRun:
    kern = _debian_kernel()
    return _boot(kern, [
        *_doctor_commands(),
        Command("readers", _checks("readers", kern)),
        Command("ps", _checks("ps", kern)),
        Command("lowmem", _checks("lowmem", kern)),
        Command("reads", _checks("reads", kern), timeout=1800),
        Command("bench", _checks("bench", kern), timeout=1800),
        Command("imports", _checks("imports", kern), timeout=300),
    ], label="debian-6.1")


def test_guest_runs_this_checkout(debian61: GuestRun) -> None:
    """The guest imports kmemx, its C extensions and its plugins from the checkout the
    tests run from (a clone under /tmp too), not from wherever kmemx is installed."""
    from kmemx import _accel

    imp = debian61["imports"].check().json()
    print(f"\n[debian-6.1] imports: {json.dumps(imp, sort_keys=True)}")
    repo = os.path.realpath(REPO)
    assert imp["kmemx"] == os.path.join(repo, "kmemx", "__init__.py"), imp
    for ext in ("speedups", "segread"):
        mod = getattr(_accel, ext)
        assert imp[ext] == (os.path.realpath(mod.__file__) if mod else None), (ext, imp)
        # not another checkout's build (an editable install lends its .so files)
        assert imp[ext] is None or imp[ext].startswith(os.path.join(repo, "kmemx") + "/"), imp
    assert len(imp["plugins"]) >= 10, imp["plugins"]
    outside = {n: f for n, f in imp["plugins"].items()
               if not (f or "").startswith(os.path.join(repo, "plugins") + "/")}
    assert not outside, outside


def test_debian_doctor_reports_kcore_only_with_eperm(debian61: GuestRun) -> None:
    doc = _doctor(debian61)
    assert doc["release"] == debian61.uname[2]
    assert doc["verdict"] == "/proc/kcore only"
    assert doc["readers"] == ["kcore", "drgn"]
    assert _lockdown_mode(debian61) == "none"
    probe = _probe(doc)
    assert probe["open"]["name"] == "OK"
    # the probe's errno is the one the guest's own mmap/pread above 1 MiB got
    own = json.loads(debian61["lowmem"].check().stdout)["above_1mib"]
    assert own["mmap"] == "EPERM"
    assert probe["mmap"]["name"] == own["mmap"]
    assert probe["read"]["name"] == own["read"]
    assert "EPERM" in _check(doc, "probe")["detail"]
    assert _check(doc, "strict-devmem")["status"] == "fail"
    assert doc["disagreements"] == []
    text = debian61["doctor-text"].check().stdout
    assert "Verdict: /proc/kcore only" in text
    assert "mmap(0x" in text and "EPERM (errno 1)" in text


def test_debian_doctor_prediction_matches_probe(debian61: GuestRun) -> None:
    predicted = _doctor(debian61, "doctor-predict")
    probed = _doctor(debian61)
    assert predicted["verdict"] == probed["verdict"]
    assert not predicted["probe"]["ran"]


def test_debian_live_mode_uses_the_kcore_reader(debian61: GuestRun) -> None:
    readers = debian61["readers"].check().json()
    assert readers["auto"] == {**readers["auto"], "ok": True, "reader": "kcore"}
    assert readers["auto"]["reader"] == _doctor(debian61)["readers"][0]
    assert readers["kcore"]["ok"] and readers["kcore"]["reader"] == "kcore"
    assert readers["drgn"]["ok"] and readers["drgn"]["reader"] == "drgn"
    err = readers["mmap-devmem"]
    assert not err["ok"] and err["type"] == "LiveAccessError"
    assert "EPERM" in err["error"] and "kmemx doctor" in err["error"]
    assert "\n" not in err["error"]
    kmem = readers["mmap-devkmem"]
    assert not kmem["ok"] and "/dev/kmem: No such file or directory" in kmem["error"]
    assert kmem["error"].startswith("reader mmap-devkmem cannot read the running kernel: ")
    assert debian61["ps"].check().json()["reader"] == "kcore"


def _assert_reads_equal(run: GuestRun, reader: str, kinds: tuple[str, ...]) -> None:
    res = run["reads"].check().json()
    assert res["reader"] == reader
    total = sum(r["n"] for r in res["kinds"].values())
    assert total >= 9900, res["kinds"]
    for kind in kinds:
        r = res["kinds"][kind]
        assert r["n"] > 0, f"no {kind} addresses sampled"
        assert r["stable"] >= r["n"] * 0.9, (kind, r)
        assert r["equal"] == r["stable"], (kind, r)


def test_debian_kcore_reads_equal_drgn(debian61: GuestRun) -> None:
    """10,000 words of the direct map, the kernel image, vmalloc (task stacks) and
    modules through kmemx's kcore reader equal drgn's /proc/kcore reads."""
    _assert_reads_equal(debian61, "kcore", ("direct", "image", "vmalloc", "module"))


def test_debian_kcore_bench_counts(debian61: GuestRun) -> None:
    """The benchmark ran through the kcore reader: epochs started, ps and the reads
    timed on both sides, and sequential misses read ahead (more pages than preads)."""
    b = debian61["bench"].check().json()
    assert b["reader"] == "kcore"
    assert b["ps"]["kmemx_secs"] > 0 and b["ps"]["drgn_secs"] > 0, b
    assert b["kcore"]["epochs"] >= 8 and b["kcore"]["preads"] < b["kcore"]["pages_read"], b


def test_debian_ps_matches_guest_proc(debian61: GuestRun) -> None:
    ps = debian61["ps"].check().json()
    w0, w1, w2 = ps["walks"]
    assert not ps["api"]["notes"], ps["api"]["notes"]
    _assert_ps_matches_proc(ps["api"]["rows"], w0, w1, ps["cpus"], "API ps (kcore)")
    cli = ps["cli"]
    assert cli["rc"] == 0 and not cli["timed_out"], cli["stderr"][-5:]
    assert cli["rows"] is not None, cli["stdout_head"]
    # kmemx's notes (modules without debug info) are not problems of ps
    assert not [ln for ln in cli["stderr"] if ln.startswith("kmemx: ")
                and not ln.startswith("kmemx: note: ")], cli["stderr"]
    _assert_ps_matches_proc(cli["rows"], w1, w2, ps["cpus"], "kmemx -k ps")
    # the guest's own processes are there: the check itself and the runner above it
    pids = {r["pid"]: r for r in ps["api"]["rows"]}
    assert pids[ps["self"]]["comm"].startswith("python")


def test_debian_devmem_low_mib_matches_kcore(debian61: GuestRun) -> None:
    """Under STRICT_DEVMEM, mmap of RAM below 1 MiB is allowed and maps the real
    contents (the known hole, a4866aa81251), while read() of the same pages
    returns zeros; /proc/kcore (drgn, physical addresses) has the real contents."""
    low = debian61["lowmem"].check().json()
    pages = low["pages"]
    assert low["low"], f"no System RAM below 1 MiB in /proc/iomem: {low['ranges']}"
    assert len(pages) == sum((e - s) // 4096 for s, e in low["low"]) - \
        sum(1 for s, _ in low["low"] if s % 4096)
    failed = [p for p in pages if not (p["mmap_ok"] and p["kcore_ok"])]
    assert not failed, failed[:3]
    stable = [p for p in pages if p["stable"]]
    assert len(stable) >= len(pages) - 2
    differ = [hex(p["pa"]) for p in stable if not p["mmap_eq_kcore"]]
    assert not differ, f"mmap of /dev/mem and /proc/kcore differ at {differ[:10]}"
    nonzero = [p for p in pages if p["kcore_nonzero"]]
    assert nonzero, "every low page reads as zeros through kcore: nothing was compared"
    assert all(p["mmap_nonzero"] for p in nonzero)
    # read() zeroes what mmap shows: devmem_is_allowed() returns 2 for low RAM (>= 4.11)
    assert all(p["read"] == "ok" for p in pages)
    assert all(p["read_zero"] for p in nonzero)


# -- 2. lockdown ----------------------------------------------------------------------------

#: devmem.md's table: lockdown refuses /dev/mem (both modes) and /proc/kcore (confidentiality).
LOCKDOWN: dict[str, dict[str, Any]] = {
    "integrity": {"verdict": "/proc/kcore only", "reader": "kcore"},
    "confidentiality": {"verdict": "no live access", "reader": None},
}


@pytest.fixture(scope="module", params=sorted(LOCKDOWN))
def locked(request: pytest.FixtureRequest) -> tuple[str, GuestRun]:
    mode: str = request.param
    kern = _debian_kernel()
    cmds = [*_doctor_commands(),
            Command("readers", _checks("readers", kern)),
            Command("cli-ps", ["kmemx", "-k", "-s", str(kern.vmlinux), "--json", "ps"],
                    timeout=600),
            Command("dmesg", sh="dmesg | grep -i lockdown", timeout=60)]
    return mode, _boot(kern, cmds, label=f"debian-6.1-lockdown-{mode}",
                       cmdline=f"lockdown={mode}")


def test_lockdown_doctor_verdict(locked: tuple[str, GuestRun]) -> None:
    mode, run = locked
    assert _lockdown_mode(run) == mode
    doc = _doctor(run)
    assert doc["verdict"] == LOCKDOWN[mode]["verdict"]
    lock = _check(doc, "lockdown")
    assert lock["status"] != "ok" and mode in lock["detail"]
    assert lock["remedy"] and "lockdown=" in lock["remedy"]
    probe = _probe(doc)
    assert probe["open"]["name"] == "EPERM"
    assert _doctor(run, "doctor-predict")["verdict"] == doc["verdict"]
    assert doc["disagreements"] == []
    # the kernel logged why
    assert "/dev/mem,kmem,port is restricted" in run["dmesg"].stdout


def test_lockdown_live_open_fails_in_one_line(locked: tuple[str, GuestRun]) -> None:
    mode, run = locked
    readers = run["readers"].check().json()
    devmem = readers["mmap-devmem"]
    assert not devmem["ok"] and devmem["type"] == "LiveAccessError"
    assert "Operation not permitted" in devmem["error"] and "kmemx doctor" in devmem["error"]
    for text in (devmem["error"], readers["auto"].get("error", "")):
        assert "\n" not in text
    want = LOCKDOWN[mode]["reader"]
    cli = run["cli-ps"]
    errors = _kmemx_notes(cli.stderr.splitlines())
    if want is None:
        auto = readers["auto"]
        assert not auto["ok"] and auto["type"] == "LiveAccessError"
        assert "/dev/mem" in auto["error"] and "/proc/kcore" in auto["error"], auto["error"]
        assert "kmemx doctor" in auto["error"]
        assert cli.rc == 1 and not cli.stdout
        assert len(errors) == 1 and errors[0].startswith("kmemx: error: "), cli.stderr
        assert errors[0] == f"kmemx: error: {auto['error']}"
    else:
        assert readers["auto"]["ok"] and readers["auto"]["reader"] == want
        cli.check()
        assert len(cli.json()) > 20 and not errors


def test_lockdown_live_error_names_lockdown(locked: tuple[str, GuestRun]) -> None:
    mode, run = locked
    readers = run["readers"].check().json()
    assert f"lockdown: {mode}" in readers["mmap-devmem"]["error"]
    if LOCKDOWN[mode]["reader"] is None:
        assert readers["auto"]["error"].count(f"lockdown: {mode}") == 2


# -- 3. a kernel without STRICT_DEVMEM, with and without PAT -----------------------------

#: devmem.md rows 10 and 13: PAT on refuses mmap of RAM (EINVAL, read works); nopat allows it.
NOSTRICT: dict[str, dict[str, Any]] = {
    "nopat": {"verdict": "mmap of RAM works", "mmap": "OK", "read": "OK",
              "reader": "mmap-devmem"},
    "pat": {"verdict": "read-only /dev/mem", "mmap": "EINVAL", "read": "OK", "reader": "kcore"},
}


_NOSTRICT_RUNS: dict[str, GuestRun] = {}


def _nostrict_run(pat: str) -> GuestRun:
    """One boot per PAT setting, shared by the fixtures below."""
    if pat not in _NOSTRICT_RUNS:
        kern = _custom_kernel()
        cmds = [*_doctor_commands(),
                Command("readers", _checks("readers", kern)),
                Command("ps", _checks("ps", kern)),
                Command("pat-dmesg", sh="dmesg | grep -i 'x86/PAT'", timeout=60),
                Command("reads", _checks("reads", kern), timeout=1800)]
        if pat == "nopat":
            cmds += [Command("compare", _checks("compare", kern)),
                     Command("bench", _checks("bench", kern), timeout=1800)]
        _NOSTRICT_RUNS[pat] = _boot(kern, cmds, label=f"{CUSTOM_NAME}-{pat}",
                                    cmdline="nopat" if pat == "nopat" else "")
    return _NOSTRICT_RUNS[pat]


@pytest.fixture(scope="module", params=sorted(NOSTRICT))
def nostrict(request: pytest.FixtureRequest) -> tuple[str, GuestRun]:
    pat: str = request.param
    return pat, _nostrict_run(pat)


@pytest.fixture(scope="module")
def nopat() -> GuestRun:
    return _nostrict_run("nopat")


def test_nostrict_doctor_predicts_and_probe_confirms(nostrict: tuple[str, GuestRun]) -> None:
    pat, run = nostrict
    want = NOSTRICT[pat]
    doc = _doctor(run)
    assert doc["release"] == run.uname[2]
    assert _check(doc, "strict-devmem")["status"] == "ok"
    assert doc["verdict"] == want["verdict"]
    probe = _probe(doc)
    assert (probe["open"]["name"], probe["mmap"]["name"], probe["read"]["name"]) == \
        ("OK", want["mmap"], want["read"])
    assert doc["disagreements"] == []
    dmesg = run["pat-dmesg"].stdout
    if pat == "nopat":
        assert "PAT support disabled" in dmesg or "WC" not in dmesg, dmesg
    else:
        assert "Configuration [0-7]" in dmesg and "WC" in dmesg, dmesg
        assert "EINVAL" in _check(doc, "pat")["detail"]


def test_nostrict_doctor_predicts_pat_from_config_and_cmdline(
        nostrict: tuple[str, GuestRun]) -> None:
    """Without --probe: the PAT check's effect is predicted from the config,
    ``nopat`` on the command line and dmesg."""
    pat, run = nostrict
    predicted = _doctor(run, "doctor-predict")
    assert not predicted["probe"]["ran"]
    access = {(o["device"], o["op"], o["target"]): o for o in predicted["outcomes"]}
    mmap_ram = access[("/dev/mem", "mmap", "RAM above 1 MiB")]
    if pat == "nopat":
        assert "PAT support disabled" in mmap_ram["reason"], mmap_ram
    else:
        assert mmap_ram["errno_name"] == "EINVAL", mmap_ram


def test_nostrict_doctor_prediction_matches_probe(nostrict: tuple[str, GuestRun]) -> None:
    pat, run = nostrict
    predicted = _doctor(run, "doctor-predict")
    assert predicted["verdict"] == NOSTRICT[pat]["verdict"]


def test_nostrict_live_reader(nostrict: tuple[str, GuestRun]) -> None:
    pat, run = nostrict
    want = NOSTRICT[pat]
    readers = run["readers"].check().json()
    assert readers["auto"]["ok"] and readers["auto"]["reader"] == want["reader"]
    devmem = readers["mmap-devmem"]
    if want["mmap"] == "OK":
        assert devmem["ok"] and devmem["reader"] == "mmap-devmem"
    else:
        assert not devmem["ok"] and want["mmap"] in devmem["error"], devmem
        assert "\n" not in devmem["error"]
    ps = run["ps"].check().json()
    assert ps["reader"] == want["reader"]
    w0, w1, w2 = ps["walks"]
    _assert_ps_matches_proc(ps["api"]["rows"], w0, w1, ps["cpus"], f"API ps ({ps['reader']})")
    cli = ps["cli"]
    assert cli["rc"] == 0 and cli["rows"] is not None, cli["stderr"][-5:]
    _assert_ps_matches_proc(cli["rows"], w1, w2, ps["cpus"], "kmemx -k ps")


def test_nostrict_reads_equal_kcore(nostrict: tuple[str, GuestRun]) -> None:
    """10,000 reads through the picked reader (mmap of /dev/mem with nopat, the kcore
    reader with PAT on) equal drgn's /proc/kcore reads; the custom kernel has no
    modules."""
    pat, run = nostrict
    _assert_reads_equal(run, NOSTRICT[pat]["reader"], ("direct", "image", "vmalloc"))


def test_nopat_bench_mmap_devmem() -> None:
    """benchmarks.bench_live through mmap-devmem against drgn's /proc/kcore (ratios
    printed, recorded in docs/live.md; speed targets live in the benchmark)."""
    b = _nostrict_run("nopat")["bench"].check().json()
    print("\n[6.1 nostrict nopat] bench: " + json.dumps(b, sort_keys=True))
    assert b["reader"] == "mmap-devmem"
    for part in ("ps", "ps_warm", "read_u64"):
        assert b[part]["kmemx_secs"] > 0 and b[part]["drgn_secs"] > 0, b


def test_nopat_mmap_reader_matches_drgn_reader(nopat: GuestRun) -> None:
    run = nopat
    cmp_ = run["compare"].check().json()
    assert cmp_["readers"] == ["mmap-devmem", "drgn"]
    for name, r in cmp_["reads"].items():
        assert r["equal"] and r["kmemx_equal"], f"{name}: {r['differing_bytes']} bytes differ"
        assert r["stable_bytes"] >= r["size"] * 0.9, (name, r)
    comms = cmp_["comms"]
    assert comms["common"] > 20 and comms["equal"] == comms["common"], comms
    phys = cmp_["phys"]
    assert phys["stable"] >= phys["pages"] * 0.9 and phys["equal_when_stable"] == phys["stable"]
    assert cmp_["stats"]["mmap_hits"] > 0, cmp_["stats"]
    ps = cmp_["ps"]
    w0, w1 = ps["walks"]
    cpus = run["ps"].json()["cpus"]
    for reader in ("mmap-devmem", "drgn"):
        _assert_ps_matches_proc(ps[reader]["rows"], w0, w1, cpus, f"ps ({reader})")
    # the same tasks, parents and names through both readers
    def key(rows: list[dict[str, Any]]) -> set[tuple[int, int, str]]:
        return {(r["pid"], r["ppid"], r["comm"]) for r in rows if r["pid"]}
    only = key(ps["mmap-devmem"]["rows"]) ^ key(ps["drgn"]["rows"])
    b = {t["pid"] for t in w0} & {t["pid"] for t in w1}
    assert not [t for t in only if t[0] in b], sorted(only)[:10]


# -- 4. live consistency --------------------------------------------------------------------

# Walks in one process (API) and whole `kmemx ps` processes (CLI) during the churn.
# Under TCG one CLI run takes minutes (debug info loads in the guest): 20 + 20 runs
# did not finish in 46 minutes (2026-11-29), so the counts are sized for TCG.
CHURN_RUNS, CHURN_CLI_RUNS = 10, 5


@pytest.fixture(scope="module")
def churn() -> GuestRun:
    kern = _debian_kernel()
    return _boot(kern, [
        Command("stale-walk", _checks("stale-walk", kern), timeout=600),
        Command("churn", _checks("churn", kern, "--runs", str(CHURN_RUNS),
                                 "--cli-runs", str(CHURN_CLI_RUNS),
                                 "--run-timeout", "300"), timeout=3000),
    ], label="debian-6.1-churn")


def test_ps_under_churn_always_finishes(churn: GuestRun) -> None:
    res = churn["churn"].check().json()
    assert res["reader"] == "kcore"
    assert res["spawner"].get("forks", 0) > 200, res["spawner"]
    api_bad = [r for r in res["api"] if not r["ok"]]
    assert not api_bad, api_bad[:3]
    # exit status 3 (EXIT_INCOMPLETE) exactly when a task freed mid-walk was warned about
    cli_bad = [r for r in res["cli"] if r["rc"] != (3 if _kmemx_notes(r["stderr"]) else 0)
               or r["timed_out"] or r["rows"] is None]
    assert not cli_bad, cli_bad[:3]
    assert len(res["api"]) == CHURN_RUNS and len(res["cli"]) == CHURN_CLI_RUNS
    # tasks that lived through the whole churn are in every run
    w0, w1 = res["walks"]
    stable = {t["pid"] for t in w0} & {t["pid"] for t in w1}
    for i, r in enumerate(res["api"] + res["cli"]):
        missing = stable - set(r["pids"])
        assert not missing, f"run {i}: stable PIDs {sorted(missing)[:10]} missing"


def test_ps_under_churn_notes_are_one_line(churn: GuestRun) -> None:
    """Tasks exiting mid-walk end the affected rows with a note, never a crash."""
    res = churn["churn"].check().json()
    notes = [n for r in res["api"] for n in r["notes"]]
    notes += [n for r in res["cli"] for n in _kmemx_notes(r["stderr"])]
    if res["reader"] == "drgn":  # the kcore reader's epoch cache may meet none
        assert notes, (f"no walk met an exiting task in {CHURN_RUNS + CHURN_CLI_RUNS} runs: "
                       "the spawner did not exercise the case")
    for n in notes:
        assert n.startswith("kmemx: warning: ") and "\n" not in n, n
        assert "Traceback" not in n


def test_task_walk_resumed_after_exits_ends(churn: GuestRun) -> None:
    res = churn["stale-walk"].check().json()
    assert res["reader"] == "kcore"
    assert res["before"][-1] == res["me"], "the walk should pause at the check itself"
    assert res["error"] is None or "\n" not in res["error"], res["error"]
    # bounded: no more than the tasks that could ever have been there
    assert len(res["after"]) <= len(res["children"]) + len(res["reused"]) + 10
    assert res["resume_secs"] < 60
    # afterwards, ps sees a consistent list again: the killed children are gone
    assert len(res["ps_after"]["pids"]) > 20 and not res["ps_after"]["notes"]
    gone = set(res["children"]) | set(res["reused"])
    assert not gone & set(res["ps_after"]["pids"])
    assert res["me"] in res["ps_after"]["pids"]



# -- 5. Linux 5.10: /dev/kmem ------------------------------------------------------------------

#: What each 5.10 guest must show (docs/live.md's table): the probe's (open, mmap, read)
#: errno names for /dev/mem and /dev/kmem, the verdict, and the reader open_live picks.
K510: dict[str, dict[str, Any]] = {
    "stock": {"kernel": None, "cmdline": "", "verdict": "/proc/kcore only",
              "mem": ("OK", "EPERM", "EPERM"), "kmem": None, "reader": "kcore"},
    "devkmem-strict": {"kernel": "custom-5.10-devkmem-strict", "cmdline": "",
                       "verdict": "/proc/kcore only", "mem": ("OK", "EPERM", "EPERM"),
                       "kmem": ("OK", "EPERM"), "reader": "kcore"},
    "devkmem-pat": {"kernel": "custom-5.10-devkmem", "cmdline": "",
                    "verdict": "read-only /dev/mem", "mem": ("OK", "EINVAL", "OK"),
                    "kmem": ("OK", "EINVAL"), "reader": "kcore"},
    "devkmem-nopat": {"kernel": "custom-5.10-devkmem", "cmdline": "nopat",
                      "verdict": "mmap of RAM works", "mem": ("OK", "OK", "OK"),
                      "kmem": ("OK", "OK"), "reader": "mmap-devkmem"},
}


def _stock_510() -> GuestKernel:
    """Debian's stock 5.10 kernel files, from the fixture builder's cache (the
    newest ``linux-image-5.10.0-N-amd64`` there, or $KMEMX_LIVE_KERNEL_510)."""
    import os

    from tests.fixtures.paths import default_cache

    why = unavailable_reason()
    if why:
        pytest.skip(why)
    name = os.environ.get("KMEMX_LIVE_KERNEL_510")
    if name is None:
        found = sorted((p.name for p in (default_cache() / ".kernels").glob(
            "linux-image-5.10.0-*-amd64") if (p / "modules.json").exists()),
            key=lambda n: int(n.split("-")[3]))
        if not found:
            pytest.skip("no Debian 5.10 kernel files cached: run 'python -m tests.fixtures "
                        "build linux-image-5.10.0-N-amd64'")
        name = found[-1]
    try:
        return fixture_kernel(name)
    except GuestUnavailable as e:
        pytest.skip(str(e))


_K510_RUNS: dict[str, GuestRun] = {}


def _k510_run(conf: str) -> GuestRun:
    if conf not in _K510_RUNS:
        want = K510[conf]
        kern = _stock_510() if want["kernel"] is None else _custom_kernel(want["kernel"])
        cmds = [*_doctor_commands(),
                Command("readers", _checks("readers", kern)),
                Command("ps", _checks("ps", kern)),
                Command("pat-dmesg", sh="dmesg | grep -i 'x86/PAT'", timeout=60),
                Command("reads", _checks("reads", kern), timeout=1800)]
        if want["kmem"] is not None:
            cmds.append(Command("devkmem", _checks("devkmem", kern, "--n", "2000"),
                                timeout=1800))
        if conf == "devkmem-nopat":
            cmds += [Command("bench", _checks("bench", kern), timeout=1800),
                     Command("churn", _checks("churn", kern, "--runs", "5", "--cli-runs", "3",
                                              "--run-timeout", "300"), timeout=3000)]
        _K510_RUNS[conf] = _boot(kern, cmds, label=f"5.10-{conf}", cmdline=want["cmdline"])
    return _K510_RUNS[conf]


@pytest.fixture(scope="module", params=list(K510))
def k510(request: pytest.FixtureRequest) -> tuple[str, GuestRun]:
    conf: str = request.param
    return conf, _k510_run(conf)


def test_510_doctor_prediction_probe_and_reader_agree(k510: tuple[str, GuestRun]) -> None:
    conf, run = k510
    want = K510[conf]
    assert run.uname[2].startswith("5.10."), run.uname
    doc = _doctor(run)
    predicted = _doctor(run, "doctor-predict")
    readers = run["readers"].check().json()
    assert doc["verdict"] == want["verdict"], (doc["verdict"], doc["because"])
    assert predicted["verdict"] == doc["verdict"]
    assert doc["disagreements"] == []
    assert readers["auto"]["ok"] and readers["auto"]["reader"] == want["reader"]
    assert doc["readers"][0] == want["reader"], doc["readers"]
    mem = _probe(doc, "/dev/mem")
    assert (mem["open"]["name"], mem["mmap"]["name"], mem["read"]["name"]) == want["mem"]
    if want["kmem"] is None:
        assert not any(r["device"] == "/dev/kmem" for r in doc["probe"]["results"])
        assert "/dev/kmem: No such file or directory" in readers["mmap-devkmem"]["error"]
        kmem_open = [o for o in doc["outcomes"] if o["device"] == "/dev/kmem" and o["op"] == "open"]
        assert [(o["errno_name"], o["cause"]) for o in kmem_open] == [("ENOENT", "devkmem-node")]
        assert "driver not built" in _check(doc, "devkmem-node")["detail"]
    else:
        kmem = _probe(doc, "/dev/kmem")
        assert (kmem["open"]["name"], kmem["mmap"]["name"]) == want["kmem"]
        if want["kmem"][1] != "OK":
            err = readers["mmap-devkmem"]
            assert not err["ok"] and want["kmem"][1] in err["error"] and "\n" not in err["error"]


def test_510_doctor_json_names_the_causes(k510: tuple[str, GuestRun]) -> None:
    conf, run = k510
    doc = _doctor(run)
    causes = {o.get("cause") for o in doc["outcomes"] if o.get("ok") is False}
    if K510[conf]["mem"][1] == "EPERM":
        assert "strict-devmem" in causes, causes
    if K510[conf]["mem"][1] == "EINVAL":
        assert "pat" in causes, causes
        pat = _check(doc, "pat")
        text = run["doctor-text"].check().stdout
        # the PAT explanation in plain words: what cache aliasing is, what nopat costs
        assert "Cache aliasing means one physical page is mapped at two" in text
        assert "nopat" in pat["remedy"] and "write-combining" in pat["remedy"]
    if conf == "stock":
        assert _check(doc, "devkmem-node")["status"] != "ok"


def test_510_ps_matches_guest_proc(k510: tuple[str, GuestRun]) -> None:
    conf, run = k510
    ps = run["ps"].check().json()
    assert ps["reader"] == K510[conf]["reader"]
    w0, w1, w2 = ps["walks"]
    _assert_ps_matches_proc(ps["api"]["rows"], w0, w1, ps["cpus"], f"API ps ({ps['reader']})")
    cli = ps["cli"]
    assert cli["rc"] == 0 and cli["rows"] is not None, cli["stderr"][-5:]
    _assert_ps_matches_proc(cli["rows"], w1, w2, ps["cpus"], "kmemx -k ps")


def test_510_reads_equal_kcore(k510: tuple[str, GuestRun]) -> None:
    """10,000 reads through the picked reader (/dev/kmem in the nopat guest) equal
    drgn's /proc/kcore reads; the custom kernels have no modules."""
    conf, run = k510
    kinds = ("direct", "image", "vmalloc") + (("module",) if conf == "stock" else ())
    _assert_reads_equal(run, K510[conf]["reader"], kinds)


#: mmap of /dev/kmem per DEVKMEM guest: the errno of RAM (direct map and, through
#: __pa()'s kernel-image branch, the image), from mmap_mem's checks.
_KMEM_MMAP_RAM = {"devkmem-strict": "EPERM", "devkmem-pat": "EINVAL", "devkmem-nopat": "ok"}


def test_510_devkmem_read_and_mmap_per_address_kind(k510: tuple[str, GuestRun]) -> None:
    """What /dev/kmem gives per kind of address (drivers/char/mem.c of 5.10):

    - read() (read_kmem) has neither the STRICT_DEVMEM nor the PAT check: in every
      DEVKMEM guest it reads the direct map (copy below high_memory) and vmalloc
      (vread()), equal to drgn's /proc/kcore; kernel-image addresses are neither,
      so ENXIO;
    - mmap (mmap_kmem) takes ``__pa()`` of the offset: vmalloc is never a valid pfn
      (EIO); the direct map and the image become their physical pages and then meet
      mmap_mem's checks: EPERM (STRICT_DEVMEM), EINVAL (PAT), or mapped (nopat),
      equal to drgn;
    - the module area's start goes through __pa()'s image branch too: if mapped, the
      page is the physical one at ``addr - __START_KERNEL_map + phys_base``, not the
      module's memory.
    """
    conf, run = k510
    if K510[conf]["kmem"] is None:
        pytest.skip("no /dev/kmem in this guest (see test_510_doctor_prediction...)")
    res = run["devkmem"].check().json()
    print(f"\n[5.10 {conf}] /dev/kmem: " + json.dumps(res, sort_keys=True))
    for kind in ("direct", "vmalloc"):
        r = res[kind]
        assert r["read_ok"] == r["n"], (kind, r)
        assert r["read_stable"] >= r["n"] * 0.8 and r["read_equal"] == r["read_stable"], (kind, r)
    assert res["image"]["read_errors"] == {"ENXIO": res["image"]["n"]}, res["image"]
    assert res["vmalloc"]["mmap"] == {"EIO": min(20, res["vmalloc"]["n"])}, res["vmalloc"]
    want = _KMEM_MMAP_RAM[conf]
    for kind in ("direct", "image"):
        r = res[kind]
        assert r["mmap"] == {want: min(20, r["n"])}, (kind, r)
        if want == "ok":
            assert r["mmap_stable"] >= 15 and r["mmap_equal"] == r["mmap_stable"], (kind, r)
    mod = res["module_area"]
    if mod["mmap"] == "ok":
        assert mod["equals_phys_page"], mod


def test_510_devkmem_bench_and_churn() -> None:
    """The nopat guest: benchmarks.bench_live through mmap-devkmem (ratios printed,
    recorded in docs/live.md; speed targets live in the benchmark, not here), and
    ps during constant fork/exit: every run finishes, the tasks that lived through
    the churn are in every run, and tasks freed mid-walk are reported in one line."""
    run = _k510_run("devkmem-nopat")
    b = run["bench"].check().json()
    print("\n[5.10 devkmem-nopat] bench: " + json.dumps(b, sort_keys=True))
    assert b["reader"] == "mmap-devkmem"
    for part in ("ps", "ps_warm", "read_u64"):
        assert b[part]["kmemx_secs"] > 0 and b[part]["drgn_secs"] > 0, b
    res = run["churn"].check().json()
    assert res["reader"] == "mmap-devkmem"
    assert res["spawner"].get("forks", 0) > 50, res["spawner"]
    assert len(res["api"]) == 5 and len(res["cli"]) == 3
    assert all(r["ok"] for r in res["api"]), [r for r in res["api"] if not r["ok"]][:3]
    # exit status 3 (EXIT_INCOMPLETE): the rows are printed, with a warning per
    # task freed mid-walk; 0 when the run met none
    for r in res["cli"]:
        assert not r["timed_out"] and r["rows"] is not None, r
        assert r["rc"] == (3 if _kmemx_notes(r["stderr"]) else 0), (r["rc"], r["stderr"][-5:])
    w0, w1 = res["walks"]
    stable = {t["pid"] for t in w0} & {t["pid"] for t in w1}
    for i, r in enumerate(res["api"] + res["cli"]):
        missing = stable - set(r["pids"])
        assert not missing, f"run {i}: stable PIDs {sorted(missing)[:10]} missing"
    notes = [n for r in res["api"] for n in r["notes"]]
    notes += [n for r in res["cli"] for n in _kmemx_notes(r["stderr"])]
    print(f"[5.10 devkmem-nopat] churn: {res['spawner']}, {len(notes)} notes of freed "
          f"entries: {notes[:3]}")
    for n in notes:
        assert n.startswith("kmemx: warning: ") and "\n" not in n, n
        assert "Traceback" not in n
