"""kmemx's CPU masks (kmemx.helpers.cpumask) equal drgn's helpers on every
dump variant's kernel: possible, online and present CPUs, and the count."""

from __future__ import annotations

import drgn.helpers.linux.cpumask as drgn_cpumask
import pytest

import kmemx
from kmemx.helpers import cpumask
from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore


@pytest.fixture(scope="module", params=["elf", "kdump", "panic"])
def k(request: pytest.FixtureRequest, fixture: Fixture) -> kmemx.Kernel:
    if not fixture.has(request.param):
        pytest.skip(f"{request.param}: {fixture.skip_reason(request.param)}")
    return kmemx.open(fixture.core(request.param), fixture.vmlinux)


@pytest.mark.parametrize("which", ["possible", "online", "present"])
def test_mask_equals_drgn(k: kmemx.Kernel, which: str) -> None:
    ours = list(getattr(cpumask, f"for_each_{which}_cpu")(k))
    theirs = list(getattr(drgn_cpumask, f"for_each_{which}_cpu")(k.prog))
    assert ours == theirs
    assert ours, f"no {which} CPU"


def test_num_possible_cpus_equals_drgn(k: kmemx.Kernel) -> None:
    assert cpumask.num_possible_cpus(k) == drgn_cpumask.num_possible_cpus(k.prog)
