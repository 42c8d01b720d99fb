"""Which events a subscriber wants: by type, publishing kind, region and organisation."""

import json
from dataclasses import dataclass
from typing import Any

from shared.events.subjects import Subject
from shared.regions import covers

__all__ = ["EventFilter"]


@dataclass(frozen=True)
class EventFilter:
    """Empty lists match everything; several values of one field match any of them."""

    types: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    organisations: tuple[str, ...] = ()

    @property
    def subjects(self) -> list[str]:
        """NATS subjects narrowing the stream by publishing kind (regions are checked per event)."""
        return sorted(f"sifang.{k}.>" for k in self.kinds) or ["sifang.>"]

    def matches(self, subject: str, event: dict[str, Any]) -> bool:
        try:
            parsed = Subject.parse(subject)
        except ValueError:
            return False
        if self.types and event.get("type") not in self.types:
            return False
        if self.kinds and parsed.kind not in self.kinds:
            return False
        if self.regions and not any(covers(r, parsed.region) or r[:6] == parsed.region for r in self.regions):
            return False
        return not self.organisations or self._concerns(event)

    def _concerns(self, event: dict[str, Any]) -> bool:
        source = str(event.get("source", ""))
        if source.rsplit("/", 1)[-1] in self.organisations:
            return True
        text = json.dumps(event.get("data", {}))
        return any(org in text for org in self.organisations)
