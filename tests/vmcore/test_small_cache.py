"""A kdump-compressed dump read through a page cache far smaller than what a
walk touches (1 MiB: pages evicted all the time, under the C fast paths'
page mirror and memos) gives what the ELF dump of the same guest gives."""

from __future__ import annotations

from typing import Any

import pytest

import kmemx
from kmemx.commands import REGISTRY, Context, load_plugins, run_pipeline
from kmemx.helpers import list_for_each_entry
from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore


def _walks(k: Any) -> tuple[list[tuple[int, int, int]], list[tuple[str, ...]]]:
    inodes = [(i.address, i.i_ino, i.i_sb.address)
              for sb in list_for_each_entry("struct super_block", k.object("super_blocks"), "s_list")
              for i in list_for_each_entry("struct inode", sb.s_inodes, "i_sb_list")]
    rows = [tuple(map(str, r.cells)) for r in run_pipeline(Context(k, REGISTRY), "ps").items]
    return inodes, rows


def test_evicting_cache_reads_what_elf_reads(fixture: Fixture) -> None:
    for v in ("elf", "kdump"):
        if not fixture.has(v):
            pytest.skip(fixture.skip_reason(v))
    load_plugins()
    small = kmemx.open(fixture.core("kdump"), fixture.vmlinux, page_cache_mib=1)
    elf = kmemx.open(fixture.core("elf"), fixture.vmlinux)
    got, want = _walks(small), _walks(elf)
    assert len(got[0]) > 1000 and len(got[1]) > 10
    assert got == want
