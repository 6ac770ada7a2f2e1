"""Packaging as a user installs kmemx: a wheel built from this checkout, in a
fresh virtual environment (dependencies from PyPI), runs the CLI on the real
dump with its C speedups; a wheel built without a C compiler runs the
pure-Python paths, gives the same output and says so once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore

ROOT = Path(__file__).resolve().parents[2]


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)  # type: ignore[call-overload,no-any-return]


def _wheel(out: Path, env: dict[str, str]) -> Path:
    src = out / "src"
    # a copy without build products, so the wheel is built from the sources
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", "build", "*.egg-info", "*.so", "__pycache__", ".mypy_cache", ".ruff_cache"))
    proc = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                 "-w", str(out), str(src)], env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheels = list(out.glob("kmemx-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_in_a_fresh_venv(fixture: Fixture, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    proc = _run([sys.executable, "-m", "venv", str(venv)])
    assert proc.returncode == 0, proc.stderr
    py, kmemx = venv / "bin" / "python", venv / "bin" / "kmemx"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KMEMX_NO_SPEEDUPS")}
    fast = _wheel(tmp_path / "fast", env)
    proc = _run([str(py), "-m", "pip", "install", "-q", str(fast)], env=env)
    if proc.returncode and "Could not find a version" in proc.stderr:
        pytest.skip(f"PyPI is not reachable: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    version = _run([str(kmemx), "--version"], env=env, cwd=tmp_path)
    assert version.returncode == 0 and "C speedups)" in version.stdout, version
    ps = [str(kmemx), "-c", str(fixture.core("elf")), "-s", str(fixture.vmlinux), "ps"]
    with_c = _run(ps, env=env, cwd=tmp_path)
    assert with_c.returncode == 0, with_c.stderr
    assert "kmx-main" in with_c.stdout and "C speedups" not in with_c.stderr

    # no C compiler: the optional extension is skipped, the wheel still builds
    slow = _wheel(tmp_path / "slow", {**env, "CC": "/bin/false", "LDSHARED": "/bin/false"})
    proc = _run([str(py), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps",
                 str(slow)], env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    version = _run([str(kmemx), "--version"], env=env, cwd=tmp_path)
    assert "pure Python: no C speedups" in version.stdout, version
    without = _run(ps, env=env, cwd=tmp_path)
    assert without.returncode == 0, without.stderr
    assert without.stdout == with_c.stdout
    assert without.stderr.count("C speedups were not built") == 1
    quiet = _run([*ps[:1], "-q", *ps[1:]], env=env, cwd=tmp_path)
    assert "C speedups" not in quiet.stderr
