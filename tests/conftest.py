"""Shared pytest fixtures: the real-kernel test bed."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.fixtures.fixture import DUMP_VARIANTS, Fixture, fixture_package, load_fixture


def _builder_unavailable() -> str | None:
    for tool in ("qemu-system-x86_64", "makedumpfile", "apt-get", "gcc", "busybox"):
        if shutil.which(tool) is None and not (tool == "busybox" and os.path.exists("/bin/busybox")):
            return f"{tool} is not installed (run ./scripts/setup)"
    return None


@pytest.fixture(scope="session")
def fixture() -> Fixture:
    """The test-bed fixture for $KMEMX_KERNEL, built by ``./scripts/test`` beforehand.

    Skipped (with the reason) only when it is not built and cannot be built here.
    """
    fx = load_fixture()
    if fx is not None:
        return fx
    why = _builder_unavailable()
    if why:
        pytest.skip(f"no fixture for {fixture_package()} and the builder cannot run: {why}")
    from tests.fixtures.builder import build
    from tests.fixtures.errors import BuildError

    try:
        build(fixture_package())
    except BuildError as e:
        pytest.fail(f"fixture build failed: {e}")
    fx = load_fixture()
    assert fx is not None
    return fx


@pytest.fixture(scope="session", params=["elf", "kdump", "kdump-d31", "panic"])
def variant(request: pytest.FixtureRequest, fixture: Fixture) -> str:
    """Each dump variant in turn; skipped with the builder's reason when it could not be made."""
    name: str = request.param
    if not fixture.has(name):
        pytest.skip(f"{name}: {fixture.skip_reason(name)}")
    return name


@pytest.fixture(scope="session", params=list(DUMP_VARIANTS))
def dump_variant(request: pytest.FixtureRequest, fixture: Fixture) -> str:
    """Every dump variant in turn: the ELF dumps and every kdump-compressed one
    (zlib, -d 31, lzo, snappy, zstd, flattened); skipped with the builder's reason
    when it could not be made.  ``variant`` is the subset that most tests use."""
    name: str = request.param
    if not fixture.has(name):
        pytest.skip(f"{name}: {fixture.skip_reason(name)}")
    return name


@pytest.fixture(autouse=True)
def _drgn_plugin_setting_restored() -> object:
    """``kmemx.cli.main()`` sets ``DRGN_DISABLE_PLUGINS`` for its own process
    (``_skip_drgn_command_plugins``); a test that calls it in-process must not
    leave that to the drgn subprocesses of the tests after it (drgn's
    ``crash`` command went missing in ``test_drgn_plugin_runs_kmemx_commands``
    when it ran after ``test_quiet_keeps_integrity_warnings``)."""
    before = os.environ.get("DRGN_DISABLE_PLUGINS")
    yield
    if before is None:
        os.environ.pop("DRGN_DISABLE_PLUGINS", None)
    else:
        os.environ["DRGN_DISABLE_PLUGINS"] = before
