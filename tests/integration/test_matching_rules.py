"""Matching rules through the coordinator's projection on each backend: a window that ends
ends matching (the clock withdraws its proposals, saying so, and a late acceptance confirms
nothing), and the diagnosis names the filter each near offer fails."""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.coordinator.clock import tick_if_due
from services.coordinator.matches.models import Match
from services.coordinator.matches.queries import diagnosis
from services.coordinator.matching.reconciliation import WINDOW_ENDED
from services.coordinator.projection import CoordinatorProjection
from shared.db import make_engine, utcnow
from shared.events.catalogue import CATALOGUE
from shared.events.data import EventData, MatchResponse, NeedData, OfferData
from shared.events.envelope import CloudEvent
from shared.events.validation import check_event
from shared.messaging.consumer import Delivery
from shared.messaging.models import OutboxMessage
from tests import factories

TODAY = utcnow().date()


def _need(window_end_in: int, **attributes: object) -> NeedData:
    return NeedData(
        need_id="need-1",
        organisation_id="village",
        category="training.livestream",
        title="直播带货培训",
        description="",
        quantity=Decimal(20),
        unit="人",
        region="610124104201",
        window_start=TODAY - timedelta(days=3),
        window_end=TODAY + timedelta(days=window_end_in),
        attributes=dict(attributes),
        version=1,
    )


def _course(offer_id: str, org: str, **attributes: object) -> OfferData:
    return OfferData(
        offer_id=offer_id,
        organisation_id=org,
        category="training.livestream",
        title=f"课程 {offer_id}",
        description="",
        quantity=Decimal(30),
        unit="人",
        region="610124",
        service_area=["610124"],
        attributes=dict(attributes),
        version=1,
    )


class Coordinator:
    def __init__(self, url: str) -> None:
        self.sessions = sessionmaker(make_engine(url), expire_on_commit=False)
        self.projection = CoordinatorProjection(consumer="coordinator")
        self.sequence = 0

    def apply(self, subject: str, envelope: CloudEvent) -> None:
        self.sequence += 1
        payload = envelope.to_json()
        with self.sessions() as session:
            self.projection(
                session, check_event(subject, payload), Delivery(subject, payload, {}, self.sequence, 1)
            )
            session.commit()

    def publish(self, kind: str, org: str, entity: str, verb: str, data: EventData) -> None:
        self.apply(*factories.event(kind, org, entity, verb, data))

    def tick(self, days_later: int) -> None:
        """The clock's tick at ``days_later``, applied as the coordinator applies its own."""
        with self.sessions() as session:
            tick_id = tick_if_due(
                session, "coordinator", utcnow() + timedelta(days=days_later), timedelta(hours=1)
            )
            session.commit()
            assert tick_id is not None, "work was due"
            message = session.scalar(select(OutboxMessage).where(OutboxMessage.event_id == tick_id))
            assert message is not None
        self.sequence += 1
        with self.sessions() as session:
            checked = check_event(message.subject, message.payload.encode())
            self.projection(
                session, checked, Delivery(message.subject, message.payload.encode(), {}, self.sequence, 1)
            )
            session.commit()

    def session(self) -> Session:
        return self.sessions()


def _start(url: str, need: NeedData) -> Coordinator:
    coordinator = Coordinator(url)
    coordinator.apply(*factories.registered("village", name="东村村委会"))
    coordinator.apply(*factories.registered("school", kind="ngo", name="县电商学院"))
    coordinator.apply(*factories.registered("other", kind="ngo", name="社工站"))
    coordinator.publish("community", "village", "need", "published", need)
    return coordinator


def test_the_clock_withdraws_proposals_whose_window_ended_and_says_so(
    service_database: Callable[[str], str],
) -> None:
    coordinator = _start(service_database("coordinator"), _need(window_end_in=1))
    coordinator.publish("ngo", "school", "offer", "published", _course("course-1", "school"))
    with coordinator.session() as session:
        (proposal,) = session.scalars(select(Match)).all()
        assert proposal.status == "proposed"
        # one side accepted already: it holds capacity, yet the ended window still ends it
    coordinator.publish(
        "community",
        "village",
        "match",
        "accepted",
        MatchResponse(match_id=proposal.id, organisation_id="village"),
    )
    coordinator.tick(days_later=2)  # before the 72 h response time
    with coordinator.session() as session:
        after = session.get(Match, proposal.id)
        assert after is not None and after.status == "withdrawn" and after.reason == WINDOW_ENDED
        assert session.scalars(select(Match).where(Match.status == "proposed")).all() == []
        found = diagnosis(session, "need", "need-1", "en", TODAY + timedelta(days=2))
        assert found is not None
        assert found.summary.code == "listing_window_expired"
        assert found.summary.text.startswith("its window ended on")
        assert found.candidates[0].failed is not None
        assert found.candidates[0].failed.code == "need_window_expired"


def test_an_ended_window_is_never_proposed(service_database: Callable[[str], str]) -> None:
    coordinator = _start(service_database("coordinator"), _need(window_end_in=-1))
    coordinator.publish("ngo", "school", "offer", "published", _course("course-1", "school"))
    with coordinator.session() as session:
        assert session.scalars(select(Match)).all() == []
        found = diagnosis(session, "need", "need-1", "zh", TODAY)
        assert found is not None and found.summary.code == "listing_window_expired"
        assert found.summary.text.startswith("时间窗已于")


def test_a_late_acceptance_confirms_nothing(service_database: Callable[[str], str]) -> None:
    coordinator = _start(service_database("coordinator"), _need(window_end_in=0))
    coordinator.publish("ngo", "school", "offer", "published", _course("course-1", "school"))
    with coordinator.session() as session:
        (proposal,) = session.scalars(select(Match)).all()
    late = utcnow() + timedelta(days=1)  # both answer after the need's last day
    for kind, org in (("community", "village"), ("ngo", "school")):
        answer = MatchResponse(match_id=proposal.id, organisation_id=org)
        coordinator.apply(
            *CATALOGUE["sifang.match.accepted.v1"].build(
                kind=kind, organisation_id=org, region="610124104201", data=answer, time=late
            )
        )
    with coordinator.session() as session:
        after = session.get(Match, proposal.id)
        assert after is not None and after.status == "withdrawn" and after.reason == WINDOW_ENDED


def test_the_diagnosis_names_the_filter_each_near_offer_fails(service_database: Callable[[str], str]) -> None:
    coordinator = _start(
        service_database("coordinator"), _need(window_end_in=30, required_certifications=["organic"])
    )
    coordinator.publish("ngo", "school", "offer", "published", _course("plain", "school"))
    coordinator.publish(
        "ngo", "other", "offer", "published", _course("organic", "other", certifications=["organic"])
    )
    with coordinator.session() as session:
        (proposal,) = session.scalars(select(Match)).all()
        assert proposal.offer_id == "organic"  # the course without the certification is never proposed
        found = diagnosis(session, "need", "need-1", "zh", TODAY)
        assert found is not None
        assert found.summary.code == "fully_proposed"  # 20 of 20 proposed by the certified course
        by_offer = {c.listing_id: c for c in found.candidates}
        assert by_offer["organic"].failed is None and by_offer["organic"].proposed_quantity == "20"
        failed = by_offer["plain"].failed
        assert failed is not None and failed.code == "missing_certifications"
        assert failed.text == "缺少要求的认证：有机产品"
        offer_side = diagnosis(session, "offer", "plain", "en", TODAY)
        assert offer_side is not None and offer_side.summary.code == "no_needs"
        assert offer_side.candidates[0].failed is not None
        assert offer_side.candidates[0].failed.text == "lacks the required certifications: organic"


def _listing(kind: type[NeedData] | type[OfferData], listing_id: str, org: str, **fields: object) -> Any:
    common: dict[str, object] = {
        "organisation_id": org,
        "title": listing_id,
        "description": "",
        "region": "610124104201",
        "window_start": TODAY - timedelta(days=1),
        "window_end": TODAY + timedelta(days=30),
        "version": 1,
    }
    if kind is OfferData:
        return OfferData(offer_id=listing_id, service_area=["610124"], **(common | fields))
    return NeedData(need_id=listing_id, **(common | fields))


def test_a_programme_admits_only_organisations_holding_its_certification_by_any_of_their_offers(
    service_database: Callable[[str], str],
) -> None:
    """A party's certifications are what its offers' attributes name: one certified lot among
    many plain ones admits it; an empty list, the word in another attribute, the key nested
    below another or a certificate of another kind does not."""
    coordinator = Coordinator(service_database("coordinator"))
    for org in ("certified", "empty", "mentions", "other-cert"):
        coordinator.apply(*factories.registered(org, name=org))
    coordinator.apply(*factories.registered("bureau", kind="government", name="县商务局"))
    lots: dict[str, list[dict[str, Any]]] = {
        "certified": [{}, {}, {"certifications": ["green-food"]}, {"note": "x"}],
        "empty": [{"certifications": []}],
        "mentions": [
            {"note": "certifications pending", '"certifications"': "soon"},
            {"detail": {"certifications": ["green-food"]}},  # kept by the SQL, not at the top
        ],
        "other-cert": [{"certifications": ["organic"]}],
    }
    for org, attribute_sets in lots.items():
        for number, attributes in enumerate(attribute_sets):
            lot = _listing(
                OfferData, f"lot-{org}-{number}", org, category="produce.fruit.kiwifruit",
                quantity=Decimal(1), unit="t", attributes=attributes,
            )  # fmt: skip
            coordinator.publish("community", org, "offer", "published", lot)
        need = _listing(
            NeedData,
            f"fund-{org}",
            org,
            category="funding.subsidy",
            quantity=Decimal(1),
            unit="万元",
            attributes={},
        )
        coordinator.publish("community", org, "need", "published", need)
    programme = _listing(
        OfferData, "programme", "bureau", category="funding.subsidy", quantity=Decimal(10), unit="万元",
        attributes={"eligibility": {"required_certifications": ["green-food"]}},
    )  # fmt: skip
    coordinator.publish("government", "bureau", "offer", "published", programme)
    with coordinator.session() as session:
        granted = session.scalars(
            select(Match.need_organisation_id).where(Match.offer_id == "programme")
        ).all()
        assert granted == ["certified"]
        for org in ("empty", "mentions", "other-cert"):
            found = diagnosis(session, "need", f"fund-{org}", "en", TODAY)
            assert found is not None
            (candidate,) = [c for c in found.candidates if c.listing_id == "programme"]
            assert candidate.failed is not None and candidate.failed.code == "eligibility_certifications", org
