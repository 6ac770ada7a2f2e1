"""crash's text helpers: mkstring()'s centring (tools.c) and ordinal()."""

from __future__ import annotations

import pytest
from kmemx_plugins.kmem_mm import _ordinal

from kmemx.commands.cells import crash_centre


@pytest.mark.parametrize(("text", "width", "right", "want"), [
    ("MEM_MAP", 16, False, "    MEM_MAP     "),   # odd blank right (CENTER|LJUST)
    ("1000", 11, True, "    1000   "),            # odd blank left (CENTER|RJUST)
    ("ab", 6, True, "  ab  "),                    # even: both sides
    ("ffff888100000000", 16, False, "ffff888100000000"),
    ("too long for it", 4, False, "too long for it"),
])
def test_crash_centre(text: str, width: int, right: bool, want: str) -> None:
    assert crash_centre(text, width, right) == want


@pytest.mark.parametrize(("n", "want"), [
    (1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (10, "10th"),
    (11, "11st"), (12, "12nd"), (13, "13rd"), (21, "21st"), (512, "512nd"),
])
def test_ordinal_is_crash(n: int, want: str) -> None:
    """crash's ordinal() looks only at the last digit."""
    assert _ordinal(n) == want
