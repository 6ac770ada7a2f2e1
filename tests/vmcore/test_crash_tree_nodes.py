"""``tree -N`` of xarrays, radix trees and maple trees, and ``tree -t idr
-p`` (issue 15): line for line crash 8.0.6's output of the same command on
the test bed's ELF dump.

With ``-N`` START is an ``xa_node`` (crash strips an internal entry's tag)
or an encoded maple node, and crash walks from there as from a root:
indices from 0 at the node, positions from ``root`` (xarray) or
``direct`` (maple).  kmemx's ``-t idr`` is crash's ``-t xarray -r
idr.idr_rt`` with the ids offset by ``idr_base`` (0 for the pid IDR)."""

from __future__ import annotations

from functools import cached_property

import drgn
import pytest

from kmemx.commands import CommandError
from tests.vmcore.crash_session import CrashSession, crash_session_fixture

pytestmark = pytest.mark.vmcore


def _child_node(prog: drgn.Program, node: int) -> int | None:
    """The first internal slot below ``xa_node`` ``node`` that is a node."""
    n = drgn.Object(prog, "struct xa_node", address=node)
    if not n.shift:
        return None
    for slot in n.slots:
        v = slot.value_()
        if v & 3 == 2 and v > 4096:
            return v - 2
    return None


class Session(CrashSession):

    @cached_property
    def addr(self) -> dict[str, int | None]:
        from drgn.helpers.linux.pid import find_task

        prog = self.k.prog
        idr = prog["init_pid_ns"].idr
        head = idr.idr_rt.xa_head.value_()
        assert head & 3 == 2, "the pid IDR has more than one entry: a node"
        mm = find_task(prog, 1).mm
        try:  # VMAs in a maple tree since 6.1 (d4af56c5c7c6)
            maple: int | None = mm.mm_mt.ma_root.value_()
            maple_tree: int | None = mm.mm_mt.address_
        except AttributeError:
            maple = maple_tree = None
        maple_child = None
        if maple is not None and (maple >> 3) & 0xF in (2, 3):  # a range or arange node
            node = drgn.Object(prog, "struct maple_node", address=maple & ~0xFF)
            body = node.ma64 if (maple >> 3) & 0xF == 3 else node.mr64
            maple_child = next((s.value_() for s in body.slot if s.value_()), None)
        return {"idr": idr.address_, "head": head, "node": head - 2,
                "child": _child_node(prog, head - 2), "maple": maple,
                "maple tree": maple_tree, "maple child": maple_child}

    @cached_property
    def commands(self) -> dict[str, str]:
        a = self.addr
        lines = {
            "xarray -N tagged": f"tree -t xarray -N {a['head']:x}",
            "xarray -N": f"tree -t xarray -N {a['node']:x}",
            "xarray -N -p": f"tree -t xarray -N -p {a['node']:x}",
            "xarray -N -s": f"tree -t xarray -N -s pid.level {a['node']:x}",
            "idr -p": f"tree -t xarray -p -r idr.idr_rt {a['idr']:x}",
        }
        if a["child"] is not None:
            lines["xarray -N child -p"] = f"tree -t xarray -N -p {a['child']:x}"
        if a["maple"] is not None:
            mt = f"{a['maple']:x}"
            lines.update({"maple -N": f"tree -t maple -N {mt}",
                          "maple -N -p": f"tree -t maple -N -p {mt}",
                          "maple -N -v": f"tree -t maple -N -v {mt}",
                          "maple -N -v -p": f"tree -t maple -N -v -p {mt}",
                          "maple -N -S": f"tree -t maple -N -x -S vm_area_struct.vm_start {mt}"})
        if a["maple tree"] is not None:
            tree = f"{a['maple tree']:x}"
            lines.update({"maple -v -s": f"tree -t maple -v -s vm_area_struct.vm_start,vm_flags "
                                         f"{tree}",
                          "maple -v -x -S": f"tree -t maple -v -x -S vm_area_struct.vm_end {tree}",
                          "maple -v -p -s": f"tree -t maple -v -p -s vm_area_struct.vm_start "
                                            f"{tree}"})
        if a["maple child"] is not None:
            lines["maple -N child -p"] = f"tree -t maple -N -p {a['maple child']:x}"
        return lines


s = crash_session_fixture(Session)

KEYS = ["xarray -N tagged", "xarray -N", "xarray -N -p", "xarray -N -s",
        "xarray -N child -p", "maple -N", "maple -N -p", "maple -N -v", "maple -N -S",
        "maple -N child -p", "maple -v -s", "maple -v -x -S", "maple -v -p -s", "maple -N -v -p", "idr -p"]


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


@pytest.mark.parametrize("key", KEYS)
def test_tree_node_is_crash(s: Session, key: str) -> None:
    if key not in s.commands:
        pytest.skip("no maple trees before 6.1 (d4af56c5c7c6), or no such node here")
    line = s.commands[key]
    if key == "idr -p":  # kmemx's own -t idr: the IDR itself, ids from idr_base
        line = f"tree -t idr -p {s.addr['idr']:x}"
    theirs = _lines(s.crash[key])
    assert theirs and not theirs[0].startswith("tree:"), theirs[:2]
    assert _lines(s.text(line)) == theirs


def test_radix_n_is_xarray_n(s: Session) -> None:
    """A radix tree is an XArray since 4.20: ``-t radix -N`` walks the node
    as ``-t xarray -N`` does (crash 8.0.6 refuses radix trees on these
    kernels: "radix trees do not exist or have changed their format")."""
    node = f"{s.addr['node']:x}"
    assert s.text(f"tree -t radix -N -p {node}") == s.text(f"tree -t xarray -N -p {node}")


def test_idr_p_ids_are_drgns(s: Session) -> None:
    """``tree -t idr -p``'s --json ids and entries are drgn's idr_for_each()."""
    from drgn.helpers.linux.idr import idr_for_each

    prog = s.k.prog
    rows = s.json(f"tree -t idr -p {s.addr['idr']:x}")
    theirs = [(i, e.value_()) for i, e in
              idr_for_each(drgn.Object(prog, "struct idr *", s.addr["idr"]))]
    assert [(r["index"], int(r["entry"], 16)) for r in rows] == theirs


def test_tree_n_refusals(s: Session) -> None:
    """-N with -r, -N of an IDR, and --drgn of -N past red-black trees are one
    error line each."""
    a = s.addr
    for line, message in (
            (f"tree -t xarray -N -r idr.idr_rt {a['idr']:x}", "mutually exclusive"),
            (f"tree -t idr -N {a['node']:x}", "-t xarray -N"),
            (f"tree -t xarray -N {a['node']:x} --drgn", "--drgn gives")):
        with pytest.raises(CommandError, match=message):
            s.text(line)
