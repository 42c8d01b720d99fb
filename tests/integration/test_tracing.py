"""W3C trace context from an HTTP request, through the event it records (the CloudEvents
distributed-tracing extension) and NATS, to the coordinator applying it; nothing when tracing is
off; JSON log lines with the event and trace ids."""

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import create_engine, select

from services.community.app import SETTINGS as CommunitySettings
from services.community.app import create_app as create_community
from services.coordinator.app import CoordinatorSettings
from services.coordinator.app import create_app as create_coordinator
from shared import tracing
from shared.logs import JsonFormatter
from shared.messaging.models import OutboxMessage
from sifang.platform import LocalNats

ADMIN = {"Authorization": "Bearer tracing-admin-token-0123456789"}
NEED = {"category": "training.livestream", "title": "直播带货培训", "quantity": 30, "unit": "人"}
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = "00f067aa0ba902b7"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    yield exporter
    tracing.use_provider(None)
    provider.shutdown()


@pytest.fixture
def apps(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> Iterator[tuple[TestClient, TestClient, str]]:
    community_url = service_database("community")
    community = CommunitySettings(
        database_url=community_url, nats_url=nats_server.url, admin_token=ADMIN["Authorization"].split()[1]
    )
    coordinator = CoordinatorSettings(
        database_url=service_database("coordinator"),
        nats_url=nats_server.url,
        admin_token="coordinator-token-0123",
    )
    with (
        TestClient(create_community(community)) as village,
        TestClient(create_coordinator(coordinator)) as hub,
    ):
        yield village, hub, community_url


def _events(url: str) -> list[dict[str, Any]]:
    engine = create_engine(url)
    with engine.connect() as connection:
        payloads = list(connection.scalars(select(OutboxMessage.payload).order_by(OutboxMessage.id)))
    engine.dispose()
    return [json.loads(p) for p in payloads]


def _eventually(probe: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(0.05)
    return result


def _span(spans: InMemorySpanExporter, name: str, trace_id: int) -> ReadableSpan | None:
    for span in spans.get_finished_spans():
        if span.name == name and span.context.trace_id == trace_id:
            return span
    return None


def test_a_request_trace_continues_through_its_event_to_the_coordinator(
    spans: InMemorySpanExporter, apps: tuple[TestClient, TestClient, str]
) -> None:
    village, _, community_url = apps
    key = village.post("/organisations", headers=ADMIN, json={"name": "西村村委会", "region": "610124104201"})
    headers = {"Authorization": f"Bearer {key.json()['api_key']}", "traceparent": f"00-{TRACE}-{CALLER}-01"}
    assert village.post("/needs", headers=headers, json=NEED).status_code == 201

    trace_id = int(TRACE, 16)
    server = _span(spans, "POST /needs", trace_id)
    assert server is not None and server.kind == SpanKind.SERVER
    assert server.parent is not None and format(server.parent.span_id, "016x") == CALLER  # the caller's
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 201

    need = next(e for e in _events(community_url) if e["type"] == "sifang.need.published.v1")
    assert need["traceparent"] == f"00-{TRACE}-{server.context.span_id:016x}-01"

    applied = _eventually(lambda: _span(spans, "apply sifang.need.published.v1", trace_id))
    assert applied.kind == SpanKind.CONSUMER
    assert applied.parent is not None and applied.parent.span_id == server.context.span_id
    assert applied.attributes is not None and applied.attributes["sifang.event.id"] == need["id"]

    # A request without a traceparent starts its own trace, which its event carries.
    plain = {"Authorization": headers["Authorization"]}
    assert village.post("/needs", headers=plain, json={**NEED, "title": "第二期"}).status_code == 201
    second = [e for e in _events(community_url) if e["type"] == "sifang.need.published.v1"][-1]
    assert second["traceparent"].split("-")[1] != TRACE


def test_with_tracing_off_no_span_is_made_and_no_event_carries_a_trace(
    apps: tuple[TestClient, TestClient, str],
) -> None:
    village, _, community_url = apps
    assert tracing.tracer() is None
    key = village.post("/organisations", headers=ADMIN, json={"name": "西村村委会", "region": "610124104201"})
    headers = {"Authorization": f"Bearer {key.json()['api_key']}", "traceparent": f"00-{TRACE}-{CALLER}-01"}
    assert village.post("/needs", headers=headers, json=NEED).status_code == 201
    assert all("traceparent" not in event for event in _events(community_url))


def test_json_log_lines_carry_the_event_and_trace_ids(spans: InMemorySpanExporter) -> None:
    record = logging.LogRecord(
        "shared.messaging.consumer", logging.INFO, __file__, 1, "applied %s", ("x",), None
    )
    record.event_id = "01a2-event"
    record.correlation_id = "01a2-corr"
    tracer = tracing.tracer()
    assert tracer is not None
    handler = logging.StreamHandler()
    from shared.logs import _EventContext

    handler.addFilter(_EventContext())
    with tracer.start_as_current_span("work") as span:
        assert handler.filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "applied x" and line["level"] == "INFO"
    assert line["event_id"] == "01a2-event" and line["correlation_id"] == "01a2-corr"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
