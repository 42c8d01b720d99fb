"""The platform on a real three-node JetStream cluster (stream and consumers with three replicas),
under a steady write load: the stream leader is killed with SIGKILL and restarted, then a
follower; a rolling restart of every service process follows. After each, the fault suite's
verdict (``tests.chaos.harness.final_check``): every write answered 2xx reached the coordinator
in its final state, nothing applied twice, consumer lag zero, no dead letters, and
``sifang replay`` identical.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services import SERVICES
from sifang.platform import free_ports
from tests.chaos.conftest import CHAOS_ENV
from tests.chaos.harness import ADMIN_TOKEN, Load, final_check, log, register_organisations
from tests.cluster.harness import ClusterPlatform, NatsCluster, wait_for_jetstream

pytestmark = pytest.mark.cluster


@pytest.fixture
def cluster_platform(tmp_path: Path) -> Iterator[ClusterPlatform]:
    cluster = NatsCluster(tmp_path / "cluster")
    cluster.start()
    platform: ClusterPlatform | None = None
    try:
        wait_for_jetstream(cluster)
        platform = ClusterPlatform(
            tmp_path / "var",
            cluster,
            ports=dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True)),
            token=ADMIN_TOKEN,
            env=CHAOS_ENV,
        )
        platform.start()
        cluster.wait_all_current()
        yield platform
    finally:
        if platform is not None:
            platform.stop()
        cluster.stop()


@pytest.fixture
def replay_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'replay.db'}"


def _all(groups: list[list[object]]) -> list[object]:
    return [org for group in groups for org in group]


@pytest.mark.timeout(420)
def test_killing_the_stream_leader_then_a_follower_loses_and_doubles_nothing(
    cluster_platform: ClusterPlatform, replay_url: str
) -> None:
    cluster = cluster_platform.cluster
    assert cluster.stream_cluster()["replicas"], "the stream is not replicated"
    groups = register_organisations(cluster_platform, 4)
    load = Load(cluster_platform, groups, total=600, rate=12).start()

    load.wait_for(0.2)
    leader = cluster.leader()
    cluster.kill(leader)
    new_leader = cluster.leader()  # elected among the two left, while the load goes on
    assert new_leader != leader
    log(f"stream leader moved from node {leader} to node {new_leader}")
    time.sleep(5)
    cluster.start(leader)
    cluster.wait_all_current()

    load.wait_for(0.55)
    follower = next(n for n in (1, 2, 3) if n != cluster.leader())
    cluster.kill(follower)
    time.sleep(5)
    cluster.start(follower)
    cluster.wait_all_current()

    ledger = load.join()
    assert ledger.counts, "the load wrote nothing"
    final_check(cluster_platform, ledger, _all(groups), replay_url=replay_url)  # type: ignore[arg-type]


@pytest.mark.timeout(420)
def test_a_rolling_restart_of_every_service_under_load_loses_no_write(
    cluster_platform: ClusterPlatform, replay_url: str
) -> None:
    """Each service process in turn is stopped and started again while writes go on; clients
    retry 503s and refused connections after ``Retry-After`` (the load's documented behaviour)."""
    groups = register_organisations(cluster_platform, 4)
    load = Load(cluster_platform, groups, total=500, rate=12, retry_for=60).start()
    load.wait_for(0.1)
    for service in SERVICES:
        cluster_platform.stop_service(service)
        cluster_platform.restart(service)
    ledger = load.join()
    log(f"rolling restart: {dict(ledger.counts)}")
    assert ledger.counts["retried"], "no write met a restarting service"
    assert not ledger.counts["not_sent"], ledger.errors  # every refused write got in on a retry
    final_check(cluster_platform, ledger, _all(groups), replay_url=replay_url)  # type: ignore[arg-type]
