"""``log -R``'s Rust demangling (kmemx.demangle) on fixed text: no dump.

The expected lines are crash's own, from the commit that brought ``log``'s
demangling (crash 99bb57a, "Enable resolving mangled Rust symbol in
lockless ring buffer", first in 9.0.0): a panic's call trace in a Rust
module, before and after.
"""

from __future__ import annotations

import shutil

import pytest

from kmemx import demangle
from kmemx.errors import KmemxError

pytestmark = pytest.mark.skipif(shutil.which("c++filt") is None, reason="no c++filt here")

BEFORE = [
    "[ 2174.318125]  panic+0x156/0x32a",
    "[ 2174.321539]  _RNvCscb18lrEyTSA_10rust_panic10area_in_hp+0xf7/0x120 [rust_panic]",
    "[ 2174.334080]  ? irq_work_queue+0x2d/0x50",
    "[ 2174.344183]  _RNvMCscb18lrEyTSA_10rust_panicNtB2_10HelloPanic8step_two+0x20/0xe0 "
    "[rust_panic]",
]
AFTER = [
    "[ 2174.318125]  panic+0x156/0x32a",
    "[ 2174.321539]  rust_panic::area_in_hp+0xf7/0x120 [rust_panic]",
    "[ 2174.334080]  ? irq_work_queue+0x2d/0x50",
    "[ 2174.344183]  <rust_panic::HelloPanic>::step_two+0x20/0xe0 [rust_panic]",
]


def test_crash_commit_example() -> None:
    assert demangle.demangle_rust_in_text(BEFORE) == AFTER


def test_every_name_of_a_line_and_prefixes() -> None:
    """Two names on a line are both demangled (crash takes the first); a
    prefix before ``_R`` stays (crash's symbols.c keeps ``__pfx_``)."""
    a, b = "_RNvCscb18lrEyTSA_10rust_panic10area_in_hp", \
        "_RNvMCscb18lrEyTSA_10rust_panicNtB2_10HelloPanic8step_two"
    assert demangle.demangle_rust_in_text([f"{a} called from {b}", f"__pfx_{a}"]) == [
        "rust_panic::area_in_hp called from <rust_panic::HelloPanic>::step_two",
        "__pfx_rust_panic::area_in_hp"]


def test_what_is_not_rust_stays() -> None:
    lines = ["IRQ_RESEND _Rx _ZN3fooE NET: Registered PF_NETLINK/PF_ROUTE", ""]
    assert demangle.demangle_rust_in_text(lines) == lines
    assert demangle.demangle_rust(["_Rx", "schedule"]) == [None, None]


def test_no_cplusfilt_is_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demangle.shutil, "which", lambda _name: None)
    with pytest.raises(KmemxError, match="needs c\\+\\+filt"):
        demangle.demangle_rust_in_text(["_RNvCscb18lrEyTSA_10rust_panic10area_in_hp+0x1"])
