"""The fixture builder's bad-input cases: one clear line, nothing half-written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import aptstate, builder, debs, qemu
from tests.fixtures.aptstate import PrivateApt
from tests.fixtures.errors import BuildError


class _NoApt(PrivateApt):
    """A private apt state whose lists are current and hold no such package."""

    def update(self, force: bool = False) -> None:
        self._updated = True

    def version(self, package: str, arch: str) -> str | None:
        return None


def test_unknown_package(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="does not exist") as e:
        debs.download_kernel("linux-image-0.0.0-nope-amd64", tmp_path, _NoApt(tmp_path))
    assert "\n" not in str(e.value)


def test_unknown_architecture(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="cannot tell its architecture") as e:
        debs.download_kernel("linux-image-6.1.0-56-s390x", tmp_path, _NoApt(tmp_path))
    assert "\n" not in str(e.value)


def test_no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_run = subprocess.run

    def fake_run(cmd: list[str], *a: Any, **kw: Any) -> Any:
        if cmd[0] in ("apt-get", "apt-cache"):
            return subprocess.CompletedProcess(
                cmd, 100, "", "Err:1 http://archive pkg\n  Temporary failure resolving 'archive'\n"
                "E: Failed to fetch http://archive/pkg.deb\n")
        return real_run(cmd, *a, **kw)

    monkeypatch.setattr(aptstate.subprocess, "run", fake_run)
    apt = PrivateApt(tmp_path / "apt")
    with pytest.raises(BuildError, match="no network to the package archive"):
        apt.update()
    assert not (tmp_path / "apt" / "updated").exists()
    apt._updated = True  # as if the lists were current: the download itself fails
    with pytest.raises(BuildError, match="no network to the package archive"):
        apt.download(["linux-image-6.1.0-56-amd64"], "amd64", tmp_path / "dl")


def test_qemu_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(qemu.shutil, "which", lambda name: None)
    with pytest.raises(BuildError, match="qemu-system-x86_64 is not installed"):
        qemu.boot_and_dump(tmp_path / "k", tmp_path / "i", tmp_path / "d", tmp_path)


def test_full_disk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class St:
        f_bavail, f_frsize = 10, 4096

    monkeypatch.setattr(builder.os, "statvfs", lambda p: St())
    monkeypatch.setenv("KMEMX_FIXTURES", str(tmp_path))
    with pytest.raises(BuildError, match="not enough disk space"):
        builder.build("linux-image-6.1.0-56-amd64")
    assert not any(tmp_path.iterdir())


def test_failure_leaves_nothing_half_written(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    def boom(*a: Any, **kw: Any) -> Path:
        (tmp_path / ".kernels").mkdir(exist_ok=True)
        raise BuildError("guest did not reach READY within 1s; console tail: ...")

    monkeypatch.setenv("KMEMX_FIXTURES", str(tmp_path))
    monkeypatch.setattr(builder, "_kernel_files", boom)
    with pytest.raises(BuildError, match="READY"):
        builder.build("linux-image-6.1.0-56-amd64")
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != ".kernels"]
    assert leftovers == []  # no final dir, no temporary dir
    assert not os.path.exists(tmp_path / "linux-image-6.1.0-56-amd64" / "fixture.json")
