"""The platform as separate processes (what `make run` starts), on free ports, per test."""

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from services import SERVICES
from sifang.platform import Platform, free_ports

StartPlatform = Callable[..., Platform]


@pytest.fixture
def start_platform(
    tmp_path: Path, backend: str, make_database: Callable[[str], str]
) -> Iterator[StartPlatform]:
    started: list[Platform] = []

    def start(**env: str) -> Platform:
        if backend == "postgres":
            env |= {f"{service.upper()}_DATABASE_URL": make_database(service) for service in SERVICES}
        nats_port, *service_ports = free_ports(1 + len(SERVICES))
        platform = Platform(
            tmp_path / f"var{len(started)}",
            nats_port=nats_port,
            ports=dict(zip(SERVICES, service_ports, strict=True)),
            token="e2e-admin-token-0123456789",
            env=env,
        )
        started.append(platform)
        platform.start()
        return platform

    yield start
    for platform in started:
        platform.stop()


@pytest.fixture
def platform(start_platform: StartPlatform) -> Platform:
    return start_platform()


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, driven by playwright."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "chromium is not installed: apt-get install -y chromium fonts-wqy-microhei"
            " (scripts/ensure-browser, run by make test, does it as root or with sudo)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, headless=True)
        yield launched
        launched.close()


def add_coordinator(platform: Platform, username: str, name: str, password: str) -> None:
    """Create a dashboard account as an operator would: `sifang coordinators add`."""
    added = subprocess.run(
        [
            sys.executable,
            "-m",
            "sifang.cli",
            "coordinators",
            "add",
            username,
            "--name",
            name,
            "--password-stdin",
        ],
        input=password + "\n",
        env=platform.env,
        text=True,
        capture_output=True,
        check=False,
    )
    assert added.returncode == 0, added.stdout + added.stderr
