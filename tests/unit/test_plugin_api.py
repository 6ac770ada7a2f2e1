"""The plugin API: discovery from KMEMX_PLUGINS, isolation of broken plugins."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, plugins: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env={"KMEMX_PLUGINS": plugins, "PATH": "/usr/bin:/bin"},
                          cwd=ROOT, timeout=120)


def test_example_plugin_and_broken_plugin(tmp_path: Path) -> None:
    good = tmp_path / "kmx_threads.py"
    shutil.copy(ROOT / "docs" / "examples" / "kmx_threads.py", good)
    bad = tmp_path / "broken.py"
    bad.write_text("import no_such_module_anywhere\n")
    code = """
        from kmemx.commands import REGISTRY, load_plugins
        loaded = load_plugins()
        for p in loaded:
            print(p.name, p.ok, p.error)
        cmd = REGISTRY.lookup("threads")
        print("threads from", cmd.plugin)
        print("help:", "--min" in cmd.help())
        print("ps still there:", REGISTRY.lookup("ps").name)
        try:
            REGISTRY.lookup("brokencmd")
        except Exception as e:
            print(e)
    """
    out = _run(code, f"{good}:{bad}")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "kmx_threads True " in lines
    assert "broken False ModuleNotFoundError: No module named 'no_such_module_anywhere'" in lines
    assert "threads from kmemx_user_plugin_kmx_threads" in lines
    assert "help: True" in lines and "ps still there: ps" in lines
    # a command of a plugin that failed is unknown, and the error says which failed
    assert (f"unknown command 'brokencmd' (plugins that failed to load: {bad}: "
            "ModuleNotFoundError: No module named 'no_such_module_anywhere')") in lines
