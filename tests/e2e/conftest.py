"""The platform as separate processes (what `make run` starts), on free ports, per test."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services import SERVICES
from services.platform import Platform, free_ports

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
