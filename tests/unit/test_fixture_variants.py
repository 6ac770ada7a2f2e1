"""Which kdump variants the fixture builder makes: all, or those ``--only``
names (scripts/test builds the era kernels' fixtures with ``--only kdump``)."""

from __future__ import annotations

import pytest

from tests.fixtures.builder import Makedumpfile, _todo, _wanted
from tests.fixtures.errors import BuildError
from tests.fixtures.fixture import KDUMP_VARIANTS

ALL = frozenset({"zlib", "lzo", "snappy", "zstd"})
TOOL = Makedumpfile("/usr/sbin/makedumpfile", "1.7.7", ALL)


def test_every_variant_without_only() -> None:
    assert _wanted(()) == list(KDUMP_VARIANTS)
    assert [v.name for v in _todo({}, [TOOL], ())] == [v.name for v in KDUMP_VARIANTS]


def test_only_restricts_what_is_made() -> None:
    assert [v.name for v in _todo({}, [TOOL], (), ["kdump", "flat"])] == ["kdump", "flat"]
    # a variant already made is not made again, one redone is
    made = {"kdump": {"ok": True, "file": "vmcore.kdump"}}
    assert [v.name for v in _todo(made, [TOOL], (), ["kdump"])] == []
    assert [v.name for v in _todo(made, [TOOL], ["kdump"], ["kdump"])] == ["kdump"]


def test_only_names_a_variant() -> None:
    with pytest.raises(BuildError, match="no kdump variant lz4: the kdump variants are kdump"):
        _wanted(["lz4"])
