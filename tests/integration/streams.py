"""A coordinator's projection fed by hand: events applied in order, each in its own
transaction with its inbox row, as the coordinator's consumer applies them, and recorded so a
second database can replay them."""

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from services.coordinator.market.models import MarketCell
from services.coordinator.matches.service import MatchPolicy
from services.coordinator.projection import CoordinatorProjection
from shared.db import make_engine
from shared.events.data import MarketSignal
from shared.events.envelope import CloudEvent
from shared.events.validation import check_event
from shared.messaging.consumer import Delivery
from shared.messaging.models import InboxEntry, OutboxMessage

__all__ = ["CONSUMER", "Stream"]

CONSUMER = "coordinator"
SIGNAL = "sifang.market.signal.v1"


class Stream:
    """The coordinator's stream, applied in order and recorded."""

    def __init__(self, url: str) -> None:
        self.sessions = sessionmaker(make_engine(url), expire_on_commit=False)
        self.projection = CoordinatorProjection(MatchPolicy(), consumer=CONSUMER)
        self.applied: list[tuple[str, bytes]] = []

    def apply(self, subject: str, payload: bytes) -> None:
        sequence = len(self.applied) + 1
        with self.sessions() as session:
            checked = check_event(subject, payload)
            self.projection(session, checked, Delivery(subject, payload, {}, sequence, 1))
            session.add(InboxEntry(consumer=CONSUMER, event_id=checked.envelope.id, stream_sequence=sequence))
            session.commit()
        self.applied.append((subject, payload))

    def signals(self) -> list[MarketSignal]:
        with self.sessions() as session:
            payloads = session.scalars(
                select(OutboxMessage.payload)
                .where(OutboxMessage.event_type == SIGNAL)
                .order_by(OutboxMessage.id)
            ).all()
        found = [CloudEvent.model_validate_json(p).data for p in payloads]
        return [MarketSignal.model_validate(data) for data in found]

    def cells(self) -> list[MarketCell]:
        with self.sessions() as session:
            return list(session.scalars(select(MarketCell).order_by(MarketCell.month, MarketCell.family)))

    @property
    def url(self) -> str:
        return str(self.sessions.kw["bind"].url.render_as_string(hide_password=False))
