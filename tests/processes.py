"""Service processes for tests that need several of one kind (replicas, partitions): each a
real uvicorn process on a free loopback port with its own environment and log, killable with
SIGKILL; and the polling helper those tests wait with."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from sifang.platform import free_port

__all__ = ["ServiceProcess", "eventually", "stop_gently"]

ROOT = Path(__file__).resolve().parents[1]


def eventually(probe: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    """``probe()``'s first truthy result, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        assert time.monotonic() < deadline, f"not seen in time: {what}" if what else "not seen in time"
        time.sleep(0.2)
    return result


class ServiceProcess:
    """``services.<service>.app`` under uvicorn (one worker) with ``env`` over the test's own."""

    def __init__(
        self,
        service: str,
        env: Mapping[str, str],
        log: Path,
        *,
        healthy: bool = True,
        port: int | None = None,
        command: list[str] | None = None,
    ) -> None:
        """``command`` (given the port as ``{port}``) runs something else that serves ``/healthz``."""
        self.service = service
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        if command is None:
            command = [sys.executable, "-m", "uvicorn", "--factory", f"services.{service}.app:create_app"]
            command += ["--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning"]
        command = [part.replace("{port}", str(self.port)) for part in command]
        with open(log, "ab") as output:
            self.process = subprocess.Popen(
                command, env=os.environ | dict(env), stdout=output, stderr=output, cwd=ROOT
            )
        self.wait_answering(healthy=healthy)

    def wait_answering(self, *, healthy: bool, timeout: float = 60) -> None:
        """Until ``/healthz`` answers (200 when ``healthy``, anything otherwise)."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"{self.service} exited; see {self.log}"
            try:
                status = httpx.get(self.url + "/healthz", timeout=1).status_code
                if status == 200 or not healthy:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{self.service} not healthy; see {self.log}"
            time.sleep(0.1)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        stop_gently(self.process, 15)


def stop_gently(process: "subprocess.Popen[bytes]", timeout: float) -> None:
    """SIGTERM, and SIGKILL if it has not ended within ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
