"""What integrators receive (SSE and webhooks) comes from the coordinator's event log, in the
order it applied events, and one endpoint's faults never hold up another's. The coordinator
runs under uvicorn on loopback; the endpoints are real local HTTP servers; on each backend."""

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.coordinator.app import CoordinatorSettings, create_app
from services.coordinator.dashboard.accounts import create_account
from services.coordinator.journal.models import EventLogEntry
from services.coordinator.journal.service import log_event
from shared.events.envelope import CloudEvent
from shared.messaging.nats import NatsLink
from sifang.platform import LocalNats, free_port
from tests import factories
from tests.integration.test_webhooks import Receiver

TOKEN = "feed-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


class Coordinator:
    """The coordinator app served by uvicorn in a thread, and an HTTP client for it."""

    def __init__(self, settings: CoordinatorSettings) -> None:
        self.app = create_app(settings)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the coordinator did not start"
            time.sleep(0.05)
        self.http = httpx.Client(base_url=self.url, headers=ADMIN, timeout=10.0)

    @property
    def sessions(self) -> sessionmaker[Session]:
        factory: sessionmaker[Session] = self.app.state.runtime.session_factory
        return factory

    def subscribe(self, url: str, **filters: Any) -> str:
        response = self.http.post("/webhooks", json={"url": url, **filters})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def deliveries(self, subscription_id: str, **params: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/webhooks/{subscription_id}/deliveries", params=params)
        assert response.status_code == 200, response.text
        return list(response.json())

    def close(self) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def make_coordinator(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> Iterator[Callable[..., Coordinator]]:
    with ExitStack() as stack:

        def make(database_url: str | None = None, **settings: Any) -> Coordinator:
            coordinator = Coordinator(
                CoordinatorSettings(
                    database_url=database_url or service_database("coordinator"),
                    nats_url=nats_server.url,
                    admin_token=TOKEN,
                    # The local receivers are on loopback, which webhooks may not reach by default.
                    **({"webhook_allowed_networks": ["127.0.0.0/8"]} | settings),
                )
            )
            stack.callback(coordinator.close)
            return coordinator

        yield make


class Silent:
    """An endpoint that accepts connections and never answers."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(256)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/hooks"

    def close(self) -> None:
        self.socket.close()


def _settled(count: Callable[[], int], quiet: float = 1.0, timeout: float = 20.0) -> int:
    """``count`` once it has not changed for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    value, since = count(), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "never settled"
        time.sleep(0.05)
        if (now := count()) != value:
            value, since = now, time.monotonic()
    return value


def _eventually(probe: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        time.sleep(interval)
    return result


def _log(coordinator: Coordinator, *events: tuple[str, CloudEvent]) -> list[int]:
    """Append events to the coordinator's log as if it had applied them; their positions."""
    with coordinator.sessions() as session:
        last = session.scalar(select(func.max(EventLogEntry.position))) or 0
        positions = [last + k for k in range(1, len(events) + 1)]
        for position, (subject, event) in zip(positions, events, strict=True):
            log_event(session, event, subject, 10**9 + position)  # never on the stream in these tests
        session.commit()
    return positions


def _needs(count: int, org: str = "org-1") -> list[tuple[str, CloudEvent]]:
    return [factories.need_published(org, title=f"need {i}") for i in range(count)]


def _publish(nats_server: LocalNats, *messages: tuple[str, bytes]) -> None:
    async def go() -> None:
        link = NatsLink(nats_server.url, "test-publisher")
        js = await link.jetstream()
        for subject, payload in messages:
            await js.publish(subject, payload)
        await link.close()

    asyncio.run(go())


def _read_sse(
    coordinator: Coordinator,
    count: int,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    while_reading: Callable[[], Any] | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """The first ``count`` events ``GET /stream`` sends, as (id, event)."""
    found: list[tuple[int, dict[str, Any]]] = []
    with coordinator.http.stream(
        "GET", "/stream", params=params or {}, headers=headers or {}, timeout=httpx.Timeout(20.0)
    ) as response:
        assert response.status_code == 200
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(": connected") and while_reading is not None:
                while_reading()
            elif line == "" and "data" in fields:
                found.append((int(fields["id"]), json.loads(fields["data"])))
                fields = {}
                if len(found) == count:
                    break
            elif ":" in line and not line.startswith(":"):
                key, _, value = line.partition(": ")
                fields[key] = value
    return found


# -- the feed: only accepted events, in the order applied ---------------------------------------


def test_sse_and_webhooks_carry_only_accepted_events_in_log_order(
    make_coordinator: Callable[..., Coordinator], nats_server: LocalNats
) -> None:
    coordinator = make_coordinator(webhook_backoff=[0.2])
    receiver = Receiver(204)
    subscription = coordinator.subscribe(receiver.url)

    org_subject, org = factories.registered("org-1")
    first_subject, first = factories.need_published("org-1", title="first")
    # Refused: a community organisation's need on a government subject, and a non-event.
    _, forged = factories.need_published("org-1", title="forged")
    forged_subject = first_subject.replace("sifang.community.", "sifang.government.")
    second_subject, second = factories.need_published("org-1", title="second")
    _publish(
        nats_server,
        (org_subject, org.to_json()),
        (first_subject, first.to_json()),
        (forged_subject, forged.to_json()),
        (first_subject, b"nonsense"),
        (second_subject, second.to_json()),
    )
    _eventually(lambda: len(coordinator.http.get("/dead-letters").json()) == 2)
    logged = _eventually(lambda: len(ids := _logged(coordinator)) == 3 and ids)
    assert [event_id for _, event_id in logged] == [org.id, first.id, second.id]

    _eventually(lambda: len(receiver.received) == 3)
    time.sleep(0.5)  # nothing more comes
    delivered = [json.loads(body) for _, body in receiver.received]
    assert [e["id"] for e in delivered] == [org.id, first.id, second.id]
    assert [int(headers["sifang-position"]) for headers, _ in receiver.received] == [p for p, _ in logged]
    assert forged.id not in {e["id"] for e in delivered}
    assert delivered[1]["data"]["title"] == "first" and delivered[1]["source"] == first.source
    log = coordinator.deliveries(subscription)
    assert [d["position"] for d in reversed(log)] == [p for p, _ in logged]

    streamed = _read_sse(coordinator, 3, {"after": 0})
    assert [(i, e["id"]) for i, e in streamed] == logged
    assert CloudEvent.model_validate(streamed[1][1]) == first  # the whole envelope, as published
    receiver.close()


def _logged(coordinator: Coordinator) -> list[tuple[int, str]]:
    with coordinator.sessions() as session:
        return [
            (p, e)
            for p, e in session.execute(
                select(EventLogEntry.position, EventLogEntry.event_id).order_by(EventLogEntry.position)
            )
        ]


def test_sse_resumes_after_the_last_event_id_position_with_filters_and_from_a_time(
    make_coordinator: Callable[..., Coordinator],
) -> None:
    coordinator = make_coordinator()
    a, b = factories.registered("org-a"), factories.registered("org-b", kind="ngo")
    early = datetime.now(UTC) - timedelta(hours=1)
    positions = _log(coordinator, a, b, *_needs(3, "org-a"))
    assert positions == [1, 2, 3, 4, 5]

    everything = _read_sse(coordinator, 5, {"after": 0})
    assert [i for i, _ in everything] == positions
    resumed = _read_sse(coordinator, 3, headers={"Last-Event-ID": "2"})
    assert [i for i, _ in resumed] == [3, 4, 5]
    assert [e["id"] for _, e in resumed] == [e["id"] for _, e in everything[2:]]
    community = _read_sse(coordinator, 4, {"kind": "community", "after": 0})
    assert [i for i, _ in community] == [1, 3, 4, 5]
    needs = _read_sse(coordinator, 2, {"type": "sifang.need.published.v1", "after": 3})
    assert [i for i, _ in needs] == [4, 5]
    assert [i for i, _ in _read_sse(coordinator, 5, {"since": early.isoformat()})] == positions

    # Without a cursor: only what is applied from now on.
    def more() -> None:
        threading.Timer(0.3, lambda: _log(coordinator, factories.need_published("org-b"))).start()

    live = _read_sse(coordinator, 1, while_reading=more)
    assert [i for i, _ in live] == [6]

    for bad in ("yesterday", str(2**64)):
        response = coordinator.http.get("/stream", headers={"Last-Event-ID": bad})
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "Last-Event-ID"
    assert coordinator.http.get("/stream", params={"after": 2**64}).status_code == 422


def test_webhook_enqueuing_resumes_after_a_restart_without_loss_or_duplicates(
    make_coordinator: Callable[..., Coordinator], service_database: Callable[[str], str]
) -> None:
    database = service_database("coordinator")
    receiver = Receiver(204)
    first = make_coordinator(database_url=database)
    subscription = first.subscribe(receiver.url)
    _log(first, *_needs(3))
    _eventually(lambda: len(receiver.received) == 3)
    # received is not yet recorded: a sender stopped in between sends it again (at least once)
    _eventually(lambda: len(first.deliveries(subscription, status="delivered")) == 3)
    first.close()

    second = make_coordinator(database_url=database)
    _log(second, *_needs(3))
    _eventually(lambda: len(receiver.received) == 6)
    time.sleep(1.0)
    positions = [int(headers["sifang-position"]) for headers, _ in receiver.received]
    assert positions == [1, 2, 3, 4, 5, 6]
    receiver.close()


# -- webhook senders are isolated per endpoint --------------------------------------------------


def test_dead_endpoints_delay_only_themselves(make_coordinator: Callable[..., Coordinator]) -> None:
    timeout = 60.0  # longer than delivering 30 events to the healthy one takes on a loaded machine
    coordinator = make_coordinator(webhook_timeout=timeout, webhook_backoff=[1.0, 1.0])
    healthy = Receiver(204)
    coordinator.subscribe(healthy.url)

    def delivered_to_healthy(events: int) -> None:
        expected = len(healthy.received) + events
        _log(coordinator, *_needs(events))
        _eventually(lambda: len(healthy.received) >= expected, interval=0.01)

    delivered_to_healthy(10)

    silent = [Silent() for _ in range(3)]
    refused = [f"http://127.0.0.1:{free_port()}/nobody-listens" for _ in range(2)]
    dead = [coordinator.subscribe(url) for url in [s.url for s in silent] + refused]
    delivered_to_healthy(20)
    # The healthy endpoint got all 20 while every silent endpoint still holds its first request
    # (none has timed out yet): its deliveries did not wait for theirs. Causal, not a timing.
    silent_attempts = [d["attempts"] for sub in dead[:3] for d in coordinator.deliveries(sub)]

    assert silent_attempts and set(silent_attempts) == {0}
    assert len(healthy.received) == 30
    # The dead endpoints did get their attempts.
    _eventually(lambda: all(any(d["attempts"] for d in coordinator.deliveries(sub)) for sub in dead[3:]))
    healthy.close()
    for endpoint in silent:
        endpoint.close()


def test_delete_cancels_pending_retries(make_coordinator: Callable[..., Coordinator]) -> None:
    coordinator = make_coordinator(webhook_backoff=[0.3] * 50)
    failing = Receiver(500)
    subscription = coordinator.subscribe(failing.url)
    _log(coordinator, *_needs(2))
    _eventually(lambda: len(failing.received) >= 4)

    response = coordinator.http.delete(f"/webhooks/{subscription}")
    assert response.status_code == 200
    assert response.json()["active"] is False and "deleted" in response.json()["disabled_reason"]
    settled = _settled(lambda: len(failing.received))  # an attempt already in flight may still land
    log = coordinator.deliveries(subscription)
    assert {d["status"] for d in log} == {"cancelled"}
    time.sleep(1.5)  # five retry periods
    assert len(failing.received) == settled
    assert coordinator.deliveries(subscription) == log  # attempts stopped growing
    assert coordinator.deliveries(subscription, status="cancelled") == log
    # New events are not enqueued for it either.
    _log(coordinator, *_needs(1))
    time.sleep(1.0)
    assert len(coordinator.deliveries(subscription)) == 2 and len(failing.received) == settled
    failing.close()


def test_retries_follow_the_configured_schedule_then_the_delivery_is_dead(
    make_coordinator: Callable[..., Coordinator],
) -> None:
    schedule = [0.2, 0.4, 0.8]
    coordinator = make_coordinator(webhook_backoff=schedule)
    failing = Receiver(503)
    subscription = coordinator.subscribe(failing.url)
    _log(coordinator, *_needs(1))

    dead = _eventually(lambda: coordinator.deliveries(subscription, status="dead"))
    assert dead[0]["attempts"] == len(schedule) + 1 and dead[0]["last_status_code"] == 503
    time.sleep(1.0)
    assert len(failing.arrived) == len(schedule) + 1  # and no attempt after the last
    gaps = [later - earlier for earlier, later in zip(failing.arrived, failing.arrived[1:], strict=False)]
    for gap, wait in zip(gaps, schedule, strict=True):
        assert wait - 0.05 <= gap <= wait + 2.0, (gaps, schedule)  # never early; late on a loaded machine
    failing.close()


def test_a_subscription_failing_too_long_is_disabled_with_its_reason(
    make_coordinator: Callable[..., Coordinator],
) -> None:
    coordinator = make_coordinator(webhook_backoff=[0.2] * 100, webhook_disable_after=1.5)
    failing, healthy = Receiver(500), Receiver(204)
    subscription = coordinator.subscribe(failing.url)
    other = coordinator.subscribe(healthy.url)
    _log(coordinator, *_needs(2))

    def stopped() -> dict[str, Any] | None:
        found: dict[str, Any] = coordinator.http.get(f"/webhooks/{subscription}").json()
        return None if found["active"] else found

    shown = _eventually(stopped, timeout=15)
    assert shown["disabled_reason"].startswith("disabled automatically: every delivery failed since")
    assert "HTTP 500" in shown["disabled_reason"] and shown["disabled_at"]
    listed = {s["id"]: s for s in coordinator.http.get("/webhooks").json()}
    assert listed[subscription]["disabled_reason"] == shown["disabled_reason"]
    assert listed[other]["active"] is True and listed[other]["disabled_reason"] == ""
    assert {d["status"] for d in coordinator.deliveries(subscription)} == {"cancelled"}
    time.sleep(0.3)
    settled = len(failing.received)
    time.sleep(1.0)
    assert len(failing.received) == settled
    assert len(healthy.received) == 2

    # An operator starts it again: it gets what is applied from then on.
    enabled = coordinator.http.post(f"/webhooks/{subscription}/enable").json()
    assert enabled["active"] is True and enabled["disabled_reason"] == "" and enabled["failing_since"] is None
    for receiver in (failing, healthy):
        receiver.close()


def test_the_dashboard_live_feed_sends_new_log_entries(make_coordinator: Callable[..., Coordinator]) -> None:
    coordinator = make_coordinator()
    with coordinator.sessions() as session:
        create_account(session, "li", "李主任", "a long enough password")
        session.commit()
    _log(coordinator, *_needs(2))  # before the page opened: not sent
    with httpx.Client(base_url=coordinator.url, timeout=10.0) as browser:
        page = browser.get("/dashboard/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        form = {"username": "li", "password": "a long enough password", "csrf": csrf.group(1)}
        assert browser.post("/dashboard/login", data=form).status_code == 303
        new = factories.need_published("org-1", title="live")
        with browser.stream("GET", "/dashboard/stream", timeout=httpx.Timeout(20.0)) as response:
            assert response.status_code == 200
            fields: dict[str, str] = {}
            for line in response.iter_lines():
                if line.startswith(": connected"):
                    threading.Timer(0.3, lambda: _log(coordinator, new)).start()
                elif line == "" and "data" in fields:
                    break
                elif line and not line.startswith(":"):
                    key, _, value = line.partition(": ")
                    fields[key] = value
    assert fields["id"] == "3" and "event" not in fields  # unnamed: the page's onmessage gets it
    assert json.loads(fields["data"])["data"]["title"] == "live"
