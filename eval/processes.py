"""Servers in child processes, for benchmarks and tests: a free local port, and a gentle stop."""

from __future__ import annotations

import platform
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(proc: subprocess.Popen, url: str, timeout: float = 300) -> bool:
    """Poll ``url`` until it answers (any HTTP status counts) while ``proc`` runs; False if it exits or
    ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=2)
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.3)
    return False


def stop(proc: subprocess.Popen, timeout: float = 20) -> str:
    """Ctrl-C the server as a user would (killing it if it hangs); return what it printed, if piped."""
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def cpu_name() -> str:
    """The CPU's model name, for the machine line of a benchmark report."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
