"""Tests of the test bed itself: every variant agrees with the guest's /proc."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.slab import for_each_slab_cache, slab_cache_usage

from tests.fixtures.fixture import Fixture, comm_matches

pytestmark = pytest.mark.vmcore


def test_fixture_files(fixture: Fixture) -> None:
    for name in ("vmlinux", "manifest.json", "manifest-panic.json", "vmcore.elf",
                 "vmcore-panic.elf"):
        assert (fixture.root / name).stat().st_size > 0, name
    # Every variant that was skipped says why.
    for name, v in fixture.meta["variants"].items():
        assert v["ok"] or v.get("reason"), name


def test_manifest_workload(fixture: Fixture) -> None:
    m = fixture.manifest
    w = m["workload"]
    comms = [t["comm"] for t in m["tasks"]]
    workers = {c for c in comms if c.startswith("kmx-w") and "-t" not in c}
    assert len(workers) == w["workers"]
    threads = [t for t in m["tasks"] if t["pid"] != t["tgid"]]
    assert len(threads) == 2 * len(range(0, w["workers"], 10))
    assert m["uname"]["release"] == fixture.release
    assert any(mod["name"] == "dummy" for mod in m["modules"])
    assert any(mt["mountpoint"] == "/kmx" and mt["fstype"] == "tmpfs" for mt in m["mounts"])


def test_for_each_task_matches_manifest(fixture: Fixture, variant: str) -> None:
    prog = fixture.drgn_program(variant)
    manifest = fixture.manifest_for(variant)
    got = sorted((int(t.pid), int(t.real_parent.pid), t.comm.string_().decode())
                 for t in for_each_task(prog))
    want = sorted((t["pid"], t["ppid"], t["comm"]) for t in manifest["tasks"])
    assert [g[:2] for g in got] == [w[:2] for w in want]
    for (pid, _, gc), (_, _, wc) in zip(got, want):
        # /proc extends kernel thread names past task->comm's 15 bytes.
        assert comm_matches(gc, wc), pid


def test_kaslr_matches_kallsyms(fixture: Fixture, variant: str) -> None:
    prog = fixture.drgn_program(variant)
    for name, addr in fixture.manifest_for(variant)["kallsyms"].items():
        assert prog.symbol(name).address == addr, name


def _percpu_slab_objects(prog: Any, cache: Any) -> int:
    """Objects of every CPU's active slab and per-CPU partial slabs of ``cache``
    (``c->page`` before 5.17, ``c->slab`` since); 0 without per-CPU slabs (7.0)."""
    from drgn.helpers.linux.cpumask import for_each_possible_cpu
    from drgn.helpers.linux.percpu import per_cpu_ptr

    try:
        cpu_slab = cache.cpu_slab
    except AttributeError:
        return 0
    n = 0
    for cpu in for_each_possible_cpu(prog):
        c = per_cpu_ptr(cpu_slab, cpu)
        slab = c.slab.read_() if hasattr(c, "slab") else c.page.read_()
        if slab:
            n += int(slab.objects)
        p = c.partial.read_() if hasattr(c, "partial") else None
        for _ in range(10000):
            if not p:
                break
            n += int(p.objects)
            p = p.next.read_()
    return n


def test_slab_usage_close_to_slabinfo(fixture: Fixture) -> None:
    """drgn's slab_cache_usage against /proc/slabinfo, read ~2 s before the dump.

    Two explained differences:

    * SLUB's /proc/slabinfo counts free objects only on the node partial
      lists; free objects in per-CPU slabs and per-CPU partial slabs count as
      active.  drgn counts them exactly, so /proc's active_objs may exceed
      drgn's by at most the capacity of those slabs:
      ncpus * objperslab * (1 + cpu_partial_slabs).
    * /proc/slabinfo was read while the workload process ran (its /proc
      walk's dentries, inodes, seq_file buffers, pde_openers), objects freed
      before the dump, but the slabs those allocations opened (one per CPU)
      may stay: 64 objects + 2% + one slab per CPU absorbs that churn.
    """
    from drgn.helpers.linux.cpumask import num_online_cpus
    from drgn.helpers.linux.nodemask import for_each_online_node

    prog = fixture.prog
    ncpus = num_online_cpus(prog)
    want = {s["name"]: s for s in fixture.manifest["slabinfo"]}
    seen = 0
    for cache in for_each_slab_cache(prog):
        name = cache.name.string_().decode()
        if name not in want:
            continue
        usage = slab_cache_usage(cache)
        w = want[name]
        noise = 64 + w["num_objs"] // 50 + ncpus * w["objperslab"]
        if name == "filp":
            # the manifest writer opened and closed a /proc file of every task just
            # before reading slabinfo; fput() frees them after an RCU grace period,
            # and their slabs may be gone at the dump (5.10: 912 vs 784)
            per = max(1, w["objperslab"])
            noise += -(-len(fixture.manifest["tasks"]) // per) * per
        try:
            cpu_partial = int(cache.cpu_partial_slabs)
        except AttributeError:
            try:  # before 5.16 the limit was in objects
                cpu_partial = int(cache.cpu_partial) // max(1, w["objperslab"])
            except AttributeError:  # 7.0 removed the per-CPU slabs (32c894c7274b)
                cpu_partial = -1
        percpu = ncpus * w["objperslab"] * (1 + cpu_partial)
        try:  # 6.18+ (2d517aa09bbc): /proc counts the objects in sheaves as active,
            # drgn as free: each CPU's main and spare sheaf, and the sheaves each
            # node's barn holds (full or empty at the dump: /proc was read earlier)
            cap = int(cache.sheaf_capacity)
            percpu += ncpus * 2 * cap
            for node in for_each_online_node(prog):
                barn = cache.per_node[node].barn
                if barn:
                    percpu += (int(barn.nr_full) + int(barn.nr_empty)) * cap
        except AttributeError:
            pass
        # before 5.16 the limit counted free objects when a slab joined the
        # per-CPU partial list (page->pobjects), so the list can hold more slabs:
        # then the objects of the per-CPU slabs, counted here, bound it
        percpu = max(percpu, _percpu_slab_objects(prog, cache))
        assert abs(usage.num_objs - w["num_objs"]) <= noise, name
        assert -noise <= w["active_objs"] - usage.active_objs <= percpu + noise, name
        seen += 1
    assert seen >= len(want) * 0.9


def test_panic_dump_has_crashed_thread(fixture: Fixture) -> None:
    prog = fixture.drgn_program("panic")
    thread = prog.crashed_thread()
    assert thread.object.comm.string_() == b"kmx-crasher"
    names = [f.name for f in prog.stack_trace(thread.object) if f.name]
    assert "sysrq_handle_crash" in names


def test_negative_fixture_is_refused_by_drgn(fixture: Fixture) -> None:
    import drgn

    prog = drgn.Program()
    if fixture.meta.get("arch", "amd64") == "arm64":
        # drgn recognizes QEMU's dumps without VMCOREINFO on x86-64 only: an arm64
        # one opens as a user-space core, which is no kernel and takes no vmlinux
        prog.set_core_dump(str(fixture.core("novmcoreinfo")))
        assert not prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL
        with pytest.raises(drgn.BadDataError, match="NT_AUXV"):
            prog.load_debug_info([str(fixture.vmlinux)])
        return
    with pytest.raises(ValueError, match="unrecognized QEMU memory dump"):
        prog.set_core_dump(str(fixture.core("novmcoreinfo")))


def test_guest_that_never_reaches_ready(fixture: Fixture, tmp_path: Path) -> None:
    """A guest whose workload never prints READY: one line with the console tail."""
    from tests.fixtures.builder import guest_busybox
    from tests.fixtures.errors import BuildError
    from tests.fixtures.qemu import boot_and_dump

    arch = str(fixture.meta.get("arch", "amd64"))
    busybox = guest_busybox(arch, fixture.root.parent) or "/bin/busybox"
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(busybox, root / "bin" / "busybox")
    init = root / "init"
    init.write_text("#!/bin/busybox sh\n/bin/busybox echo KMX-STUCK-GUEST\n"
                    "while true; do /bin/busybox sleep 3600; done\n")
    init.chmod(0o755)
    cpio = tmp_path / "initrd.cpio"
    files = subprocess.run(["find", "."], cwd=root, capture_output=True, text=True).stdout
    with open(cpio, "wb") as f:
        subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=files.encode(),
                       stdout=f, check=True)
    # an arm64 guest under TCG reaches /init in ~13 s on an idle machine, 110 s at load 20
    timeout = 25 if arch == "amd64" else 180
    with pytest.raises(BuildError, match=rf"did not reach READY within {timeout}s; console "
                                         r"tail: .*KMX-STUCK-GUEST") as e:
        boot_and_dump(fixture.root / "vmlinuz", cpio, tmp_path / "dump", tmp_path,
                      timeout=timeout, arch=arch)
    assert "\n" not in str(e.value)
