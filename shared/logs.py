"""Log format: every line about an event carries its event id and correlation id.

Code logging about an event passes ``extra={"event_id": ..., "correlation_id": ...}``; the
filter here gives every other record empty values so one format serves all, and adds the trace
and span ids when tracing is on (shared/tracing.py). ``SIFANG_LOG_FORMAT=json`` writes one JSON
object per line (``time``, ``level``, ``logger``, ``message``, ``event_id``, ``correlation_id``,
``trace_id``, ``span_id``, ``exception``) for a log collector; the default is plain text.
"""

import json
import logging
import os

from opentelemetry import trace

__all__ = ["JsonFormatter", "configure_logging"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(event_context)s"
_CONTEXT = ("event_id", "correlation_id", "trace_id", "span_id")


class _EventContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            record.trace_id = format(span.trace_id, "032x")
            record.span_id = format(span.span_id, "016x")
        parts = [f"{name}={value}" for name in _CONTEXT if (value := getattr(record, name, None))]
        record.event_context = f" [{' '.join(parts)}]" if parts else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the event and trace context when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line |= {name: value for name in _CONTEXT if (value := getattr(record, name, None))}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging() -> None:
    """Log to stderr at ``SIFANG_LOG_LEVEL`` (default INFO) in ``SIFANG_LOG_FORMAT`` (``text`` or
    ``json``), once per process."""
    root = logging.getLogger()
    if any(isinstance(f, _EventContext) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    json_lines = os.environ.get("SIFANG_LOG_FORMAT", "text").strip().lower() == "json"
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(_FORMAT))
    handler.addFilter(_EventContext())
    root.addHandler(handler)
    root.setLevel(os.environ.get("SIFANG_LOG_LEVEL", "INFO").upper())
