"""Webhook destinations: what is refused at subscription and again at delivery, on each backend.

Nothing here sends anything beyond loopback: the private and special addresses are refused
before any connection (the receivers on 127.0.0.x prove that nothing arrived), and the only
host name used is ``localhost``."""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from services.coordinator.app import CoordinatorSettings, create_app
from services.coordinator.integrations.feed import head
from services.coordinator.integrations.models import WebhookSubscription
from shared.db import utcnow
from sifang.platform import LocalNats, free_port
from tests import factories
from tests.integration.test_webhooks import _eventually, _publish

TOKEN = "destinations-admin-token-0123"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


class Endpoint:
    """A loopback HTTP endpoint on ``host`` that records requests and answers ``status``."""

    def __init__(self, host: str = "127.0.0.1", status: int = 204, headers: dict[str, str] | None = None):
        self.received: list[dict[str, str]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                endpoint.received.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, free_port()), Handler)
        self.port = self.server.server_port
        self.url = f"http://{host}:{self.port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def make_coordinator(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> Iterator[Callable[..., TestClient]]:
    with ExitStack() as stack:

        def make(**settings: Any) -> TestClient:
            app = create_app(
                CoordinatorSettings(
                    database_url=service_database("coordinator"),
                    nats_url=nats_server.url,
                    admin_token=TOKEN,
                    webhook_backoff=[0.2],
                    webhook_timeout=2.0,
                    **settings,
                )
            )
            return stack.enter_context(TestClient(app))

        yield make


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    receiver = Endpoint()
    yield receiver
    receiver.close()


def _refusal(client: TestClient, url: str) -> str:
    response = client.post("/webhooks", headers=ADMIN, json={"url": url})
    assert response.status_code == 422, (url, response.text)
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["url"], (url, errors)
    return str(errors[0]["problem"])


def test_non_public_destinations_and_plain_http_are_refused_at_subscription(
    make_coordinator: Callable[..., TestClient], endpoint: Endpoint
) -> None:
    coordinator = make_coordinator()  # the defaults: nothing beyond public https
    port = endpoint.port
    refused = {
        f"http://127.0.0.1:{port}/hooks": "127.0.0.1 is a loopback address",
        f"https://127.0.0.1:{port}/hooks": "127.0.0.1 is a loopback address",
        f"https://localhost:{port}/hooks": "localhost resolves to",  # a name that resolves locally
        f"https://[::1]:{port}/hooks": "::1 is a loopback address",
        f"https://[::ffff:127.0.0.1]:{port}/hooks": "an IPv6 form of 127.0.0.1, a loopback address",
        "https://10.0.0.1/": "10.0.0.1 is a private address (RFC 1918)",
        "https://172.16.0.1/": "172.16.0.1 is a private address (RFC 1918)",
        "http://192.168.1.1/": "192.168.1.1 is a private address (RFC 1918)",
        "https://[fd00::1]/": "fd00::1 is a unique local address",
        "https://169.254.169.254/latest/meta-data/": "169.254.169.254 is a link-local address",
        "https://[fe80::1]/": "fe80::1 is a link-local address",
        "https://0.0.0.0/": "0.0.0.0 is the unspecified address",
        "https://224.0.0.1/": "224.0.0.1 is a multicast address",
        "https://240.0.0.1/": "240.0.0.1 is a reserved address",
        "https://100.64.0.1/": "100.64.0.1 is a carrier-grade NAT address",
    }
    for url, reason in refused.items():
        problem = _refusal(coordinator, url)
        assert reason in problem and "COORDINATOR_WEBHOOK_ALLOW" in problem, (url, problem)
    # Schemes: only http(s), and plain http not to a public address unless the operator allows it.
    assert "URL" in _refusal(coordinator, "ftp://93.184.215.14/hooks")
    assert "plain http" in _refusal(coordinator, "http://93.184.215.14/hooks")
    assert coordinator.get("/webhooks", headers=ADMIN).json() == []
    assert endpoint.received == []  # nothing was ever sent


def test_the_operator_may_allow_loopback_and_private_destinations(
    make_coordinator: Callable[..., TestClient], nats_server: LocalNats, endpoint: Endpoint
) -> None:
    coordinator = make_coordinator(webhook_allow_private=True)
    # A host name: resolved, checked, and the request goes to the checked address with its Host.
    named = f"http://localhost:{endpoint.port}/hooks"
    response = coordinator.post("/webhooks", headers=ADMIN, json={"url": named})
    assert response.status_code == 201, response.text
    _publish(nats_server, factories.registered("org-1"))
    headers = _eventually(lambda: endpoint.received and endpoint.received[0])
    assert headers["host"] == f"localhost:{endpoint.port}"
    # the sender records the delivery once the answer is in, a moment after the endpoint has it
    path = f"/webhooks/{response.json()['id']}/deliveries"
    log = _eventually(
        lambda: (got := coordinator.get(path, headers=ADMIN).json()) and got[0]["status"] != "pending" and got
    )
    assert [(d["status"], d["last_error"]) for d in log] == [("delivered", "")]
    # Allowing private addresses is not allowing plain http to the internet.
    assert "plain http" in _refusal(coordinator, "http://93.184.215.14/hooks")


def test_the_allow_list_allows_only_its_networks(
    make_coordinator: Callable[..., TestClient], endpoint: Endpoint
) -> None:
    coordinator = make_coordinator(webhook_allowed_networks=["127.0.0.1/32"])
    response = coordinator.post("/webhooks", headers=ADMIN, json={"url": endpoint.url})
    assert response.status_code == 201, response.text
    assert "127.0.0.2 is a loopback address" in _refusal(coordinator, f"http://127.0.0.2:{endpoint.port}/")
    assert "10.0.0.1 is a private address" in _refusal(coordinator, "https://10.0.0.1/")


def _insert_subscription(sessions: sessionmaker[Session], subscription_id: str, url: str) -> None:
    """A subscription as if it had been accepted when its host resolved elsewhere."""
    with sessions() as session:
        session.add(
            WebhookSubscription(
                id=subscription_id,
                url=url,
                secret="whsec_" + "A" * 32,
                description="",
                types=[],
                kinds=[],
                regions=[],
                organisations=[],
                active=True,
                created_at=utcnow(),
                enqueued_through=head(session),
                failing_since=None,
                disabled_at=None,
                disabled_reason="",
            )
        )
        session.commit()


def test_a_destination_that_became_forbidden_is_refused_at_delivery(
    make_coordinator: Callable[..., TestClient], nats_server: LocalNats, endpoint: Endpoint
) -> None:
    coordinator = make_coordinator()  # loopback not allowed
    sessions: sessionmaker[Session] = coordinator.app.state.runtime.session_factory  # type: ignore[attr-defined]
    _insert_subscription(sessions, "sub-literal", endpoint.url)
    _insert_subscription(sessions, "sub-named", f"https://localhost:{endpoint.port}/hooks")
    _publish(nats_server, factories.registered("org-1"))

    def dead(subscription_id: str) -> list[dict[str, Any]]:
        response = coordinator.get(
            f"/webhooks/{subscription_id}/deliveries", headers=ADMIN, params={"status": "dead"}
        )
        return list(response.json())

    literal = _eventually(lambda: dead("sub-literal"))
    named = _eventually(lambda: dead("sub-named"))
    for log, reason in (
        (literal, "undeliverable: 127.0.0.1 is a loopback address"),
        (named, "undeliverable: localhost resolves to 127.0.0.1, a loopback address"),
    ):
        assert len(log) == 1
        assert log[0]["attempts"] == 1  # not retried: refused at once
        assert log[0]["last_status_code"] is None
        assert log[0]["last_error"].startswith(reason), log[0]["last_error"]
    time.sleep(0.5)
    assert endpoint.received == []  # nothing was sent
    # Enabling a stopped subscription checks its URL again.
    assert coordinator.delete("/webhooks/sub-literal", headers=ADMIN).status_code == 200
    assert "loopback" in _refusal_on_enable(coordinator, "sub-literal")


def _refusal_on_enable(client: TestClient, subscription_id: str) -> str:
    response = client.post(f"/webhooks/{subscription_id}/enable", headers=ADMIN)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["url"]
    assert client.get(f"/webhooks/{subscription_id}", headers=ADMIN).json()["active"] is False
    return str(errors[0]["problem"])


def test_a_redirect_to_a_forbidden_address_is_not_followed(
    make_coordinator: Callable[..., TestClient], nats_server: LocalNats
) -> None:
    forbidden = Endpoint(host="127.0.0.2")  # loopback outside the allow-list
    redirector = Endpoint(status=307, headers={"location": forbidden.url})
    try:
        coordinator = make_coordinator(webhook_allowed_networks=["127.0.0.1/32"])
        response = coordinator.post("/webhooks", headers=ADMIN, json={"url": redirector.url})
        assert response.status_code == 201, response.text
        _publish(nats_server, factories.registered("org-1"))
        path = f"/webhooks/{response.json()['id']}/deliveries"
        log = _eventually(lambda: coordinator.get(path, headers=ADMIN, params={"status": "dead"}).json())
        assert log[0]["attempts"] == 2 and log[0]["last_status_code"] == 307  # one retry, then dead
        assert "not followed" in log[0]["last_error"] and forbidden.url in log[0]["last_error"]
        assert len(redirector.received) == 2
        assert forbidden.received == []
    finally:
        forbidden.close()
        redirector.close()
