"""Run the service as a real ``bentoml serve`` process: for tests, benchmarks and smoke checks.

:func:`start_server` launches ``bentoml serve`` in its own process group on a
loopback port, waits until it answers, and returns a handle whose
:meth:`ServerProcess.stop` ends that process group (the server and its workers,
nothing else).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from churnml.serving.run import serve_command


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """A running ``bentoml serve`` of the churnml service."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def api_key(self) -> str | None:
        """The API key the server requires (None: an open server)."""
        return self.env.get("CHURNML_API_KEY") or None

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def status(self, path: str) -> int:
        """HTTP status of ``GET path`` (0 when the server does not answer)."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as err:
            return int(err.code)
        except (urllib.error.URLError, OSError):
            return 0

    def wait(self, path: str = "/readyz", expect: int = 200, timeout: float = 120.0) -> None:
        """Wait until ``GET path`` answers ``expect``; raise with the log if the server dies or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}:\n{self.log()[-3000:]}"
                )
            if self.status(path) == expect:
                return
            time.sleep(0.25)
        raise TimeoutError(
            f"{self.url}{path} did not answer {expect} within {timeout:.0f} s:\n{self.log()[-3000:]}"
        )

    def stop(self, timeout: float = 20.0) -> None:
        """End the server's process group: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


def start_server(
    env: dict[str, str],
    log_path: Path,
    host: str = "127.0.0.1",
    port: int | None = None,
    wait_path: str | None = "/readyz",
    timeout: float = 120.0,
    cwd: Path | None = None,
) -> ServerProcess:
    """Start ``bentoml serve`` of the churnml service with environment ``env``.

    Parameters
    ----------
    env
        The whole environment of the server (e.g. ``CHURNML_HOME``,
        ``MLFLOW_TRACKING_URI``, ``CHURNML_MODEL_URI``, ``CHURNML_API_KEY``).
    log_path
        File receiving the server's stdout and stderr.
    host, port
        Where to listen; default a free loopback port.
    wait_path
        Wait until this path answers 200 (``None``: do not wait).
    timeout
        Longest wait for start-up, in seconds.
    cwd
        Working directory of the server (default: the folder of ``log_path``).
    """
    port = port or free_port(host)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            serve_command(host, port),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd or log_path.parent,
            start_new_session=True,
        )
    server = ServerProcess(
        url=f"http://{host}:{port}", process=process, log_path=log_path, env=dict(env)
    )
    if wait_path is not None:
        try:
            server.wait(wait_path, 200, timeout)
        except BaseException:
            server.stop()
            raise
    return server
