"""Runs inside the guest (chroot of the host's filesystem): one batch of commands.

The guest's /init starts ``python -m tests.live.runner BATCH.json``.  Each
command runs with a timeout; its exit status, stdout, stderr and wall time go
to the second serial port as one JSON object per line, so the host can parse
them while the guest is still running::

    {"event": "start", "uname": [...], "cmdline": "...", "uptime": 12.3}
    {"event": "command", "name": "...", "rc": 0, "secs": 1.2, "timed_out": false,
     "stdout": "...", "stderr": "..."}
    {"event": "done", "uptime": 99.9}

Only the standard library is used, so this works before anything else is
known to work in the guest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import termios
import time
import tty
from typing import Any, BinaryIO

__all__ = ["main", "run_command"]

#: Output of one command kept for the host (the serial port is slow under TCG).
MAX_OUTPUT = 4 << 20


def _uptime() -> float:
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def _emit(port: BinaryIO, record: dict[str, Any]) -> None:
    port.write(json.dumps(record).encode() + b"\n")
    port.flush()


def run_command(cmd: dict[str, Any]) -> dict[str, Any]:
    """Run one batch entry: ``{"name", "argv" | "sh", "timeout", "env"}``."""
    argv = cmd["argv"] if "argv" in cmd else ["/bin/sh", "-c", cmd["sh"]]
    env = dict(os.environ)
    env.update(cmd.get("env", {}))
    start = time.monotonic()
    timed_out = False
    try:
        proc = subprocess.run(argv, capture_output=True, env=env, timeout=cmd.get("timeout", 900),
                              stdin=subprocess.DEVNULL)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        timed_out = True
        rc = -9
        out = e.stdout or b""
        err = e.stderr or b""
    except OSError as e:
        rc, out, err = 127, b"", f"{argv[0]}: {e.strerror}".encode()
    return {"event": "command", "name": cmd["name"], "rc": rc,
            "secs": round(time.monotonic() - start, 2), "timed_out": timed_out,
            "stdout": out[-MAX_OUTPUT:].decode(errors="replace"),
            "stderr": err[-MAX_OUTPUT:].decode(errors="replace")}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    batch_path, port_path = args[0], args[1] if len(args) > 1 else "/dev/ttyS1"
    with open(batch_path) as f:
        batch = json.load(f)
    with open(port_path, "wb", buffering=0) as raw:
        tty.setraw(raw.fileno())  # no \n -> \r\n, no echo
        port = os.fdopen(os.dup(raw.fileno()), "wb")
        with open("/proc/cmdline") as f:
            cmdline = f.read().strip()
        _emit(port, {"event": "start", "uname": list(os.uname()), "cmdline": cmdline,
                     "uptime": _uptime(), "python": sys.version.split()[0]})
        for cmd in batch:
            _emit(port, {"event": "begin", "name": cmd["name"], "uptime": _uptime()})
            _emit(port, run_command(cmd))
        _emit(port, {"event": "done", "uptime": _uptime()})
        port.close()
        termios.tcdrain(raw.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
