"""NATS subjects: ``sifang.<kind>.<region>.<entity>.<verb>``.

The publisher's kind is always the second token, so stream capture, consumer filters and
NATS permissions can all be written per kind; the region (a six-digit GB/T 2260 code) is the
third, so coordinators can partition the subject space by region.
"""

import re
from dataclasses import dataclass

__all__ = ["KINDS", "STAKEHOLDER_KINDS", "Subject", "subject_for"]

STAKEHOLDER_KINDS = ("government", "enterprise", "ngo", "community")
KINDS = (*STAKEHOLDER_KINDS, "coordinator")

_TOKEN = re.compile(r"^[a-z][a-z_]*$")


@dataclass(frozen=True)
class Subject:
    kind: str
    region: str
    entity: str
    verb: str

    def __str__(self) -> str:
        return f"sifang.{self.kind}.{self.region}.{self.entity}.{self.verb}"

    @classmethod
    def parse(cls, subject: str) -> "Subject":
        """Parse a subject string; raises ValueError naming what is wrong."""
        parts = subject.split(".")
        if len(parts) != 5 or parts[0] != "sifang":
            raise ValueError(f"subject {subject!r} is not sifang.<kind>.<region>.<entity>.<verb>")
        _, kind, region, entity, verb = parts
        if kind not in KINDS:
            raise ValueError(f"subject {subject!r} names unknown kind {kind!r}")
        if not (region.isdigit() and len(region) == 6):
            raise ValueError(f"subject {subject!r} has no six-digit region code")
        if not (_TOKEN.match(entity) and _TOKEN.match(verb)):
            raise ValueError(f"subject {subject!r} has a malformed entity or verb")
        return cls(kind, region, entity, verb)


def subject_for(kind: str, region: str, entity: str, verb: str) -> str:
    """Build the subject an event of ``entity``/``verb`` from ``kind`` in ``region`` goes to."""
    return str(Subject(kind, region[:6], entity, verb))
