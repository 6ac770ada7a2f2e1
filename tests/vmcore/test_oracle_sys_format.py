"""crash's formatting rules that ``sys`` follows (pure helpers; no fixture needed).

The values on real dumps are compared with crash in test_oracle_columns.py; these
pin the rules on the edge cases the test bed does not reach (days of uptime,
memory near a GiB, load above 1, a wrapped jiffies counter).
"""

from __future__ import annotations

from kmemx_plugins.basics import (
    cpus_text,
    jiffies_uptime,
    loadavg_text,
    memory_text,
    uptime_text,
)

MiB, GiB = 1 << 20, 1 << 30


def test_memory_text_is_crash_get_memory_size() -> None:
    assert memory_text(130944 * 4096) == "511.5 MB"  # the 512 MB guest
    assert memory_text(512 * MiB) == "512 MB"  # ".0" dropped (pages_to_size)
    assert memory_text(GiB - 64 * MiB) == "1 GB"  # within 64 MiB of a GiB: rounded up
    assert memory_text(GiB - 65 * MiB) == "959 MB"
    assert memory_text(3 * GiB + 512 * MiB) == "3.5 GB"
    assert memory_text(0) == "0"
    assert memory_text(512 * 1024) == "512 KB"


def test_loadavg_text_rounds_like_the_kernel() -> None:
    fixed_1 = 1 << 11
    assert loadavg_text((0, 0, 0)) == "0.00, 0.00, 0.00"
    assert loadavg_text((fixed_1, 2 * fixed_1 + fixed_1 // 2, 164)) == "1.00, 2.50, 0.08"
    assert loadavg_text((fixed_1 - 1, 0, 0)) == "1.00, 0.00, 0.00"  # rounded at 1/200


def test_uptime_text_and_jiffies() -> None:
    assert uptime_text(9) == "00:00:09"
    assert uptime_text(86400 + 3661) == "1 days, 01:01:01"
    hz = 250
    initial = (-300 * hz) & 0xFFFFFFFF
    assert jiffies_uptime(initial + 9 * hz, hz) == 9
    assert jiffies_uptime(initial + 400 * hz, hz) == 400  # past the 32-bit wrap
    assert jiffies_uptime(initial + 400 * hz + hz - 1, hz) == 400


def test_cpus_text() -> None:
    assert cpus_text(2, 2) == "2"
    assert cpus_text(4, 3) == "4 [OFFLINE: 1]"
