"""Built-in commands on real dumps, against the guest's /proc and drgn."""

from __future__ import annotations

import json
import random
from typing import Any

import drgn
import pytest
from drgn.helpers.common.memory import identify_address as drgn_identify
from drgn.helpers.linux.pid import find_task
from drgn.helpers.linux.printk import get_printk_records
from drgn.helpers.linux.sched import task_state_to_char
from drgn.helpers.linux.slab import (
    find_slab_cache as drgn_find_slab_cache,
)
from drgn.helpers.linux.slab import (
    for_each_slab_cache as drgn_for_each_slab_cache,
)
from drgn.helpers.linux.slab import (
    slab_cache_for_each_allocated_object,
)
from drgn.helpers.linux.slab import (
    slab_cache_usage as drgn_slab_cache_usage,
)

import kmemx
from kmemx.commands import CommandError, UsageError, execute
from tests.fixtures.fixture import Fixture, comm_matches
from tests.vmcore.regions import direct_map_base, kmalloc_cache, vmalloc_start

pytestmark = pytest.mark.vmcore

STATE = {"S": "IN", "R": "RU", "D": "UN", "I": "ID", "Z": "ZO", "T": "ST"}


@pytest.fixture(scope="module")
def kernels(fixture: Fixture) -> dict[str, kmemx.Kernel]:
    return {v: kmemx.open(fixture.core(v), fixture.vmlinux)
            for v in ("elf", "kdump", "kdump-d31", "panic") if fixture.has(v)}


def run_json(k: kmemx.Kernel, line: str) -> list[dict[str, Any]]:
    out = "\n".join(execute(k, line + " --json"))
    data: list[dict[str, Any]] = json.loads(out[:out.rindex("]") + 1])
    return data


def test_ps_ppid_is_task_parent(fixture: Fixture, kernels: dict[str, kmemx.Kernel]) -> None:
    """PPID is ``task->parent->pid`` as crash's ps (task.c task_struct_parent)
    and drgn's crash ps (``task.parent.pid``) print it, for every task; the
    manifest's /proc PPid (``real_parent``) equals it only while no task is
    ptraced, which the test bed's workload never does."""
    from drgn import Object

    prog = fixture.drgn_program("elf")
    rows = run_json(kernels["elf"], "ps")
    assert rows
    for r in rows:
        t = Object(prog, "struct task_struct *", int(r["task"], 16))
        want = t.parent.pid.value_() if r["pid"] else 0
        assert r["ppid"] == want, r


@pytest.mark.parametrize("v", ["elf", "kdump", "panic"])
def test_ps_matches_manifest(fixture: Fixture, kernels: dict[str, kmemx.Kernel], v: str) -> None:
    if v not in kernels:
        pytest.skip(fixture.skip_reason(v))
    rows = run_json(kernels[v], "ps")
    manifest = fixture.manifest_for(v)["tasks"]
    got = {r["pid"]: r for r in rows if r["pid"] != 0}
    want = {t["pid"]: t for t in manifest}
    assert sorted(got) == sorted(want)
    prog = fixture.drgn_program(v)
    moved = []
    for pid, t in want.items():
        r = got[pid]
        assert r["ppid"] == t["ppid"], pid
        assert comm_matches(r["comm"], t["comm"]), pid
        if r["st"] != STATE[t["state"]]:
            moved.append(pid)
            # Written exception: /proc was read a moment before the dump, and
            # a kernel thread (rcu_preempt, kcompactd...) may have woken or
            # slept since. Only kernel threads, only a few, and kmemx must
            # then agree with drgn's task_state_to_char() at dump time.
            task = find_task(prog, pid)
            assert task.flags.value_() & 0x00200000, (pid, r["st"], t["state"])  # PF_KTHREAD
            assert r["st"] == STATE[task_state_to_char(task)], (pid, r["st"])
    # a few: 3, or 1 in 40 tasks (7.2 arm64 under TCG: 6 of 300 kernel threads
    # moved between the /proc read and the panic)
    assert len(moved) <= max(3, len(want) // 40), moved
    # one idle task per CPU, as crash shows them
    idle = [r for r in rows if r["pid"] == 0]
    assert [r["cpu"] for r in idle] == list(range(len(idle))) and idle


def test_ps_filters(kernels: dict[str, kmemx.Kernel], fixture: Fixture) -> None:
    k = kernels["elf"]
    rows = run_json(k, "ps kmx-w001")
    assert [r["comm"] for r in rows] == ["kmx-w001"]
    kthreads = run_json(k, "ps -k")
    users = run_json(k, "ps -u")
    assert len(kthreads) + len(users) == len(run_json(k, "ps"))
    assert all(r["vsz"] == 0 for r in kthreads)
    assert all(r["pid"] == r["pid"] for r in users)
    leaders = run_json(k, "ps -G")
    threads = [t for t in fixture.manifest["tasks"] if t["pid"] != t["tgid"]]
    assert len(leaders) == len(run_json(k, "ps")) - len(threads)
    piped = list(execute(k, "ps | filter comm~^kmx-w00[0-4]$ | count"))
    assert piped[-1].strip() == "5"
    with pytest.raises(CommandError, match="no task with PID"):
        list(execute(k, "ps 99999"))
    # a typo in filter's value is filter's usage error, not ps's internal error
    with pytest.raises(UsageError, match=r"^filter: pid is a number; '>3' is not$"):
        list(execute(k, "ps | filter pid>>3"))
    with pytest.raises(UsageError, match=r"^filter: bad regular expression '\['"):
        list(execute(k, "ps | filter comm~["))


def test_pstree_has_worker_tree(kernels: dict[str, kmemx.Kernel]) -> None:
    rows = run_json(kernels["elf"], "pstree")
    by_pid = {r["pid"]: r for r in rows}
    w = {r["comm"]: r for r in rows if str(r["comm"]).startswith("kmx-w")}
    # worker i is the parent of workers 2i+1 and 2i+2
    assert w["kmx-w001"]["ppid"] == w["kmx-w000"]["pid"]
    assert w["kmx-w002"]["ppid"] == w["kmx-w000"]["pid"]
    assert w["kmx-w010"]["ppid"] == w["kmx-w004"]["pid"]
    assert by_pid[w["kmx-w010"]["pid"]]["depth"] == by_pid[w["kmx-w004"]["pid"]]["depth"] + 1


def test_task_and_bt(kernels: dict[str, kmemx.Kernel], fixture: Fixture) -> None:
    k = kernels["elf"]
    out = "\n".join(execute(k, "task 1 -m pid,comm"))
    assert "pid = (pid_t)1" in out or "pid = 1" in out
    assert "COMMAND: \"init\"" in out
    panic = kernels["panic"]
    bt = "\n".join(execute(panic, "bt"))
    assert "kmx-crasher" in bt and "sysrq_handle_crash" in bt and "panic" in bt
    with pytest.raises(CommandError, match="no task with PID 424242"):
        list(execute(k, "task 424242"))


def test_files(kernels: dict[str, kmemx.Kernel], fixture: Fixture) -> None:
    k = kernels["elf"]
    pid = next(t["pid"] for t in fixture.manifest["tasks"] if t["comm"] == "kmx-w005")
    rows = run_json(k, f"files {pid}")
    paths = [r["path"] for r in rows]
    assert "/kmx/worker-005" in paths
    assert sum(1 for r in rows if r["type"] == "FIFO") >= 2  # its pipe


def test_slabinfo_equals_drgn(fixture: Fixture, kernels: dict[str, kmemx.Kernel]) -> None:
    """drgn's slab_cache_usage() counts objects freed by other CPUs onto a
    CPU's active slab (its slab->freelist) as active; crash and kmemx count
    them free: the difference is each CPU slab's objects - inuse."""
    from drgn.helpers.linux.percpu import per_cpu_ptr

    prog = fixture.prog
    rows = {r["name"]: r for r in run_json(kernels["elf"], "slabinfo")}
    n = 0
    for c in drgn_for_each_slab_cache(prog):
        u = drgn_slab_cache_usage(c)
        remote = 0
        # 7.0 removed the per-CPU slabs (32c894c7274b "slab: remove struct kmem_cache_cpu")
        cpu_slabs = c.type_.type.has_member("cpu_slab")
        for cpu in range(prog["nr_cpu_ids"].value_()) if cpu_slabs else ():
            cs = per_cpu_ptr(c.cpu_slab, cpu)
            slab = cs.slab if hasattr(cs, "slab") else cs.page
            if slab:
                remote += slab.objects.value_() - slab.inuse.value_()
        r = rows[c.name.string_().decode()]
        assert (r["num_objs"], r["active_objs"]) == (u.num_objs, u.active_objs - remote), \
            r["name"]
        assert r["cache"] == hex(c.value_())
        n += 1
    assert n == len(rows) > 100


@pytest.mark.parametrize("cache", ["dentry", "inode_cache", "shmem_inode_cache", "task_struct",
                                   "kmalloc-64", "kmalloc-1k"])
def test_slab_objects_equal_drgn(fixture: Fixture, kernels: dict[str, kmemx.Kernel],
                                 cache: str) -> None:
    if cache.startswith("kmalloc-"):  # the dump's cache of that size (arm64 6.1: no kmalloc-64)
        cache = kmalloc_cache(fixture.prog, int(cache[8:-1]) << 10 if cache.endswith("k")
                              else int(cache[8:]))
    got = [int(r["address"], 16) for r in run_json(kernels["elf"], f"slab {cache}")]
    c = drgn_find_slab_cache(fixture.prog, cache)
    want = sorted(o.value_() for o in slab_cache_for_each_allocated_object(c, "void"))
    assert got == want and got


def test_kmem_agrees_with_drgn(fixture: Fixture, kernels: dict[str, kmemx.Kernel]) -> None:
    """3,000 addresses: slab objects (allocated and free), stacks, pages, symbols, vmap."""
    from kmemx.helpers.identify import identify_address

    k = kernels["elf"]
    prog = fixture.prog
    rnd = random.Random(5)
    pob = direct_map_base(prog)
    min_pfn, max_pfn = int(prog["min_low_pfn"]), int(prog["max_pfn"])  # arm64 RAM starts high
    dentries = [int(r["address"], 16) for r in run_json(k, "slab dentry")]
    free = [int(r["address"], 16) for r in run_json(k, "slab dentry --free")]
    addrs = [rnd.choice(dentries) + rnd.randrange(192) for _ in range(800)]
    addrs += [rnd.choice(free) + rnd.randrange(192) for _ in range(200)] if free else []
    addrs += [pob + (min_pfn << 12) + rnd.randrange((max_pfn - min_pfn) << 12)
              for _ in range(1000)]
    addrs += [int(prog["vmemmap"]) + min_pfn * 64 + rnd.randrange((max_pfn - min_pfn) * 64)
              for _ in range(300)]
    text = prog.symbol("_text").address
    addrs += [text + rnd.randrange(16 << 20) for _ in range(300)]
    addrs += [vmalloc_start(prog) + rnd.randrange(1 << 28) for _ in range(400)]
    cache: dict[str, Any] = {}
    dcache: dict[Any, Any] = {}
    kinds = set()
    for a in addrs:
        mine = identify_address(k, a, cache)
        assert (str(mine) if mine else None) == drgn_identify(prog, a, cache=dcache), hex(a)
        if mine:
            kinds.add(mine.kind)
    assert {"slab", "page", "symbol"} <= kinds
    rows = run_json(k, "kmem " + " ".join(hex(a) for a in addrs[:50]))
    assert len(rows) == 50 and rows[0]["kind"] == "slab" and rows[0]["name"] == "dentry"


def test_log_has_markers(fixture: Fixture, kernels: dict[str, kmemx.Kernel]) -> None:
    text = "\n".join(execute(kernels["elf"], "log"))
    drgn_text = "\n".join(r.text.decode(errors="replace")
                          for r in get_printk_records(fixture.prog))
    assert "Linux version " + fixture.release in text
    for marker in fixture.manifest["markers"]:
        if marker not in drgn_text:
            pytest.xfail("the fixture's kernel log lacks the marker (drgn agrees); "
                         "rebuild the fixture")
        assert marker in text


def test_lsmod_and_mount_match_manifest(fixture: Fixture,
                                        kernels: dict[str, kmemx.Kernel]) -> None:
    k = kernels["elf"]
    mods = {r["name"]: r for r in run_json(k, "lsmod")}
    for m in fixture.manifest["modules"]:
        assert mods[m["name"]]["size"] == m["size"]
        assert int(mods[m["name"]]["base"], 16) == m["address"]
    mounts = {(r["dirname"], r["type"]) for r in run_json(k, "mount")}
    assert {(m["mountpoint"], m["fstype"]) for m in fixture.manifest["mounts"]} <= mounts


def test_sys(fixture: Fixture, kernels: dict[str, kmemx.Kernel]) -> None:
    info = {r["key"]: r["value"] for r in run_json(kernels["panic"], "sys")}
    assert info["RELEASE"] == fixture.release
    assert "sysrq triggered crash" in info["PANIC"]
    info = {r["key"]: r["value"] for r in run_json(kernels["elf"], "sys")}
    assert info["PANIC"] == ""


def test_filtered_dump_reports_missing_data(fixture: Fixture,
                                            kernels: dict[str, kmemx.Kernel]) -> None:
    """makedumpfile -d 31 drops free and user pages: commands say which data
    is missing and still print what they could."""
    if "kdump-d31" not in kernels:
        pytest.skip(fixture.skip_reason("kdump-d31"))
    k = kernels["kdump-d31"]
    rows = run_json(k, "ps")
    assert len(rows) >= len(fixture.manifest["tasks"])  # task data is kept by -d 31
    plain = fixture.drgn_program("kdump-d31")
    pob = direct_map_base(plain)
    rnd = random.Random(9)
    for _ in range(5000):
        addr = pob + (rnd.randrange(int(plain["min_low_pfn"]), int(plain["max_pfn"])) << 12)
        try:
            plain.read(addr, 8)
        except drgn.FaultError:
            break
    else:
        pytest.fail("no excluded page found")
    with pytest.raises(CommandError, match=f"address {addr:#x} is not readable"):
        list(execute(k, f"rd {addr:#x} 4"))
    # a struct dump of a task whose mm is excluded still prints the task
    lines = list(execute(k, f"list -H {addr:#x} -o 0"))
    assert any("warning" in ln and f"{addr:#x}" in ln for ln in lines)


def test_bad_input_is_one_line(kernels: dict[str, kmemx.Kernel]) -> None:
    k = kernels["elf"]
    for line, pattern in (("pss", "did you mean ps"), ("ps --kk", "did you mean"),
                          ("rd nosuchsym", "unknown symbol"), ("slab dentri", "did you mean dentry"),
                          ("struct task_strct 0", "did you mean struct task_struct"),
                          ("task 0xdead000000000000", "invalid task address")):
        with pytest.raises(kmemx.KmemxError, match=pattern) as e:
            list(execute(k, line))
        assert "\n" not in str(e.value)


def test_corrupt_object_is_reported_not_fatal(kernels: dict[str, kmemx.Kernel]) -> None:
    """A walk over many objects survives one bad object and reports it."""
    k = kernels["elf"]
    bad = "0xdead000000000000"
    lines = list(execute(k, f"echo 0xffffffffffff0000 {bad} | cast 'struct task_struct *' "
                            "| task -m pid"))
    assert any("warning" in ln and "0xdead000000000000" in ln for ln in lines)



def test_example_plugin_on_real_dump(fixture: Fixture, kernels: dict[str, kmemx.Kernel]) -> None:
    """docs/examples/kmx_threads.py, loaded as a third-party plugin file."""
    from pathlib import Path

    from kmemx.commands.discovery import _load_file

    loaded = _load_file(Path(__file__).resolve().parents[2] / "docs/examples/kmx_threads.py")
    assert loaded.ok, loaded.error
    rows = run_json(kernels["elf"], "threads --min 2")
    counts: dict[int, int] = {}
    for t in fixture.manifest["tasks"]:
        counts[t["tgid"]] = counts.get(t["tgid"], 0) + 1
    assert {r["tgid"]: r["threads"] for r in rows} == {g: n for g, n in counts.items() if n >= 2}


def test_ps_rss_bulk_read_matches_drgn(kernels: dict[str, kmemx.Kernel]) -> None:
    """ps's bulk read of the RSS counters (atomics, or percpu_counter_sum() on
    6.2+) equals drgn's per-member reads, task by task."""
    from drgn.helpers.linux.percpu import percpu_counter_sum
    from drgn.helpers.linux.pid import for_each_task

    from kmemx.helpers.mm import mm_rss_vm_reader

    k = kernels["elf"]
    read = mm_rss_vm_reader(k)
    checked = 0
    for t in for_each_task(k.prog):
        mm = t.mm
        if not mm:
            continue
        stat = mm.rss_stat
        try:
            values = [percpu_counter_sum(stat[i]) for i in (0, 1, 3)]  # 6.2+
        except (TypeError, LookupError, AttributeError):
            values = [stat.count[i].counter.value_() for i in (0, 1, 3)]
        want = sum(max(0, v) for v in values)
        assert read(mm.value_()) == (want, mm.total_vm.value_()), int(t.pid)
        checked += 1
    assert checked > 50
