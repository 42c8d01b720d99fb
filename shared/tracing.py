"""Distributed tracing with OpenTelemetry: W3C trace context across HTTP and NATS. Off by default.

``SIFANG_TRACING`` turns it on: ``console`` prints finished spans, ``otlp`` sends them over
OTLP/HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the exporter's own variables apply); ``off``, the
default, costs nothing: no span is made and no trace context is written.

- **HTTP**: :class:`TraceRequests` continues the caller's ``traceparent`` header (or starts a
  trace) with a server span per request, named by its route template.
- **NATS**: an event a party's service records during a traced request carries the context as
  the CloudEvents distributed-tracing extension (``traceparent``, ``tracestate`` attributes of
  the envelope); a consumer applying it makes a child span (:func:`applying`). The events the
  coordinator derives carry none: they must be the same in a replay, which runs untraced.
"""

import contextlib
import os
from collections.abc import Iterator

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.events.envelope import CloudEvent

__all__ = [
    "TraceRequests",
    "applying",
    "configure_tracing",
    "current_trace_context",
    "tracer",
    "use_provider",
]

_PROPAGATOR = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None


def configure_tracing(service: str) -> None:
    """Set up tracing from ``SIFANG_TRACING`` once per process (a second call changes nothing)."""
    if _provider is not None:
        return
    mode = os.environ.get("SIFANG_TRACING", "off").strip().lower()
    exporter: SpanExporter
    if mode in ("", "off"):
        return
    if mode == "console":
        exporter = ConsoleSpanExporter()
    elif mode == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    else:
        raise ValueError(f"SIFANG_TRACING must be off, console or otlp, not {mode!r}")
    provider = TracerProvider(resource=Resource.create({"service.name": f"sifang-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    use_provider(provider)


def use_provider(provider: TracerProvider | None) -> None:
    """Trace with ``provider`` from now on (None: off). Tests use it with an in-memory exporter."""
    global _provider
    _provider = provider


def tracer() -> trace.Tracer | None:
    return _provider.get_tracer("sifang") if _provider is not None else None


def current_trace_context() -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) of the span in progress, for an event's envelope; empty
    when tracing is off or nothing is being traced."""
    if _provider is None:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


@contextlib.contextmanager
def applying(consumer: str, event: CloudEvent) -> Iterator[None]:
    """A consumer span around applying one event, the child of the span that recorded it."""
    traced = tracer()
    if traced is None:
        yield
        return
    carried = {"traceparent": event.traceparent or "", "tracestate": event.tracestate or ""}
    parent = _PROPAGATOR.extract({k: v for k, v in carried.items() if v})
    attributes = {
        "messaging.system": "nats",
        "messaging.consumer.group.name": consumer,
        "sifang.event.id": event.id,
    }
    with traced.start_as_current_span(
        f"apply {event.type}", context=parent, kind=trace.SpanKind.CONSUMER, attributes=attributes
    ):
        yield


class TraceRequests:
    """ASGI middleware: a server span per HTTP request, continuing the caller's ``traceparent``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        traced = tracer()
        if traced is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers") or []}
        parent = _PROPAGATOR.extract(headers)
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        name = f"{scope['method']} {scope['path']}"
        span = traced.start_span(name, context=parent, kind=trace.SpanKind.SERVER)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route:
                span.update_name(f"{scope['method']} {route}")
                span.set_attribute("http.route", str(route))
            span.set_attribute("http.request.method", str(scope["method"]))
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(trace.Status(trace.StatusCode.ERROR))
            span.end()
            otel_context.detach(token)
