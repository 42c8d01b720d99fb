"""A three-node JetStream cluster on loopback, built from the shipped ``deploy/nats`` files.

Each node runs its ``deploy/nats/nats-N.conf`` with the ports moved to free loopback ports and its
store in the test's directory; routes authenticate with the ``sifang-route`` user, clients with
the users of ``deploy/nats/permissions.conf``; secrets come from the environment as in production.
Nodes can be killed with SIGKILL and started again on the same ports with the same store.
"""

import asyncio
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats

from services import SERVICES
from shared.messaging.access import ADMIN_USER, credentials_env, deploy_users, password_variable
from shared.messaging.nats import STREAM_NAME, servers
from sifang.platform import _wait_for_port, free_ports, nats_server_binary
from tests.chaos.harness import ChaosPlatform, log
from tests.processes import stop_gently

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy/nats"
ROUTE_PASSWORD = "routepw0123"


def password(user: str) -> str:
    return "pw" + user.replace("-", "")


def secrets() -> dict[str, str]:
    """Every password the shipped configuration reads from the environment."""
    env = {password_variable(user.name): password(user.name) for user in deploy_users()}
    env["SIFANG_NATS_ROUTE_PASSWORD"] = ROUTE_PASSWORD
    return env


@dataclass
class Node:
    number: int
    client: int
    monitor: int
    route: int
    store: Path
    config: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client}"

    @property
    def name(self) -> str:
        return f"sifang-nats-{self.number}"


class NatsCluster:
    """Three nats-server processes forming the ``sifang`` cluster."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEPLOY / "permissions.conf", root / "permissions.conf")
        ports = free_ports(9)
        self.nodes = [
            Node(n, *ports[3 * (n - 1) : 3 * n], store=root / f"store-{n}", config=root / f"nats-{n}.conf")
            for n in (1, 2, 3)
        ]
        for node in self.nodes:
            text = (DEPLOY / f"nats-{node.number}.conf").read_text()
            for shipped, local in (
                ("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{node.client}"),
                ("http: 127.0.0.1:8222", f"http: 127.0.0.1:{node.monitor}"),
                ("listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{node.route}"),
                ("/var/lib/sifang-nats", str(node.store)),
            ):
                assert shipped in text, f"deploy/nats/nats-{node.number}.conf no longer has {shipped!r}"
                text = text.replace(shipped, local)
            node.config.write_text(text)
        routes = ", ".join(
            f"nats-route://sifang-route:{ROUTE_PASSWORD}@127.0.0.1:{n.route}" for n in self.nodes
        )
        self.env = os.environ | secrets() | {"SIFANG_NATS_ROUTES": f"[{routes}]"}

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def start(self, number: int | None = None) -> None:
        for node in self.nodes if number is None else [self.node(number)]:
            log_file = open(self.root / f"{node.name}.log", "ab")  # noqa: SIM115
            node.process = subprocess.Popen(
                [nats_server_binary(), "-c", str(node.config)], env=self.env, stdout=log_file, stderr=log_file
            )
        for node in self.nodes if number is None else [self.node(number)]:
            _wait_for_port(node.client, 30)

    def node(self, number: int) -> Node:
        return self.nodes[number - 1]

    def kill(self, number: int) -> None:
        node = self.node(number)
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(10)
        node.process = None
        log(f"killed {node.name} with SIGKILL")

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                stop_gently(node.process, 10)
                node.process = None

    def admin(self) -> dict[str, str]:
        return {"user": ADMIN_USER, "password": password(ADMIN_USER)}

    def stream_cluster(self, timeout: float = 60) -> dict[str, Any]:
        """The stream's leader and replicas as the cluster reports them (waits for a leader)."""

        async def ask() -> dict[str, Any]:
            client = await nats.connect(servers(self.url), connect_timeout=2, **self.admin())
            try:
                info = await client.jetstream(timeout=5).stream_info(STREAM_NAME)
                assert info.cluster is not None
                replicas = [(r.name, bool(r.current), bool(r.offline)) for r in info.cluster.replicas or []]
                return {"leader": info.cluster.leader, "replicas": replicas, "messages": info.state.messages}
            finally:
                await client.close()

        deadline = time.monotonic() + timeout
        while True:
            try:
                found = asyncio.run(ask())
                if found["leader"]:
                    return found
            except Exception as exc:  # no leader yet, or the node asked is gone
                found = {"error": repr(exc)}
            assert time.monotonic() < deadline, f"the stream has no leader: {found}"
            time.sleep(0.5)

    def leader(self) -> int:
        name = str(self.stream_cluster()["leader"])
        return int(name.rsplit("-", 1)[1])

    def wait_all_current(self, timeout: float = 90) -> None:
        """Until the stream has a leader and both other replicas are current."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.stream_cluster()
            if len(found["replicas"]) == 2 and all(
                current and not offline for _, current, offline in found["replicas"]
            ):
                return
            assert time.monotonic() < deadline, f"replicas not current: {found}"
            time.sleep(0.5)


class ClusterPlatform(ChaosPlatform):
    """The five services as processes, on the cluster, each with its own NATS user."""

    def __init__(self, var_dir: Path, cluster: NatsCluster, **kwargs: Any) -> None:
        env = dict(kwargs.pop("env", {}))
        env |= {"SIFANG_STREAM_REPLICAS": "3", "SIFANG_NATS_ADMIN_PASSWORD": password(ADMIN_USER)}
        for service in SERVICES:
            env |= credentials_env(service, password(service))
        super().__init__(var_dir, nats_url=cluster.url, env=env, **kwargs)
        self.cluster = cluster

    def nats_credentials(self, user: str = ADMIN_USER) -> dict[str, str]:
        return {"user": user, "password": password(user)}


def wait_for_jetstream(cluster: NatsCluster, timeout: float = 60) -> None:
    """Until the cluster's JetStream answers (a meta leader is elected)."""

    async def ask() -> None:
        client = await nats.connect(servers(cluster.url), connect_timeout=2, **cluster.admin())
        try:
            await client.jetstream(timeout=3).account_info()
        finally:
            await client.close()

    deadline = time.monotonic() + timeout
    while True:
        try:
            asyncio.run(ask())
            return
        except Exception as exc:
            problem = repr(exc)
        assert time.monotonic() < deadline, f"JetStream not ready: {problem}"
        time.sleep(0.5)
