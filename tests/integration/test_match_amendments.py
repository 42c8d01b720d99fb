"""A standing proposal nobody has answered gets a new quantity when the fair split of its offer
moves (``match.amended``: same id, next version) instead of being withdrawn and proposed anew;
an acceptance of a version since amended is not counted. Through the coordinator's projection,
on each backend."""

import json
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from services.coordinator.matches.models import Match
from services.coordinator.projection import CoordinatorProjection
from shared.db import make_engine
from shared.events.data import EventData, MatchResponse
from shared.events.envelope import CloudEvent
from shared.events.validation import check_event
from shared.messaging.consumer import Delivery
from shared.messaging.models import OutboxMessage
from tests import factories

COUNTY = "610124"


def _course(seats: int) -> tuple[str, CloudEvent]:
    return factories.training_course("ngo", "course", seats)


def _need(org: str, seats: int) -> tuple[str, CloudEvent]:
    return factories.training_need(org, f"need-{org}", seats, region=f"61012410420{org[-1]}")


def _answer(org: str, match_id: str, version: int | None, verb: str = "accepted") -> tuple[str, CloudEvent]:
    data: EventData = MatchResponse(match_id=match_id, organisation_id=org, version=version)
    kind = "ngo" if org == "ngo" else "community"
    return factories.event(kind, org, "match", verb, data)


class County:
    """The coordinator's projection over one database, fed one event at a time."""

    def __init__(self, url: str) -> None:
        self.sessions = sessionmaker(make_engine(url), expire_on_commit=False)
        self.projection = CoordinatorProjection()
        self.sequence = 0
        for org, kind in (("ngo", "ngo"), ("village1", "community"), ("village2", "community")):
            self.apply(factories.registered(org, kind=kind))

    def apply(self, event: tuple[str, CloudEvent]) -> None:
        subject, envelope = event
        payload = envelope.to_json()
        self.sequence += 1
        with self.sessions() as session:
            checked = check_event(subject, payload)
            self.projection(session, checked, Delivery(subject, payload, {}, self.sequence, 1))
            session.commit()

    def matches(self) -> list[Match]:
        with self.sessions() as session:
            return list(session.scalars(select(Match).order_by(Match.need_id)))

    def published(self) -> list[tuple[str, str, int, str]]:
        """(type, match id, version, quantity) of every match event in the outbox, in order."""
        with self.sessions() as session:
            rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
            events = [(row.event_type, json.loads(row.payload)["data"]) for row in rows]
        return [
            (kind, data["match_id"], data["version"], data["quantity"])
            for kind, data in events
            if kind.startswith("sifang.match.")
        ]


def test_a_second_need_on_a_full_course_amends_the_first_proposal_instead_of_replacing_it(
    service_database: Callable[[str], str],
) -> None:
    county = County(service_database("coordinator"))
    county.apply(_course(20))
    county.apply(_need("village1", 20))
    [first] = county.matches()
    assert first.quantity == 20 and first.version == 1
    county.apply(_need("village2", 20))  # the fair split moves: 10 each
    matches = county.matches()
    assert [(m.need_id, m.quantity, m.status) for m in matches] == [
        ("need-village1", 10, "proposed"),
        ("need-village2", 10, "proposed"),
    ]
    amended = matches[0]
    assert amended.id == first.id and amended.version == 2  # the same proposal, its next version
    assert amended.proposed_at == first.proposed_at and amended.expires_at == first.expires_at
    assert amended.explanation["quantity"] == "10"  # the explanation follows the new share
    events = county.published()
    assert ("sifang.match.amended.v1", first.id, 2, "10") in events
    assert not any(kind == "sifang.match.withdrawn.v1" for kind, *_ in events)


def test_an_acceptance_of_a_version_since_amended_is_not_counted_but_one_of_the_current_is(
    service_database: Callable[[str], str],
) -> None:
    county = County(service_database("coordinator"))
    county.apply(_course(20))
    county.apply(_need("village1", 20))
    [proposal] = county.matches()
    county.apply(_need("village2", 20))  # amended to 10 while village1's acceptance of 20 travels
    county.apply(_answer("village1", proposal.id, version=1))
    stale = next(m for m in county.matches() if m.id == proposal.id)
    assert stale.accepted_by == [] and stale.quantity == 10  # 20 was accepted, 10 was not
    county.apply(_answer("village1", proposal.id, version=2))
    county.apply(_answer("ngo", proposal.id, version=None))  # an older integrator: the current one
    confirmed = next(m for m in county.matches() if m.id == proposal.id)
    assert confirmed.status == "confirmed" and confirmed.accepted_by == ["ngo", "village1"]
    assert confirmed.quantity == 10


def test_a_proposal_one_party_accepted_is_not_amended(service_database: Callable[[str], str]) -> None:
    county = County(service_database("coordinator"))
    county.apply(_course(20))
    county.apply(_need("village1", 20))
    [proposal] = county.matches()
    county.apply(_answer("village1", proposal.id, version=1))  # it holds its 20 seats now
    county.apply(_need("village2", 20))
    kept = next(m for m in county.matches() if m.id == proposal.id)
    assert kept.quantity == 20 and kept.version == 1 and kept.accepted_by == ["village1"]
    assert not any(kind == "sifang.match.amended.v1" for kind, *_ in county.published())


def test_a_decline_of_an_amended_version_still_counts(service_database: Callable[[str], str]) -> None:
    county = County(service_database("coordinator"))
    county.apply(_course(20))
    county.apply(_need("village1", 20))
    [proposal] = county.matches()
    county.apply(_need("village2", 20))
    county.apply(_answer("village1", proposal.id, version=1, verb="rejected"))  # declining 20 declines 10
    declined = next(m for m in county.matches() if m.id == proposal.id)
    assert declined.status == "declined"
