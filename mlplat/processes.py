"""Start local servers (MLflow, Redis, moto, mlplat-serve) on 127.0.0.1, wait until they answer, stop them by PID.

Used by `mlplat dev` and by the tests, which run every server they need for real.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"


class ProcessError(RuntimeError):
    """A server could not be started or did not become healthy; the message says why and what to do."""


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def require_binary(name: str, install_hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ProcessError(f"`{name}` is not installed; {install_hint}")
    return path


@dataclass
class ManagedProcess:
    """One server process with its own log file; `stop()` ends exactly this process and its children."""

    name: str
    argv: Sequence[str]
    log_path: Path
    port: int
    health_url: str | None = None  # HTTP URL that answers 200 when ready; else the TCP port is enough
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    pid_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> ManagedProcess:
        if port_in_use(self.port):
            raise ProcessError(f"{self.name}: port {self.port} on {LOOPBACK} is already in use; stop what holds it")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                start_new_session=True,  # its own process group, so stop() also ends its workers
            )
        if self.pid_path is not None:
            self.pid_path.parent.mkdir(parents=True, exist_ok=True)
            self.pid_path.write_text(f"{self.process.pid}\n")
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ProcessError(
                    f"{self.name} exited with code {self.process.returncode} while starting; "
                    f"last log lines:\n{self.log_tail()}"
                )
            if self._answers():
                return
            time.sleep(0.1)
        self.stop()
        raise ProcessError(f"{self.name} did not become healthy within {timeout:.0f}s; log:\n{self.log_tail()}")

    def _answers(self) -> bool:
        if not port_in_use(self.port):
            return False
        if self.health_url is None:
            return True
        try:
            with urllib.request.urlopen(self.health_url, timeout=1) as response:  # noqa: S310 - loopback URL
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        stop_pid(self.process.pid, timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)
        if self.pid_path is not None:
            self.pid_path.unlink(missing_ok=True)
        self.process = None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process group led by `pid`, then SIGKILL whatever is left after `timeout` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not pid_alive(pid):
                return
            time.sleep(0.05)


def descendants_named(marker: str, ancestor: int | None = None) -> list[int]:
    """PIDs of this process's descendants (or `ancestor`'s) whose command line contains `marker` (Linux /proc).

    The tests and the training benchmark use it to find the Ray Train workers of their own local Ray, to kill one
    as a spot interruption would."""
    root = os.getpid() if ancestor is None else ancestor

    def parent(pid: int) -> int:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return 0
        return int(stat.rsplit(")", 1)[1].split()[1])

    def descends(pid: int) -> bool:
        while pid > 1:
            pid = parent(pid)
            if pid == root:
                return True
        return False

    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in command and descends(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)
