"""The coordinator's matching, applied straight through its projection on each backend."""

import json
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.coordinator.matches.models import Match
from services.coordinator.projection import CoordinatorProjection
from shared.db import make_engine
from shared.events.catalogue import CATALOGUE
from shared.events.data import EventData, MatchResponse, NeedData, OfferData, OfferWithdrawn
from shared.events.envelope import CloudEvent
from shared.events.validation import check_event
from shared.messaging.consumer import Delivery
from shared.messaging.models import OutboxMessage
from tests import factories

COUNTY = "610124"


def _history() -> list[tuple[str, CloudEvent]]:
    """Two villages, two buyers, three lots, a withdrawal and answers: a realistic morning."""

    def published(kind: str, org: str, data: EventData, entity: str) -> tuple[str, CloudEvent]:
        return factories.event(kind, org, entity, "published", data)

    def need(org: str, need_id: str, quantity: str) -> NeedData:
        return NeedData(
            need_id=need_id,
            organisation_id=org,
            category="produce.fruit.kiwifruit",
            title="收购猕猴桃",
            description="",
            quantity=Decimal(quantity),
            unit="t",
            region="610124",
            attributes={},
            version=1,
        )

    def lot(org: str, offer_id: str, quantity: str, village: str) -> OfferData:
        return OfferData(
            offer_id=offer_id,
            organisation_id=org,
            category="produce.fruit.kiwifruit",
            title="翠香",
            description="",
            quantity=Decimal(quantity),
            unit="t",
            region=village,
            service_area=[COUNTY],
            attributes={},
            version=1,
        )

    return [
        factories.registered("east", name="东村合作社"),
        factories.registered("west", name="西村合作社"),
        factories.registered("buyer-a", kind="enterprise", name="甲公司"),
        factories.registered("buyer-b", kind="enterprise", name="乙公司"),
        published("enterprise", "buyer-a", need("buyer-a", "need-a", "3"), "need"),
        published("community", "east", lot("east", "lot-east", "2", "610124104201"), "offer"),
        published("community", "west", lot("west", "lot-west", "1.5", "610124104202"), "offer"),
        published("enterprise", "buyer-b", need("buyer-b", "need-b", "2"), "need"),
        factories.event(
            "community",
            "west",
            "offer",
            "withdrawn",
            OfferWithdrawn(offer_id="lot-west", organisation_id="west", reason="已售出"),
        ),
        published("community", "east", lot("east", "lot-east-2", "1", "610124104201"), "offer"),
    ]


def _apply(url: str, history: list[tuple[str, CloudEvent]]) -> tuple[sessionmaker[Session], list[tuple]]:
    engine = make_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    projection = CoordinatorProjection()
    for sequence, (subject, envelope) in enumerate(history, start=1):
        payload = envelope.to_json()
        with sessions() as session:
            projection(session, check_event(subject, payload), Delivery(subject, payload, {}, sequence, 1))
            session.commit()
    with sessions() as session:
        rows = session.scalars(select(Match).order_by(Match.id))
        state = [
            (m.id, m.need_id, m.offer_id, m.quantity, m.status, m.explanation["limited_by"]) for m in rows
        ]
    return sessions, state


def test_the_same_history_gives_the_same_matches(service_database: Callable[[str], str]) -> None:
    history = _history()
    _, first = _apply(service_database("coordinator"), history)
    _, second = _apply(service_database("coordinator"), history)
    assert first == second
    open_ = [(need, offer, quantity) for _, need, offer, quantity, status, _ in first if status == "proposed"]
    # Both buyers draw on the remaining lots, and no lot gives more than it has.
    given: dict[str, Decimal] = {}
    for _, offer, quantity in open_:
        given[offer] = given.get(offer, Decimal(0)) + quantity
    assert given["lot-east"] <= 2 and given["lot-east-2"] <= 1
    assert "lot-west" not in given
    withdrawn = [row for row in first if row[2] == "lot-west"]
    assert withdrawn and all(row[4] == "withdrawn" for row in withdrawn)


def test_answers_move_a_match_to_confirmed_and_publish_each_step(
    service_database: Callable[[str], str],
) -> None:
    url = service_database("coordinator")
    sessions, state = _apply(url, _history()[:6])
    proposal = next(row for row in state if row[4] == "proposed")
    match_id = proposal[0]
    answers = [
        factories.event(
            "enterprise",
            "buyer-a",
            "match",
            "accepted",
            MatchResponse(match_id=match_id, organisation_id="buyer-a"),
        ),
        factories.event(
            "community", "east", "match", "accepted", MatchResponse(match_id=match_id, organisation_id="east")
        ),
    ]
    projection = CoordinatorProjection()
    for sequence, (subject, envelope) in enumerate(answers, start=100):
        payload = envelope.to_json()
        with sessions() as session:
            projection(session, check_event(subject, payload), Delivery(subject, payload, {}, sequence, 1))
            session.commit()
    with sessions() as session:
        match = session.get(Match, match_id)
        assert match is not None
        assert match.status == "confirmed"
        assert match.accepted_by == ["buyer-a", "east"]
        assert match.version == 2  # proposed (1), confirmed (2): one version per published state
        published = [
            row.event_type for row in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]
        versions = [
            json.loads(row.payload)["data"]["version"]
            for row in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
            if json.loads(row.payload)["subject"] == match_id
        ]
    assert versions == [1, 2]
    assert published[0] == "sifang.match.proposed.v1"
    assert published[-1] == "sifang.match.confirmed.v1"
    assert CATALOGUE[published[-1]].publishers == ("coordinator",)
