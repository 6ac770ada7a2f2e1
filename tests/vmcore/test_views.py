"""Views and walkers on real dumps, member by member against drgn."""

from __future__ import annotations

from typing import Any

import drgn
import pytest
from drgn import TypeKind
from drgn.helpers.linux.fs import for_each_mount
from drgn.helpers.linux.list import list_for_each_entry as drgn_list_for_each_entry
from drgn.helpers.linux.module import for_each_module
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.rbtree import rbtree_inorder_for_each_entry as drgn_rb
from drgn.helpers.linux.slab import for_each_slab_cache
from drgn.helpers.linux.xarray import xa_for_each as drgn_xa_for_each

import kmemx
from kmemx.helpers import (
    hlist_for_each_entry,
    list_for_each_entry,
    list_for_each_entry_reverse,
    rbtree_inorder_for_each_entry,
    read_struct_array,
    xa_for_each,
)
from kmemx.types import ArrayView, EnumValue, FunctionPointer, PointerView, View, container_of
from kmemx.types.layout import strip
from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore


@pytest.fixture(scope="module")
def k(fixture: Fixture) -> kmemx.Kernel:
    return kmemx.open(fixture.core("elf"), fixture.vmlinux)


def _compare(view_val: Any, obj: drgn.Object, depth: int, path: str) -> int:
    """Compare a view value with the drgn Object; returns the number of leaves checked."""
    t = strip(obj.type_)
    if t.kind in (TypeKind.STRUCT, TypeKind.UNION):
        assert isinstance(view_val, View), path
        assert view_val.address == obj.address_, path
        if depth == 0:
            return 1
        n = 0
        for m in t.members or ():
            if m.name is None:
                continue
            try:
                sub = obj.member_(m.name)
            except (LookupError, drgn.FaultError):
                continue
            expected_fault = False
            try:
                sub.read_()
            except drgn.FaultError:
                expected_fault = True
            except TypeError:  # incomplete array (flexible array member)
                pass
            if expected_fault:
                with pytest.raises(drgn.FaultError):
                    _compare(view_val.member(m.name), sub, 0, path)
                continue
            n += _compare(view_val.member(m.name), sub, depth - 1, f"{path}.{m.name}")
        return n
    if t.kind == TypeKind.ARRAY:
        assert isinstance(view_val, ArrayView), path
        assert view_val.address == obj.address_, path
        if t.length:
            assert len(view_val) == t.length
            if strip(t.type).kind == TypeKind.INT and drgn.sizeof(t.type) == 1:
                assert view_val.string() == obj.string_(), path
            for i in (0, t.length - 1):
                _compare(view_val[i], obj[i], 0, f"{path}[{i}]")
        return 1
    if t.kind == TypeKind.POINTER:
        assert int(view_val.value() if isinstance(view_val, (View, PointerView))
                   else view_val) == obj.value_(), path
        target = strip(t.type).kind
        if target in (TypeKind.STRUCT, TypeKind.UNION):
            assert isinstance(view_val, View) and bool(view_val) == bool(obj.value_())
        elif target == TypeKind.FUNCTION:
            assert isinstance(view_val, FunctionPointer)
        return 1
    if t.kind == TypeKind.ENUM:
        assert isinstance(view_val, EnumValue) and int(view_val) == obj.value_(), path
        return 1
    if t.kind == TypeKind.BOOL:
        assert view_val is obj.value_(), path
        return 1
    if t.kind in (TypeKind.INT, TypeKind.FLOAT):
        assert view_val == obj.value_(), path
        return 1
    return 0


def _instances(fixture: Fixture, prog: drgn.Program) -> dict[str, list[drgn.Object]]:
    tasks = list(for_each_task(prog))
    mms = [t.mm for t in tasks if t.mm][:5]
    sbs = list(drgn_list_for_each_entry("struct super_block", prog["super_blocks"].address_of_(),
                                        "s_list"))
    inodes = []
    for sb in sbs[:6]:
        inodes += list(drgn_list_for_each_entry("struct inode", sb.s_inodes.address_of_(),
                                                "i_sb_list"))[:2]
    dentries = [i.i_sb.s_root for i in inodes[:4] if i.i_sb.s_root]
    files = []
    for t in tasks:
        if t.comm.string_().startswith(b"kmx-w"):
            fdt = t.files.fdt
            for fd in range(int(fdt.max_fds)):
                f = fdt.fd[fd]
                if f:
                    files.append(f)
            if len(files) >= 5:
                break
    vmemmap = drgn.Object(prog, "struct page *", int(prog["vmemmap"]))
    ram = int(prog["min_low_pfn"])  # 0 on x86-64; arm64 RAM starts higher
    pages = [vmemmap[ram + pfn] for pfn in (0x1000, 0x2000, 0x3000)]
    return {
        "task_struct": tasks[:3] + tasks[-3:],
        "mm_struct": [m[0] for m in mms],
        "kmem_cache": list(for_each_slab_cache(prog))[:5],
        "super_block": sbs[:5],
        "inode": inodes[:6],
        "dentry": [d[0] for d in dentries],
        "module": list(for_each_module(prog)),
        "file": [f[0] for f in files[:5]],
        "page": pages,
        "cred": [t.cred[0] for t in tasks[:3]],
    }


def test_members_depth2_equal_drgn(fixture: Fixture, k: kmemx.Kernel) -> None:
    prog = k.prog
    total = 0
    for name, objs in _instances(fixture, prog).items():
        assert objs, name
        for obj in objs:
            if strip(obj.type_).kind == TypeKind.POINTER:
                obj = obj[0]
            v = k.view(f"struct {name}", obj.address_)
            total += _compare(v, obj, 2, name)
    assert total > 3000


def test_roundtrip_drgn(k: kmemx.Kernel) -> None:
    it = k.object("init_task")
    obj = it.to_drgn()
    assert obj.address_ == it.address and obj.type_.type_name() == "struct task_struct"
    back = kmemx.view(obj)
    assert back == it
    ptr = it.real_parent
    assert kmemx.view(ptr.to_drgn()) == ptr
    assert kmemx.view(k.prog["init_task"].real_parent).pid == 0


def test_view_basics(k: kmemx.Kernel) -> None:
    it = k.object("init_task")
    assert k.sizeof("struct task_struct") == k.prog.type("struct task_struct").size
    assert k.offsetof("struct task_struct", "se.vruntime") == drgn.offsetof(
        k.prog.type("struct task_struct"), "se.vruntime")
    assert it.comm.string() == b"swapper/0"
    assert it.real_parent.deref() == it
    assert not it.mm and it.mm.value() == 0
    assert isinstance(it.sched_class, View) and it.sched_class
    first = container_of(it.tasks.next, "struct task_struct", "tasks")
    assert first.pid == 1
    assert "swapper/0" in str(it.comm) and ".pid = (pid_t)0" in str(it)
    assert repr(it).startswith("<struct task_struct at 0x")


def test_unknown_names(k: kmemx.Kernel) -> None:
    it = k.object("init_task")
    with pytest.raises(AttributeError, match="did you mean pid"):
        _ = it.pidd
    with pytest.raises(kmemx.UnknownNameError, match="did you mean struct task_struct"):
        k.view("struct task_strct", 0)
    with pytest.raises(kmemx.UnknownNameError, match=r"unknown symbol 'init_tsk'.*init_task"):
        k.object("init_tsk")
    bad = 0xDEAD000000000100  # LIST_POISON-style, non-canonical
    with pytest.raises(drgn.FaultError) as e:
        _ = k.view("struct task_struct", bad).pid
    want = bad + k.offsetof("struct task_struct", "pid")
    if k.prog.platform.arch == drgn.Architecture.AARCH64:
        # drgn reads arm64 addresses untagged (TBI: bit 55 sign-extended into
        # the top byte, untagged_addr_aarch64()) and names that address
        want = (want & ((1 << 56) - 1)) | (0xFF << 56 if want >> 55 & 1 else 0)
    assert e.value.address == want


def test_walkers_match_drgn(fixture: Fixture, k: kmemx.Kernel) -> None:
    prog = k.prog
    it = k.object("init_task")
    assert [t.address for t in list_for_each_entry("struct task_struct", it.tasks, "tasks")] == \
        [t.value_() for t in drgn_list_for_each_entry(
            "struct task_struct", prog["init_task"].tasks.address_of_(), "tasks")]
    rev = [t.address for t in list_for_each_entry_reverse("struct task_struct", it.tasks,
                                                          "tasks")]
    fwd = [t.address for t in list_for_each_entry("struct task_struct", it.tasks, "tasks")]
    assert rev == fwd[::-1]
    mods = [m.address for m in list_for_each_entry("struct module", k.object("modules"), "list")]
    assert mods == [m.value_() for m in for_each_module(prog)]
    sbs = list(list_for_each_entry("struct super_block", k.object("super_blocks"), "s_list"))
    for sb in sbs:
        got = [i.i_ino for i in list_for_each_entry("struct inode", sb.s_inodes, "i_sb_list")]
        want = [int(i.i_ino) for i in drgn_list_for_each_entry(
            "struct inode", drgn.Object(prog, "struct super_block", address=sb.address)
            .s_inodes.address_of_(), "i_sb_list")]
        assert got == want
    # rbtree: the vmap area tree (vmap_area_root; per-node busy trees since 6.9)
    try:
        root = prog["vmap_area_root"].address_of_()
    except KeyError:
        root = prog["vmap_nodes"][0].busy.root.address_of_()
    got_va = [v.address for v in rbtree_inorder_for_each_entry("struct vmap_area", root,
                                                               "rb_node")]
    want_va = [v.value_() for v in drgn_rb("struct vmap_area", root, "rb_node")]
    assert got_va == want_va and len(got_va) > 10
    from drgn.helpers.linux.mm import for_each_vmap_area as drgn_vmap_areas

    from kmemx.helpers.vmalloc import for_each_vmap_area

    assert sorted(v.address for v in for_each_vmap_area(k)) == sorted(
        v.value_() for v in drgn_vmap_areas(prog))
    # xarray: the pid IDR of the init pid namespace
    idr = k.object("init_pid_ns").idr
    got_xa = list(xa_for_each(idr.idr_rt))
    want_xa = [(i, e.value_()) for i, e in drgn_xa_for_each(
        prog["init_pid_ns"].idr.idr_rt.address_of_())]
    assert got_xa == want_xa and len(got_xa) >= len(fixture.manifest["tasks"]) - 10
    # hlist: each task is on its struct pid's tasks[PIDTYPE_PID] hlist
    from drgn.helpers.linux.list import hlist_for_each_entry as drgn_hlist

    n = 0
    for t in list_for_each_entry("struct task_struct", it.tasks, "tasks"):
        head = t.thread_pid.tasks[0]
        got = [x.address for x in hlist_for_each_entry("struct task_struct", head,
                                                         "pid_links[0]")]
        want = [x.value_() for x in drgn_hlist("struct task_struct", head.to_drgn().address_of_(),
                                               "pid_links[0]")]
        assert got == want and t.address in got
        n += 1
    assert n > 100
    assert sum(1 for _ in for_each_mount(prog)) >= len(fixture.manifest["mounts"])


def test_bulk_read_pages(k: kmemx.Kernel) -> None:
    vmemmap = int(k.prog["vmemmap"])
    first = int(k.prog["min_low_pfn"]) + 0x1000  # arm64 RAM starts above pfn 0
    # a scalar member: page->flags became memdesc_flags_t (a struct) in 7.x
    from kmemx.helpers.bulk import numpy_dtype

    scalars = numpy_dtype(k.prog, "struct page").names or ()
    name = next(m for m in ("flags", "index", "private") if m in scalars)
    arr = read_struct_array(k, "struct page", vmemmap + first * 64, 512, [name])
    page_t = k.prog.type("struct page *")
    for i in (0, 100, 511):
        assert int(arr[name][i]) == int(
            drgn.Object(k.prog, page_t, vmemmap)[first + i].member_(name))


def test_anonymous_struct_layouts_are_cached_once(k: kmemx.Kernel) -> None:
    """atomic_long_t is an anonymous struct: one layout and one view class per
    program however often it is looked up (drgn gives new Type objects)."""
    from kmemx.types.layout import layout_for

    a = layout_for(k.prog, k.prog.type("atomic_long_t"))
    assert layout_for(k.prog, k.prog.type("atomic_long_t")) is a
    assert layout_for(k.prog, k.prog.type("atomic_t")) is not a  # another anonymous struct
    v1, v2 = k.object("_totalram_pages"), k.object("_totalram_pages")
    assert type(v1) is type(v2) and v1.counter == v2.counter > 0
    n = len(k.prog.cache["kmemx.types.layouts"])
    for _ in range(10):
        k.object("_totalram_pages").counter  # noqa: B018
    assert len(k.prog.cache["kmemx.types.layouts"]) == n


def test_c_and_python_member_reads_agree(k: kmemx.Kernel) -> None:
    """The C descriptors (when built) and the Python getters read the same."""
    from kmemx.types.view import _compile_member

    for t in list(for_each_task(k.prog))[:50]:
        v = k.view("struct task_struct", t.value_())
        for name in ("pid", "tgid", "flags", "prio", "exit_state", "on_cpu", "real_parent",
                     "mm", "sched_class", "policy", "in_execve"):
            py = _compile_member(type(v).value_class, name)(v)
            assert getattr(v, name) == py, name
