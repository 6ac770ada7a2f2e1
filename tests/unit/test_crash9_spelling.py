"""The written exceptions that turn crash 9.x's spelling into crash 8.0.6's
(tests.oracles.crash), on crash 9.0.2's own output of a 7.2.13 dump: the
same numbers spelled another way must come out as 8.0.6 spells them, and
nothing else may change."""

from __future__ import annotations

from tests.oracles.crash import as_crash_806, maple_text_as_806, without_gdb16_symbols

# crash 9.0.2, ``tree -t maple -v -p`` (radix 10) and ``-x -v -p`` of one
# mm_struct's VMAs (the first lines), and 8.0.6's spelling of them
CRASH9_DEC = """\
0-18446744073709551615: node 0xff18a37502faa500 depth 0 type 3 parent 0xff18a37501075441 \
contents: 727699456 18446603338169389056 0 0 0 0 0 0 0 0 | 01 01| 0xff18a37502fa9f0c 732934143 \
0xff18a37502540e0c 18446744073709551615 (nil) 0
  0-732934143: node 0xff18a37502fa9f00 depth 1 type 1 parent 0xff18a37502faa506 contents: \
(nil) 4194303 0xff18a37502f889c0 4198399 (nil) 0 0x8
    0-4194303: 0
    4194304-4198399: 18381621602069023168
  index: 1  position: root/0/1
    5-5: value 10 [0x15]
    6-6: zero (1)"""
CRASH9_HEX = """\
0-ffffffffffffffff: node 0xff18a37502faa500 depth 0 type 3 parent 0xff18a37501075441 \
contents: 2b5fd000 ffff8000741f1000 0 0 0 0 0 0 0 0 | 01 01| 0xff18a37502fa9f0c 2bafafff \
0xff18a37502540e0c ffffffffffffffff (nil) 0
  0-2bafafff: node 0xff18a37502fa9f00 depth 1 type 1 parent 0xff18a37502faa506 contents: \
(nil) 3fffff 0xff18a37502f889c0 400fff (nil) 0 0x8
    0-3fffff: 0x0
    400000-400fff: 0xff18a37502f889c0
  index: 1  position: root/0/1
    5-5: value 0xa [0x15]
    6-6: zero (0x1)"""
CRASH806 = """\
0-18446744073709551615: node 0xff18a37502faa500 depth 0 type 3 parent 0xff18a37501075441 \
contents: 727699456 18446603338169389056 0 0 0 0 0 0 0 0 | 01 01| 0xff18a37502fa9f0c 732934143 \
0xff18a37502540e0c 18446744073709551615 (nil) 0
  0-732934143: node 0xff18a37502fa9f00 depth 1 type 1 parent 0xff18a37502faa506 contents: \
(nil) 4194303 0xff18a37502f889c0 4198399 (nil) 0 0x8
    0-4194303: 0x0
    4194304-4198399: 0xff18a37502f889c0
  index: 1  position: root/0/1
    5-5: value 10 (0xa) [0x15]
    6-6: zero (1)"""


def test_maple_dump_in_either_radix_is_806s() -> None:
    assert maple_text_as_806(CRASH9_DEC, 10) == CRASH806
    assert maple_text_as_806(CRASH9_HEX, 16) == CRASH806


def test_maple_entries_without_v() -> None:
    """Without -v crash 9 prints an entry as %lu (radix 10), 8.0.6 as %lx."""
    assert maple_text_as_806("18381621602069023168\n  index: 1  position: root/0/1", 10) == \
        "ff18a37502f889c0\n  index: 1  position: root/0/1"
    assert maple_text_as_806("ff18a37502f889c0\n  index: e  position: root/1/7", 16) == \
        "ff18a37502f889c0\n  index: 14  position: root/1/7"


def test_only_crash_9_maple_trees_change() -> None:
    assert as_crash_806("tree -t maple -v -p ff", CRASH9_DEC, (8, 0, 6)) == CRASH9_DEC
    assert as_crash_806("tree -t xarray -p ff", "0", (9, 0, 2)) == "0"
    assert as_crash_806("tree -t maple -x -v -p ff", CRASH9_HEX, (9, 0, 2)) == CRASH806


def test_gdb16_symbol_dropped_only_where_exact() -> None:
    symbols = {"init_thread_union": 0xFFFFFFFFBA800000, "linux_banner": 0xFFFFFFFFB9BD0E60}
    theirs = ["  stack = 0xffffffffba800000 <init_thread_union>,",
              "$2 = (void *) 0xffffffffba800008 <init_thread_union+8>",
              'linux_banner = $1 = 0xffffffffb9bd0e60 <linux_banner> "Linux version 7.2.13"',
              "  stack = 0xffffffffba800000 <init_thread_union+16>,",
              "  fn = 0xffffffffb89a0050 <do_no_restart_syscall>,"]
    ours = ["  stack = 0xffffffffba800000,",
            "$2 = (void *) 0xffffffffba800008",
            'linux_banner = $1 = "Linux version 7.2.13"',
            "  stack = 0xffffffffba800000,",
            "  fn = 0xffffffffb89a0050 <do_no_restart_syscall>,"]
    got = without_gdb16_symbols(theirs, ours, lambda n: symbols[n])
    # the fourth names the wrong offset: left as crash printed it
    assert got == [*ours[:3], theirs[3], ours[4]]
