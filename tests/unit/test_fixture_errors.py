"""The fixture builder's bad-input cases: one clear line, nothing half-written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import builder, debs, qemu
from tests.fixtures.errors import BuildError


def test_unknown_package() -> None:
    if subprocess.run(["which", "apt-cache"], capture_output=True).returncode:
        pytest.skip("apt-cache is not available")
    with pytest.raises(BuildError, match="does not exist") as e:
        debs._download("linux-image-0.0.0-nope-amd64", Path("/nonexistent"))
    assert "\n" not in str(e.value)


def test_no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_run = subprocess.run

    def fake_run(cmd: list[str], *a: Any, **kw: Any) -> Any:
        if cmd[:2] == ["apt-cache", "policy"]:
            return subprocess.CompletedProcess(cmd, 0, "x:\n  Candidate: 1.0\n", "")
        if cmd[:2] == ["apt-get", "download"]:
            return subprocess.CompletedProcess(
                cmd, 100, "", "Err:1 http://archive pkg\n  Temporary failure resolving 'archive'\n"
                "E: Failed to fetch http://archive/pkg.deb\n")
        return real_run(cmd, *a, **kw)

    monkeypatch.setattr(debs.subprocess, "run", fake_run)
    with pytest.raises(BuildError, match="no network to the package archive"):
        debs._download("linux-image-6.1.0-56-amd64", tmp_path)


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
