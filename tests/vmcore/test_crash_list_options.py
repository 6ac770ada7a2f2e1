"""``list``'s crash options beyond -H/-h/-o/-s/-r (issue 15): ``-S``, ``-x``,
``-d``, ``-e END``, ``-O HEAD_OFFSET``, ``-l OFFSET``, ``-B``, ``-r`` alone and
an empty list's ``(empty)``, and ``tree -p`` (a maple tree's entries
numbered with their slot paths; an rbtree's and an xarray's positions
without -s), each against crash 8.0.6's output of the same command on the
test bed's ELF dump, line for line (trailing blanks aside).

crash prints a list's addresses without a header; so does kmemx (``--json``
rows are unchanged: ``address`` and one key per member)."""

from __future__ import annotations

from functools import cached_property

import pytest

from tests.vmcore.crash_session import CrashSession, crash_session_fixture

pytestmark = pytest.mark.vmcore


class Session(CrashSession):

    @cached_property
    def addr(self) -> dict[str, int]:
        from drgn.helpers.linux.list import list_empty, list_for_each
        from drgn.helpers.linux.pid import for_each_task

        prog = self.k.prog
        init = prog["init_task"]
        links = [n.value_() for n in list_for_each(init.tasks.address_of_())]
        leaf = next(t for t in for_each_task(prog)
                    if t.pid > 2 and list_empty(t.children.address_of_()))
        from drgn.helpers.linux.pid import find_task

        task1 = find_task(prog, 1)
        try:  # VMAs in a maple tree since 6.1 (d4af56c5c7c6); no maple cases before
            mm_mt = task1.mm.mm_mt.address_
        except AttributeError:
            mm_mt = None
        return {"init": init.address_, "tasks": init.tasks.address_,
                "mm_mt": mm_mt,
                "mapping": task1.mm.exe_file.f_mapping.value_(),
                "modules": prog["modules"].address_,
                # -e: the fifth link from the end of init_task.tasks
                "end": links[-5], "leaf": leaf.value_(),
                "leaf children": leaf.children.address_}

    @cached_property
    def commands(self) -> dict[str, str]:
        a = self.addr
        mods = f"-H {a['modules']:x} -o module.list"
        lines = {
            "-S": f"list {mods} -S module.name,state,refcnt,init",
            "-x -S": f"list {mods} -x -S module.name,state,refcnt,init",
            "-x -s": f"list {mods} -x -s module.state,refcnt",
            "-d -s": f"list {mods} -d -s module.refcnt",
            "-e chain": f"list {a['modules']:x} -e {a['modules']:x}",
            "-e -H": f"list -H {a['tasks']:x} -o task_struct.tasks -e {a['end']:x}",
            "-e -r -h": f"list -r -h -o task_struct.tasks -e {a['end']:x} {a['init']:x}",
            "-O": (f"list -h {a['init']:x} -O task_struct.children -o task_struct.sibling "
                   "-s task_struct.pid,comm"),
            "-O empty": (f"list -h {a['leaf']:x} -O task_struct.children "
                         "-o task_struct.sibling"),
            "-H empty": f"list -H {a['leaf children']:x}",
            "-l -s": f"list -l task_struct.tasks -s task_struct.pid,comm {a['tasks']:x}",
            "-l -S": f"list -l task_struct.tasks -S task_struct.pid,comm {a['tasks']:x}",
            "-B -h": f"list -B -h {a['init']:x} -o task_struct.tasks",
            "-B -H -S": f"list -B {mods} -S module.name",
            "-r": f"list -r -o task_struct.tasks {a['init']:x}",
            "plain": f"list {mods}",
            "-e 0": f"list {mods} -e 0",
            "two -s": f"list {mods} -s module.name -s module.state",
            "two -S": f"list {mods} -S module.state -S module.refcnt,init",
            "-O -H": f"list -H {a['modules']:x} -O 8",
            "tree rbtree -p": "tree -p -t rbtree -o vmap_area.rb_node free_vmap_area_root",
            "tree xarray -p": f"tree -t xarray -p -r address_space.i_pages {a['mapping']:x}",
        }
        if a["mm_mt"] is not None:
            mt = f"{a['mm_mt']:x}"
            lines.update({
                "tree maple -p": f"tree -t maple -p {mt}",
                "tree maple -p -s": f"tree -t maple -p -s vm_area_struct.vm_start,vm_end {mt}",
                "tree maple -p -x -S": f"tree -t maple -p -x -S vm_area_struct.vm_start {mt}"})
        return lines


s = crash_session_fixture(Session)


def _lines(text: str) -> list[str]:
    out = [x.rstrip() for x in text.splitlines()]
    while out and not out[-1]:
        out.pop()
    return out


@pytest.mark.parametrize("key", ["-S", "-x -S", "-x -s", "-d -s", "-e chain", "-e -H",
                                 "-e -r -h", "-O", "-O empty", "-H empty", "-l -s", "-l -S",
                                 "-B -h", "-B -H -S", "-r", "plain", "-e 0", "-O -H",
                                 "two -s", "two -S",
                                 "tree maple -p",
                                 "tree maple -p -s", "tree maple -p -x -S", "tree rbtree -p",
                                 "tree xarray -p"])
def test_list_option_is_crash(s: Session, key: str) -> None:
    if key.startswith("tree maple") and s.addr["mm_mt"] is None:
        pytest.skip("no maple trees before 6.1 (d4af56c5c7c6: VMAs in mm_struct.mm_mt)")
    line = s.commands[key]
    theirs = _lines(s.crash[key])
    assert theirs and not any(x.startswith(("list:", "tree:")) for x in theirs), theirs[:3]
    assert _lines(s.text(line)) == theirs


def test_json_rows(s: Session) -> None:
    """``--json``: -l's rows are the links crash prints, their members the
    structures'; -B's rows are the hash walk's; an empty list gives no rows."""
    rows = s.json(s.commands["-l -s"])
    assert rows[0]["address"] == hex(s.addr["tasks"])  # START itself: init_task's link
    assert rows[0]["pid"] == 0 and rows[0]["comm"] == "swapper/0"
    assert [int(r["address"], 16) for r in rows] == [
        int(x, 16) for x in _lines(s.crash["-l -s"]) if not x.startswith(" ")]
    assert s.json(s.commands["-B -h"]) == s.json(s.commands["-B -h"].replace("-B ", ""))
    assert s.json(s.commands["-O empty"]) == [] == s.json(s.commands["-H empty"])


def test_options_that_exclude_each_other(s: Session) -> None:
    """crash's refusals: -s with -S, -l without -s/-S, -l with -o.  One line
    each, no rows.  (crash ignores -O without -h, as kmemx: "-O -H" above.)"""
    from kmemx.commands import CommandError, execute

    a = s.addr
    for line, message in [
            (f"list -H {a['modules']:x} -s module.name -S module.name", "mutually exclusive"),
            (f"list -l task_struct.tasks {a['tasks']:x}", "only be used with -s or -S"),
            (f"list -o 8 -l 8 -s task_struct.pid {a['tasks']:x}", "mutually exclusive"),
            (f"list -H {a['modules']:x} -o module.list -s module.name -s task_struct.pid",
             "several -s options must each name members of one structure"),
            ]:
        with pytest.raises(CommandError, match=message):
            list(execute(s.k, line))

