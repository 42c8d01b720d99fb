"""Fixtures of the fault suite: a platform of real processes that can be killed, per backend."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services import SERVICES
from sifang.platform import free_ports
from tests.chaos.harness import ADMIN_TOKEN, CATCH_UP_REPORT, ChaosPlatform

StartChaos = Callable[..., ChaosPlatform]

# Settings the chaos platform runs with. Messages a killed coordinator held come back after
# ``ack_wait``; 10 s instead of the default 30 s keeps the suite's run time in bounds without
# changing what is redelivered or in which order.
CHAOS_ENV = {"COORDINATOR_ACK_WAIT": "10"}


@pytest.fixture
def start_chaos(tmp_path: Path, backend: str, make_database: Callable[[str], str]) -> Iterator[StartChaos]:
    started: list[ChaosPlatform] = []

    def start(**env: str) -> ChaosPlatform:
        env = CHAOS_ENV | env
        if backend == "postgres":
            env |= {f"{service.upper()}_DATABASE_URL": make_database(service) for service in SERVICES}
        nats_port, *service_ports = free_ports(1 + len(SERVICES))
        platform = ChaosPlatform(
            tmp_path / f"var{len(started)}",
            nats_port=nats_port,
            ports=dict(zip(SERVICES, service_ports, strict=True)),
            token=ADMIN_TOKEN,
            env=env,
        )
        started.append(platform)
        platform.start()
        return platform

    yield start
    for platform in started:
        platform.stop()


@pytest.fixture
def replay_url(make_database: Callable[[str], str]) -> str:
    """A fresh, empty database of the backend under test for ``sifang replay`` to rebuild into."""
    return make_database("replay")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if CATCH_UP_REPORT:
        terminalreporter.section("chaos: coordinator catch-up after each restart")
        for row in CATCH_UP_REPORT:
            terminalreporter.write_line(
                f"CATCHUP {row['scenario']} {row['restart']}: {row['catch_up_seconds']} s "
                f"(up to stream seq {row['target_stream_sequence']}, "
                f"{row['pending_at_restart']} waiting at restart)"
            )
