"""Log format: every line about an event carries its event id and correlation id.

Code logging about an event passes ``extra={"event_id": ..., "correlation_id": ...}``; the
filter here gives every other record empty values so one format serves all.
"""

import logging
import os

__all__ = ["configure_logging"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(event_context)s"


class _EventContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        event_id = getattr(record, "event_id", None)
        correlation_id = getattr(record, "correlation_id", None)
        parts = [
            f"event_id={event_id}" if event_id else "",
            f"correlation_id={correlation_id}" if correlation_id else "",
        ]
        text = " ".join(p for p in parts if p)
        record.event_context = f" [{text}]" if text else ""
        return True


def configure_logging() -> None:
    """Log to stderr at ``SIFANG_LOG_LEVEL`` (default INFO), once per process."""
    root = logging.getLogger()
    if any(isinstance(f, _EventContext) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(_EventContext())
    root.addHandler(handler)
    root.setLevel(os.environ.get("SIFANG_LOG_LEVEL", "INFO").upper())
